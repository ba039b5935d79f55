package metrics

import (
	"context"

	"github.com/kizuna/kizuna/services/platform/servicecmd"
)

// Spec is how the metrics binary and the all-in-one process build the
// service.
func Spec() servicecmd.Spec {
	return servicecmd.Spec{
		Name:   "metrics",
		Scopes: Scopes,
		Calls:  []string{"ingestion", "segmentation", "campaign"},
		Build: func(ctx context.Context, env *servicecmd.Env) (servicecmd.Service, error) {
			return New(ctx, Options{DB: env.DB, Bus: env.Bus, Logger: env.Logger, Segmentation: env.Conns["segmentation"],
				Ingestion: env.Conns["ingestion"], Campaign: env.Conns["campaign"]})
		},
	}
}
