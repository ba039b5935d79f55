package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
	"github.com/kizuna/kizuna/services/segmentation/internal/store"
)

// The tests of lock order here run on PostgreSQL only: SQLite's writers
// are serial. Each has another transaction hold a row a writer in order
// takes first and go on to take the next one (sqldbtest.LockOrder): the
// writer under test, waiting for the first, must not hold the next yet,
// or the two deadlock.

// postgresStore returns a store on a new PostgreSQL schema, and the
// test's workspace.
func postgresStore(t *testing.T) (*sqldb.DB, *store.Store, string) {
	t.Helper()
	db := sqldbtest.Postgres(t)
	s, err := store.New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return db, s, ws(t)
}

// createSegment stores a segment of workspace w.
func createSegment(t *testing.T, s *store.Store, w string) segment.Segment {
	t.Helper()
	seg := newSegment(t, w, "S", traitRule)
	if err := s.CreateSegment(context.Background(), seg); err != nil {
		t.Fatal(err)
	}
	return seg
}

// joinAll gives customers ids a row and a membership of seg each.
func joinAll(t *testing.T, s *store.Store, w, seg string, ids ...string) {
	t.Helper()
	seen(t, s, w, ids...)
	joins := make([]segment.MembershipChange, len(ids))
	for i, id := range ids {
		joins[i] = change(t, w, seg, id, true)
	}
	if _, _, err := s.ApplyChanges(context.Background(), joins); err != nil {
		t.Fatal(err)
	}
}

// checkNoMembers fails the test if seg has members left after what.
func checkNoMembers(t *testing.T, s *store.Store, w, seg, what string) {
	t.Helper()
	if _, n, err := s.ListMembers(context.Background(), w, seg, "", 10); err != nil || n != 0 {
		t.Errorf("members after the %s: %d, %v; want none", what, n, err)
	}
}

// Membership rows are locked in (customer, segment) order by whatever
// writes several: evaluations and sweeps (ApplyChanges), and merges and
// erasures removing their customers from every segment. Else two of them
// on two replicas can deadlock. In each case here b's membership row is
// older than a's, another transaction holds a's and goes on to take b's.
func TestMembershipsLockedInOrder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(ctx context.Context, s *store.Store, w, seg string) error
	}{
		{"changes", func(ctx context.Context, s *store.Store, w, seg string) error {
			_, _, err := s.ApplyChanges(ctx, []segment.MembershipChange{change(t, w, seg, "b", false), change(t, w, seg, "a", false)})
			return err
		}},
		{"merge", func(ctx context.Context, s *store.Store, w, _ string) error {
			_, _, err := s.ApplyMerge(ctx, segment.Merge{WorkspaceID: w, MergeID: "m1", SurvivorID: "z", MergedIDs: []string{"b", "a"}}, t0)
			return err
		}},
		{"erasure", func(ctx context.Context, s *store.Store, w, _ string) error {
			_, _, err := s.EraseCustomers(ctx, w, "r1", []string{"b", "a"}, t0)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, s, w := postgresStore(t)
			seg := createSegment(t, s, w)
			joinAll(t, s, w, seg.ID, "b")
			joinAll(t, s, w, seg.ID, "a")
			holder := sqldbtest.Hold(t, db, lockMembership, w, "a")
			err := sqldbtest.LockOrder(t, db, holder, tc.name, func() error { return tc.write(context.Background(), s, w, seg.ID) }, lockMembership, w, "b")
			if err != nil {
				t.Errorf("waiting for a's membership, the %s held b's (%v): it locks memberships out of order", tc.name, err)
			}
			checkNoMembers(t, s, w, seg.ID, tc.name)
		})
	}
}

// lockMembership locks a customer's membership rows.
const lockMembership = `SELECT 1 FROM memberships WHERE workspace_id = $1 AND customer_id = $2 FOR UPDATE`

// TestChunkedMergeLocksMembershipsInOrder: a merge or an erasure of more
// customers than one statement binds works through them in chunks, and
// the chunks go in id order, not in the order the message lists the ids:
// each chunk locks its customers' memberships (leaveAll), so chunks in
// message order lock them out of (customer, segment) order. Here the
// message lists c000 last, alone in the second chunk; another transaction
// holds c000's membership and goes on to take c500's.
func TestChunkedMergeLocksMembershipsInOrder(t *testing.T) {
	const n = 501 // one more than a chunk
	var ids []string
	for i := 1; i < n; i++ {
		ids = append(ids, fmt.Sprintf("c%03d", i))
	}
	ids = append(ids, "c000")
	first, last := "c000", fmt.Sprintf("c%03d", n-1)
	for _, tc := range []struct {
		name  string
		write func(ctx context.Context, s *store.Store, w string) error
	}{
		{"merge", func(ctx context.Context, s *store.Store, w string) error {
			_, _, err := s.ApplyMerge(ctx, segment.Merge{WorkspaceID: w, MergeID: "m1", SurvivorID: "z", MergedIDs: ids}, t0)
			return err
		}},
		{"erasure", func(ctx context.Context, s *store.Store, w string) error {
			_, _, err := s.EraseCustomers(ctx, w, "r1", ids, t0)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, s, w := postgresStore(t)
			seg := createSegment(t, s, w)
			joinAll(t, s, w, seg.ID, ids...)
			holder := sqldbtest.Hold(t, db, lockMembership, w, first)
			err := sqldbtest.LockOrder(t, db, holder, tc.name, func() error { return tc.write(context.Background(), s, w) }, lockMembership, w, last)
			if err != nil {
				t.Errorf("waiting for %s's membership, the %s held %s's (%v): its chunks lock memberships out of order", first, tc.name, last, err)
			}
			checkNoMembers(t, s, w, seg.ID, tc.name)
		})
	}
}

// insertCustomerA creates customer a's row, as a batch of events does
// before it locks b's.
const insertCustomerA = `INSERT INTO customers (workspace_id, customer_id, traits, trait_times, first_seen, last_seen, event_count)
VALUES ($1, 'a', '{}', '{}', 0, 0, 1)`

// lockCustomerB locks customer b's row.
const lockCustomerB = `SELECT 1 FROM customers WHERE workspace_id = $1 AND customer_id = 'b' FOR UPDATE`

// TestMergeLocksNewSurvivorInIDOrder: a merge into a survivor with no
// customer row yet takes the survivor's row in id order with the merged
// customers' rows, as a batch of events creates and locks its rows, not
// last when it writes it. Here a batch has created the survivor a's row
// and goes on to lock b's: the merge of b into a, waiting for a's row,
// must not hold b's yet.
func TestMergeLocksNewSurvivorInIDOrder(t *testing.T) {
	db, s, w := postgresStore(t)
	ctx := context.Background()
	mustApply(t, s, track(w, "seen-b", "b", "Seen", t0))
	holder := sqldbtest.Hold(t, db, insertCustomerA, w)
	err := sqldbtest.LockOrder(t, db, holder, "ApplyMerge", func() error {
		_, _, err := s.ApplyMerge(ctx, segment.Merge{WorkspaceID: w, MergeID: "m1", SurvivorID: "a", MergedIDs: []string{"b"}}, t0)
		return err
	}, lockCustomerB, w)
	if err != nil {
		t.Fatalf("waiting for a's row, the merge held b's (%v): it takes the new survivor's row last", err)
	}
	c, err := s.Customer(ctx, w, "a")
	if err != nil || c.EventCount != 2 {
		t.Errorf("survivor a: %+v, %v; want b's event counted with a's", c, err)
	}
	if _, err := s.Customer(ctx, w, "b"); !errors.Is(err, segment.ErrNotFound) {
		t.Errorf("merged b: err %v, want ErrNotFound", err)
	}
}

// TestUnmergeLocksCustomersInIDOrder: an unmerge takes its survivor's and
// restored customer's rows in id order, creating the one that has no row
// yet in that order, as a batch of events creates and locks its rows.
// Here the restored customer a has no row (its merge deleted it) and a
// batch has created a's row and goes on to lock the survivor b's.
func TestUnmergeLocksCustomersInIDOrder(t *testing.T) {
	db, s, w := postgresStore(t)
	ctx := context.Background()
	seen(t, s, w, "a", "b")
	if _, _, err := s.ApplyMerge(ctx, segment.Merge{WorkspaceID: w, MergeID: "m1", SurvivorID: "b", MergedIDs: []string{"a"}}, t0); err != nil {
		t.Fatal(err)
	}
	holder := sqldbtest.Hold(t, db, insertCustomerA, w)
	err := sqldbtest.LockOrder(t, db, holder, "ApplyUnmerge", func() error {
		_, err := s.ApplyUnmerge(ctx, segment.Unmerge{WorkspaceID: w, UnmergeID: "u1", MergeID: "m1", SurvivorID: "b", RestoredID: "a",
			EventIDs: []string{"seen-a"}, Time: t0}, t0)
		return err
	}, lockCustomerB, w)
	if err != nil {
		t.Fatalf("waiting for a's row, the unmerge held b's (%v): it locks the survivor first", err)
	}
	// a: the batch's event and seen-a, given back; b: its own.
	for id, want := range map[string]int64{"a": 2, "b": 1} {
		if c, err := s.Customer(ctx, w, id); err != nil || c.EventCount != want {
			t.Errorf("customer %s after the unmerge: %+v, %v; want %d events", id, c, err, want)
		}
	}
}

// TestApplyEventsInsertsOrdersInIDOrder: a batch inserts its orders in
// order id order, not message order: an order id is unique per workspace
// and can come with two events (a resent order, or one bought by two ids
// of one person not merged yet), so two batches inserting the same order
// ids in different orders would wait on each other's uncommitted rows.
// Here another transaction has inserted o1 and goes on to insert o2.
func TestApplyEventsInsertsOrdersInIDOrder(t *testing.T) {
	db, s, w := postgresStore(t)
	order := func(event, customer, id string) segment.Event {
		e := track(w, event, customer, "Order Completed", t0)
		e.Order = &segment.Order{ID: id, Revenue: 10}
		return e
	}
	const insert = `INSERT INTO orders (workspace_id, order_id, customer_id, revenue, occurred_at, event_id)
VALUES ($1, $2, 'other', 10, 0, $3)`
	holder := sqldbtest.Hold(t, db, insert, w, "o1", "h1")
	err := sqldbtest.LockOrder(t, db, holder, "ApplyEvents", func() error {
		_, err := s.ApplyEvents(context.Background(), []segment.Event{order("e2", "b", "o2"), order("e1", "a", "o1")}, t0)
		return err
	}, insert, w, "o2", "h2")
	if err != nil {
		t.Fatalf("waiting for o1, the batch held o2 (%v): it inserts orders in message order", err)
	}
}

// TestApplyEventsCreatesCustomersBeforeLocking: a batch first creates the
// rows of its customers that have none, then locks the others, each in id
// order, as merges, erasures and unmerges do (they create the rows of
// customers they take that have none, then lock them all). Here another
// writer has created a's row and goes on to lock b's; the batch, with
// events of a (no row yet) and b, waiting for a's, must not hold b's.
func TestApplyEventsCreatesCustomersBeforeLocking(t *testing.T) {
	db, s, w := postgresStore(t)
	seen(t, s, w, "b")
	holder := sqldbtest.Hold(t, db, insertCustomerA, w)
	err := sqldbtest.LockOrder(t, db, holder, "ApplyEvents", func() error {
		_, err := s.ApplyEvents(context.Background(), []segment.Event{track(w, "e1", "b", "Seen", t0), track(w, "e2", "a", "Seen", t0)}, t0)
		return err
	}, lockCustomerB, w)
	if err != nil {
		t.Fatalf("waiting for a's row, the batch held b's (%v): it locks the customers that have rows before creating the others", err)
	}
	for id, want := range map[string]int64{"a": 2, "b": 2} {
		if c, err := s.Customer(context.Background(), w, id); err != nil || c.EventCount != want {
			t.Errorf("customer %s: %+v, %v; want %d events", id, c, err, want)
		}
	}
}
