// Command segmentation runs the segmentation service alone (one per pod); -help lists its
// flags and environment variables.
package main

import (
	"context"

	"github.com/kizuna/kizuna/services/platform/servicecmd"
	"github.com/kizuna/kizuna/services/segmentation"
)

func main() {
	servicecmd.Main(servicecmd.Spec{
		Name:  "segmentation",
		Calls: []string{"ingestion"},
		Build: func(ctx context.Context, env *servicecmd.Env) (servicecmd.Service, error) {
			return segmentation.New(ctx, segmentation.Options{DB: env.DB, Bus: env.Bus, Logger: env.Logger})
		},
	})
}
