package store_test

import (
	"context"
	"testing"

	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
)

// TestJoinWaitsForMergeInFlight: an evaluation reads a customer, a merge
// on another replica deletes it, then the evaluation's join is written.
// The join must wait for the merge in flight (which holds the customer's
// row) and then be dropped, not insert a member that no longer exists:
// the merge's own removal of the customer's memberships ran before the
// join's row was there. Here a transaction deleting the row, as a merge
// does first, stands for the merge. PostgreSQL only: on SQLite the
// writers are serial and the join sees the merge committed.
func TestJoinWaitsForMergeInFlight(t *testing.T) {
	db, s, w := postgresStore(t)
	ctx := context.Background()
	seg := createSegment(t, s, w)
	seen(t, s, w, "a", "b")
	merge := sqldbtest.Hold(t, db, `DELETE FROM customers WHERE workspace_id = $1 AND customer_id = 'b'`, w)
	done := make(chan error, 1)
	var applied []segment.MembershipChange
	go func() {
		var err error
		applied, _, err = s.ApplyChanges(ctx, []segment.MembershipChange{change(t, w, seg.ID, "a", true), change(t, w, seg.ID, "b", true)})
		done <- err
	}()
	sqldbtest.WaitBlockedBy(t, db, sqldbtest.BackendPID(t, merge))
	if err := merge.Commit(); err != nil {
		t.Fatal(err)
	}
	sqldbtest.Await(t, done, "ApplyChanges")
	if len(applied) != 1 || applied[0].CustomerID != "a" {
		t.Errorf("applied %+v; want a's join only", applied)
	}
	members, _, err := s.ListMembers(ctx, w, seg.ID, "", 10)
	if err != nil || len(members) != 1 || members[0].CustomerID != "a" {
		t.Errorf("members %+v, %v; want a only", members, err)
	}
}
