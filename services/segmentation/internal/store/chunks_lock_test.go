package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
	"github.com/kizuna/kizuna/services/segmentation/internal/store"
)

// TestChunkedMergeLocksMembershipsInOrder: a merge or an erasure of more
// customers than one statement binds works through them in chunks, and
// the chunks go in id order, not in the order the message lists the ids:
// each chunk locks its customers' memberships (leaveAll), so chunks in
// message order lock them out of (customer, segment) order and can
// deadlock with ApplyChanges on another replica. Here the message lists
// c000 last, alone in the second chunk; another transaction holds c000's
// membership and goes on to take c500's, as a writer in order does: the
// merge or erasure waiting for c000's must not hold c500's yet.
// PostgreSQL only: SQLite's writers are serial.
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
			_, err := s.ApplyMerge(ctx, segment.Merge{WorkspaceID: w, MergeID: "m1", SurvivorID: "z", MergedIDs: ids}, t0)
			return err
		}},
		{"erasure", func(ctx context.Context, s *store.Store, w string) error {
			_, _, err := s.EraseCustomers(ctx, w, "r1", ids, t0)
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
			var events []segment.Event
			var joins []segment.MembershipChange
			for _, id := range ids {
				events = append(events, track(w, "seen-"+id, id, "Seen", t0))
				joins = append(joins, change(t, w, seg.ID, id, true))
			}
			if _, err := s.ApplyEvents(ctx, events, t0); err != nil {
				t.Fatal(err)
			}
			if _, err := s.ApplyChanges(ctx, joins); err != nil {
				t.Fatal(err)
			}
			holder := sqldbtest.Hold(t, db, lockMembership, w, first)
			done := make(chan error, 1)
			go func() { done <- tc.write(ctx, s, w) }()
			sqldbtest.WaitBlockedBy(t, db, sqldbtest.BackendPID(t, holder))
			lockErr := sqldbtest.LockNext(t, holder, lockMembership, w, last)
			sqldbtest.Await(t, done, tc.name)
			if lockErr != nil {
				t.Errorf("waiting for %s's membership, the %s held %s's (%v): its chunks lock memberships out of order", first, tc.name, last, lockErr)
			}
			if _, n, err := s.ListMembers(ctx, w, seg.ID, "", 10); err != nil || n != 0 {
				t.Errorf("members after the %s: %d, %v; want none", tc.name, n, err)
			}
		})
	}
}
