// Command metrics runs the metrics service alone (one per pod); -help lists its
// flags and environment variables.
package main

import (
	"context"

	"github.com/kizuna/kizuna/services/metrics"
	"github.com/kizuna/kizuna/services/platform/servicecmd"
)

func main() {
	servicecmd.Main(servicecmd.Spec{
		Name:  "metrics",
		Calls: []string{"ingestion", "segmentation", "campaign"},
		Build: func(ctx context.Context, env *servicecmd.Env) (servicecmd.Service, error) {
			return metrics.New(ctx, metrics.Options{DB: env.DB, Bus: env.Bus, Logger: env.Logger, Segmentation: env.Conns["segmentation"],
				Ingestion: env.Conns["ingestion"], Campaign: env.Conns["campaign"]})
		},
	})
}
