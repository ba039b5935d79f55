package ingestion

import (
	"context"

	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/config"
	"github.com/kizuna/kizuna/services/platform/servicecmd"
)

// Spec is how the ingestion binary and the all-in-one process build the
// service: its flags, and the service itself as the key verifier (it owns
// workspaces and keys).
func Spec() servicecmd.Spec {
	var adminKey, devKey string
	return servicecmd.Spec{
		Name:          "ingestion",
		PublicMethods: PublicMethods,
		Scopes:        Scopes,
		Flags: func(fs *config.FlagSet) {
			fs.StringVar(&adminKey, "admin-key", "KIZUNA_ADMIN_KEY", "", "key allowed to create workspaces over the API; empty disables that")
			fs.StringVar(&devKey, "dev-api-key", "KIZUNA_DEV_API_KEY", "", "make this an API key of the default workspace")
		},
		Build: func(ctx context.Context, env *servicecmd.Env) (servicecmd.Service, error) {
			svc, err := New(ctx, Options{DB: env.DB, Bus: env.Bus, Logger: env.Logger, LeaseTTL: env.LeaseTTL, AdminKey: adminKey, DevDefaults: env.Dev != nil,
				ServiceTokens: env.ServiceTokens})
			if err != nil {
				return nil, err
			}
			// Alone, a workspace is made only for -dev-api-key; the
			// all-in-one process always has a default workspace.
			if devKey != "" || env.Dev != nil {
				created, err := svc.Bootstrap(ctx, devKey)
				if err != nil {
					return nil, err
				}
				if created != "" && devKey == "" && env.Dev != nil && env.Dev.NewAPIKey != nil {
					env.Dev.NewAPIKey(created)
				}
			}
			return svc, nil
		},
		Verifier: func(svc servicecmd.Service, _ *servicecmd.Env) auth.Verifier { return svc.(*Service) },
	}
}
