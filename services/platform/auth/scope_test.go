package auth_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpcstatus"
)

func TestPrincipalHas(t *testing.T) {
	tests := []struct {
		held  []string
		scope string
		want  bool
	}{
		{held: []string{auth.ScopeAdmin}, scope: auth.ScopeSegmentsWrite, want: true},
		{held: []string{auth.ScopeAdmin}, scope: auth.ScopeTrack, want: true},
		{held: []string{auth.ScopeSegmentsWrite}, scope: auth.ScopeSegmentsRead, want: true},
		{held: []string{auth.ScopeSegmentsRead}, scope: auth.ScopeSegmentsWrite},
		{held: []string{auth.ScopeSegmentsWrite}, scope: auth.ScopeProfilesRead},
		{held: []string{auth.ScopeTrack}, scope: auth.ScopeProfilesRead},
		{held: []string{auth.ScopeProfilesRead, auth.ScopeTrack}, scope: auth.ScopeTrack, want: true},
		{held: nil, scope: auth.ScopeTrack},
		{held: []string{auth.ScopeMetricsWrite}, scope: auth.ScopeAdmin},
	}
	for _, tt := range tests {
		if got := (auth.Principal{WorkspaceID: "ws", Scopes: tt.held}).Has(tt.scope); got != tt.want {
			t.Errorf("%v has %q = %v, want %v", tt.held, tt.scope, got, tt.want)
		}
	}
}

func TestInterceptorScopes(t *testing.T) {
	keys := auth.ScopedKeys{
		"write":   {WorkspaceID: "ws1", Scopes: []string{auth.ScopeTrack}},
		"segread": {WorkspaceID: "ws1", Scopes: []string{auth.ScopeSegmentsRead}},
		"admin":   auth.AdminPrincipal("ws1"),
	}
	table := auth.ScopeTable{
		"/svc/Track":       {auth.ScopeTrack},
		"/svc/ListMembers": {auth.ScopeSegmentsRead, auth.ScopeProfilesRead},
		"/svc/Create":      {auth.ScopeSegmentsWrite},
	}
	tests := []struct {
		key, method string
		wantCode    codes.Code
		wantMsg     string
	}{
		{key: "write", method: "/svc/Track", wantCode: codes.OK},
		{key: "write", method: "/svc/Create", wantCode: codes.PermissionDenied, wantMsg: `API key lacks scope "segments:write"`},
		{key: "segread", method: "/svc/ListMembers", wantCode: codes.OK},
		{key: "segread", method: "/svc/Create", wantCode: codes.PermissionDenied, wantMsg: `API key lacks scope "segments:write"`},
		{key: "write", method: "/svc/ListMembers", wantCode: codes.PermissionDenied, wantMsg: `API key lacks scope "segments:read" or "profiles:read"`},
		{key: "admin", method: "/svc/Create", wantCode: codes.OK},
		{key: "admin", method: "/svc/Unlisted", wantCode: codes.PermissionDenied, wantMsg: "method /svc/Unlisted declares no scope; denied"},
		{key: "nope", method: "/svc/Track", wantCode: codes.Unauthenticated, wantMsg: "invalid API key"},
	}
	for _, tt := range tests {
		t.Run(tt.key+tt.method, func(t *testing.T) {
			icpt := auth.UnaryServerInterceptor(keys, nil, table)
			ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+tt.key))
			var got auth.Principal
			_, err := icpt(ctx, nil, &grpc.UnaryServerInfo{FullMethod: tt.method}, func(ctx context.Context, _ any) (any, error) {
				got, _ = auth.PrincipalFrom(ctx)
				return nil, nil
			})
			if status.Code(err) != tt.wantCode || (tt.wantMsg != "" && status.Convert(err).Message() != tt.wantMsg) {
				t.Fatalf("err = %v, want %v %q", err, tt.wantCode, tt.wantMsg)
			}
			if strings.HasPrefix(tt.wantMsg, "API key lacks scope") {
				// Clients read the scopes from the ErrorInfo, not the message.
				if grpcstatus.Reason(err) != auth.ReasonScopeMissing || scopesOf(err) != strings.Join(table[tt.method], " ") {
					t.Errorf("details = %v, want reason %s with scopes %v", status.Convert(err).Details(), auth.ReasonScopeMissing, table[tt.method])
				}
			}
			if err == nil && !slices.Equal(got.Scopes, keys[tt.key].Scopes) {
				t.Errorf("handler principal scopes = %v, want %v", got.Scopes, keys[tt.key].Scopes)
			}
		})
	}
}

func TestNilScopeTableDeniesAll(t *testing.T) {
	icpt := auth.UnaryServerInterceptor(auth.StaticKeys{"k": "ws"}, nil, nil)
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer k"))
	_, err := icpt(ctx, nil, &grpc.UnaryServerInfo{FullMethod: "/svc/M"}, func(context.Context, any) (any, error) { return nil, nil })
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("err = %v, want PermissionDenied", err)
	}
}

func TestCachingVerifierKeepsScopes(t *testing.T) {
	inner := &countingVerifier{}
	scoped := auth.ScopedKeys{"k": {WorkspaceID: "ws1", Scopes: []string{auth.ScopeMetricsRead}}}
	v := auth.NewCachingVerifier(verifierFunc(func(ctx context.Context, key string) (auth.Principal, error) {
		inner.calls.Add(1)
		return scoped.VerifyKey(ctx, key)
	}), time.Minute, 0)
	for range 2 {
		p, err := v.VerifyKey(context.Background(), "k")
		if err != nil || p.WorkspaceID != "ws1" || !slices.Equal(p.Scopes, []string{auth.ScopeMetricsRead}) {
			t.Fatalf("VerifyKey = %+v, %v", p, err)
		}
		p.Scopes[0] = auth.ScopeAdmin // must not change the cache
	}
	if inner.calls.Load() != 1 {
		t.Errorf("inner calls = %d, want 1", inner.calls.Load())
	}
	if p, _ := v.VerifyKey(context.Background(), "k"); p.Has(auth.ScopeAdmin) {
		t.Error("a caller's change of the scopes reached the cache")
	}
}

type verifierFunc func(ctx context.Context, key string) (auth.Principal, error)

func (f verifierFunc) VerifyKey(ctx context.Context, key string) (auth.Principal, error) {
	return f(ctx, key)
}

func TestActAsCaller(t *testing.T) {
	tokens, err := auth.NewServiceTokens([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	in := metadata.Pairs("authorization", "Bearer kz_user")
	tests := []struct {
		name string
		ctx  context.Context
		want string // outgoing bearer
	}{
		{name: "in a handler: service token of the caller's workspace",
			ctx:  auth.WithPrincipal(metadata.NewIncomingContext(context.Background(), in), auth.Principal{WorkspaceID: "ws1", Scopes: []string{auth.ScopeTrack}}),
			want: "Bearer " + tokens.Token("ws1")},
		{name: "outside a handler: forwarded as is",
			ctx:  metadata.NewIncomingContext(context.Background(), in),
			want: "Bearer kz_user"},
		{name: "explicit bearer kept",
			ctx: metadata.AppendToOutgoingContext(auth.WithPrincipal(metadata.NewIncomingContext(context.Background(), in), auth.AdminPrincipal("ws1")),
				"authorization", "Bearer kz_other"),
			want: "Bearer kz_other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			invoker := func(ctx context.Context, _ string, _, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
				md, _ := metadata.FromOutgoingContext(ctx)
				got = md.Get("authorization")
				return nil
			}
			// In grpcclient.Dial's order: acting as the caller first, then
			// forwarding what is left.
			act := tokens.UnaryClientInterceptor()
			fwd := auth.ForwardUnaryClientInterceptor()
			err := act(tt.ctx, "/svc/M", nil, nil, nil, func(ctx context.Context, m string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
				return fwd(ctx, m, req, reply, cc, invoker, opts...)
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("outgoing authorization = %q, want %q", got, tt.want)
			}
		})
	}
}

// scopesOf returns the "scopes" metadata of err's ErrorInfo.
func scopesOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetMetadata()["scopes"]
		}
	}
	return ""
}
