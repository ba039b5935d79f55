package store_test

import (
	"context"
	"testing"

	"github.com/kizuna/kizuna/services/campaign/internal/store"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// The tests here check that a broadcast's enrolment writes its rows in key
// order, whatever the order of its runs, so two replicas enrolling the
// same customers cannot deadlock on the uniqueness of the keys. Another
// transaction has written the first row in key order and goes on to write
// the next, as a writer in order does; EnrollRuns, waiting for the first,
// must not hold the next yet. PostgreSQL only: SQLite's writers are
// serial.

// broadcastRun is the run of customer's entry into journey j that ends at
// once, with the assignments given.
func broadcastRun(j, customer string, as ...store.Assignment) store.Run {
	e := store.Entry{WorkspaceID: "ws", ID: "ent_" + j + "_" + customer, JourneyID: j, CustomerID: customer, StepID: "message", Event: "{}", EnterTime: t0}
	return store.Run{Entry: e, StepID: "message", End: store.EntryCompleted, Assignments: as}
}

// TestEnrollRunsInsertsEntriesInKeyOrder: the runs [cus_b, cus_a] enter
// cus_a first.
func TestEnrollRunsInsertsEntriesInKeyOrder(t *testing.T) {
	db := sqldbtest.Postgres(t)
	ctx := context.Background()
	s := newStore(t, db)
	const insert = `INSERT INTO entries (workspace_id, entry_id, journey_id, customer_id, entry_number, state, step_id, enter_time)
VALUES ('ws', 'ent_j_' || $1, 'j', $1, 1, 'in_progress', 'message', 0) ON CONFLICT DO NOTHING`
	holder := sqldbtest.Hold(t, db, insert, "cus_a")
	var n int
	insertErr := sqldbtest.LockOrder(t, db, holder, "EnrollRuns", func() error {
		var err error
		n, err = s.EnrollRuns(ctx, t0, []store.Run{broadcastRun("j", "cus_b"), broadcastRun("j", "cus_a")})
		return err
	}, insert, "cus_b")
	if insertErr != nil {
		t.Fatalf("waiting for cus_a's entry, EnrollRuns held cus_b's (%v): it inserts entries out of order", insertErr)
	}
	if n != 0 {
		t.Errorf("EnrollRuns entered %d, want none: the other transaction entered both", n)
	}
}

// TestEnrollRunsInsertsAssignmentsInKeyOrder: a run assigning the units
// [step:s2, holdout] records holdout first.
func TestEnrollRunsInsertsAssignmentsInKeyOrder(t *testing.T) {
	db := sqldbtest.Postgres(t)
	ctx := context.Background()
	s := newStore(t, db)
	const insert = `INSERT INTO assignments (workspace_id, journey_id, customer_id, unit, variant, assign_time)
VALUES ('ws', 'j', 'cus_a', $1, 'other', 0) ON CONFLICT DO NOTHING`
	holder := sqldbtest.Hold(t, db, insert, "holdout")
	run := broadcastRun("j", "cus_a",
		store.Assignment{WorkspaceID: "ws", JourneyID: "j", CustomerID: "cus_a", Unit: "step:s2", Variant: "A"},
		store.Assignment{WorkspaceID: "ws", JourneyID: "j", CustomerID: "cus_a", Unit: "holdout", Variant: "treatment"})
	insertErr := sqldbtest.LockOrder(t, db, holder, "EnrollRuns", func() error {
		_, err := s.EnrollRuns(ctx, t0, []store.Run{run})
		return err
	}, insert, "step:s2")
	if insertErr != nil {
		t.Fatalf("waiting for the holdout assignment, EnrollRuns held step:s2's (%v): it inserts assignments out of order", insertErr)
	}
	got, err := s.Assignments(ctx, "ws", "j", []string{"cus_a"})
	if err != nil {
		t.Fatal(err)
	}
	if got["cus_a"]["holdout"] != "other" || got["cus_a"]["step:s2"] != "other" {
		t.Errorf("assignments %v, want the other transaction's kept", got)
	}
}
