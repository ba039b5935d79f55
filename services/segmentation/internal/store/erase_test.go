package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
)

// TestEraseLocksCustomersInIDOrder: an erasure locks its customers' rows in
// id order, as a batch of events (TestApplyEventsLocksCustomersInIDOrder)
// and a merge do, whatever the order of the regulation's ids or of the
// rows on disk; else it deadlocks with them. Here b's row is older than
// a's and a transaction holds a's, as a batch does before it locks b's:
// while the erasure waits for a's row it must not hold b's, or that
// transaction could never lock b. PostgreSQL only: SQLite has no row
// locks.
func TestEraseLocksCustomersInIDOrder(t *testing.T) {
	db := sqldbtest.Postgres(t)
	ctx := context.Background()
	s, w, holder, holderPID := holdCustomerRow(t, db, "a", "b", "a")
	done := make(chan error, 1)
	go func() {
		_, _, err := s.EraseCustomers(ctx, w, "r1", []string{"b", "a"}, t0)
		done <- err
	}()
	sqldbtest.WaitBlockedBy(t, db, holderPID)
	_, lockErr := holder.ExecContext(ctx, `SELECT 1 FROM customers WHERE workspace_id = $1 AND customer_id = 'b' FOR UPDATE NOWAIT`, w)
	if lockErr != nil {
		_ = holder.Rollback()
	} else if err := holder.Commit(); err != nil {
		t.Fatal(err)
	}
	sqldbtest.Await(t, done, "EraseCustomers")
	if lockErr != nil {
		t.Errorf("waiting for a's row, the erasure held b's (%v): it locks customers out of id order", lockErr)
	}
	for _, id := range []string{"a", "b"} {
		if _, err := s.Customer(ctx, w, id); !errors.Is(err, segment.ErrNotFound) {
			t.Errorf("customer %s after the erasure: err %v, want ErrNotFound", id, err)
		}
	}
}
