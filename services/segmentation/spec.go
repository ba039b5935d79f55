package segmentation

import (
	"context"

	"github.com/kizuna/kizuna/services/platform/servicecmd"
)

// Spec is how the segmentation binary and the all-in-one process build
// the service.
func Spec() servicecmd.Spec {
	return servicecmd.Spec{
		Name:   "segmentation",
		Scopes: Scopes,
		Calls:  []string{"ingestion"},
		Build: func(ctx context.Context, env *servicecmd.Env) (servicecmd.Service, error) {
			return New(ctx, Options{DB: env.DB, Bus: env.Bus, Logger: env.Logger, LeaseTTL: env.LeaseTTL})
		},
	}
}
