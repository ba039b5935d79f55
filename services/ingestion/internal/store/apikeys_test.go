package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/conflict"
	"github.com/kizuna/kizuna/services/ingestion/internal/store"
	"github.com/kizuna/kizuna/services/ingestion/internal/workspace"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// apiKeys creates, lists, verifies and revokes keys, and reads a key
// stored the way keys were before scopes.
func apiKeys(t *testing.T, db *sqldb.DB, st *store.Store, ws string) {
	ctx := context.Background()
	first := workspace.APIKey{ID: "key_1", DisplayName: "default", Kind: workspace.KeyKindSecret, Scopes: []string{auth.ScopeAdmin}, Prefix: "kz_aaaa", CreateTime: t0}
	if err := st.CreateWorkspace(ctx, workspace.Workspace{ID: ws, DisplayName: "w", CreateTime: t0}, first, auth.HashKey("kz_first")); err != nil {
		t.Fatal(err)
	}
	for i, k := range []workspace.APIKey{
		{ID: "key_2", WorkspaceID: ws, DisplayName: "site", Kind: workspace.KeyKindWrite, Scopes: []string{auth.ScopeTrack}, CreateTime: t0.Add(time.Minute)},
		{ID: "key_3", WorkspaceID: ws, DisplayName: "bi", Kind: workspace.KeyKindSecret, Scopes: []string{auth.ScopeProfilesRead, auth.ScopeSegmentsRead}, CreateTime: t0.Add(2 * time.Minute)},
	} {
		if err := st.CreateAPIKey(ctx, k, auth.HashKey("kz_key"+string(rune('2'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateAPIKey(ctx, workspace.APIKey{ID: "key_x", WorkspaceID: ws + "_nope", Kind: workspace.KeyKindWrite, CreateTime: t0}, auth.HashKey("kz_x")); !errors.Is(err, workspace.ErrNotFound) {
		t.Errorf("key of an unknown workspace: %v, want ErrNotFound", err)
	}

	p, err := st.VerifyKey(ctx, "kz_key3")
	if err != nil || p.WorkspaceID != ws || !slices.Equal(p.Scopes, []string{auth.ScopeProfilesRead, auth.ScopeSegmentsRead}) {
		t.Errorf("verify = %+v, %v", p, err)
	}
	if _, err := st.VerifyKey(ctx, "kz_unknown"); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("unknown key: %v", err)
	}

	var ids []string
	for token := ""; ; {
		page, err := st.ListAPIKeys(ctx, ws, 2, token)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range page.Keys {
			ids = append(ids, k.ID)
		}
		if token = page.NextToken; token == "" {
			break
		}
	}
	if !slices.Equal(ids, []string{"key_3", "key_2", "key_1"}) {
		t.Errorf("listed %v, want newest first", ids)
	}
	if _, err := st.ListAPIKeys(ctx, ws, 2, "garbage!"); !errors.Is(err, store.ErrBadPageToken) {
		t.Errorf("bad token: %v", err)
	}

	if _, err := st.RevokeAPIKey(ctx, ws, "key_1", auth.HashKey("kz_first"), t0); !errors.Is(err, conflict.ErrConflict) {
		t.Errorf("self-revoke: %v, want a conflict", err)
	}
	if _, err := st.RevokeAPIKey(ctx, ws+"_other", "key_3", "", t0); !errors.Is(err, workspace.ErrNotFound) {
		t.Errorf("revoke another workspace's key: %v, want ErrNotFound", err)
	}
	k, err := st.RevokeAPIKey(ctx, ws, "key_3", auth.HashKey("kz_first"), t0.Add(time.Hour))
	if err != nil || !k.RevokeTime.Equal(t0.Add(time.Hour)) {
		t.Fatalf("revoke = %+v, %v", k, err)
	}
	if _, err := st.VerifyKey(ctx, "kz_key3"); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("revoked key verifies: %v", err)
	}
	for key, want := range map[string]bool{"kz_key3": true, "kz_key2": false, "kz_unknown": false} {
		if got, err := st.KeyRevoked(ctx, key); err != nil || got != want {
			t.Errorf("KeyRevoked(%s) = %v, %v; want %v", key, got, err, want)
		}
	}
	if k, err := st.RevokeAPIKey(ctx, ws, "key_3", auth.HashKey("kz_first"), t0.Add(2*time.Hour)); err != nil || !k.RevokeTime.Equal(t0.Add(time.Hour)) {
		t.Errorf("second revoke = %+v, %v; want the first revoke time", k, err)
	}

	// A key stored before scopes existed is a secret key with admin.
	if _, err := db.ExecContext(ctx, `INSERT INTO api_keys (key_hash, workspace_id, create_time) VALUES ($1, $2, $3)`, auth.HashKey("kz_old"), ws, t0.UnixMicro()); err != nil {
		t.Fatal(err)
	}
	if p, err := st.VerifyKey(ctx, "kz_old"); err != nil || !slices.Equal(p.Scopes, []string{auth.ScopeAdmin}) {
		t.Errorf("old key = %+v, %v; want admin", p, err)
	}
}
