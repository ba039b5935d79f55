// Command campaign runs the campaign service alone (one per pod); -help lists its
// flags and environment variables.
package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/kizuna/kizuna/services/campaign"
	"github.com/kizuna/kizuna/services/platform/config"
	"github.com/kizuna/kizuna/services/platform/servicecmd"
)

func main() {
	var secretKey, publicURL *string
	servicecmd.Main(servicecmd.Spec{
		Name:          "campaign",
		Calls:         []string{"ingestion", "segmentation"},
		PublicMethods: campaign.PublicMethods,
		Flags: func(fs *config.FlagSet) {
			secretKey = fs.String("secret-key", "KIZUNA_SECRET_KEY", "", "32-byte key (base64 or 64 hex digits) sealing channel secrets and signing unsubscribe links; required")
			publicURL = fs.String("public-url", "KIZUNA_PUBLIC_URL", "http://localhost:8080", "the gateway's address as customers reach it (unsubscribe links)")
		},
		Build: func(ctx context.Context, env *servicecmd.Env) (servicecmd.Service, error) {
			key, err := campaign.ParseSecretKey(*secretKey)
			if err != nil {
				return nil, config.Usage(fmt.Errorf("-secret-key: %w", err))
			}
			if env.ServiceTokens == nil {
				return nil, config.Usage(errors.New("-service-secret is required: journeys act as workspaces towards ingestion and segmentation"))
			}
			return campaign.New(ctx, campaign.Options{DB: env.DB, Bus: env.Bus, Logger: env.Logger, Segmentation: env.Conns["segmentation"],
				Ingestion: env.Conns["ingestion"], ServiceTokens: env.ServiceTokens, SecretKey: key, PublicURL: *publicURL})
		},
	})
}
