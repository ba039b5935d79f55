// Command kizuna runs the whole Kizuna suite in one process (`make run`), and
// offers the offline tools:
//
//	kizuna [run] [flags]        start every service, or some (--services=ingestion,gateway; see -help)
//	kizuna cleanse normalize|dedupe ...   clean and deduplicate a customer CSV
//	kizuna clv fit|predict ...            fit and apply CLV models to a transaction log
//	kizuna import customers|orders|events --file F ...   load a CSV or NDJSON file into a running Kizuna
//	kizuna help                 list the commands
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kizuna/kizuna/services/analytics/clvcli"
	"github.com/kizuna/kizuna/services/gateway"
	"github.com/kizuna/kizuna/services/ingestion/cleansecli"
	"github.com/kizuna/kizuna/services/ingestion/importcli"
	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/config"
	"github.com/kizuna/kizuna/services/platform/grpcclient"
	"github.com/kizuna/kizuna/services/platform/servicecmd"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/suite"
)

func main() {
	config.Exit("kizuna", func(ctx context.Context, args []string) error {
		return run(ctx, args, os.Stdin, os.Stdout, os.Stderr)
	})
}

// commands is what `kizuna help` prints.
const commands = `usage:
  kizuna [run] [flags]                start every service on embedded defaults (flags: kizuna -help)
  kizuna cleanse normalize|dedupe ... clean and deduplicate a customer CSV
  kizuna clv fit|predict ...          fit and apply CLV models to a transaction log
  kizuna import customers|orders|events --file F [--encoding shift_jis] [--mapping mapping.yaml]
                                      load a CSV (NDJSON for events) into a running Kizuna
  kizuna help                         this list
`

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "cleanse":
			return cleansecli.Run(ctx, args[1:], stdin, stdout, stderr)
		case "clv":
			return clvcli.Run(ctx, args[1:], stdout, stderr)
		case "import":
			return importcli.Run(ctx, args[1:], stdout, stderr)
		case "run":
			return serve(ctx, args[1:], stdout, stderr)
		case "help":
			fmt.Fprint(stdout, commands)
			return nil
		}
		if !strings.HasPrefix(args[0], "-") {
			// A mistyped command must never start the servers.
			fmt.Fprint(stderr, commands)
			return config.Usage(fmt.Errorf("unknown command %q", args[0]))
		}
	}
	return serve(ctx, args, stdout, stderr)
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := config.NewFlagSet("kizuna")
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, commands+"\nflags of kizuna run (each also read from the environment variable shown):\n")
		fs.PrintDefaults()
	}
	var common config.Common
	common.Register(fs, "")
	dataDir := fs.String("data-dir", "KIZUNA_DATA_DIR", "./data", "where the embedded SQLite files and NATS store live")
	httpAddr := fs.String("http-addr", "KIZUNA_HTTP_ADDR", "localhost:8080", "REST, OpenAPI and health listen address")
	grpcAddr := func(service string) *string {
		return fs.String(service+"-addr", "KIZUNA_"+strings.ToUpper(service)+"_ADDR", "localhost:"+config.DefaultPorts[service], service+" gRPC listen address")
	}
	ingAddr, segAddr, metAddr, cmpAddr := grpcAddr("ingestion"), grpcAddr("segmentation"), grpcAddr("metrics"), grpcAddr("campaign")
	servicesFlag := fs.String("services", "KIZUNA_SERVICES", "all", "services to run in this process: all, or a comma-separated subset of "+strings.Join(suite.Services, ",")+"; the others are reached at their -<name>-target")
	targets := grpcclient.TargetFlags(fs, "ingestion", "segmentation", "metrics", "campaign")
	serviceSecret := fs.String("service-secret", "KIZUNA_SERVICE_SECRET", "", "secret shared by every process of the deployment (at least 32 bytes), for service tokens; empty: a random one, fine only when this process runs every service")
	dbURL := fs.String("database-url", "KIZUNA_DATABASE_URL", "", "postgres:// URL (a schema per service); empty: SQLite files in -data-dir")
	schemaPrefix := fs.String("database-schema-prefix", "KIZUNA_DATABASE_SCHEMA_PREFIX", "", "prefix of each service's PostgreSQL schema (the schema is prefix + service name)")
	natsURL := fs.String("nats-url", "KIZUNA_NATS_URL", "", "NATS JetStream URL; empty: an embedded server (binds no port)")
	busPrefix := fs.String("bus-prefix", "KIZUNA_BUS_PREFIX", bus.DefaultPrefix, "prefix of stream names and subjects")
	devKey := fs.String("dev-api-key", "KIZUNA_DEV_API_KEY", "", "make this an API key of the default workspace")
	adminKey := fs.String("admin-key", "KIZUNA_ADMIN_KEY", "", "key allowed to create workspaces over the API; empty disables that")
	publicURL := fs.String("public-url", "KIZUNA_PUBLIC_URL", "", "the gateway's address as customers reach it, for unsubscribe links; empty: http://<http-addr>")
	corsOrigins := fs.String("cors-origins", "KIZUNA_CORS_ORIGINS", "", "comma-separated origins (or *) that may call the REST API from a browser; the console at /console/ needs none")
	durability := fs.String("durability", "KIZUNA_DURABILITY", "fast", "what an acknowledged write survives: fast (a process crash) or strict (also an OS crash: SQLite synchronous=FULL, embedded JetStream syncs every message)")
	secretKey := fs.String("secret-key", "KIZUNA_SECRET_KEY", "", "32-byte key (base64 or hex) sealing channel secrets; empty: <data-dir>/secret.key, created on first start")
	leaseTTL := servicecmd.LeaseTTLFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprint(stderr, commands)
		return config.Usage(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	dur, err := sqldb.ParseDurability(*durability)
	if err != nil {
		return config.Usage(fmt.Errorf("-durability: %w", err))
	}
	services, err := suite.ParseServices(*servicesFlag)
	if err != nil {
		return config.Usage(fmt.Errorf("-services: %w", err))
	}
	origins, err := gateway.ParseOrigins(*corsOrigins)
	if err != nil {
		return fmt.Errorf("%w: %w", config.ErrUsage, err)
	}
	// No service tag: the suite tags each service's lines itself.
	logger, stopTelemetry, err := common.Start(ctx, stderr, "")
	if err != nil {
		return err
	}
	defer stopTelemetry()

	cfg := suite.Config{
		DataDir: *dataDir, HTTPAddr: *httpAddr,
		IngestionAddr: *ingAddr, SegmentationAddr: *segAddr, MetricsAddr: *metAddr, CampaignAddr: *cmpAddr,
		DatabaseURL: *dbURL, SchemaPrefix: *schemaPrefix, Durability: dur, NATSURL: *natsURL, BusPrefix: *busPrefix, DevAPIKey: *devKey, AdminKey: *adminKey, Logger: logger,
		PublicURL: *publicURL, SecretKey: *secretKey, MetricsHandler: common.MetricsHandler(), CORSOrigins: origins,
		Services: services, Targets: map[string]string{}, ServiceSecret: *serviceSecret, LeaseTTL: *leaseTTL,
	}
	for name, target := range targets {
		cfg.Targets[name] = *target
	}
	return suite.Run(ctx, cfg, func(a suite.Addrs, newKey string) {
		if a.HTTP == "" {
			fmt.Fprintf(stdout, "Kizuna is running %s.\n", strings.Join(services, ", "))
			return
		}
		fmt.Fprintf(stdout, "Kizuna is running.\n  REST:     http://%s  (OpenAPI: /openapi.json, health: /healthz /readyz, metrics: /metrics)\n", a.HTTP)
		fmt.Fprintf(stdout, "  gRPC:     ingestion %s · segmentation %s · metrics %s · campaign %s\n", a.Ingestion, a.Segmentation, a.Metrics, a.Campaign)
		switch {
		case newKey != "" && *devKey == "":
			fmt.Fprintf(stdout, "  API key:  %s  (default workspace, created now: keep it, only its hash is stored)\n", newKey)
		case *devKey != "":
			fmt.Fprintf(stdout, "  API key:  %s  (KIZUNA_DEV_API_KEY)\n", *devKey)
		default:
			fmt.Fprintln(stdout, "  API key:  the one printed on first start (or set KIZUNA_DEV_API_KEY)")
		}
	})
}
