package store_test

import (
	"context"
	"testing"

	"github.com/kizuna/kizuna/services/metrics/internal/ledger"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// TestLateEventAfterErasure: an event published for a customer before its
// erasure and delivered after it (alone, or in a batch with others'
// events) is recorded as applied and brings nothing back — no order, no
// customer row — while the other events of the batch are applied; the
// record of the erasure keeps no id in the clear.
func TestLateEventAfterErasure(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		apply(t, s, []op{order("w", "e1", "gone", day(1), "o1", 100), visit("w", "e2", "merged", day(1)), merge("w", "m1", "gone", "merged")})
		if _, err := s.EraseCustomers(ctx, "w", "r1", []string{"gone", "merged"}); err != nil {
			t.Fatal(err)
		}
		apply(t, s, []op{order("w", "e3", "gone", day(2), "o3", 50)})
		applyBatched(t, s, []op{visit("w", "e4", "merged", day(2)), order("w", "e5", "kept", day(2), "o5", 10)})
		for _, q := range []struct{ what, query string }{
			{"orders of the erased", `SELECT count(*) FROM orders WHERE workspace_id = 'w' AND customer_id IN ('gone', 'merged')`},
			{"rows of the erased", `SELECT count(*) FROM customers WHERE workspace_id = 'w' AND customer_id IN ('gone', 'merged')`},
			{"ids erased in the clear", `SELECT count(*) FROM applied_messages WHERE message_id IN ('gone', 'merged')`},
		} {
			var n int
			if err := db.QueryRowContext(ctx, q.query).Scan(&n); err != nil || n != 0 {
				t.Errorf("%s: %d (%v), want none", q.what, n, err)
			}
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM orders WHERE workspace_id = 'w' AND customer_id = 'kept'`).Scan(&n); err != nil || n != 1 {
			t.Errorf("orders of the customer kept: %d (%v), want 1", n, err)
		}
	})
}

// TestLateSendAfterErasure: a send outcome (and the exposure it records)
// published before its customer's erasure and delivered after it stores
// nothing: no send, no exposure of the erased person. Those of others
// are stored as usual.
func TestLateSendAfterErasure(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		if _, err := s.EraseCustomers(ctx, "w", "r1", []string{"gone"}); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"gone", "kept"} {
			if err := s.ApplyExposure(ctx, ledger.Exposure{WorkspaceID: "w", JourneyID: "j", CustomerID: id, Variant: "A", SendID: "s-" + id, Time: day(1)}); err != nil {
				t.Fatal(err)
			}
			if err := s.ApplySend(ctx, ledger.Send{WorkspaceID: "w", SendID: "s-" + id, CustomerID: id, Channel: "EMAIL", JourneyID: "j", Status: "SENT", Time: day(1)}); err != nil {
				t.Fatal(err)
			}
		}
		for _, table := range []string{"sends", "exposures"} {
			for id, want := range map[string]int{"gone": 0, "kept": 1} {
				var n int
				if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+table+` WHERE workspace_id = 'w' AND customer_id = $1`, id).Scan(&n); err != nil || n != want {
					t.Errorf("%s of %s: %d (%v), want %d", table, id, n, err, want)
				}
			}
		}
	})
}
