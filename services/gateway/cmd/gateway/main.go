// Command gateway serves Kizuna's REST/JSON API, the Segment-compatible
// tracking endpoints, /openapi.json and health checks in front of the four
// gRPC services; -help lists its flags and environment variables.
package main

import (
	"context"
	"fmt"
	"net"
	"os"

	"google.golang.org/grpc"

	"github.com/kizuna/kizuna/services/gateway"
	"github.com/kizuna/kizuna/services/platform/config"
	"github.com/kizuna/kizuna/services/platform/grpcclient"
	"github.com/kizuna/kizuna/services/platform/grpctls"
)

func main() {
	config.Exit("gateway", run)
}

func run(ctx context.Context, args []string) error {
	fs := config.NewFlagSet("gateway")
	var common config.Common
	common.Register(fs, config.DefaultPrometheusAddr)
	addr := fs.String("http-addr", "KIZUNA_HTTP_ADDR", ":8080", "REST listen address")
	corsOrigins := fs.String("cors-origins", "KIZUNA_CORS_ORIGINS", "", "comma-separated origins (or *) that may call the REST API from a browser; the console at /console/ needs none")
	targets := grpcclient.TargetFlags(fs, "ingestion", "segmentation", "metrics", "campaign")
	tlsFlags := grpctls.Register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	origins, err := gateway.ParseOrigins(*corsOrigins)
	if err != nil {
		return fmt.Errorf("%w: %w", config.ErrUsage, err)
	}
	log, stopTelemetry, err := common.Start(ctx, os.Stderr, "gateway")
	if err != nil {
		return err
	}
	defer stopTelemetry()

	var dialOpts []grpc.DialOption
	if creds, err := tlsFlags.ClientCredentials(); err != nil {
		return err
	} else if creds != nil {
		dialOpts = append(dialOpts, grpc.WithTransportCredentials(creds))
	}
	conns, closeConns, err := targets.Dial(dialOpts...)
	if err != nil {
		return err
	}
	defer closeConns()
	gw, err := gateway.New(ctx, gateway.Options{Ingestion: conns["ingestion"], Segmentation: conns["segmentation"],
		Metrics: conns["metrics"], Campaign: conns["campaign"], Logger: log, CORSOrigins: origins})
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
