// Package servicecmd is the main of a service running alone, one per pod:
// flags and environment, logging and telemetry, its database, the bus, its
// gRPC server and connections to the services it calls, and a graceful stop
// on SIGTERM. Each service module exports its Spec; the all-in-one suite
// runs any subset of the same Specs through NewServer, so a service is wired
// in one place only.
package servicecmd

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/config"
	"github.com/kizuna/kizuna/services/platform/grpcclient"
	"github.com/kizuna/kizuna/services/platform/grpcserver"
	"github.com/kizuna/kizuna/services/platform/grpctls"
	"github.com/kizuna/kizuna/services/platform/lease"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// Service is what a service module's public package provides.
type Service interface {
	Register(*grpc.Server)
	Run(ctx context.Context) error
}

// Env is what Build gets: everything opened from the configuration.
type Env struct {
	Logger *slog.Logger
	DB     *sqldb.DB
	Bus    *bus.Bus
	// Conns holds a connection to each service named in Spec.Calls.
	Conns map[string]*grpc.ClientConn
	// ServiceTokens are minted from -service-secret; nil when it is unset.
	ServiceTokens *auth.ServiceTokens
	// LeaseTTL is how long a lease on scheduled work (outbox relays,
	// sweeps) lasts unrenewed: a replica that dies hands its work over
	// after at most this. Zero means lease.DefaultTTL.
	LeaseTTL time.Duration
	// Dev is set when the service runs in the all-in-one development
	// process (`make run`): development defaults apply and DataDir holds
	// local state. Nil when running alone.
	Dev *Dev
}

// Dev is what the all-in-one process tells the services it runs.
type Dev struct {
	// DataDir holds the process's files (the SQLite databases, the NATS
	// store, the campaign secret key when none is given).
	DataDir string
	// NewAPIKey, when set, is given a key created at start (the first
	// start's default workspace), so the process can print it once.
	NewAPIKey func(key string)
}

// Spec describes one service's binary.
type Spec struct {
	// Name is the service's name; its default gRPC port is
	// config.DefaultPorts[Name].
	Name string
	// Calls names the services this one dials ("ingestion", ...); each gets
	// a -<name>-target flag.
	Calls []string
	// Flags, when set, registers the service's own flags; it runs before
	// parsing, so read the values in Build.
	Flags func(fs *config.FlagSet)
	// PublicMethods skip authentication.
	PublicMethods []string
	// Scopes names the key scopes that allow each of the service's other
	// methods; a method missing from it is denied. Required.
	Scopes auth.ScopeTable
	// Build constructs the service.
	Build func(ctx context.Context, env *Env) (Service, error)
	// Verifier authenticates API keys, given the built service and env.
	// Nil means what every service but ingestion does: ask ingestion
	// (which must be in Calls) through a short cache.
	Verifier func(svc Service, env *Env) auth.Verifier
}

// Main runs the service and exits: 0 after a clean shutdown, 2 on bad
// flags or environment, 1 on any other error (see config.Exit).
func Main(spec Spec) {
	config.Exit(spec.Name, func(ctx context.Context, args []string) error { return run(ctx, spec, args) })
}

func run(ctx context.Context, spec Spec, args []string) error {
	port, ok := config.DefaultPorts[spec.Name]
	if !ok {
		return fmt.Errorf("servicecmd: no default port for service %q", spec.Name)
	}
	fs := config.NewFlagSet(spec.Name)
	var common config.Common
	common.Register(fs, config.DefaultPrometheusAddr)
	addr := fs.String("grpc-addr", "KIZUNA_GRPC_ADDR", ":"+port, "gRPC listen address")
	dbURL := fs.String("database-url", "KIZUNA_DATABASE_URL", "sqlite:./data/"+spec.Name+".db", "sqlite:PATH or postgres:// URL")
	schema := fs.String("database-schema", "KIZUNA_DATABASE_SCHEMA", spec.Name, "PostgreSQL schema owned by this service")
	durability := fs.String("durability", "KIZUNA_DURABILITY", "fast", "what an acknowledged write survives: fast (a process crash) or strict (also an OS crash: SQLite synchronous=FULL, an embedded JetStream syncs every message; on a NATS cluster set sync_interval: always on the servers)")
	natsURL := fs.String("nats-url", "KIZUNA_NATS_URL", "", "NATS JetStream URL (several comma-separated for a cluster); empty starts an embedded server (only for trying one service alone)")
	natsCreds := fs.String("nats-creds", "KIZUNA_NATS_CREDS", "", "NATS credentials file (user JWT and seed); empty connects without")
	prefix := fs.String("bus-prefix", "KIZUNA_BUS_PREFIX", bus.DefaultPrefix, "prefix of stream names and subjects")
	replicas := fs.Int("bus-replicas", "KIZUNA_BUS_REPLICAS", 1, "replicas of each stream on a NATS cluster; every service must use the same")
	packs := fs.Bool("bus-packs", "KIZUNA_BUS_PACKS", true, "publish bursts to one subject as packs (kizuna.bus.v1.Pack); false while consumers of a release before packs still run (see OPERATIONS.md, Upgrades)")
	serviceSecret := fs.String("service-secret", "KIZUNA_SERVICE_SECRET", "", "secret shared by every service of the deployment (at least 32 bytes): service tokens for work no caller started; accepted by every service when set")
	leaseTTL := LeaseTTLFlag(fs)
	targets := grpcclient.TargetFlags(fs, spec.Calls...)
	tlsFlags := grpctls.Register(fs)
	if spec.Flags != nil {
		spec.Flags(fs)
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		// A service takes flags only: a stray word (a mistyped flag, a
		// subcommand of another tool) must not start the server.
		return config.Usage(fmt.Errorf("unexpected argument %q: %s takes flags only (see -help)", fs.Arg(0), spec.Name))
	}
	log, stopTelemetry, err := common.Start(ctx, os.Stderr, spec.Name)
	if err != nil {
		return err
	}
	defer stopTelemetry()

	env := &Env{Logger: log, LeaseTTL: *leaseTTL}
	if *serviceSecret != "" {
		if env.ServiceTokens, err = auth.NewServiceTokens([]byte(*serviceSecret)); err != nil {
			return config.Usage(fmt.Errorf("-service-secret: %w", err))
		}
	}
	dur, err := sqldb.ParseDurability(*durability)
	if err != nil {
		return config.Usage(fmt.Errorf("-durability: %w", err))
	}
	if env.DB, err = sqldb.Open(ctx, sqldb.Options{URL: *dbURL, Schema: *schema, Durability: dur}); err != nil {
		return err
	}
	defer env.DB.Close()
	var embedded *bus.Embedded
	if *natsURL == "" {
		if embedded, err = bus.StartEmbedded(bus.Options{SyncAlways: dur == sqldb.DurabilityStrict}); err != nil {
			return err
		}
		defer embedded.Shutdown()
	}
	env.Bus, err = bus.Connect(ctx, bus.ConnectOptions{URL: *natsURL, CredsFile: *natsCreds, Embedded: embedded, Prefix: *prefix, Name: spec.Name, Logger: log, Replicas: *replicas, NoPacks: !*packs})
	if err != nil {
		return err
	}
	defer env.Bus.Close()
	serverCreds, err := tlsFlags.ServerCredentials()
	if err != nil {
		return err
	}
	// Calls to other services made while handling a call go out as the
	// caller's workspace (see ServiceTokens.UnaryClientInterceptor).
	dialOpts := ActAsCallerDialOptions(env.ServiceTokens)
	if clientCreds, err := tlsFlags.ClientCredentials(); err != nil {
		return err
	} else if clientCreds != nil {
		dialOpts = append(dialOpts, grpc.WithTransportCredentials(clientCreds))
	}
	conns, closeConns, err := targets.Dial(dialOpts...)
	if err != nil {
		return err
	}
	defer closeConns()
	env.Conns = conns
	srv, svc, err := NewServer(ctx, spec, env, grpcserver.Options{Logger: log, Creds: serverCreds})
	if err != nil {
		return err
	}
	lis, err := grpcserver.Listen(*addr)
	if err != nil {
		return err
	}
	log.Info("serving", "grpc", lis.Addr().String())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return srv.Serve(gctx, lis) })
	g.Go(func() error { return svc.Run(gctx) })
	return g.Wait()
}

// NewServer builds spec's service on env and a gRPC server (opts plus the
// spec's verifier and public methods) with the service registered on it.
// Serve the server and Run the service until the context ends.
func NewServer(ctx context.Context, spec Spec, env *Env, opts grpcserver.Options) (*grpcserver.Server, Service, error) {
	if spec.Scopes == nil {
		return nil, nil, fmt.Errorf("servicecmd: %s declares no scope table", spec.Name)
	}
	svc, err := spec.Build(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	var verifier auth.Verifier
	if spec.Verifier != nil {
		verifier = spec.Verifier(svc, env)
	} else if conn, ok := env.Conns["ingestion"]; ok {
		verifier = auth.NewCachedRemoteVerifier(conn, env.ServiceTokens)
	} else {
		return nil, nil, fmt.Errorf("servicecmd: %s has no Verifier and does not call ingestion", spec.Name)
	}
	opts.Verifier = env.ServiceTokens.Verifier(verifier)
	opts.PublicMethods = append(opts.PublicMethods, spec.PublicMethods...)
	opts.Scopes = spec.Scopes
	srv := grpcserver.New(opts)
	svc.Register(srv.Server)
	return srv, svc, nil
}

// LeaseTTLFlag registers -lease-ttl (KIZUNA_LEASE_TTL), the Env.LeaseTTL of
// every binary, and checks its value at parse time.
func LeaseTTLFlag(fs *config.FlagSet) *time.Duration {
	return fs.Duration("lease-ttl", "KIZUNA_LEASE_TTL", lease.DefaultTTL,
		"how long a replica's lease on scheduled work (outbox relay, segment sweep) lasts unrenewed: another replica takes the work over at most this long after the holder dies; renewed every quarter of it")
}

// ActAsCallerDialOptions are the dial options of connections from one
// service to another: with tokens set, a call made while handling an
// authenticated call carries a service token of the caller's workspace
// rather than the caller's key, whose scopes cover the method it called,
// not what that method needs of other services. Without tokens the
// caller's key is forwarded as it is.
func ActAsCallerDialOptions(tokens *auth.ServiceTokens) []grpc.DialOption {
	if tokens == nil {
		return nil
	}
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(tokens.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(tokens.StreamClientInterceptor()),
	}
}
