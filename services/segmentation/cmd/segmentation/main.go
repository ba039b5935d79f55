// Command segmentation runs the segmentation service alone (one per pod); -help lists its
// flags and environment variables.
package main

import (
	"context"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/apikey"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/servicecmd"
	"github.com/kizuna/kizuna/services/segmentation"
)

func main() {
	servicecmd.Main(servicecmd.Spec{
		Name:        "segmentation",
		DefaultAddr: ":50052",
		Calls:       []string{"ingestion"},
		Build: func(ctx context.Context, env *servicecmd.Env) (servicecmd.Service, error) {
			return segmentation.New(ctx, segmentation.Options{DB: env.DB, Bus: env.Bus, Logger: env.Logger})
		},
		// API keys are ingestion's; a short cache spares a call per request.
		Verifier: func(_ servicecmd.Service, env *servicecmd.Env) auth.Verifier {
			return auth.NewCachingVerifier(apikey.NewRemoteVerifier(env.Conns["ingestion"]), 30*time.Second, 2*time.Second)
		},
	})
}
