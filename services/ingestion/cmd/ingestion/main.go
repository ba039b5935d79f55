// Command ingestion runs the ingestion service alone (one per pod); -help
// lists its flags and environment variables. The offline cleansing tool is
// kizuna-cleanse (or `kizuna cleanse`).
package main

import (
	"context"

	"github.com/kizuna/kizuna/services/ingestion"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/config"
	"github.com/kizuna/kizuna/services/platform/servicecmd"
)

func main() {
	var adminKey, devKey string
	servicecmd.Main(servicecmd.Spec{
		Name:          "ingestion",
		PublicMethods: ingestion.PublicMethods,
		Flags: func(fs *config.FlagSet) {
			fs.StringVar(&adminKey, "admin-key", "KIZUNA_ADMIN_KEY", "", "key allowed to create workspaces over the API; empty disables that")
			fs.StringVar(&devKey, "dev-api-key", "KIZUNA_DEV_API_KEY", "", "make this an API key of the default workspace")
		},
		Build: func(ctx context.Context, env *servicecmd.Env) (servicecmd.Service, error) {
			svc, err := ingestion.New(ctx, ingestion.Options{DB: env.DB, Bus: env.Bus, Logger: env.Logger, AdminKey: adminKey})
			if err != nil {
				return nil, err
			}
			if devKey != "" {
				if _, err := svc.Bootstrap(ctx, devKey); err != nil {
					return nil, err
				}
			}
			return svc, nil
		},
		Verifier: func(svc servicecmd.Service, _ *servicecmd.Env) auth.Verifier { return svc.(*ingestion.Service) },
	})
}
