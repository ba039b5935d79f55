package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/metrics/internal/ledger"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

func TestOrdersForCLV(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i, e := range []ledger.Event{
			{WorkspaceID: "ws", EventID: "e1", CustomerID: "c1", Time: t0, Order: &ledger.Order{Key: "order:1", Revenue: 10}},
			{WorkspaceID: "ws", EventID: "e2", CustomerID: "c1", Time: t0.Add(48 * time.Hour), Order: &ledger.Order{Key: "order:2", Revenue: 20}},
			{WorkspaceID: "ws", EventID: "e3", CustomerID: "c2", Time: t0.Add(72 * time.Hour), Order: &ledger.Order{Key: "order:3", Revenue: 30}},
			{WorkspaceID: "other", EventID: "e1", CustomerID: "c9", Time: t0, Order: &ledger.Order{Key: "order:1", Revenue: 99}},
		} {
			if _, err := s.ApplyEvent(ctx, e); err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
		}
		var sum float64
		n := 0
		err := s.Orders(ctx, "ws", t0.Add(72*time.Hour), func(_ string, _ time.Time, revenue float64) { sum += revenue; n++ })
		if err != nil {
			t.Fatal(err)
		}
		// The order at exactly the end and the other workspace's order are out.
		if n != 2 || sum != 30 {
			t.Errorf("got %d orders summing to %v, want 2 summing to 30", n, sum)
		}
	})
}
