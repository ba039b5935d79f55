package store_test

import (
	"context"
	"testing"

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
