package store_test

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/platform/prune"
	"github.com/kizuna/kizuna/services/platform/regulation"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
	"github.com/kizuna/kizuna/services/segmentation/internal/store"
)

// TestLateEvents: an event published for a customer before it was merged
// away or erased, and delivered after, must not re-create it (a ghost that
// joins segments again, or an erased person's data back). It goes to the
// survivor, following survivors merged away in turn; after an undo of the
// merge it goes to the restored customer again; after an erasure nowhere.
func TestLateEvents(t *testing.T) {
	storeOnEachBackend(t, func(t *testing.T, s *store.Store) {
		for _, tt := range []struct {
			name string
			fn   func(t *testing.T, s *store.Store)
		}{
			{"AfterMergeToSurvivor", testLateEventAfterMerge},
			{"InBatchWithWorkspaceRetiringNone", testLateEventBesideWorkspaceRetiringNone},
			{"AfterUnmergeToRestored", testLateEventAfterUnmerge},
			{"AfterErasureDropped", testLateEventAfterErasure},
			{"OfMergedIntoErasedDropped", testLateEventOfMergedIntoErased},
			{"MergeIntoSurvivorMergedAway", testLateMergeIntoMergedAway},
			{"MergeIntoSurvivorErased", testLateMergeIntoErased},
		} {
			t.Run(tt.name, func(t *testing.T) { tt.fn(t, s) })
		}
	})
}

// storeOnEachBackend runs fn with a store on each backend
// (sqldbtest.ForEachBackend).
func storeOnEachBackend(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s, err := store.New(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		fn(t, s)
	})
}

// late is what customer did before a merge or erasure, delivered after
// it: a purchase and an identify call setting a trait.
func late(w, id, customer string) []segment.Event {
	purchase := track(w, id, customer, "Late", t0.Add(-time.Hour))
	purchase.Order = &segment.Order{ID: "o-" + id, Revenue: 10}
	identify := segment.Event{WorkspaceID: w, EventID: id + "-identify", CustomerID: customer, Type: segment.EventIdentify,
		Time: t0.Add(-time.Hour), Traits: map[string]any{"late": id}}
	return []segment.Event{purchase, identify}
}

// applyBatch applies events as one batch and returns them as ApplyEvents
// left them (with the customer each went to).
func applyBatch(t *testing.T, s *store.Store, events []segment.Event) []segment.Event {
	t.Helper()
	if _, err := s.ApplyEvents(context.Background(), events, t0); err != nil {
		t.Fatalf("ApplyEvents: %v", err)
	}
	return events
}

// checkWentTo applies events as one batch and checks the first went to
// customer want.
func checkWentTo(t *testing.T, s *store.Store, events []segment.Event, want string) {
	t.Helper()
	if got := applyBatch(t, s, events); got[0].CustomerID != want {
		t.Errorf("event %s went to %s, want %s", got[0].EventID, got[0].CustomerID, want)
	}
}

// merge applies a merge and returns the customer the merged ones went to.
func merge(t *testing.T, s *store.Store, w, id, survivor string, merged ...string) string {
	t.Helper()
	into, _, err := s.ApplyMerge(context.Background(), segment.Merge{WorkspaceID: w, MergeID: id, SurvivorID: survivor, MergedIDs: merged}, t0)
	if err != nil {
		t.Fatalf("ApplyMerge %s: %v", id, err)
	}
	return into
}

func checkGone(t *testing.T, s *store.Store, w string, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if c, err := s.Customer(context.Background(), w, id); !errors.Is(err, segment.ErrNotFound) {
			t.Errorf("customer %s: %+v, %v; want ErrNotFound", id, c, err)
		}
	}
}

// checkErased checks workspace w holds no orders (the tests erasing
// customers leave none) and no record naming the erased customers ids in
// the clear.
func checkErased(t *testing.T, s *store.Store, w string, ids ...string) {
	t.Helper()
	ctx := context.Background()
	if orders, err := s.Orders(ctx, w); err != nil || len(orders) != 0 {
		t.Errorf("orders %+v (%v), want none", orders, err)
	}
	in := "'" + strings.Join(ids, "', '") + "'"
	var n int
	if err := s.DB().QueryRowContext(ctx, `SELECT count(*) FROM retired_customers WHERE workspace_id = $1
AND (customer_id IN (`+in+`) OR survivor_id IN (`+in+`))`, w).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d records (%v) name an erased customer, want none", n, err)
	}
}

// checkHolds checks customer holds n late events: their behaviour rows,
// their orders and their trait.
func checkHolds(t *testing.T, s *store.Store, w, customer string, n int64) {
	t.Helper()
	ctx := context.Background()
	c, err := s.Customer(ctx, w, customer)
	if err != nil {
		t.Fatalf("customer %s: %v", customer, err)
	}
	if c.Traits["late"] == nil {
		t.Errorf("customer %s traits %v, want late set", customer, c.Traits)
	}
	if got, err := s.CountEvents(ctx, w, customer, "Late", time.Time{}); err != nil || got != n {
		t.Errorf("customer %s has %d late events (%v), want %d", customer, got, err, n)
	}
	if stats, err := s.CustomerOrderStats(ctx, w, customer); err != nil || stats.Count != n {
		t.Errorf("customer %s has %d orders (%v), want %d", customer, stats.Count, err, n)
	}
}

func testLateEventAfterMerge(t *testing.T, s *store.Store) {
	w := ws(t)
	seen(t, s, w, "anon", "user", "other")
	merge(t, s, w, "m1", "user", "anon")
	got := applyBatch(t, s, append(late(w, "e1", "anon"), track(w, "e2", "other", "Seen", t0)))
	if got[0].CustomerID != "user" || got[1].CustomerID != "user" || got[2].CustomerID != "other" {
		t.Errorf("events went to %s, %s, %s; want user, user, other", got[0].CustomerID, got[1].CustomerID, got[2].CustomerID)
	}
	checkGone(t, s, w, "anon")
	checkHolds(t, s, w, "user", 1)

	// The survivor merged away in turn: anon's events follow it.
	merge(t, s, w, "m2", "boss", "user")
	applyBatch(t, s, late(w, "e3", "anon"))
	checkGone(t, s, w, "anon", "user")
	checkHolds(t, s, w, "boss", 2)
	// A redelivery is applied to nothing again but still names the
	// survivor, which the engine re-evaluates.
	checkWentTo(t, s, late(w, "e3", "anon"), "boss")
	checkGone(t, s, w, "anon", "user")
	checkHolds(t, s, w, "boss", 2)
}

// testLateEventBesideWorkspaceRetiringNone: a batch of two workspaces,
// the first of which has retired no one (and so skips the look-up), still
// sends the late events of the second's merged-away customer to its
// survivor.
func testLateEventBesideWorkspaceRetiringNone(t *testing.T, s *store.Store) {
	quiet, w := ws(t)+"_a", ws(t)+"_b"
	seen(t, s, quiet, "anon")
	seen(t, s, w, "anon", "user")
	merge(t, s, w, "m1", "user", "anon")
	got := applyBatch(t, s, slices.Concat([]segment.Event{track(quiet, "e1", "anon", "Late", t0)}, late(w, "e2", "anon")))
	if got[0].CustomerID != "anon" || got[1].CustomerID != "user" {
		t.Errorf("events went to %s of %s and %s of %s; want anon and user", got[0].CustomerID, quiet, got[1].CustomerID, w)
	}
	checkGone(t, s, w, "anon")
	checkHolds(t, s, w, "user", 1)
	if n, err := s.CountEvents(context.Background(), quiet, "anon", "Late", time.Time{}); err != nil || n != 1 {
		t.Errorf("anon of %s has %d late events (%v), want 1", quiet, n, err)
	}
}

func testLateEventAfterUnmerge(t *testing.T, s *store.Store) {
	ctx := context.Background()
	w := ws(t)
	seen(t, s, w, "anon", "user")
	merge(t, s, w, "m1", "user", "anon")
	u := segment.Unmerge{WorkspaceID: w, UnmergeID: "u1", MergeID: "m1", SurvivorID: "user", RestoredID: "anon",
		EventIDs: []string{"seen-anon"}, Time: t0}
	if _, err := s.ApplyUnmerge(ctx, u, t0); err != nil {
		t.Fatal(err)
	}
	if got := applyBatch(t, s, late(w, "e1", "anon")); got[0].CustomerID != "anon" {
		t.Errorf("event went to %s, want anon", got[0].CustomerID)
	}
	checkHolds(t, s, w, "anon", 1)
	if c, err := s.Customer(ctx, w, "user"); err != nil || c.Traits["late"] != nil {
		t.Errorf("survivor %+v, %v: want it without the restored customer's event", c, err)
	}
}

func testLateEventAfterErasure(t *testing.T, s *store.Store) {
	ctx := context.Background()
	w := ws(t)
	seen(t, s, w, "anon", "user", "gone")
	merge(t, s, w, "m1", "user", "anon")
	// Every id of the person, the merged-away one included.
	if _, _, err := s.EraseCustomers(ctx, w, "r1", []string{"user", "anon"}, t0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.EraseCustomers(ctx, w, "r2", []string{"gone"}, t0); err != nil {
		t.Fatal(err)
	}
	events := slices.Concat(late(w, "e1", "anon"), late(w, "e2", "user"), late(w, "e3", "gone"))
	applied, err := s.ApplyEvents(ctx, events, t0)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(applied, false) {
		t.Errorf("applied %v, want every event recorded", applied)
	}
	checkGone(t, s, w, "anon", "user", "gone")
	for _, id := range []string{"anon", "user", "gone"} {
		if n, err := s.CountEvents(ctx, w, id, "Late", time.Time{}); err != nil || n != 0 {
			t.Errorf("%s has %d late events (%v), want none", id, n, err)
		}
	}
	checkErased(t, s, w, "anon", "user", "gone")
}

// testLateEventOfMergedIntoErased: the customers merged into an erased
// one, directly or along a chain, are the erased person even when the
// erasure does not list them: their late events are dropped, not sent
// along records that name the erased id, nor used to re-create them.
func testLateEventOfMergedIntoErased(t *testing.T, s *store.Store) {
	ctx := context.Background()
	w := ws(t)
	seen(t, s, w, "anon", "device", "user")
	merge(t, s, w, "m1", "device", "anon")
	merge(t, s, w, "m2", "user", "device")
	if _, _, err := s.EraseCustomers(ctx, w, "r1", []string{"user"}, t0); err != nil {
		t.Fatal(err)
	}
	events := slices.Concat(late(w, "e1", "anon"), late(w, "e2", "device"))
	applied, err := s.ApplyEvents(ctx, events, t0)
	if err != nil || slices.Contains(applied, false) {
		t.Fatalf("applied %v, %v; want every event recorded", applied, err)
	}
	checkGone(t, s, w, "anon", "device", "user")
	checkErased(t, s, w, "anon", "device", "user")
}

// testLateMergeIntoMergedAway: a merge of anon into user delivered after
// user was merged into boss folds anon into boss, where user's facts went,
// and does not re-create user; anon's later events follow the chain.
func testLateMergeIntoMergedAway(t *testing.T, s *store.Store) {
	w := ws(t)
	seen(t, s, w, "user", "boss")
	applyBatch(t, s, late(w, "e1", "anon"))
	merge(t, s, w, "m2", "boss", "user")
	if into := merge(t, s, w, "m1", "user", "anon"); into != "boss" {
		t.Errorf("late merge went to %q, want boss", into)
	}
	checkGone(t, s, w, "anon", "user")
	checkHolds(t, s, w, "boss", 1)
	// A redelivery changes nothing but names boss, for the engine to
	// re-evaluate.
	if into := merge(t, s, w, "m1", "user", "anon"); into != "boss" {
		t.Errorf("redelivered late merge went to %q, want boss", into)
	}
	checkHolds(t, s, w, "boss", 1)
	checkWentTo(t, s, late(w, "e2", "anon"), "boss")
	checkHolds(t, s, w, "boss", 2)
	checkGone(t, s, w, "anon", "user")
}

// testLateMergeIntoErased: a merge into a survivor erased before it came
// erases the merged customers instead: they are the erased person, so
// nothing of theirs stays (rows, behaviour, orders, memberships) and
// their late events are dropped. The erased customer is not re-created.
// "never" has no row here.
func testLateMergeIntoErased(t *testing.T, s *store.Store) {
	ctx := context.Background()
	w := ws(t)
	seen(t, s, w, "user")
	applyBatch(t, s, late(w, "e1", "anon"))
	seg := createSegment(t, s, w)
	if _, _, err := s.ApplyChanges(ctx, []segment.MembershipChange{change(t, w, seg.ID, "anon", true)}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.EraseCustomers(ctx, w, "r1", []string{"user"}, t0); err != nil {
		t.Fatal(err)
	}
	if into := merge(t, s, w, "m1", "user", "anon", "never"); into != "" {
		t.Errorf("merge into an erased customer went to %q, want nowhere", into)
	}
	applied, err := s.ApplyEvents(ctx, late(w, "e2", "anon"), t0)
	if err != nil || slices.Contains(applied, false) {
		t.Fatalf("late events after the merge: applied %v, %v; want recorded", applied, err)
	}
	checkGone(t, s, w, "user", "anon", "never")
	for _, id := range []string{"user", "anon"} {
		if n, err := s.CountEvents(ctx, w, id, "Late", time.Time{}); err != nil || n != 0 {
			t.Errorf("%s has %d late events (%v), want none", id, n, err)
		}
	}
	checkNoMembers(t, s, w, seg.ID, "merge into an erased customer")
	checkErased(t, s, w, "user", "anon", "never")
}

// TestPruneRetiredCustomers: the records of customers merged away longer
// than the dedupe window ago are pruned, younger ones stay and still
// redirect.
func TestPruneRetiredCustomers(t *testing.T) {
	storeOnEachBackend(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		w := "ws"
		old := t0.Add(-prune.DedupeWindow - time.Hour)
		for _, m := range []struct {
			id, merged string
			at         time.Time
		}{{"m-old", "old", old}, {"m-young", "young", t0.Add(-time.Hour)}} {
			if _, _, err := s.ApplyMerge(ctx, segment.Merge{WorkspaceID: w, MergeID: m.id, SurvivorID: "user", MergedIDs: []string{m.merged}}, m.at); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := s.EraseCustomers(ctx, w, "r1", []string{"erased-old"}, old); err != nil {
			t.Fatal(err)
		}
		if n, err := s.RetiredCustomersTask().Run(ctx, t0); err != nil || n != 2 {
			t.Fatalf("pruned %d, %v; want the old merge's and erasure's records", n, err)
		}
		if got := applyBatch(t, s, late(w, "e1", "young")); got[0].CustomerID != "user" {
			t.Errorf("event of a customer merged away an hour ago went to %s, want user", got[0].CustomerID)
		}
	})
}

// TestLateEventWaitsForMergeInFlight: a batch applying an event of b while
// a merge of b into a, on another replica, holds b's row must wait for the
// merge and then apply the event to a, not re-create b after the merge
// deleted it. Here a transaction deleting b's row and recording its merge,
// as ApplyMerge does, stands for the merge. PostgreSQL only: on SQLite the
// writers are serial and the batch sees the merge committed.
func TestLateEventWaitsForMergeInFlight(t *testing.T) {
	db, s, w := postgresStore(t)
	ctx := context.Background()
	seen(t, s, w, "a", "b")
	merge := sqldbtest.Hold(t, db, `WITH gone AS (DELETE FROM customers WHERE workspace_id = $1 AND customer_id = 'b')
INSERT INTO retired_customers (workspace_id, customer_id, survivor_id, merge_id, retired_at) VALUES ($1, 'b', 'a', 'm1', 0)`, w)
	done := make(chan error, 1)
	events := late(w, "e1", "b")
	go func() {
		_, err := s.ApplyEvents(ctx, events, t0)
		done <- err
	}()
	sqldbtest.WaitBlockedBy(t, db, sqldbtest.BackendPID(t, merge))
	if err := merge.Commit(); err != nil {
		t.Fatal(err)
	}
	sqldbtest.Await(t, done, "ApplyEvents")
	checkGone(t, s, w, "b")
	checkHolds(t, s, w, "a", 1)
	if events[0].CustomerID != "a" {
		t.Errorf("event went to %s, want a", events[0].CustomerID)
	}
}

// TestNewCustomerEventWaitsForRetirementInFlight: a batch with the first
// events of x here (x has no row yet) runs while a merge of x into s, or
// an erasure of x, is in flight on another replica: the merge found no
// row of x to lock, and its record of x is not committed. The batch must
// wait for it, then send the events to s (or drop them), not create x's
// row after the merge or erasure has passed it by (a ghost, or an erased
// person's data back). Another transaction holds the key of the record
// the merge or erasure writes, so each stops there, its rows written;
// the batch then runs and must wait for it. PostgreSQL only: on SQLite
// the writers are serial.
func TestNewCustomerEventWaitsForRetirementInFlight(t *testing.T) {
	const insertRetired = `INSERT INTO retired_customers (workspace_id, customer_id, survivor_id, merge_id, retired_at) VALUES ($1, $2, 'other', 'held', 0)`
	for _, tc := range []struct {
		name   string
		record string // the customer_id of the record it writes
		retire func(ctx context.Context, s *store.Store, w string) error
		want   string // where x's events go
	}{
		{"merge", "x", func(ctx context.Context, s *store.Store, w string) error {
			_, _, err := s.ApplyMerge(ctx, segment.Merge{WorkspaceID: w, MergeID: "m1", SurvivorID: "s", MergedIDs: []string{"x"}}, t0)
			return err
		}, "s"},
		{"erasure", "erased:" + regulation.ErasedKey("x"), func(ctx context.Context, s *store.Store, w string) error {
			_, _, err := s.EraseCustomers(ctx, w, "r1", []string{"x"}, t0)
			return err
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, s, w := postgresStore(t)
			ctx := context.Background()
			seen(t, s, w, "s")
			record := sqldbtest.Hold(t, db, insertRetired, w, tc.record)
			retired := make(chan error, 1)
			go func() { retired <- tc.retire(ctx, s, w) }()
			retirer := sqldbtest.WaitBlockedBy(t, db, sqldbtest.BackendPID(t, record))

			applied := make(chan error, 1)
			events := late(w, "e1", "x")
			go func() {
				_, err := s.ApplyEvents(ctx, events, t0)
				applied <- err
			}()
			// The batch waits for the merge or erasure; without the fix it
			// does not and commits first.
			waitBlockedOrDone(t, db, retirer, applied)
			if err := record.Rollback(); err != nil {
				t.Fatal(err)
			}
			sqldbtest.Await(t, retired, tc.name)
			sqldbtest.Await(t, applied, "ApplyEvents")

			checkGone(t, s, w, "x")
			if tc.want != "" {
				checkHolds(t, s, w, tc.want, 1)
			} else if n, err := s.CountEvents(ctx, w, "s", "Late", time.Time{}); err != nil || n != 0 {
				t.Errorf("s has %d late events (%v), want none", n, err)
			}
			if got := events[0].CustomerID; got != cmp.Or(tc.want, "x") {
				t.Errorf("event went to %s, want %s", got, cmp.Or(tc.want, "x"))
			}
		})
	}
}

// waitBlockedOrDone waits until a session waits on the session with
// process id holder, or a transaction sends its result on done (which is
// sent back for the caller to await).
func waitBlockedOrDone(t *testing.T, db *sqldb.DB, holder int, done chan error) {
	t.Helper()
	for range 300 {
		select {
		case err := <-done:
			done <- err
			return
		default:
		}
		var n int
		if err := db.QueryRowContext(context.Background(), `SELECT count(*) FROM pg_stat_activity
WHERE $1 = ANY(pg_blocking_pids(pid))`, holder).Scan(&n); err != nil {
			t.Fatalf("sessions blocked by %d: %v", holder, err)
		}
		if n > 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("nothing waited on session %d, and the batch did not return", holder)
}
