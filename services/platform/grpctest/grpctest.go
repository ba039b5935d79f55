// Package grpctest starts a real Kizuna gRPC server on a loopback port for
// tests, so handlers are exercised through the same interceptors (auth,
// recovery, logging) and a real client connection as in production.
package grpctest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpcclient"
	"github.com/kizuna/kizuna/services/platform/grpcserver"
)

// The key and workspace the default verifier accepts.
const (
	Key       = "kz_testkey00000000000000000000000000"
	Workspace = "ws_test"
)

// Option adjusts the server Start builds.
type Option func(*grpcserver.Options)

// WithVerifier replaces the default verifier (which accepts only Key, as
// Workspace).
func WithVerifier(v auth.Verifier) Option {
	return func(o *grpcserver.Options) { o.Verifier = v }
}

// WithScopes sets the scope table (the service's own, to test it). Without
// it every registered method needs the admin scope, which the default
// verifier's key holds.
func WithScopes(table auth.ScopeTable) Option {
	return func(o *grpcserver.Options) { o.Scopes = table }
}

// WithPublicMethods adds full method names callable without a key.
func WithPublicMethods(methods ...string) Option {
	return func(o *grpcserver.Options) { o.PublicMethods = append(o.PublicMethods, methods...) }
}

// WithLogger sends the server's RPC log lines to logger (default: discarded).
func WithLogger(logger *slog.Logger) Option {
	return func(o *grpcserver.Options) { o.Logger = logger }
}

// WithServerOptions edits the grpcserver.Options directly, for anything the
// other options do not cover.
func WithServerOptions(fn func(*grpcserver.Options)) Option {
	return Option(fn)
}

// Start serves the services register adds on 127.0.0.1 with a free port
// and returns its address. The server stops on test cleanup.
func Start(t testing.TB, register func(s *grpc.Server), opts ...Option) string {
	t.Helper()
	o := grpcserver.Options{
		Logger:          slog.New(slog.NewTextHandler(io.Discard, nil)),
		Verifier:        auth.StaticKeys{Key: Workspace},
		ShutdownTimeout: 5 * time.Second,
	}
	for _, opt := range opts {
		opt(&o)
	}
	var adminOnly auth.ScopeTable
	if o.Scopes == nil {
		adminOnly = auth.ScopeTable{}
		o.Scopes = adminOnly
	}
	srv := grpcserver.New(o)
	register(srv.Server)
	for m := range methods(srv.Server) {
		if adminOnly != nil {
			adminOnly[m] = []string{auth.ScopeAdmin}
		}
	}
	lis, err := grpcserver.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatalf("grpctest: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("grpctest: serve: %v", err)
		}
	})
	return lis.Addr().String()
}

// Dial returns a client connection to addr (through grpcclient.Dial, so
// client interceptors run too), closed on test cleanup.
func Dial(t testing.TB, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	conn, err := grpcclient.Dial(addr, opts...)
	if err != nil {
		t.Fatalf("grpctest: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}
