package store_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/kizuna/kizuna/services/platform/sqldb"
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
			holder := holdMembership(t, db, w, "a")
			done := make(chan error, 1)
			go func() { done <- tc.write(ctx, s, w, seg.ID) }()
			sqldbtest.WaitBlockedBy(t, db, sqldbtest.BackendPID(t, holder))
			// Shorter than deadlock_timeout: a wait on the writer ends
			// here rather than in its deadlock error and retry.
			if _, err := holder.ExecContext(ctx, `SET LOCAL lock_timeout = '200ms'`); err != nil {
				t.Fatal(err)
			}
			lockErr := lockMembership(ctx, holder, w, "b")
			if lockErr != nil {
				_ = holder.Rollback()
			} else if err := holder.Commit(); err != nil {
				t.Fatal(err)
			}
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

// holdMembership starts a transaction holding customer's membership rows.
func holdMembership(t *testing.T, db *sqldb.DB, w, customer string) *sql.Tx {
	t.Helper()
	holder, err := db.BeginTx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Rollback() })
	if err := lockMembership(context.Background(), holder, w, customer); err != nil {
		t.Fatal(err)
	}
	return holder
}

func lockMembership(ctx context.Context, tx *sql.Tx, w, customer string) error {
	_, err := tx.ExecContext(ctx, `SELECT 1 FROM memberships WHERE workspace_id = $1 AND customer_id = $2 FOR UPDATE`, w, customer)
	return err
}

