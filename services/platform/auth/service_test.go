package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/metadata"

	"github.com/kizuna/kizuna/services/platform/auth"
)

func TestServiceTokens(t *testing.T) {
	secret := []byte(strings.Repeat("s", auth.MinServiceSecretBytes))
	tokens, err := auth.NewServiceTokens(secret)
	if err != nil {
		t.Fatal(err)
	}
	other, err := auth.NewServiceTokens([]byte(strings.Repeat("o", auth.MinServiceSecretBytes)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.NewServiceTokens(secret[:10]); err == nil {
		t.Error("NewServiceTokens accepted a 10-byte secret")
	}
	ctx := context.Background()
	v := tokens.Verifier(auth.StaticKeys{"kz_user": "ws_user"})

	good := tokens.Token("ws_1")
	forged := strings.Replace(good, "d3NfMQ", "d3NfMg", 1) // ws_1 -> ws_2, same MAC
	tests := []struct {
		name, key, want string
	}{
		{"service token", good, "ws_1"},
		{"user key passes through", "kz_user", "ws_user"},
		{"other secret", other.Token("ws_1"), ""},
		{"workspace swapped", forged, ""},
		{"no mac", auth.ServiceTokenPrefix + "d3NfMQ", ""},
		{"empty workspace", auth.ServiceTokenPrefix + "." + strings.SplitN(good, ".", 2)[1], ""},
		{"unknown key", "kz_nope", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := v.VerifyKey(ctx, tt.key)
			ws := p.WorkspaceID
			if tt.want == "" {
				if !errors.Is(err, auth.ErrUnauthenticated) {
					t.Errorf("VerifyKey = %q, %v; want ErrUnauthenticated", ws, err)
				}
				return
			}
			if err != nil || ws != tt.want {
				t.Errorf("VerifyKey = %q, %v; want %q", ws, err, tt.want)
			}
			if !p.Has(auth.ScopeAdmin) {
				t.Errorf("scopes = %v, want every scope (admin)", p.Scopes)
			}
		})
	}
	if forged == good {
		t.Fatal("test setup: forging did not change the token")
	}

	out := tokens.Context(metadata.NewOutgoingContext(ctx, metadata.Pairs("authorization", "Bearer kz_user", "x-other", "1")), "ws_9")
	md, _ := metadata.FromOutgoingContext(out)
	if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer "+tokens.Token("ws_9") {
		t.Errorf("authorization = %v", got)
	}
	if got := md.Get("x-other"); len(got) != 1 {
		t.Errorf("other metadata lost: %v", md)
	}
	var nilTokens *auth.ServiceTokens
	if nilTokens.Verifier(nil) != nil {
		t.Error("nil ServiceTokens.Verifier(nil) should be nil")
	}
}
