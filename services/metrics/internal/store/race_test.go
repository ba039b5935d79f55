package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/metrics/internal/ledger"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// TestFirstBatchWaitsForFirstMerge: a workspace's first batch of events,
// applied on one replica while its first merge is in flight on another,
// must not read the customers before the merge commits and write after
// it. Neither has a ledger row to lock yet: the merge creates it, and the
// batch must wait for it before reading, or it records the merged-away
// customer as live with its order. Here the merge of x into y is held
// up (a transaction holds a row its last moves need) after it took the
// ledger row, and the batch, with an order of x, comes meanwhile.
// Whichever commits first, x must end up folded into y. PostgreSQL only:
// SQLite's writers are serial.
func TestFirstBatchWaitsForFirstMerge(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		if db.Dialect != sqldb.Postgres {
			t.Skip("SQLite runs one writer at a time: no batch reads while a merge is in flight")
		}
		ctx := context.Background()
		s := newStore(t, db)
		// A send to x: a row the merge moves, written without a ledger row.
		if err := s.ApplySend(ctx, ledger.Send{WorkspaceID: "w", SendID: "s1", CustomerID: "x", Channel: "EMAIL", Status: "SENT", Time: t0}); err != nil {
			t.Fatal(err)
		}
		holder, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = holder.Rollback() }()
		var holderPID int
		if err := holder.QueryRowContext(ctx, `SELECT pg_backend_pid() FROM sends WHERE workspace_id = 'w' AND send_id = 's1' FOR UPDATE`).Scan(&holderPID); err != nil {
			t.Fatal(err)
		}
		merged := make(chan error, 1)
		go func() {
			_, err := s.ApplyMerge(ctx, ledger.Merge{WorkspaceID: "w", MergeID: "m1", SurvivorID: "y", MergedIDs: []string{"x"}})
			merged <- err
		}()
		mergePID := waitForBlocked(t, db, holderPID)
		batched := make(chan error, 1)
		go func() {
			_, err := s.ApplyEvents(ctx, []ledger.Event{
				*visit("w", "e1", "y", day(2)).event,
				*order("w", "e2", "x", day(1), "order:o1", 100).event,
			})
			batched <- err
		}()
		waitForBlocked(t, db, mergePID)
		if err := holder.Commit(); err != nil {
			t.Fatal(err)
		}
		for what, done := range map[string]chan error{"ApplyMerge": merged, "ApplyEvents": batched} {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("%s did not return", what)
			}
		}
		got := sqldbtest.Rows(t, db, `SELECT 'customer ' || customer_id FROM customers WHERE workspace_id = 'w'
UNION ALL SELECT 'order ' || order_key || ' of ' || customer_id FROM orders WHERE workspace_id = 'w' ORDER BY 1`)
		want := "[[customer y] [order order:o1 of y]]"
		if fmt.Sprint(got) != want {
			t.Errorf("rows = %v, want %s: the batch recorded the merged-away customer x", got, want)
		}
	})
}

// waitForBlocked waits until a session waits on a lock the session with
// process id holder holds, and returns its process id.
func waitForBlocked(t *testing.T, db *sqldb.DB, holder int) int {
	t.Helper()
	for range 300 {
		var pids []int
		rows, err := db.QueryContext(context.Background(), `SELECT pid FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, holder)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var pid int
			if err := rows.Scan(&pid); err != nil {
				t.Fatal(err)
			}
			pids = append(pids, pid)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
		if len(pids) > 0 {
			return pids[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("nothing waited on session %d", holder)
	return 0
}

// TestMergeWaitsForMergeOfSurvivor: a merge of a into b, applied while a
// merge of b into c is in flight on another replica, must resolve b after
// that merge commits, or it moves a's rows to b, merged away, and brings
// b back to life. Here the merge of b into c is held up after it took the
// ledger row, as in TestFirstBatchWaitsForFirstMerge. PostgreSQL only:
// SQLite's writers are serial.
func TestMergeWaitsForMergeOfSurvivor(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		if db.Dialect != sqldb.Postgres {
			t.Skip("SQLite runs one writer at a time: no merge reads while another is in flight")
		}
		ctx := context.Background()
		s := newStore(t, db)
		apply(t, s, []op{
			order("w", "e1", "a", day(1), "order:o1", 100),
			visit("w", "e2", "b", day(2)),
			visit("w", "e3", "c", day(3)),
		})
		if err := s.ApplySend(ctx, ledger.Send{WorkspaceID: "w", SendID: "s1", CustomerID: "b", Channel: "EMAIL", Status: "SENT", Time: t0}); err != nil {
			t.Fatal(err)
		}
		holder, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = holder.Rollback() }()
		var holderPID int
		if err := holder.QueryRowContext(ctx, `SELECT pg_backend_pid() FROM sends WHERE workspace_id = 'w' AND send_id = 's1' FOR UPDATE`).Scan(&holderPID); err != nil {
			t.Fatal(err)
		}
		second := make(chan error, 1)
		go func() {
			_, err := s.ApplyMerge(ctx, ledger.Merge{WorkspaceID: "w", MergeID: "m2", SurvivorID: "c", MergedIDs: []string{"b"}})
			second <- err
		}()
		secondPID := waitForBlocked(t, db, holderPID)
		first := make(chan error, 1)
		go func() {
			_, err := s.ApplyMerge(ctx, ledger.Merge{WorkspaceID: "w", MergeID: "m1", SurvivorID: "b", MergedIDs: []string{"a"}})
			first <- err
		}()
		waitForBlocked(t, db, secondPID)
		if err := holder.Commit(); err != nil {
			t.Fatal(err)
		}
		for what, done := range map[string]chan error{"merge of b into c": second, "merge of a into b": first} {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
			case <-time.After(30 * time.Second):
				t.Fatalf("%s did not return", what)
			}
		}
		got := sqldbtest.Rows(t, db, `SELECT 'customer ' || customer_id FROM customers WHERE workspace_id = 'w'
UNION ALL SELECT 'order ' || order_key || ' of ' || customer_id FROM orders WHERE workspace_id = 'w'
UNION ALL SELECT 'alias ' || merged_customer_id || ' to ' || survivor_customer_id FROM customer_aliases WHERE workspace_id = 'w' ORDER BY 1`)
		want := "[[alias a to c] [alias b to c] [customer c] [order order:o1 of c]]"
		if fmt.Sprint(got) != want {
			t.Errorf("rows = %v, want %s: a was merged into b, merged away", got, want)
		}
	})
}
