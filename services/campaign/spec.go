package campaign

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/kizuna/kizuna/services/platform/config"
	"github.com/kizuna/kizuna/services/platform/servicecmd"
)

// Spec is how the campaign binary and the all-in-one process build the
// service. adjust, when given, changes the options last (tests shorten
// backoffs and trust their own SMTP server).
func Spec(adjust ...func(*Options)) servicecmd.Spec {
	var secretKey, publicURL string
	return servicecmd.Spec{
		Name:          "campaign",
		Calls:         []string{"ingestion", "segmentation"},
		PublicMethods: PublicMethods,
		Scopes:        Scopes,
		Flags: func(fs *config.FlagSet) {
			fs.StringVar(&secretKey, "secret-key", "KIZUNA_SECRET_KEY", "", "32-byte key (base64 or 64 hex digits) sealing channel secrets and signing unsubscribe links; required, except in the all-in-one process (<data-dir>/secret.key, created on first start)")
			fs.StringVar(&publicURL, "public-url", "KIZUNA_PUBLIC_URL", "http://localhost:8080", "the gateway's address as customers reach it (unsubscribe links)")
		},
		Build: func(ctx context.Context, env *servicecmd.Env) (servicecmd.Service, error) {
			var key []byte
			var err error
			if secretKey == "" && env.Dev != nil {
				key, err = LoadOrCreateSecretKey(filepath.Join(env.Dev.DataDir, "secret.key"))
			} else if key, err = ParseSecretKey(secretKey); err != nil {
				err = config.Usage(fmt.Errorf("-secret-key: %w", err))
			}
			if err != nil {
				return nil, err
			}
			if env.ServiceTokens == nil {
				return nil, config.Usage(errors.New("-service-secret is required: journeys act as workspaces towards ingestion and segmentation"))
			}
			opts := Options{DB: env.DB, Bus: env.Bus, Logger: env.Logger, LeaseTTL: env.LeaseTTL, Segmentation: env.Conns["segmentation"],
				Ingestion: env.Conns["ingestion"], ServiceTokens: env.ServiceTokens, SecretKey: key, PublicURL: publicURL}
			for _, f := range adjust {
				if f != nil {
					f(&opts)
				}
			}
			return New(ctx, opts)
		},
	}
}
