package metrics_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/kizuna/kizuna/services/metrics"
	"github.com/kizuna/kizuna/services/platform/bus/bustest"
	"github.com/kizuna/kizuna/services/platform/grpctest"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// newForScopes builds the service with its peers at an address nothing
// listens on: calls that reach a peer fail Unavailable, which is not a
// denial.
func newForScopes(t *testing.T) *metrics.Service {
	t.Helper()
	peers := grpctest.Dial(t, "127.0.0.1:1")
	svc, err := metrics.New(context.Background(), metrics.Options{DB: sqldbtest.SQLite(t), Bus: bustest.Embedded(t),
		Segmentation: peers, Ingestion: peers, Campaign: peers, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// TestKeyScopes checks that every metrics RPC has a scope entry, then calls
// each with a key of every single scope: denied for lack of scope exactly
// when the scope table says so.
func TestKeyScopes(t *testing.T) {
	grpctest.CheckKeyScopes(t, newForScopes(t).Register, metrics.Scopes, nil)
}
