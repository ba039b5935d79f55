package campaign_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/kizuna/kizuna/services/campaign"
	"github.com/kizuna/kizuna/services/platform/bus/bustest"
	"github.com/kizuna/kizuna/services/platform/grpctest"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// newForScopes builds the service with its peers at an address nothing
// listens on: calls that reach a peer fail Unavailable, which is not a
// denial.
func newForScopes(t *testing.T) *campaign.Service {
	t.Helper()
	peers := grpctest.Dial(t, "127.0.0.1:1")
	svc, err := campaign.New(context.Background(), campaign.Options{DB: sqldbtest.SQLite(t), Bus: bustest.Embedded(t),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Segmentation: peers, Ingestion: peers,
		ServiceTokens: testTokens(t), SecretKey: bytes.Repeat([]byte("k"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestKeyScopes checks that every campaign RPC has a scope entry, then calls
// each with a key of every single scope: denied for lack of scope exactly
// when the scope table says so.
func TestKeyScopes(t *testing.T) {
	grpctest.CheckKeyScopes(t, newForScopes(t).Register, campaign.Scopes, campaign.PublicMethods)
}
