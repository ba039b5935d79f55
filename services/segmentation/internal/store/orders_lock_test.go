package store_test

import (
	"context"
	"testing"

	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
	"github.com/kizuna/kizuna/services/segmentation/internal/store"
)

// TestApplyEventsInsertsOrdersInIDOrder: a batch inserts its orders in
// order id order, not message order: an order id is unique per workspace
// and can come with two events (a resent order, or one bought by two ids
// of one person not merged yet), so two batches inserting the same order
// ids in different orders would wait on each other's uncommitted rows.
// Here another transaction has inserted o1 and goes on to insert o2, as a
// batch in id order does; the batch [o2, o1] waiting for o1 must not hold
// o2 yet. PostgreSQL only: SQLite's writers are serial.
func TestApplyEventsInsertsOrdersInIDOrder(t *testing.T) {
	db := sqldbtest.Postgres(t)
	ctx := context.Background()
	s, err := store.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	w := ws(t)
	order := func(event, customer, id string) segment.Event {
		e := track(w, event, customer, "Order Completed", t0)
		e.Order = &segment.Order{ID: id, Revenue: 10}
		return e
	}
	const insert = `INSERT INTO orders (workspace_id, order_id, customer_id, revenue, occurred_at, event_id)
VALUES ($1, $2, 'other', 10, 0, $3)`
	holder := sqldbtest.Hold(t, db, insert, w, "o1", "h1")
	done := make(chan error, 1)
	go func() {
		_, err := s.ApplyEvents(ctx, []segment.Event{order("e2", "b", "o2"), order("e1", "a", "o1")}, t0)
		done <- err
	}()
	sqldbtest.WaitBlockedBy(t, db, sqldbtest.BackendPID(t, holder))
	lockErr := sqldbtest.LockNext(t, holder, insert, w, "o2", "h2")
	sqldbtest.Await(t, done, "ApplyEvents")
	if lockErr != nil {
		t.Fatalf("waiting for o1, the batch held o2 (%v): it inserts orders in message order", lockErr)
	}
}
