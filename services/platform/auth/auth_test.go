package auth_test

import (
	"context"
	"errors"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kizuna/kizuna/services/platform/auth"
)

func TestNewKey(t *testing.T) {
	seen := map[string]bool{}
	re := regexp.MustCompile(`^kz_[A-Za-z0-9]{32}$`)
	for range 100 {
		k, err := auth.NewKey()
		if err != nil {
			t.Fatal(err)
		}
		if !re.MatchString(k) {
			t.Fatalf("key %q does not match %s", k, re)
		}
		if seen[k] {
			t.Fatalf("duplicate key %q", k)
		}
		seen[k] = true
	}
}

func TestHashKey(t *testing.T) {
	tests := []struct {
		key, want string
	}{
		{key: "", want: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{key: "abc", want: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	}
	for _, tt := range tests {
		if got := auth.HashKey(tt.key); got != tt.want {
			t.Errorf("HashKey(%q) = %s, want %s", tt.key, got, tt.want)
		}
	}
}

func TestWorkspaceContext(t *testing.T) {
	tests := []struct {
		name   string
		ctx    context.Context
		wantWS string
		wantOK bool
	}{
		{name: "absent", ctx: context.Background()},
		{name: "empty id", ctx: auth.WithWorkspace(context.Background(), "")},
		{name: "present", ctx: auth.WithWorkspace(context.Background(), "ws1"), wantWS: "ws1", wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws, ok := auth.WorkspaceID(tt.ctx)
			if ws != tt.wantWS || ok != tt.wantOK {
				t.Errorf("WorkspaceID = %q, %v; want %q, %v", ws, ok, tt.wantWS, tt.wantOK)
			}
		})
	}
}

// countingVerifier counts calls so tests can prove no store was touched.
type countingVerifier struct {
	calls atomic.Int64
	keys  auth.StaticKeys
	err   error
}

func (v *countingVerifier) VerifyKey(ctx context.Context, key string) (auth.Principal, error) {
	v.calls.Add(1)
	if v.err != nil {
		return auth.Principal{}, v.err
	}
	return v.keys.VerifyKey(ctx, key)
}

func TestUnaryServerInterceptor(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		md        metadata.MD
		verifyErr error
		nilV      bool
		wantCode  codes.Code
		wantWS    string
		wantCalls int64
	}{
		{name: "valid key", method: "/svc/M", md: metadata.Pairs("authorization", "Bearer good"), wantCode: codes.OK, wantWS: "ws1", wantCalls: 1},
		{name: "lower-case scheme", method: "/svc/M", md: metadata.Pairs("authorization", "bearer good"), wantCode: codes.OK, wantWS: "ws1", wantCalls: 1},
		{name: "unknown key", method: "/svc/M", md: metadata.Pairs("authorization", "Bearer bad"), wantCode: codes.Unauthenticated, wantCalls: 1},
		{name: "no metadata", method: "/svc/M", wantCode: codes.Unauthenticated},
		{name: "wrong scheme", method: "/svc/M", md: metadata.Pairs("authorization", "Basic good"), wantCode: codes.Unauthenticated},
		{name: "empty bearer", method: "/svc/M", md: metadata.Pairs("authorization", "Bearer "), wantCode: codes.Unauthenticated},
		{name: "two headers", method: "/svc/M", md: metadata.Pairs("authorization", "Bearer good", "authorization", "Bearer good"), wantCode: codes.Unauthenticated},
		{name: "verifier outage", method: "/svc/M", md: metadata.Pairs("authorization", "Bearer good"), verifyErr: errors.New("db down"), wantCode: codes.Unavailable, wantCalls: 1},
		{name: "nil verifier fails closed", method: "/svc/M", md: metadata.Pairs("authorization", "Bearer good"), nilV: true, wantCode: codes.Unauthenticated},
		{name: "health is public", method: "/grpc.health.v1.Health/Check", wantCode: codes.OK},
		{name: "reflection is public", method: "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", wantCode: codes.OK},
		{name: "caller public method", method: "/svc/Public", wantCode: codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cv := &countingVerifier{keys: auth.StaticKeys{"good": "ws1"}, err: tt.verifyErr}
			var v auth.Verifier = cv
			if tt.nilV {
				v = nil
			}
			icpt := auth.UnaryServerInterceptor(v, func(m string) bool { return m == "/svc/Public" }, auth.ScopeTable{"/svc/M": {auth.ScopeProfilesRead}})
			ctx := metadata.NewIncomingContext(context.Background(), tt.md)
			var gotWS string
			_, err := icpt(ctx, nil, &grpc.UnaryServerInfo{FullMethod: tt.method}, func(ctx context.Context, _ any) (any, error) {
				gotWS, _ = auth.WorkspaceID(ctx)
				return nil, nil
			})
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("code = %v (%v), want %v", got, err, tt.wantCode)
			}
			if gotWS != tt.wantWS {
				t.Errorf("workspace = %q, want %q", gotWS, tt.wantWS)
			}
			if got := cv.calls.Load(); got != tt.wantCalls {
				t.Errorf("verifier calls = %d, want %d", got, tt.wantCalls)
			}
		})
	}
}

type fakeStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s fakeStream) Context() context.Context { return s.ctx }

func TestStreamServerInterceptor(t *testing.T) {
	tests := []struct {
		name     string
		md       metadata.MD
		wantCode codes.Code
		wantWS   string
	}{
		{name: "valid", md: metadata.Pairs("authorization", "Bearer good"), wantCode: codes.OK, wantWS: "ws1"},
		{name: "missing", wantCode: codes.Unauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			icpt := auth.StreamServerInterceptor(auth.StaticKeys{"good": "ws1"}, nil, auth.ScopeTable{"/svc/S": {auth.ScopeTrack}})
			ss := fakeStream{ctx: metadata.NewIncomingContext(context.Background(), tt.md)}
			var gotWS string
			err := icpt(nil, ss, &grpc.StreamServerInfo{FullMethod: "/svc/S"}, func(_ any, s grpc.ServerStream) error {
				gotWS, _ = auth.WorkspaceID(s.Context())
				return nil
			})
			if got := status.Code(err); got != tt.wantCode {
				t.Fatalf("code = %v, want %v", got, tt.wantCode)
			}
			if gotWS != tt.wantWS {
				t.Errorf("workspace = %q, want %q", gotWS, tt.wantWS)
			}
		})
	}
}

func TestForwardUnaryClientInterceptor(t *testing.T) {
	tests := []struct {
		name     string
		incoming metadata.MD
		outgoing metadata.MD
		want     []string
	}{
		{name: "copies incoming", incoming: metadata.Pairs("authorization", "Bearer k1"), want: []string{"Bearer k1"}},
		{name: "keeps explicit outgoing", incoming: metadata.Pairs("authorization", "Bearer k1"), outgoing: metadata.Pairs("authorization", "Bearer k2"), want: []string{"Bearer k2"}},
		{name: "nothing to forward", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			if tt.incoming != nil {
				ctx = metadata.NewIncomingContext(ctx, tt.incoming)
			}
			if tt.outgoing != nil {
				ctx = metadata.NewOutgoingContext(ctx, tt.outgoing)
			}
			var got []string
			err := auth.ForwardUnaryClientInterceptor()(ctx, "/svc/M", nil, nil, nil,
				func(ctx context.Context, _ string, _, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
					md, _ := metadata.FromOutgoingContext(ctx)
					got = md.Get("authorization")
					return nil
				})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) || (len(got) > 0 && got[0] != tt.want[0]) {
				t.Errorf("outgoing authorization = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCachingVerifier(t *testing.T) {
	outage := errors.New("outage")
	tests := []struct {
		name      string
		key       string
		err       error // error the inner verifier returns
		negTTL    time.Duration
		wantWS    string // from both lookups
		wantErr   error  // from both lookups
		wantCalls int64  // after two lookups
	}{
		{name: "valid key cached", key: "good", wantWS: "ws1", wantCalls: 1},
		{name: "rejection cached", key: "bad", negTTL: time.Minute, wantErr: auth.ErrUnauthenticated, wantCalls: 1},
		{name: "rejection not cached when negative ttl is zero", key: "bad", wantErr: auth.ErrUnauthenticated, wantCalls: 2},
		{name: "outage never cached", key: "good", err: outage, negTTL: time.Minute, wantErr: outage, wantCalls: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := &countingVerifier{keys: auth.StaticKeys{"good": "ws1"}, err: tt.err}
			v := auth.NewCachingVerifier(inner, time.Minute, tt.negTTL)
			for _, lookup := range []string{"first", "second"} {
				p, err := v.VerifyKey(context.Background(), tt.key)
				if ws := p.WorkspaceID; ws != tt.wantWS || !errors.Is(err, tt.wantErr) {
					t.Errorf("%s lookup = %q, %v; want %q, %v", lookup, ws, err, tt.wantWS, tt.wantErr)
				}
			}
			if got := inner.calls.Load(); got != tt.wantCalls {
				t.Errorf("inner calls = %d, want %d", got, tt.wantCalls)
			}
		})
	}
}
