// Package servicecmd is the main of a service running alone, one per pod:
// flags and environment, logging and telemetry, its database, the bus, its
// gRPC server and connections to the services it calls, and a graceful stop
// on SIGTERM. The all-in-one suite wires the same services without it.
package servicecmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/config"
	"github.com/kizuna/kizuna/services/platform/grpcclient"
	"github.com/kizuna/kizuna/services/platform/grpcserver"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/telemetry"
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
}

// Spec describes one service's binary.
type Spec struct {
	Name        string
	DefaultAddr string
	// Calls names the services this one dials ("ingestion", ...); each gets
	// a -<name>-target flag.
	Calls []string
	// PublicMethods skip authentication.
	PublicMethods []string
	// Build constructs the service.
	Build func(ctx context.Context, env *Env) (Service, error)
	// Verifier authenticates API keys, given the built service and env.
	Verifier func(svc Service, env *Env) auth.Verifier
}

// Main runs the service and exits: 0 after a clean shutdown, 2 on bad
// flags, 1 on any other error.
func Main(spec Spec) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, spec, os.Args[1:])
	stop()
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case err != nil:
		fmt.Fprintf(os.Stderr, "%s: %v\n", spec.Name, err)
		os.Exit(1)
	}
}

func run(ctx context.Context, spec Spec, args []string) error {
	fs := config.NewFlagSet(spec.Name)
	var common config.Common
	common.Register(fs)
	addr := fs.String("grpc-addr", "KIZUNA_GRPC_ADDR", spec.DefaultAddr, "gRPC listen address")
	dbURL := fs.String("database-url", "KIZUNA_DATABASE_URL", "sqlite:./data/"+spec.Name+".db", "sqlite:PATH or postgres:// URL")
	schema := fs.String("database-schema", "KIZUNA_DATABASE_SCHEMA", spec.Name, "PostgreSQL schema owned by this service")
	natsURL := fs.String("nats-url", "KIZUNA_NATS_URL", "", "NATS JetStream URL; empty starts an embedded server (only for trying one service alone)")
	prefix := fs.String("bus-prefix", "KIZUNA_BUS_PREFIX", bus.DefaultPrefix, "prefix of stream names and subjects")
	targets := map[string]*string{}
	for _, name := range spec.Calls {
		targets[name] = fs.String(name+"-target", "KIZUNA_"+strings.ToUpper(name)+"_TARGET", "localhost:"+defaultPorts[name], "gRPC address of the "+name+" service")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := common.Logger(os.Stderr)
	if err != nil {
		return err
	}
	log = log.With("service", spec.Name)
	shutdown, err := telemetry.Setup(ctx, telemetry.Options{ServiceName: "kizuna-" + spec.Name, OTLPEndpoint: common.OTLPEndpoint})
	if err != nil {
		return err
	}
	defer func() { _ = shutdown(context.WithoutCancel(ctx)) }()

	env := &Env{Logger: log, Conns: map[string]*grpc.ClientConn{}}
	if env.DB, err = sqldb.Open(ctx, sqldb.Options{URL: *dbURL, Schema: *schema}); err != nil {
		return err
	}
	defer env.DB.Close()
	var embedded *bus.Embedded
	if *natsURL == "" {
		if embedded, err = bus.StartEmbedded(bus.Options{}); err != nil {
			return err
		}
		defer embedded.Shutdown()
	}
	if env.Bus, err = bus.Connect(ctx, bus.ConnectOptions{URL: *natsURL, Embedded: embedded, Prefix: *prefix, Name: spec.Name, Logger: log}); err != nil {
		return err
	}
	defer env.Bus.Close()
	for name, target := range targets {
		conn, err := grpcclient.Dial(*target)
		if err != nil {
			return fmt.Errorf("dial %s: %w", name, err)
		}
		defer conn.Close()
		env.Conns[name] = conn
	}
	svc, err := spec.Build(ctx, env)
	if err != nil {
		return err
	}
	srv := grpcserver.New(grpcserver.Options{Logger: log, Verifier: spec.Verifier(svc, env), PublicMethods: spec.PublicMethods})
	svc.Register(srv.Server)
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

// defaultPorts are the suite's default gRPC ports.
var defaultPorts = map[string]string{"ingestion": "50051", "segmentation": "50052", "metrics": "50053", "campaign": "50054"}
