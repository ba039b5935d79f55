// Command campaign runs the campaign service alone (one per pod); -help lists its
// flags and environment variables.
package main

import (
	"context"

	"github.com/kizuna/kizuna/services/campaign"
	"github.com/kizuna/kizuna/services/ingestion/apikey"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/servicecmd"
)

func main() {
	servicecmd.Main(servicecmd.Spec{
		Name:  "campaign",
		Calls: []string{"ingestion", "segmentation"},
		Build: func(ctx context.Context, env *servicecmd.Env) (servicecmd.Service, error) {
			return campaign.New(ctx, campaign.Options{DB: env.DB, Bus: env.Bus, Logger: env.Logger, Segmentation: env.Conns["segmentation"], Ingestion: env.Conns["ingestion"]})
		},
		Verifier: func(_ servicecmd.Service, env *servicecmd.Env) auth.Verifier {
			return apikey.NewCachedRemoteVerifier(env.Conns["ingestion"])
		},
	})
}
