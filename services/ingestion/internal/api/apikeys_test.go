package api_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/ingestion/internal/api"
	"github.com/kizuna/kizuna/services/ingestion/internal/store"
	"github.com/kizuna/kizuna/services/ingestion/internal/workspace"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpctest"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// startKeyServer serves ingestion's API on db authenticating with its own
// key table and scope table, as the ingestion binary does.
func startKeyServer(t *testing.T, db *sqldb.DB, tokens *auth.ServiceTokens) (*grpc.ClientConn, *store.Store, *api.Server) {
	t.Helper()
	srv, st := newAPIServer(t, db)
	srv.SetServiceTokens(tokens)
	addr := grpctest.Start(t, func(s *grpc.Server) { srv.Register(s) },
		grpctest.WithVerifier(tokens.Verifier(st)), grpctest.WithScopes(api.Scopes), grpctest.WithPublicMethods(api.PublicMethods...))
	return grpctest.Dial(t, addr), st, srv
}

func wantCode(t *testing.T, what string, err error, code codes.Code, msgPart string) {
	t.Helper()
	if status.Code(err) != code || !strings.Contains(status.Convert(err).Message(), msgPart) {
		t.Errorf("%s: err = %v, want %v containing %q", what, err, code, msgPart)
	}
}

// TestAPIKeys creates, lists, uses and revokes keys of each kind through
// the API on every backend.
func TestAPIKeys(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		conn, st, _ := startKeyServer(t, db, nil)
		ctx := context.Background()
		_, adminKey, err := api.CreateWorkspace(ctx, st, workspace.Workspace{DisplayName: "t"}, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		admin := auth.WithBearer(ctx, adminKey)
		keys := ingestionv1.NewWorkspaceServiceClient(conn)
		customers := ingestionv1.NewCustomerServiceClient(conn)
		tracking := ingestionv1.NewTrackingServiceClient(conn)

		write, err := keys.CreateAPIKey(admin, &ingestionv1.CreateAPIKeyRequest{ApiKey: &ingestionv1.APIKey{
			DisplayName: "website", Kind: ingestionv1.APIKeyKind_API_KEY_KIND_WRITE}})
		if err != nil {
			t.Fatal(err)
		}
		if w := write.GetApiKey(); !slices.Equal(w.GetScopes(), []string{"track"}) || !strings.HasPrefix(write.GetKey(), w.GetKeyPrefix()) ||
			len(w.GetKeyPrefix()) != 7 || w.GetApiKeyId() == "" || w.GetCreateTime() == nil || w.GetRevokeTime() != nil {
			t.Errorf("write key = %v", write)
		}
		read, err := keys.CreateAPIKey(admin, &ingestionv1.CreateAPIKeyRequest{ApiKey: &ingestionv1.APIKey{
			DisplayName: "  BI export ", Kind: ingestionv1.APIKeyKind_API_KEY_KIND_SECRET, Scopes: []string{"profiles:read", "profiles:read"}}})
		if err != nil {
			t.Fatal(err)
		}
		if r := read.GetApiKey(); r.GetDisplayName() != "BI export" || !slices.Equal(r.GetScopes(), []string{"profiles:read"}) {
			t.Errorf("read key = %v", r)
		}
		// Only the hash is stored.
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_keys WHERE key_hash = $1`, read.GetKey()).Scan(&n); err != nil || n != 0 {
			t.Errorf("raw key stored: %d rows, %v", n, err)
		}

		asWrite, asRead := auth.WithBearer(ctx, write.GetKey()), auth.WithBearer(ctx, read.GetKey())
		if _, err := tracking.Track(asWrite, &ingestionv1.TrackRequest{UserId: "u1", Event: "Signed Up", MessageId: "m1"}); err != nil {
			t.Errorf("write key tracks: %v", err)
		}
		_, err = customers.LookupCustomer(asWrite, &ingestionv1.LookupCustomerRequest{UserId: "u1"})
		wantCode(t, "write key reads a customer", err, codes.PermissionDenied, `API key lacks scope "profiles:read"`)
		if _, err := customers.LookupCustomer(asRead, &ingestionv1.LookupCustomerRequest{UserId: "u1"}); err != nil {
			t.Errorf("read key reads a customer: %v", err)
		}
		_, err = tracking.Track(asRead, &ingestionv1.TrackRequest{UserId: "u1", Event: "x", MessageId: "m2"})
		wantCode(t, "read key tracks", err, codes.PermissionDenied, `API key lacks scope "track"`)
		_, err = keys.ListAPIKeys(asRead, &ingestionv1.ListAPIKeysRequest{})
		wantCode(t, "read key lists keys", err, codes.PermissionDenied, `lacks scope "admin"`)

		// Listing: newest first, paged, never the keys.
		var listed []*ingestionv1.APIKey
		for token := ""; ; {
			page, err := keys.ListAPIKeys(admin, &ingestionv1.ListAPIKeysRequest{PageSize: 1, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			listed = append(listed, page.GetApiKeys()...)
			if token = page.GetNextPageToken(); token == "" {
				break
			}
		}
		if len(listed) != 3 || listed[0].GetApiKeyId() != read.GetApiKey().GetApiKeyId() || listed[2].GetDisplayName() != "default" ||
			!slices.Equal(listed[2].GetScopes(), []string{"admin"}) || listed[2].GetKind() != ingestionv1.APIKeyKind_API_KEY_KIND_SECRET {
			t.Errorf("listed = %v", listed)
		}

		// Revoking: at once on ingestion; not oneself; twice is the same.
		revoked, err := keys.RevokeAPIKey(admin, &ingestionv1.RevokeAPIKeyRequest{ApiKeyId: read.GetApiKey().GetApiKeyId()})
		if err != nil || revoked.GetApiKey().GetRevokeTime() == nil {
			t.Fatalf("revoke = %v, %v", revoked, err)
		}
		_, err = customers.LookupCustomer(asRead, &ingestionv1.LookupCustomerRequest{UserId: "u1"})
		wantCode(t, "revoked key", err, codes.Unauthenticated, "")
		again, err := keys.RevokeAPIKey(admin, &ingestionv1.RevokeAPIKeyRequest{ApiKeyId: read.GetApiKey().GetApiKeyId()})
		if err != nil || !again.GetApiKey().GetRevokeTime().AsTime().Equal(revoked.GetApiKey().GetRevokeTime().AsTime()) {
			t.Errorf("second revoke = %v, %v", again, err)
		}
		_, err = keys.RevokeAPIKey(admin, &ingestionv1.RevokeAPIKeyRequest{ApiKeyId: listed[2].GetApiKeyId()})
		wantCode(t, "self-revoke", err, codes.FailedPrecondition, "cannot revoke itself")
		_, err = keys.RevokeAPIKey(admin, &ingestionv1.RevokeAPIKeyRequest{ApiKeyId: "key_nope"})
		wantCode(t, "unknown key", err, codes.NotFound, "")

		long := strings.Repeat("あ", 201)
		for name, tt := range map[string]struct {
			key   *ingestionv1.APIKey
			field string
		}{
			"no key":              {nil, "api_key"},
			"empty name":          {&ingestionv1.APIKey{DisplayName: " ", Kind: ingestionv1.APIKeyKind_API_KEY_KIND_WRITE}, "api_key.display_name"},
			"long name":           {&ingestionv1.APIKey{DisplayName: long, Kind: ingestionv1.APIKeyKind_API_KEY_KIND_WRITE}, "api_key.display_name"},
			"no kind":             {&ingestionv1.APIKey{DisplayName: "x"}, "api_key.kind"},
			"unknown scope":       {&ingestionv1.APIKey{DisplayName: "x", Kind: ingestionv1.APIKeyKind_API_KEY_KIND_SECRET, Scopes: []string{"profiles:delete"}}, "api_key.scopes[0]"},
			"secret without any":  {&ingestionv1.APIKey{DisplayName: "x", Kind: ingestionv1.APIKeyKind_API_KEY_KIND_SECRET}, "api_key.scopes"},
			"write key with more": {&ingestionv1.APIKey{DisplayName: "x", Kind: ingestionv1.APIKeyKind_API_KEY_KIND_WRITE, Scopes: []string{"track", "admin"}}, "api_key.scopes[1]"},
		} {
			_, err := keys.CreateAPIKey(admin, &ingestionv1.CreateAPIKeyRequest{ApiKey: tt.key})
			wantCode(t, name, err, codes.InvalidArgument, tt.field)
		}
		_, err = keys.RevokeAPIKey(admin, &ingestionv1.RevokeAPIKeyRequest{})
		wantCode(t, "revoke without id", err, codes.InvalidArgument, "api_key_id")
		if _, err := keys.CreateAPIKey(admin, &ingestionv1.CreateAPIKeyRequest{ApiKey: &ingestionv1.APIKey{DisplayName: strings.Repeat("あ", 200),
			Kind: ingestionv1.APIKeyKind_API_KEY_KIND_WRITE, Scopes: []string{"track"}}}); err != nil {
			t.Errorf("200-character name, write key with track: %v", err)
		}
	})
}

// TestVerifyAPIKeyIsForServices checks who may call VerifyAPIKey: a
// service token (with a service secret) or the key being verified.
func TestVerifyAPIKeyIsForServices(t *testing.T) {
	tokens, err := auth.NewServiceTokens(bytes.Repeat([]byte("s"), auth.MinServiceSecretBytes))
	if err != nil {
		t.Fatal(err)
	}
	for _, withTokens := range []bool{false, true} {
		var tk *auth.ServiceTokens
		if withTokens {
			tk = tokens
		}
		conn, st, _ := startKeyServer(t, sqldbtest.SQLite(t), tk)
		ctx := context.Background()
		ws, key, err := api.CreateWorkspace(ctx, st, workspace.Workspace{DisplayName: "t"}, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		_, other, err := api.CreateWorkspace(ctx, st, workspace.Workspace{DisplayName: "o"}, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		keys := ingestionv1.NewWorkspaceServiceClient(conn)
		verify := func(bearer, k string) (*ingestionv1.VerifyAPIKeyResponse, error) {
			return keys.VerifyAPIKey(auth.WithBearer(ctx, bearer), &ingestionv1.VerifyAPIKeyRequest{ApiKey: k})
		}
		_, err = verify(other, key)
		wantCode(t, "another key probes", err, codes.PermissionDenied, "for Kizuna's services")
		_, err = keys.VerifyAPIKey(ctx, &ingestionv1.VerifyAPIKeyRequest{ApiKey: key})
		wantCode(t, "no bearer", err, codes.Unauthenticated, "")
		self, selfErr := verify(key, key)
		if selfErr != nil || self.GetWorkspaceId() != ws.ID || !slices.Equal(self.GetScopes(), []string{"admin"}) {
			t.Errorf("key verifies itself = %v, %v", self, selfErr)
		}
		svc, svcErr := verify(tokens.CallerToken(), key)
		if withTokens {
			if svcErr != nil || svc.GetWorkspaceId() != ws.ID || !slices.Equal(svc.GetScopes(), []string{"admin"}) {
				t.Errorf("service verifies = %v, %v", svc, svcErr)
			}
			_, err = verify(tokens.CallerToken(), "kz_unknown")
			wantCode(t, "service verifies an unknown key", err, codes.Unauthenticated, "")
		} else {
			wantCode(t, "service token without a secret", svcErr, codes.PermissionDenied, "for Kizuna's services")
		}
		_, err = verify("kz_unknown", "kz_unknown")
		wantCode(t, "an unknown key verifies itself", err, codes.Unauthenticated, "")
	}
}

// TestKeyScopes checks that every ingestion RPC has a scope entry, then calls
// each with a key of every single scope: denied for lack of scope exactly
// when the scope table says so.
func TestKeyScopes(t *testing.T) {
	_, _, srv := startKeyServer(t, sqldbtest.SQLite(t), nil)
	grpctest.CheckKeyScopes(t, func(s *grpc.Server) { srv.Register(s) }, api.Scopes, api.PublicMethods)
}
