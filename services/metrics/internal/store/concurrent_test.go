package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/kizuna/kizuna/services/metrics/internal/ledger"
	"github.com/kizuna/kizuna/services/metrics/internal/store"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// TestFirstBatchWaitsForFirstMerge: a workspace's first batch of events,
// applied on one replica while its first merge is in flight on another,
// must not read the customers before the merge commits and write after
// it. Neither has a ledger row to lock yet: the merge creates it, and the
// batch must wait for it before reading, or it records the merged-away
// customer as live with its order. Whichever commits first, x must end up
// folded into y. PostgreSQL only: SQLite's writers are serial.
func TestFirstBatchWaitsForFirstMerge(t *testing.T) {
	db := sqldbtest.Postgres(t)
	ctx := context.Background()
	s := newStore(t, db)
	merge := holdMerge(t, db, s, ledger.Merge{WorkspaceID: "w", MergeID: "m1", SurvivorID: "y", MergedIDs: []string{"x"}})
	batched := make(chan error, 1)
	go func() {
		_, err := s.ApplyEvents(ctx, []ledger.Event{
			*visit("w", "e1", "y", day(2)).event,
			*order("w", "e2", "x", day(1), "order:o1", 100).event,
		})
		batched <- err
	}()
	sqldbtest.WaitBlockedBy(t, db, merge.pid)
	merge.finish(t)
	sqldbtest.Await(t, batched, "ApplyEvents")
	checkRows(t, db, "[[alias x to y] [customer y] [order order:o1 of y]]", "the batch recorded the merged-away customer x")
}

// TestMergeWaitsForMergeOfSurvivor: a merge of a into b, applied while a
// merge of b into c is in flight on another replica, must resolve b after
// that merge commits, or it moves a's rows to b, merged away, and brings
// b back to life. PostgreSQL only: SQLite's writers are serial.
func TestMergeWaitsForMergeOfSurvivor(t *testing.T) {
	db := sqldbtest.Postgres(t)
	ctx := context.Background()
	s := newStore(t, db)
	apply(t, s, []op{
		order("w", "e1", "a", day(1), "order:o1", 100),
		visit("w", "e2", "b", day(2)),
		visit("w", "e3", "c", day(3)),
	})
	merge := holdMerge(t, db, s, ledger.Merge{WorkspaceID: "w", MergeID: "m2", SurvivorID: "c", MergedIDs: []string{"b"}})
	first := make(chan error, 1)
	go func() {
		_, err := s.ApplyMerge(ctx, ledger.Merge{WorkspaceID: "w", MergeID: "m1", SurvivorID: "b", MergedIDs: []string{"a"}})
		first <- err
	}()
	sqldbtest.WaitBlockedBy(t, db, merge.pid)
	merge.finish(t)
	sqldbtest.Await(t, first, "merge of a into b")
	checkRows(t, db, "[[alias a to c] [alias b to c] [customer c] [order order:o1 of c]]", "a was merged into b, merged away")
}

// TestSendWaitsForMerge: a send to x, applied while a merge of x into y
// is in flight on another replica (the sends consumer runs beside the
// events consumer), must resolve x after the merge commits, or it is
// stored on x, merged away, once the merge has moved x's sends.
// PostgreSQL only: SQLite's writers are serial.
func TestSendWaitsForMerge(t *testing.T) {
	db := sqldbtest.Postgres(t)
	ctx := context.Background()
	s := newStore(t, db)
	apply(t, s, []op{visit("w", "e1", "x", day(1)), visit("w", "e2", "y", day(2))})
	merge := holdMerge(t, db, s, ledger.Merge{WorkspaceID: "w", MergeID: "m1", SurvivorID: "y", MergedIDs: []string{"x"}})
	sent := make(chan error, 1)
	go func() {
		sent <- s.ApplySend(ctx, ledger.Send{WorkspaceID: "w", SendID: "s1", CustomerID: "x", Channel: "EMAIL", Status: "SENT", Time: t0})
	}()
	sqldbtest.WaitBlockedBy(t, db, merge.pid)
	merge.finish(t)
	sqldbtest.Await(t, sent, "ApplySend")
	got := sqldbtest.Rows(t, db, `SELECT send_id || ' to ' || customer_id FROM sends WHERE workspace_id = 'w' ORDER BY 1`)
	if want := "[[held-m1 to y] [s1 to y]]"; fmt.Sprint(got) != want {
		t.Errorf("sends = %v, want %s: the send stayed on the merged-away customer x", got, want)
	}
}

// heldMerge is a merge held up in flight by holdMerge.
type heldMerge struct {
	pid    int // its session's process id
	holder *sql.Tx
	done   chan error
}

// holdMerge starts applying m and holds it up in flight, with the ledger
// row taken, until finish: another transaction holds the row of a send
// to m's merged customer, which the merge moves last.
func holdMerge(t *testing.T, db *sqldb.DB, s *store.Store, m ledger.Merge) heldMerge {
	t.Helper()
	ctx := context.Background()
	send := ledger.Send{WorkspaceID: m.WorkspaceID, SendID: "held-" + m.MergeID, CustomerID: m.MergedIDs[0], Channel: "EMAIL", Status: "SENT", Time: t0}
	if err := s.ApplySend(ctx, send); err != nil {
		t.Fatal(err)
	}
	holder, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Rollback() })
	if _, err := holder.ExecContext(ctx, `SELECT 1 FROM sends WHERE workspace_id = $1 AND send_id = $2 FOR UPDATE`, send.WorkspaceID, send.SendID); err != nil {
		t.Fatal(err)
	}
	h := heldMerge{holder: holder, done: make(chan error, 1)}
	go func() {
		_, err := s.ApplyMerge(ctx, m)
		h.done <- err
	}()
	h.pid = sqldbtest.WaitBlockedBy(t, db, sqldbtest.BackendPID(t, holder))
	return h
}

// finish lets the merge go on and waits for it.
func (h heldMerge) finish(t *testing.T) {
	t.Helper()
	if err := h.holder.Commit(); err != nil {
		t.Fatal(err)
	}
	sqldbtest.Await(t, h.done, "held merge")
}

// checkRows compares workspace w's customers, orders and aliases with want.
func checkRows(t *testing.T, db *sqldb.DB, want, why string) {
	t.Helper()
	got := sqldbtest.Rows(t, db, `SELECT 'customer ' || customer_id FROM customers WHERE workspace_id = 'w'
UNION ALL SELECT 'order ' || order_key || ' of ' || customer_id FROM orders WHERE workspace_id = 'w'
UNION ALL SELECT 'alias ' || merged_customer_id || ' to ' || survivor_customer_id FROM customer_aliases WHERE workspace_id = 'w' ORDER BY 1`)
	if fmt.Sprint(got) != want {
		t.Errorf("rows = %v, want %s: %s", got, want, why)
	}
}

// TestConcurrentRedeliveries: one batch of named events, purchases among
// them, delivered to several replicas at once is applied by exactly one:
// each event is reported applied once, and the ledger holds the rows, seqs
// included, of one application. The replicas wait for each other on the workspace's
// ledger row (PostgreSQL) before their rows in events tell them the
// events are seen.
func TestConcurrentRedeliveries(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		var events []ledger.Event
		for i := range 50 {
			e := *named(visit("concurrent", fmt.Sprintf("e%d", i), fmt.Sprintf("c%d", i%7), day(i%5)), "Viewed Product").event
			if i%5 == 0 {
				e.Name, e.Order = "Order Completed", &ledger.Order{Key: fmt.Sprintf("order:o%d", i), Revenue: 10, Currency: "JPY"}
			}
			events = append(events, e)
		}
		const replicas = 4
		results := make(chan []bool, replicas)
		errs := make(chan error, replicas)
		for range replicas {
			go func() {
				applied, err := s.ApplyEvents(ctx, events)
				results <- applied
				errs <- err
			}()
		}
		times := make([]int, len(events))
		for range replicas {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
			for i, a := range <-results {
				if a {
					times[i]++
				}
			}
		}
		for i, n := range times {
			if n != 1 {
				t.Errorf("event %d applied %d times, want once", i, n)
			}
		}
		for i := range events {
			events[i].WorkspaceID = "once"
		}
		if _, err := s.ApplyEvents(ctx, events); err != nil {
			t.Fatal(err)
		}
		if a, b := dumpLedger(t, db, "once"), dumpLedger(t, db, "concurrent"); a != b {
			t.Errorf("applied concurrently and once differ:\n%s", sqldbtest.LineDiff(a, b))
		}
	})
}
