// Package grpcserver builds the gRPC server every Kizuna service runs: the
// same interceptor chain (panic recovery, one log line per RPC, API-key
// auth), OpenTelemetry instrumentation, health and reflection, and a Serve
// that shuts down gracefully when its context ends.
package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/kizuna/kizuna/services/platform/auth"
)

// DefaultShutdownTimeout bounds how long Serve waits for in-flight RPCs
// after its context ends before cutting them off.
const DefaultShutdownTimeout = 10 * time.Second

// Options configures New.
type Options struct {
	// Logger receives one line per RPC. Use telemetry.NewLogger so lines
	// carry trace_id. Default slog.Default().
	Logger *slog.Logger
	// Verifier authenticates API keys. Nil rejects every non-public call
	// (fail closed).
	Verifier auth.Verifier
	// PublicMethods are full method names ("/pkg.Service/Method") callable
	// without a key, in addition to health and reflection.
	PublicMethods []string
	// Scopes names, for every other method, the key scopes that allow it.
	// A method it does not list is denied to every key (fail closed).
	Scopes auth.ScopeTable
	// ShutdownTimeout; 0 means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Creds secures the server (grpctls); nil serves plaintext.
	Creds credentials.TransportCredentials
	// TracerProvider, MeterProvider and Propagator default to the otel
	// globals that telemetry.Setup configures.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Propagator     propagation.TextMapPropagator
}

// streamWorkers is how many goroutines each server keeps for running
// calls, about as many as the gateway keeps connections busy under load.
const streamWorkers = 64

// Server is a *grpc.Server with Kizuna's interceptors, health and
// reflection. Register services on it as on any *grpc.Server, then Serve.
type Server struct {
	*grpc.Server
	health          *health.Server // "" and every registered service: SERVING until shutdown
	shutdownTimeout time.Duration
}

// New builds a Server. It does not listen; see Serve.
func New(opts Options) *Server {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	public := make(map[string]bool, len(opts.PublicMethods))
	for _, m := range opts.PublicMethods {
		public[m] = true
	}
	isPublic := func(m string) bool { return public[m] }

	var otelOpts []otelgrpc.Option
	if opts.TracerProvider != nil {
		otelOpts = append(otelOpts, otelgrpc.WithTracerProvider(opts.TracerProvider))
	}
	if opts.MeterProvider != nil {
		otelOpts = append(otelOpts, otelgrpc.WithMeterProvider(opts.MeterProvider))
	}
	if opts.Propagator != nil {
		otelOpts = append(otelOpts, otelgrpc.WithPropagators(opts.Propagator))
	}

	serverOpts := []grpc.ServerOption{
		grpc.StatsHandler(otelgrpc.NewServerHandler(otelOpts...)),
		// Order matters: logging is outermost so it sees the final status,
		// including panics turned into errors and auth rejections.
		grpc.ChainUnaryInterceptor(
			unaryLogging(logger),
			unaryRecovery(),
			auth.UnaryServerInterceptor(opts.Verifier, isPublic, opts.Scopes),
			unaryRecordWorkspace(),
		),
		grpc.ChainStreamInterceptor(
			streamLogging(logger),
			streamRecovery(),
			auth.StreamServerInterceptor(opts.Verifier, isPublic, opts.Scopes),
			streamRecordWorkspace(),
		),
		// Run calls on long-lived goroutines: a goroutine per call (the
		// default) grew its stack anew for every call that reaches the
		// database, 2 % of the suite's CPU under single tracking calls.
		// Calls beyond the workers still get a goroutine each.
		grpc.NumStreamWorkers(streamWorkers),
		// Matches grpcclient's keepalive pings, which gRPC's default
		// policy (5 min) would answer with GOAWAY "too_many_pings".
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             10 * time.Second,
			PermitWithoutStream: true,
		}),
		// Clients behind a headless Service resolve the replicas once per
		// connection: ending connections now and then (gracefully) makes
		// them re-resolve, so replicas added by a scale-up get traffic.
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionAge:      5 * time.Minute,
			MaxConnectionAgeGrace: 2 * time.Minute, // longer than any request, so none is cut off
		}),
	}
	if opts.Creds != nil {
		serverOpts = append(serverOpts, grpc.Creds(opts.Creds))
	}
	s := &Server{
		Server:          grpc.NewServer(serverOpts...),
		health:          health.NewServer(),
		shutdownTimeout: opts.ShutdownTimeout,
	}
	if s.shutdownTimeout <= 0 {
		s.shutdownTimeout = DefaultShutdownTimeout
	}
	healthpb.RegisterHealthServer(s.Server, s.health)
	reflection.Register(s.Server)
	return s
}

// Serve accepts connections on lis until ctx ends, then reports NOT_SERVING,
// lets in-flight RPCs finish for up to the shutdown timeout, and force-stops
// the rest. It returns nil after a shutdown caused by ctx.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	// Health answers per service name too (kizuna.ingestion.v1.TrackingService,
	// …), so a probe or a client can ask for the service it needs.
	for name := range s.Server.GetServiceInfo() {
		s.health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Server.Serve(lis) }()
	select {
	case err := <-errc:
		if err == nil {
			return errors.New("grpc serve: stopped unexpectedly")
		}
		return fmt.Errorf("grpc serve: %w", err)
	case <-ctx.Done():
	}
	s.health.Shutdown()
	stopped := make(chan struct{})
	go func() {
		s.Server.GracefulStop()
		close(stopped)
	}()
	timer := time.NewTimer(s.shutdownTimeout)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		s.Server.Stop() // cancels the remaining RPCs' contexts
		<-stopped
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("grpc serve: %w", err)
	}
	return nil
}

// Listen opens a TCP listener on addr; ":0" or "127.0.0.1:0" picks a free
// port (read it back from the listener's Addr).
func Listen(addr string) (net.Listener, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return lis, nil
}
