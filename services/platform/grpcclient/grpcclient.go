// Package grpcclient dials other Kizuna services the one way they expect:
// plaintext inside the cluster, OpenTelemetry context propagated, the
// caller's API key forwarded, keepalives that notice dead peers, and
// Unavailable errors that do not leak internal addresses (UnavailableError).
// TargetFlags gives a binary its -<service>-target flags.
package grpcclient

import (
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/config"
)

// Dial returns a lazily connecting client for target ("host:port" or any
// gRPC name such as "dns:///segmentation:9090"). Extra options are appended
// after the defaults, so they win. Transport security is left to the
// network (service mesh or loopback); pass credentials to override.
func Dial(target string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	all := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// Spread calls over every address the target resolves to: with
		// "dns:///<headless service>:port" that is every replica.
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()),
		grpc.WithChainUnaryInterceptor(unavailableUnaryInterceptor()),
		grpc.WithChainStreamInterceptor(unavailableStreamInterceptor()),
		// Pings only while calls are open: enough to detect a peer that
		// vanished mid-call without keeping idle connections busy. The
		// server's enforcement policy (grpcserver) allows this rate.
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:    30 * time.Second,
			Timeout: 10 * time.Second,
		}),
		// Reconnect fast: a replica restarting in a rollout is back within
		// a second, and gRPC's default backoff (1 s doubling to 2 min) would
		// keep it out of the rotation long after, until the next replica's
		// restart leaves no connection ready at all.
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second},
			MinConnectTimeout: 5 * time.Second,
		}),
	}
	all = append(all, opts...)
	// Innermost, so interceptors in opts see the call first: forwarding
	// the caller's key only fills in an authorization nothing set.
	all = append(all,
		grpc.WithChainUnaryInterceptor(auth.ForwardUnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(auth.ForwardStreamClientInterceptor()))
	conn, err := grpc.NewClient(target, all...)
	if err != nil {
		return nil, fmt.Errorf("grpc client for %s: %w", target, err)
	}
	return conn, nil
}

// Targets holds the addresses of the services a binary calls, by name, as
// registered by TargetFlags.
type Targets map[string]*string

// TargetFlags registers, for each service name, a -<name>-target flag (env
// KIZUNA_<NAME>_TARGET, default localhost:<config.DefaultPorts[name]>).
func TargetFlags(fs *config.FlagSet, names ...string) Targets {
	t := Targets{}
	for _, name := range names {
		t[name] = fs.String(name+"-target", "KIZUNA_"+strings.ToUpper(name)+"_TARGET",
			"localhost:"+config.DefaultPorts[name], "gRPC address of the "+name+" service")
	}
	return t
}

// Dial dials every target (call it after parsing the flags) with opts
// (e.g. TLS credentials) and returns the connections by name and a func
// closing them all. On error nothing is left open.
func (t Targets) Dial(opts ...grpc.DialOption) (conns map[string]*grpc.ClientConn, closeAll func(), err error) {
	conns = make(map[string]*grpc.ClientConn, len(t))
	closeAll = func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}
	for name, target := range t {
		conn, err := Dial(*target, opts...)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("dial %s: %w", name, err)
		}
		conns[name] = conn
	}
	return conns, closeAll, nil
}
