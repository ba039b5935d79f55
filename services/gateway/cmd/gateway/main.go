// Command gateway serves Kizuna's REST/JSON API, the Segment-compatible
// tracking endpoints, /openapi.json and health checks in front of the four
// gRPC services; -help lists its flags and environment variables.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"

	"github.com/kizuna/kizuna/services/gateway"
	"github.com/kizuna/kizuna/services/platform/config"
	"github.com/kizuna/kizuna/services/platform/grpcclient"
	"github.com/kizuna/kizuna/services/platform/telemetry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := config.NewFlagSet("gateway")
	var common config.Common
	common.Register(fs)
	addr := fs.String("http-addr", "KIZUNA_HTTP_ADDR", ":8080", "REST listen address")
	targets := map[string]*string{
		"ingestion":    fs.String("ingestion-target", "KIZUNA_INGESTION_TARGET", "localhost:50051", "gRPC address of ingestion"),
		"segmentation": fs.String("segmentation-target", "KIZUNA_SEGMENTATION_TARGET", "localhost:50052", "gRPC address of segmentation"),
		"metrics":      fs.String("metrics-target", "KIZUNA_METRICS_TARGET", "localhost:50053", "gRPC address of metrics"),
		"campaign":     fs.String("campaign-target", "KIZUNA_CAMPAIGN_TARGET", "localhost:50054", "gRPC address of campaign"),
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := common.Logger(os.Stderr)
	if err != nil {
		return err
	}
	log = log.With("service", "gateway")
	shutdown, err := telemetry.Setup(ctx, telemetry.Options{ServiceName: "kizuna-gateway", OTLPEndpoint: common.OTLPEndpoint})
	if err != nil {
		return err
	}
	defer func() { _ = shutdown(context.WithoutCancel(ctx)) }()

	conns := map[string]*grpc.ClientConn{}
	for name, target := range targets {
		conn, err := grpcclient.Dial(*target)
		if err != nil {
			return fmt.Errorf("dial %s: %w", name, err)
		}
		defer conn.Close()
		conns[name] = conn
	}
	gw, err := gateway.New(ctx, gateway.Options{Ingestion: conns["ingestion"], Segmentation: conns["segmentation"],
		Metrics: conns["metrics"], Campaign: conns["campaign"], Logger: log})
	if err != nil {
		return err
	}
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	log.Info("serving", "http", lis.Addr().String())
	return gw.Serve(ctx, lis)
}
