// Command ingestion runs the ingestion service alone (one per pod); -help
// lists its flags and environment variables. `ingestion cleanse …` runs the
// offline cleansing tool.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/kizuna/kizuna/services/ingestion"
	"github.com/kizuna/kizuna/services/ingestion/cleansecli"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/servicecmd"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "cleanse" {
		if err := cleansecli.Run(context.Background(), os.Args[2:], os.Stdin, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, "ingestion cleanse:", err)
			os.Exit(1)
		}
		return
	}
	servicecmd.Main(servicecmd.Spec{
		Name:          "ingestion",
		DefaultAddr:   ":50051",
		PublicMethods: ingestion.PublicMethods,
		Build: func(ctx context.Context, env *servicecmd.Env) (servicecmd.Service, error) {
			svc, err := ingestion.New(ctx, ingestion.Options{DB: env.DB, Bus: env.Bus, Logger: env.Logger, AdminKey: os.Getenv("KIZUNA_ADMIN_KEY")})
			if err != nil {
				return nil, err
			}
			if key := os.Getenv("KIZUNA_DEV_API_KEY"); key != "" {
				if _, err := svc.Bootstrap(ctx, key); err != nil {
					return nil, err
				}
			}
			return svc, nil
		},
		Verifier: func(svc servicecmd.Service, _ *servicecmd.Env) auth.Verifier { return svc.(*ingestion.Service) },
	})
}
