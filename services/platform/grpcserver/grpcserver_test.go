package grpcserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpcclient"
	"github.com/kizuna/kizuna/services/platform/grpcserver"
	"github.com/kizuna/kizuna/services/platform/grpctest"
	"github.com/kizuna/kizuna/services/platform/telemetry"
)

// testService is a hand-written service so tests need no generated code.
// Echo returns the caller's workspace; Panic panics; Slow sleeps for the
// requested duration; Relay calls Echo on the server at the address given.
func registerTestService(s *grpc.Server) {
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: "test.Test",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{
			{MethodName: "Echo", Handler: unary(func(ctx context.Context, _ string) (string, error) {
				ws, ok := auth.WorkspaceID(ctx)
				if !ok {
					return "", status.Error(codes.Unauthenticated, "no workspace")
				}
				return ws, nil
			})},
			{MethodName: "Panic", Handler: unary(func(context.Context, string) (string, error) { panic("boom") })},
			{MethodName: "Public", Handler: unary(func(context.Context, string) (string, error) { return "public", nil })},
			{MethodName: "Slow", Handler: unary(func(ctx context.Context, in string) (string, error) {
				d, err := time.ParseDuration(in)
				if err != nil {
					return "", status.Error(codes.InvalidArgument, err.Error())
				}
				select {
				case <-time.After(d):
					return "done", nil
				case <-ctx.Done():
					return "", status.FromContextError(ctx.Err()).Err()
				}
			})},
			{MethodName: "Relay", Handler: unary(func(ctx context.Context, addr string) (string, error) {
				conn, err := grpcclient.Dial(addr)
				if err != nil {
					return "", err
				}
				defer conn.Close()
				return call(ctx, conn, "Echo", "")
			})},
		},
	}, struct{}{})
}

func unary(fn func(ctx context.Context, in string) (string, error)) func(any, context.Context, func(any) error, grpc.UnaryServerInterceptor) (any, error) {
	return func(_ any, ctx context.Context, dec func(any) error, icpt grpc.UnaryServerInterceptor) (any, error) {
		in := &wrapperspb.StringValue{}
		if err := dec(in); err != nil {
			return nil, err
		}
		h := func(ctx context.Context, req any) (any, error) {
			out, err := fn(ctx, req.(*wrapperspb.StringValue).GetValue())
			if err != nil {
				return nil, err
			}
			return wrapperspb.String(out), nil
		}
		return icpt(ctx, in, &grpc.UnaryServerInfo{FullMethod: "/test.Test/" + methodOf(ctx)}, h)
	}
}

// methodOf recovers the method name for UnaryServerInfo from the stream
// grpc put in ctx.
func methodOf(ctx context.Context) string {
	m, _ := grpc.Method(ctx)
	return m[strings.LastIndex(m, "/")+1:]
}

func call(ctx context.Context, conn *grpc.ClientConn, method, in string) (string, error) {
	out := &wrapperspb.StringValue{}
	err := conn.Invoke(ctx, "/test.Test/"+method, wrapperspb.String(in), out)
	return out.GetValue(), err
}

// syncBuffer guards log output written by server goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestInterceptorChain(t *testing.T) {
	logs := &syncBuffer{}
	addr := grpctest.Start(t, registerTestService,
		grpctest.WithPublicMethods("/test.Test/Public"),
		grpctest.WithLogger(telemetry.NewLogger(logs, -8, true)),
		grpctest.WithServerOptions(func(o *grpcserver.Options) { o.TracerProvider = sdktrace.NewTracerProvider() }),
	)
	conn := grpctest.Dial(t, addr)
	authed := auth.WithBearer(context.Background(), grpctest.Key)
	tests := []struct {
		name     string
		ctx      context.Context
		method   string
		wantCode codes.Code
		wantOut  string
		wantMsg  string
	}{
		{name: "authenticated", ctx: authed, method: "Echo", wantCode: codes.OK, wantOut: grpctest.Workspace},
		{name: "missing key", ctx: context.Background(), method: "Echo", wantCode: codes.Unauthenticated},
		{name: "wrong key", ctx: auth.WithBearer(context.Background(), "kz_nope"), method: "Echo", wantCode: codes.Unauthenticated},
		{name: "public method", ctx: context.Background(), method: "Public", wantCode: codes.OK, wantOut: "public"},
		{name: "panic becomes internal", ctx: authed, method: "Panic", wantCode: codes.Internal, wantMsg: "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := call(tt.ctx, conn, tt.method, "")
			st := status.Convert(err)
			if st.Code() != tt.wantCode {
				t.Fatalf("code = %v (%v), want %v", st.Code(), err, tt.wantCode)
			}
			if out != tt.wantOut {
				t.Errorf("out = %q, want %q", out, tt.wantOut)
			}
			if tt.wantMsg != "" && st.Message() != tt.wantMsg {
				t.Errorf("message = %q, want %q", st.Message(), tt.wantMsg)
			}
		})
	}

	t.Run("health without key", func(t *testing.T) {
		for _, tt := range []struct {
			service string
			want    codes.Code
		}{
			{service: "", want: codes.OK},
			{service: "test.Test", want: codes.OK},
			{service: "test.Unknown", want: codes.NotFound},
		} {
			resp, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{Service: tt.service})
			if status.Code(err) != tt.want || (tt.want == codes.OK && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING) {
				t.Errorf("Check(%q) = %v, %v; want %v and SERVING", tt.service, resp, err, tt.want)
			}
		}
	})

	t.Run("one log line per rpc", func(t *testing.T) {
		byMethod := map[string]map[string]any{}
		for _, l := range logs.lines(t) {
			if l["msg"] == "rpc" {
				byMethod[l["method"].(string)+" "+l["code"].(string)] = l
			}
		}
		echo := byMethod["/test.Test/Echo OK"]
		if echo == nil {
			t.Fatalf("no log line for Echo; got %v", byMethod)
		}
		if echo["workspace_id"] != grpctest.Workspace || echo["trace_id"] == nil || echo["duration"] == nil {
			t.Errorf("Echo log line = %v; want workspace_id, trace_id, duration", echo)
		}
		panicLine := byMethod["/test.Test/Panic Internal"]
		if panicLine == nil || !strings.Contains(panicLine["stack"].(string), "grpcserver_test") || panicLine["level"] != "ERROR" {
			t.Errorf("Panic log line = %v; want ERROR with stack", panicLine)
		}
	})
}

func TestServeGracefulShutdown(t *testing.T) {
	tests := []struct {
		name     string
		sleep    string
		timeout  time.Duration
		wantCode codes.Code
	}{
		{name: "in-flight call finishes", sleep: "200ms", timeout: 5 * time.Second, wantCode: codes.OK},
		{name: "call past timeout is cut off", sleep: "10s", timeout: 100 * time.Millisecond, wantCode: codes.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := grpcserver.New(grpcserver.Options{
				Verifier:        auth.StaticKeys{"k": "ws"},
				Scopes:          auth.ScopeTable{"/test.Test/Slow": {auth.ScopeTrack}},
				ShutdownTimeout: tt.timeout,
				Logger:          telemetry.NewLogger(&syncBuffer{}, 0, false),
			})
			registerTestService(srv.Server)
			lis, err := grpcserver.Listen("127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ctx, lis) }()

			conn := grpctest.Dial(t, lis.Addr().String())
			result := make(chan error, 1)
			go func() {
				_, err := call(auth.WithBearer(context.Background(), "k"), conn, "Slow", tt.sleep)
				result <- err
			}()
			time.Sleep(100 * time.Millisecond) // let the call start
			cancel()
			if err := <-served; err != nil {
				t.Fatalf("Serve = %v, want nil", err)
			}
			err = <-result
			if got := status.Code(err); got != tt.wantCode && !(tt.wantCode != codes.OK && got == codes.Canceled) {
				t.Errorf("in-flight call: %v, want %v", err, tt.wantCode)
			}
		})
	}
}

func TestAuthForwardedBetweenServices(t *testing.T) {
	backend := grpctest.Start(t, registerTestService, grpctest.WithVerifier(auth.StaticKeys{"k": "ws_forwarded"}))
	front := grpctest.Start(t, registerTestService, grpctest.WithVerifier(auth.StaticKeys{"k": "ws_forwarded"}))
	out, err := call(auth.WithBearer(context.Background(), "k"), grpctest.Dial(t, front), "Relay", backend)
	if err != nil {
		t.Fatal(err)
	}
	if out != "ws_forwarded" {
		t.Errorf("backend saw workspace %q, want ws_forwarded", out)
	}
}

func TestListen(t *testing.T) {
	tests := []struct {
		addr    string
		wantErr bool
	}{
		{addr: "127.0.0.1:0"},
		{addr: ":0"},
		{addr: "256.0.0.1:0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			lis, err := grpcserver.Listen(tt.addr)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Listen(%q) error = %v, wantErr %v", tt.addr, err, tt.wantErr)
			}
			if lis != nil {
				lis.Close()
			}
		})
	}
}
