// Package grpcclient dials other Kizuna services the one way they expect:
// plaintext inside the cluster, OpenTelemetry context propagated, the
// caller's API key forwarded, and keepalives that notice dead peers.
package grpcclient

import (
	"fmt"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/kizuna/kizuna/services/platform/auth"
)

// Dial returns a lazily connecting client for target ("host:port" or any
// gRPC name such as "dns:///segmentation:9090"). Extra options are appended
// after the defaults, so they win. Transport security is left to the
// network (service mesh or loopback); pass credentials to override.
func Dial(target string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	all := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()),
		grpc.WithChainUnaryInterceptor(auth.ForwardUnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(auth.ForwardStreamClientInterceptor()),
		// Pings only while calls are open: enough to detect a peer that
		// vanished mid-call without keeping idle connections busy. The
		// server's enforcement policy (grpcserver) allows this rate.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:    30 * time.Second,
			Timeout: 10 * time.Second,
		}),
	}
	conn, err := grpc.NewClient(target, append(all, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("grpc client for %s: %w", target, err)
	}
	return conn, nil
}
