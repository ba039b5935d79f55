package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
	"github.com/kizuna/kizuna/services/segmentation/internal/store"
)

// Membership rows are locked in (customer, segment) order by whatever
// writes several: evaluations and sweeps (ApplyChanges), and merges and
// erasures removing their customers from every segment. Else two of them
// on two replicas can deadlock. In each case here b's membership row is
// older than a's, another transaction holds a's and goes on to take b's,
// as a writer in order does: the writer under test, waiting for a's row,
// must not hold b's yet. PostgreSQL only: SQLite's writers are serial.
func TestMembershipsLockedInOrder(t *testing.T) {
	for _, tc := range []struct {
		name  string
		write func(ctx context.Context, s *store.Store, w, seg string) error
	}{
		{"changes", func(ctx context.Context, s *store.Store, w, seg string) error {
			_, err := s.ApplyChanges(ctx, []segment.MembershipChange{change(t, w, seg, "b", false), change(t, w, seg, "a", false)})
			return err
		}},
		{"merge", func(ctx context.Context, s *store.Store, w, _ string) error {
			_, err := s.ApplyMerge(ctx, segment.Merge{WorkspaceID: w, MergeID: "m1", SurvivorID: "z", MergedIDs: []string{"b", "a"}}, t0)
			return err
		}},
		{"erasure", func(ctx context.Context, s *store.Store, w, _ string) error {
			_, _, err := s.EraseCustomers(ctx, w, "r1", []string{"b", "a"}, t0)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := sqldbtest.Postgres(t)
			ctx := context.Background()
			s, err := store.New(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			w := ws(t)
			seg := newSegment(t, w, "S", traitRule)
			if err := s.CreateSegment(ctx, seg); err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"b", "a"} {
				mustApply(t, s, track(w, "seen-"+id, id, "Seen", t0))
				if _, err := s.ApplyChanges(ctx, []segment.MembershipChange{change(t, w, seg.ID, id, true)}); err != nil {
					t.Fatal(err)
				}
			}
			holder := sqldbtest.Hold(t, db, lockMembership, w, "a")
			done := make(chan error, 1)
			go func() { done <- tc.write(ctx, s, w, seg.ID) }()
			sqldbtest.WaitBlockedBy(t, db, sqldbtest.BackendPID(t, holder))
			lockErr := sqldbtest.LockNext(t, holder, lockMembership, w, "b")
			sqldbtest.Await(t, done, tc.name)
			if lockErr != nil {
				t.Errorf("waiting for a's membership, the %s held b's (%v): it locks memberships out of order", tc.name, lockErr)
			}
			if _, n, err := s.ListMembers(ctx, w, seg.ID, "", 10); err != nil || n != 0 {
				t.Errorf("members after the %s: %d, %v; want none", tc.name, n, err)
			}
		})
	}
}

// lockMembership locks a customer's membership rows.
const lockMembership = `SELECT 1 FROM memberships WHERE workspace_id = $1 AND customer_id = $2 FOR UPDATE`

// TestMergeLocksNewSurvivorInIDOrder: a merge into a survivor with no
// customer row yet takes the survivor's row in id order with the merged
// customers' rows, as a batch of events creates and locks its rows, not
// last when it writes it. Here a batch has created the survivor a's row
// and goes on to lock b's: the merge of b into a, waiting for a's row,
// must not hold b's yet, or the two deadlock. PostgreSQL only: SQLite's
// writers are serial.
func TestMergeLocksNewSurvivorInIDOrder(t *testing.T) {
	db := sqldbtest.Postgres(t)
	ctx := context.Background()
	s, err := store.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	w := ws(t)
	mustApply(t, s, track(w, "seen-b", "b", "Seen", t0))
	holder := sqldbtest.Hold(t, db, `INSERT INTO customers (workspace_id, customer_id, traits, trait_times, first_seen, last_seen, event_count)
VALUES ($1, 'a', '{}', '{}', 0, 0, 1)`, w)
	holderPID := sqldbtest.BackendPID(t, holder)
	done := make(chan error, 1)
	go func() {
		_, err := s.ApplyMerge(ctx, segment.Merge{WorkspaceID: w, MergeID: "m1", SurvivorID: "a", MergedIDs: []string{"b"}}, t0)
		done <- err
	}()
	sqldbtest.WaitBlockedBy(t, db, holderPID)
	lockErr := sqldbtest.LockNext(t, holder, `SELECT 1 FROM customers WHERE workspace_id = $1 AND customer_id = 'b' FOR UPDATE`, w)
	sqldbtest.Await(t, done, "ApplyMerge")
	if lockErr != nil {
		t.Fatalf("waiting for a's row, the merge held b's (%v): it takes the new survivor's row last", lockErr)
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
// batch has created a's row and goes on to lock the survivor b's: the
// unmerge, waiting for a's row, must not hold b's yet, or the two
// deadlock. PostgreSQL only: SQLite's writers are serial.
func TestUnmergeLocksCustomersInIDOrder(t *testing.T) {
	db := sqldbtest.Postgres(t)
	ctx := context.Background()
	s, err := store.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	w := ws(t)
	mustApply(t, s, track(w, "seen-a", "a", "Seen", t0))
	mustApply(t, s, track(w, "seen-b", "b", "Seen", t0))
	if _, err := s.ApplyMerge(ctx, segment.Merge{WorkspaceID: w, MergeID: "m1", SurvivorID: "b", MergedIDs: []string{"a"}}, t0); err != nil {
		t.Fatal(err)
	}
	holder := sqldbtest.Hold(t, db, `INSERT INTO customers (workspace_id, customer_id, traits, trait_times, first_seen, last_seen, event_count)
VALUES ($1, 'a', '{}', '{}', 0, 0, 1)`, w)
	done := make(chan error, 1)
	go func() {
		_, err := s.ApplyUnmerge(ctx, segment.Unmerge{WorkspaceID: w, UnmergeID: "u1", MergeID: "m1", SurvivorID: "b", RestoredID: "a",
			EventIDs: []string{"seen-a"}, Time: t0}, t0)
		done <- err
	}()
	sqldbtest.WaitBlockedBy(t, db, sqldbtest.BackendPID(t, holder))
	lockErr := sqldbtest.LockNext(t, holder, `SELECT 1 FROM customers WHERE workspace_id = $1 AND customer_id = 'b' FOR UPDATE`, w)
	sqldbtest.Await(t, done, "ApplyUnmerge")
	if lockErr != nil {
		t.Fatalf("waiting for a's row, the unmerge held b's (%v): it locks the survivor first", lockErr)
	}
	// a: the batch's event and seen-a, given back; b: its own.
	for id, want := range map[string]int64{"a": 2, "b": 1} {
		if c, err := s.Customer(ctx, w, id); err != nil || c.EventCount != want {
			t.Errorf("customer %s after the unmerge: %+v, %v; want %d events", id, c, err, want)
		}
	}
}
