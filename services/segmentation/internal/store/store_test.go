package store_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
	"github.com/kizuna/kizuna/services/segmentation/internal/store"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// TestConformance runs every store behaviour on SQLite and, when
// KIZUNA_TEST_POSTGRES_URL is set, on PostgreSQL.
func TestConformance(t *testing.T) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *store.Store)
	}{
		{"ApplyEventIsIdempotent", testApplyEventIdempotent},
		{"TraitsLatestWinsPerKey", testTraitsLatestWins},
		{"CountEventsWindowEdge", testCountEventsWindow},
		{"OrdersDedupedByOrderID", testOrdersDeduped},
		{"SegmentsCRUDAndIsolation", testSegmentsCRUD},
		{"MembershipChangesAndOutbox", testMembershipChanges},
		{"ManyMembershipChangesAtOnce", testManyMembershipChanges},
		{"ListMembersPaging", testListMembersPaging},
		{"MergeMovesEverything", testMerge},
		{"UnmergeMovesListedEvents", testUnmerge},
		{"UnmergeKeepsTraitsSetAfterIt", testUnmergeKeepsLaterTraits},
		{"MergeAfterItsUnmerge", testMergeAfterItsUnmerge},
		{"UnmergeOfManyEvents", testUnmergeManyEvents},
		{"ConcurrentEventsForOneCustomer", testConcurrentEvents},
		{"BehavioursByManyNames", testBehavioursByNames},
		{"SegmentsVersion", testSegmentsVersion},
		{"MembershipsVersion", testMembershipsVersion},
		{"ListMembersOfMissingSegment", testListMembersMissing},
		{"MembershipsInRangeBySegment", testMembershipsInRangeBySegment},
		{"MergeOfManyCustomers", testMergeMany},
		{"AppliedAtIsProcessingTime", testAppliedAt},
		{"ConcurrentTrackAndIdentify", testConcurrentMixedEvents},
		{"MigrateTwice", nil},
	}
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s, err := store.New(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if tt.fn == nil {
					if _, err := store.New(context.Background(), db); err != nil {
						t.Fatalf("second migration: %v", err)
					}
					return
				}
				tt.fn(t, s)
			})
		}
	})
}

// ws returns a workspace id unique to the running subtest, so subtests
// sharing one database cannot see each other's rows.
func ws(t testing.TB) string {
	t.Helper()
	return "ws_" + t.Name()
}

func mustApply(t testing.TB, s *store.Store, e segment.Event) bool {
	t.Helper()
	applied, err := s.ApplyEvent(context.Background(), e, t0)
	if err != nil {
		t.Fatalf("ApplyEvent(%s): %v", e.EventID, err)
	}
	return applied
}

// seen gives customers ids a row, with a "Seen" event each: ApplyChanges
// joins only customers that have one.
func seen(t testing.TB, s *store.Store, workspace string, ids ...string) {
	t.Helper()
	events := make([]segment.Event, len(ids))
	for i, id := range ids {
		events[i] = track(workspace, "seen-"+id, id, "Seen", t0)
	}
	if _, err := s.ApplyEvents(context.Background(), events, t0); err != nil {
		t.Fatalf("ApplyEvents: %v", err)
	}
}

func track(workspace, id, customer, name string, at time.Time) segment.Event {
	return segment.Event{WorkspaceID: workspace, EventID: id, CustomerID: customer, Type: segment.EventTrack, Name: name, Time: at}
}

func testApplyEventIdempotent(t *testing.T, s *store.Store) {
	ctx := context.Background()
	w := ws(t)
	e := track(w, "e1", "c1", "Signed Up", t0)
	if !mustApply(t, s, e) {
		t.Fatal("first apply: applied = false")
	}
	if mustApply(t, s, e) {
		t.Fatal("second apply: applied = true, want false")
	}
	c, err := s.Customer(ctx, w, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if c.EventCount != 1 || !c.FirstSeen.Equal(t0) || !c.LastSeen.Equal(t0) {
		t.Errorf("customer = %+v, want one event seen at %v", c, t0)
	}
	n, err := s.CountEvents(ctx, w, "c1", "Signed Up", t0.Add(-time.Hour))
	if err != nil || n != 1 {
		t.Errorf("CountEvents = %d, %v; want 1", n, err)
	}
	// The same event id in another workspace is another event.
	other := e
	other.WorkspaceID = w + "_other"
	if !mustApply(t, s, other) {
		t.Error("same id in another workspace: applied = false")
	}
	if _, err := s.Customer(ctx, w+"_nobody", "c1"); !errors.Is(err, segment.ErrNotFound) {
		t.Errorf("Customer in unknown workspace: err = %v, want ErrNotFound", err)
	}
}

func testTraitsLatestWins(t *testing.T, s *store.Store) {
	ctx := context.Background()
	w := ws(t)
	identify := func(id string, at time.Time, traits map[string]any) segment.Event {
		return segment.Event{WorkspaceID: w, EventID: id, CustomerID: "c1", Type: segment.EventIdentify, Time: at, Traits: traits}
	}
	mustApply(t, s, identify("i2", t0.Add(time.Hour), map[string]any{"plan": "pro", "age": float64(30)}))
	// Older event arriving late: its plan must not win, its new key must land.
	mustApply(t, s, identify("i1", t0, map[string]any{"plan": "free", "city": "Osaka"}))
	mustApply(t, s, segment.Event{WorkspaceID: w, EventID: "g1", CustomerID: "c1", Type: segment.EventGroup, Time: t0.Add(2 * time.Hour),
		Traits: map[string]any{"company": "Acme"}})
	// Track traits are not profile traits.
	mustApply(t, s, segment.Event{WorkspaceID: w, EventID: "t1", CustomerID: "c1", Type: segment.EventTrack, Name: "x", Time: t0.Add(3 * time.Hour),
		Traits: map[string]any{"plan": "ignored"}})
	c, err := s.Customer(ctx, w, "c1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"plan": "pro", "age": float64(30), "city": "Osaka", "company": "Acme"}
	if !reflect.DeepEqual(c.Traits, want) {
		t.Errorf("traits = %v, want %v", c.Traits, want)
	}
	if !c.FirstSeen.Equal(t0) || !c.LastSeen.Equal(t0.Add(3*time.Hour)) || c.EventCount != 4 {
		t.Errorf("seen %v..%v count %d; want %v..%v count 4", c.FirstSeen, c.LastSeen, c.EventCount, t0, t0.Add(3*time.Hour))
	}
}

func testCountEventsWindow(t *testing.T, s *store.Store) {
	ctx := context.Background()
	w := ws(t)
	mustApply(t, s, track(w, "a", "c1", "Viewed", t0))
	mustApply(t, s, track(w, "b", "c1", "Viewed", t0.Add(time.Microsecond)))
	mustApply(t, s, track(w, "c", "c2", "Viewed", t0.Add(time.Hour)))
	mustApply(t, s, segment.Event{WorkspaceID: w, EventID: "p", CustomerID: "c2", Type: segment.EventPage, Name: "Viewed", Time: t0})
	mustApply(t, s, segment.Event{WorkspaceID: w, EventID: "i", CustomerID: "c3", Type: segment.EventIdentify, Name: "Viewed", Time: t0})
	tests := []struct {
		name  string
		since time.Time
		c1    int64
		all   map[string]int64
	}{
		{"window starts at the earliest event", t0, 2, map[string]int64{"c1": 2, "c2": 2}},
		{"one microsecond later", t0.Add(time.Microsecond), 1, map[string]int64{"c1": 1, "c2": 1}},
		{"after everything", t0.Add(2 * time.Hour), 0, map[string]int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := s.CountEvents(ctx, w, "c1", "Viewed", tt.since)
			if err != nil || n != tt.c1 {
				t.Errorf("CountEvents(c1) = %d, %v; want %d", n, err, tt.c1)
			}
			evs, err := s.BehavioursInRange(ctx, w, []string{"Viewed"}, tt.since, "", "")
			all := map[string]int64{}
			for _, b := range evs {
				all[b.CustomerID]++
			}
			if err != nil || !reflect.DeepEqual(all, tt.all) {
				t.Errorf("BehavioursInRange counts = %v, %v; want %v", all, err, tt.all)
			}
		})
	}
}

func testOrdersDeduped(t *testing.T, s *store.Store) {
	ctx := context.Background()
	w := ws(t)
	order := func(id, customer, orderID string, revenue float64, at time.Time) segment.Event {
		e := track(w, id, customer, "Order Completed", at)
		e.Order = &segment.Order{ID: orderID, Revenue: revenue}
		return e
	}
	v0, err := s.OrdersVersion(ctx, w)
	if err != nil || v0 != 0 {
		t.Fatalf("OrdersVersion before orders = %d, %v; want 0", v0, err)
	}
	mustApply(t, s, order("e1", "c1", "o1", 10, t0))
	mustApply(t, s, order("e2", "c1", "o1", 10, t0)) // same order re-sent under a new message id
	mustApply(t, s, order("e3", "c1", "o2", 5.5, t0.Add(time.Hour)))
	mustApply(t, s, order("e4", "c2", "o3", 1, t0))
	v1, err := s.OrdersVersion(ctx, w)
	if err != nil || v1 != 3 {
		t.Errorf("OrdersVersion = %d, %v; want 3 (one per new order)", v1, err)
	}
	st, err := s.CustomerOrderStats(ctx, w, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if want := (segment.OrderStats{CustomerID: "c1", Count: 2, Revenue: 15.5, LastOrder: t0.Add(time.Hour), PrevOrder: t0}); st != want {
		t.Errorf("CustomerOrderStats = %+v, want %+v", st, want)
	}
	none, err := s.CustomerOrderStats(ctx, w, "nobody")
	if err != nil || none.Count != 0 || !none.LastOrder.IsZero() {
		t.Errorf("CustomerOrderStats(nobody) = %+v, %v; want zero", none, err)
	}
	// The batch read gives each customer's statistics as the single one
	// does, and none for a customer without orders.
	c2, err := s.CustomerOrderStats(ctx, w, "c2")
	if err != nil {
		t.Fatal(err)
	}
	if of, err := s.OrderStatsOf(ctx, w, []string{"c1", "nobody", "c2"}); err != nil || !reflect.DeepEqual(of, map[string]segment.OrderStats{"c1": st, "c2": c2}) {
		t.Errorf("OrderStatsOf = %+v, %v", of, err)
	}
	customers, err := s.CustomersOf(ctx, w, []string{"c1", "nobody", "c2"})
	if err != nil || len(customers) != 2 || customers["c1"].ID != "c1" || customers["c2"].EventCount != 1 {
		t.Errorf("CustomersOf = %+v, %v", customers, err)
	}
	evs, err := s.BehavioursOf(ctx, w, []string{"c2", "c1"}, []string{"Order Completed"}, t0.Add(-time.Hour))
	if err != nil || len(evs) != 4 || evs[0].CustomerID != "c1" || evs[3].CustomerID != "c2" {
		t.Errorf("BehavioursOf = %+v, %v; want c1's three events, then c2's", evs, err)
	}
	all, err := s.OrderStats(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	want := []segment.OrderStats{
		{CustomerID: "c1", Count: 2, Revenue: 15.5, LastOrder: t0.Add(time.Hour), PrevOrder: t0},
		{CustomerID: "c2", Count: 1, Revenue: 1, LastOrder: t0},
	}
	if !reflect.DeepEqual(all, want) {
		t.Errorf("OrderStats = %+v, want %+v", all, want)
	}
}

func newSegment(t testing.TB, workspace, name string, rule segment.Rule) segment.Segment {
	t.Helper()
	id, err := segment.NewID()
	if err != nil {
		t.Fatal(err)
	}
	return segment.Segment{WorkspaceID: workspace, ID: id, DisplayName: name, Rule: rule, CreateTime: t0}
}

var (
	traitRule = segment.Rule{All: []segment.Rule{{Trait: &segment.TraitCondition{Key: "plan", Equals: "pro"}}}}
	eventRule = segment.Rule{All: []segment.Rule{{Event: &segment.EventCondition{Event: "Viewed", MinCount: 1, WithinDays: 7}}}}
)

func testSegmentsCRUD(t *testing.T, s *store.Store) {
	ctx := context.Background()
	w, other := ws(t), ws(t)+"_other"
	a := newSegment(t, w, "A", traitRule)
	b := newSegment(t, w, "B", eventRule)
	x := newSegment(t, other, "X", traitRule)
	for _, seg := range []segment.Segment{a, b, x} {
		if err := s.CreateSegment(ctx, seg); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetSegment(ctx, w, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, a) {
		t.Errorf("GetSegment = %+v, want %+v", got, a)
	}
	if _, err := s.GetSegment(ctx, other, a.ID); !errors.Is(err, segment.ErrNotFound) {
		t.Errorf("GetSegment from another workspace: err = %v, want ErrNotFound", err)
	}
	list, err := s.ListSegments(ctx, w, "", 10)
	if err != nil || len(list) != 2 || list[0].ID != a.ID || list[1].ID != b.ID {
		t.Fatalf("ListSegments = %+v, %v; want [A B]", list, err)
	}
	page2, err := s.ListSegments(ctx, w, a.ID, 1)
	if err != nil || len(page2) != 1 || page2[0].ID != b.ID {
		t.Errorf("ListSegments after A = %+v, %v; want [B]", page2, err)
	}
	all, err := s.AllSegments(ctx, w)
	if err != nil || len(all) != 2 {
		t.Errorf("AllSegments = %d, %v; want 2", len(all), err)
	}
	dyn, err := s.WorkspacesWithDynamicSegments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !contains(dyn, w) || contains(dyn, other) {
		t.Errorf("WorkspacesWithDynamicSegments = %v; want %s and not %s", dyn, w, other)
	}
	if err := s.DeleteSegment(ctx, other, a.ID); !errors.Is(err, segment.ErrNotFound) {
		t.Errorf("DeleteSegment from another workspace: err = %v, want ErrNotFound", err)
	}
	if err := s.DeleteSegment(ctx, w, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSegment(ctx, w, a.ID); !errors.Is(err, segment.ErrNotFound) {
		t.Errorf("GetSegment after delete: err = %v, want ErrNotFound", err)
	}
	if err := s.DeleteSegment(ctx, w, a.ID); !errors.Is(err, segment.ErrNotFound) {
		t.Errorf("second DeleteSegment: err = %v, want ErrNotFound", err)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func change(t testing.TB, workspace, seg, customer string, joined bool) segment.MembershipChange {
	t.Helper()
	id, err := segment.NewChangeID()
	if err != nil {
		t.Fatal(err)
	}
	return segment.MembershipChange{ChangeID: id, WorkspaceID: workspace, SegmentID: seg, CustomerID: customer, Joined: joined, Time: t0}
}

func testMembershipChanges(t *testing.T, s *store.Store) {
	ctx := context.Background()
	w := ws(t)
	seg := newSegment(t, w, "S", traitRule)
	gone := newSegment(t, w, "Gone", traitRule)
	for _, sg := range []segment.Segment{seg, gone} {
		if err := s.CreateSegment(ctx, sg); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteSegment(ctx, w, gone.ID); err != nil {
		t.Fatal(err)
	}
	drainOutbox(t, s)
	seen(t, s, w, "c1", "c2", "merged")
	if _, _, err := s.ApplyMerge(ctx, segment.Merge{WorkspaceID: w, MergeID: "m1", SurvivorID: "c2", MergedIDs: []string{"merged"}}, t0); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name        string
		changes     []segment.MembershipChange
		wantApplied int
		wantMembers []string
	}{
		{"join two", []segment.MembershipChange{change(t, w, seg.ID, "c1", true), change(t, w, seg.ID, "c2", true)}, 2, []string{"c1", "c2"}},
		{"join again is a no-op", []segment.MembershipChange{change(t, w, seg.ID, "c1", true)}, 0, []string{"c1", "c2"}},
		{"join a deleted segment is skipped", []segment.MembershipChange{change(t, w, gone.ID, "c1", true)}, 0, []string{"c1", "c2"}},
		// Evaluated before its merge, applied after it: no member left
		// that no longer exists.
		{"join of a customer merged away is skipped", []segment.MembershipChange{change(t, w, seg.ID, "merged", true)}, 0, []string{"c1", "c2"}},
		{"join of a customer never seen is skipped", []segment.MembershipChange{change(t, w, seg.ID, "nobody", true)}, 0, []string{"c1", "c2"}},
		{"leave", []segment.MembershipChange{change(t, w, seg.ID, "c1", false)}, 1, []string{"c2"}},
		{"leave again is a no-op", []segment.MembershipChange{change(t, w, seg.ID, "c1", false)}, 0, []string{"c2"}},
	}
	var wantOutbox []segment.MembershipChange
	for _, st := range steps {
		applied, _, err := s.ApplyChanges(ctx, st.changes)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if len(applied) != st.wantApplied {
			t.Errorf("%s: applied %d, want %d", st.name, len(applied), st.wantApplied)
		}
		wantOutbox = append(wantOutbox, applied...)
		ids, total := memberIDs(t, s, w, seg.ID)
		if !reflect.DeepEqual(ids, st.wantMembers) || total != int64(len(st.wantMembers)) {
			t.Errorf("%s: members %v (total %d), want %v", st.name, ids, total, st.wantMembers)
		}
	}
	pending, err := s.PendingChanges(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(pending, wantOutbox) {
		t.Errorf("outbox = %+v\nwant %+v", pending, wantOutbox)
	}
	ids, err := s.CustomerSegmentIDs(ctx, w, "c2")
	if err != nil || !reflect.DeepEqual(ids, []string{seg.ID}) {
		t.Errorf("CustomerSegmentIDs(c2) = %v, %v", ids, err)
	}
	if of, err := s.SegmentIDsOf(ctx, w, []string{"c2", "nobody"}); err != nil || !reflect.DeepEqual(of, map[string][]string{"c2": {seg.ID}}) {
		t.Errorf("SegmentIDsOf = %v, %v", of, err)
	}
	segs, err := s.CustomerSegments(ctx, w, "c2")
	if err != nil || len(segs) != 1 || segs[0].ID != seg.ID || segs[0].Size != 1 {
		t.Errorf("CustomerSegments(c2) = %+v, %v; want [S size 1]", segs, err)
	}
	if segs, err := s.CustomerSegments(ctx, w+"_other", "c2"); err != nil || len(segs) != 0 {
		t.Errorf("CustomerSegments from another workspace = %+v, %v; want none", segs, err)
	}
	if err := s.DeleteChanges(ctx, pending[:1]); err != nil {
		t.Fatal(err)
	}
	rest, err := s.PendingChanges(ctx, 100)
	if err != nil || !reflect.DeepEqual(rest, wantOutbox[1:]) {
		t.Errorf("outbox after deleting one = %+v, %v", rest, err)
	}
	if err := s.DeleteSegment(ctx, w, seg.ID); err != nil {
		t.Fatal(err)
	}
	if ids, err := s.CustomerSegmentIDs(ctx, w, "c2"); err != nil || len(ids) != 0 {
		t.Errorf("memberships after segment delete = %v, %v; want none", ids, err)
	}
	drainOutbox(t, s)
}

// testManyMembershipChanges applies, in one call, more changes than one
// multi-row statement takes, some of one membership several times over
// (join, leave, join), some already so, some of a deleted segment or of a
// customer with no row: what
// ApplyChanges reports applied, the members and the outbox must be what
// applying the changes one at a time in (customer, segment) order leaves.
// A change lost or counted twice by the multi-row writes shows here.
func testManyMembershipChanges(t *testing.T, s *store.Store) {
	ctx := context.Background()
	w := ws(t)
	segs := []segment.Segment{newSegment(t, w, "S", traitRule), newSegment(t, w, "T", traitRule), newSegment(t, w, "Gone", traitRule)}
	for _, sg := range segs {
		if err := s.CreateSegment(ctx, sg); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteSegment(ctx, w, segs[2].ID); err != nil {
		t.Fatal(err)
	}
	// Customers c0000…c0689 have a row; a join of the others is skipped.
	var rows []string
	for i := range 690 {
		rows = append(rows, fmt.Sprintf("c%04d", i))
	}
	seen(t, s, w, rows...)
	type key struct{ seg, customer string }
	member := map[key]bool{}
	var before []segment.MembershipChange
	for i := range 600 {
		if i%2 == 0 {
			c := change(t, w, segs[0].ID, fmt.Sprintf("c%04d", i), true)
			before = append(before, c)
			member[key{c.SegmentID, c.CustomerID}] = true
		}
	}
	if _, _, err := s.ApplyChanges(ctx, before); err != nil {
		t.Fatal(err)
	}
	drainOutbox(t, s)

	// Each membership's changes in their order, then interleaved at random
	// (keeping that order).
	rng := rand.New(rand.NewPCG(1, 2))
	var queues [][]segment.MembershipChange
	for i := range 700 {
		customer := fmt.Sprintf("c%04d", i)
		for _, sg := range segs {
			var q []segment.MembershipChange
			for range rng.IntN(4) {
				q = append(q, change(t, w, sg.ID, customer, rng.IntN(2) == 0))
			}
			if len(q) > 0 {
				queues = append(queues, q)
			}
		}
	}
	var changes []segment.MembershipChange
	for len(queues) > 0 {
		j := rng.IntN(len(queues))
		changes = append(changes, queues[j][0])
		if queues[j] = queues[j][1:]; len(queues[j]) == 0 {
			queues = slices.Delete(queues, j, j+1)
		}
	}

	ordered := slices.Clone(changes)
	slices.SortStableFunc(ordered, func(a, b segment.MembershipChange) int {
		return cmp.Or(strings.Compare(a.CustomerID, b.CustomerID), strings.Compare(a.SegmentID, b.SegmentID))
	})
	var want []string
	for _, c := range ordered {
		k := key{c.SegmentID, c.CustomerID}
		if c.SegmentID == segs[2].ID || member[k] == c.Joined || c.Joined && !slices.Contains(rows, c.CustomerID) {
			continue
		}
		member[k] = c.Joined
		want = append(want, c.ChangeID)
	}
	if len(changes) <= 2*sqldb.MaxRowsPerStatement || len(want) == len(changes) {
		t.Fatalf("%d changes, %d applied: the test wants several statements' worth and some no-ops", len(changes), len(want))
	}

	applied, _, err := s.ApplyChanges(ctx, changes)
	if err != nil {
		t.Fatal(err)
	}
	if got := changeIDs(applied); !slices.Equal(got, want) {
		t.Errorf("applied %d changes, want %d (first difference at %d)", len(got), len(want), firstDifference(got, want))
	}
	pending, err := s.PendingChanges(ctx, 10*len(changes))
	if err != nil {
		t.Fatal(err)
	}
	if announced := changeIDs(pending); !slices.Equal(announced, slices.Sorted(slices.Values(want))) {
		t.Errorf("outbox holds %d changes, want the %d applied", len(announced), len(want))
	}
	for _, sg := range segs[:2] {
		var wantMembers []string
		for k, in := range member {
			if in && k.seg == sg.ID {
				wantMembers = append(wantMembers, k.customer)
			}
		}
		slices.Sort(wantMembers)
		if gotMembers, _ := memberIDs(t, s, w, sg.ID); !slices.Equal(gotMembers, wantMembers) {
			t.Errorf("%s: %d members, want %d (first difference at %d)", sg.ID, len(gotMembers), len(wantMembers), firstDifference(gotMembers, wantMembers))
		}
	}
	drainOutbox(t, s)
}

// memberIDs lists the members of a segment (up to 10,000) and counts them.
func memberIDs(t *testing.T, s *store.Store, workspace, segmentID string) ([]string, int64) {
	t.Helper()
	members, total, err := s.ListMembers(context.Background(), workspace, segmentID, "", 10000)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range members {
		ids = append(ids, m.CustomerID)
	}
	return ids, total
}

func changeIDs(changes []segment.MembershipChange) []string {
	var out []string
	for _, c := range changes {
		out = append(out, c.ChangeID)
	}
	return out
}

// firstDifference is the first index at which a and b differ.
func firstDifference(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// drainOutbox empties the outbox, which subtests share.
func drainOutbox(t testing.TB, s *store.Store) {
	t.Helper()
	ctx := context.Background()
	for {
		p, err := s.PendingChanges(ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) == 0 {
			return
		}
		if err := s.DeleteChanges(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
}

func testListMembersPaging(t *testing.T, s *store.Store) {
	ctx := context.Background()
	w := ws(t)
	seg := newSegment(t, w, "S", traitRule)
	if err := s.CreateSegment(ctx, seg); err != nil {
		t.Fatal(err)
	}
	var changes []segment.MembershipChange
	var want []string
	for i := range 25 {
		id := fmt.Sprintf("c%02d", i)
		want = append(want, id)
		changes = append(changes, change(t, w, seg.ID, id, true))
	}
	seen(t, s, w, want...)
	if _, _, err := s.ApplyChanges(ctx, changes); err != nil {
		t.Fatal(err)
	}
	var got []string
	after := ""
	for {
		page, total, err := s.ListMembers(ctx, w, seg.ID, after, 10)
		if err != nil {
			t.Fatal(err)
		}
		if total != 25 {
			t.Fatalf("total = %d, want 25", total)
		}
		if len(page) == 0 {
			break
		}
		for _, m := range page {
			got = append(got, m.CustomerID)
			if !m.JoinTime.Equal(t0) {
				t.Errorf("join time %v, want %v", m.JoinTime, t0)
			}
		}
		after = page[len(page)-1].CustomerID
	}
	if !sort.StringsAreSorted(got) || !reflect.DeepEqual(got, want) {
		t.Errorf("paged members = %v, want %v", got, want)
	}
	ranged, err := s.MembershipsInRange(ctx, w, []string{seg.ID}, "c09", "c11")
	if err != nil || len(ranged) != 2 {
		t.Errorf("MembershipsInRange(c09, c11] = %v, %v; want c10, c11", ranged, err)
	}
	open, err := s.MembershipsInRange(ctx, w, []string{seg.ID}, "c20", "")
	if err != nil || len(open) != 4 {
		t.Errorf("MembershipsInRange(c20, ∞) = %v, %v; want 4", open, err)
	}
	drainOutbox(t, s)
}

func testMerge(t *testing.T, s *store.Store) {
	ctx := context.Background()
	w := ws(t)
	seg := newSegment(t, w, "S", traitRule)
	if err := s.CreateSegment(ctx, seg); err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, segment.Event{WorkspaceID: w, EventID: "i1", CustomerID: "anon", Type: segment.EventIdentify, Time: t0,
		Traits: map[string]any{"plan": "free", "city": "Kyoto"}})
	mustApply(t, s, segment.Event{WorkspaceID: w, EventID: "i2", CustomerID: "user", Type: segment.EventIdentify, Time: t0.Add(time.Hour),
		Traits: map[string]any{"plan": "pro"}})
	o := track(w, "o1", "anon", "Order Completed", t0.Add(-time.Hour))
	o.Order = &segment.Order{ID: "o1", Revenue: 20}
	mustApply(t, s, o)
	mustApply(t, s, track(w, "t1", "anon", "Viewed", t0))
	if _, _, err := s.ApplyChanges(ctx, []segment.MembershipChange{change(t, w, seg.ID, "anon", true)}); err != nil {
		t.Fatal(err)
	}
	drainOutbox(t, s)
	v0, _ := s.OrdersVersion(ctx, w)

	m := segment.Merge{WorkspaceID: w, MergeID: "m1", SurvivorID: "user", MergedIDs: []string{"anon", "ghost"}}
	for run, wantApplied := range []bool{true, false} {
		_, applied, err := s.ApplyMerge(ctx, m, t0)
		if err != nil || applied != wantApplied {
			t.Fatalf("ApplyMerge run %d = %v, %v; want %v", run, applied, err, wantApplied)
		}
	}
	if _, err := s.Customer(ctx, w, "anon"); !errors.Is(err, segment.ErrNotFound) {
		t.Errorf("merged customer still there: %v", err)
	}
	c, err := s.Customer(ctx, w, "user")
	if err != nil {
		t.Fatal(err)
	}
	wantTraits := map[string]any{"plan": "pro", "city": "Kyoto"}
	if !reflect.DeepEqual(c.Traits, wantTraits) || c.EventCount != 4 || !c.FirstSeen.Equal(t0.Add(-time.Hour)) {
		t.Errorf("survivor = %+v; want traits %v, 4 events, first seen %v", c, wantTraits, t0.Add(-time.Hour))
	}
	st, err := s.CustomerOrderStats(ctx, w, "user")
	if err != nil || st.Count != 1 || st.Revenue != 20 {
		t.Errorf("survivor orders = %+v, %v; want 1 order of 20", st, err)
	}
	if n, err := s.CountEvents(ctx, w, "user", "Viewed", t0.Add(-time.Hour)); err != nil || n != 1 {
		t.Errorf("survivor Viewed = %d, %v; want 1", n, err)
	}
	if v1, _ := s.OrdersVersion(ctx, w); v1 == v0 {
		t.Errorf("orders version unchanged (%d) after moving orders", v1)
	}
	if ids, err := s.CustomerSegmentIDs(ctx, w, "anon"); err != nil || len(ids) != 0 {
		t.Errorf("merged customer's memberships = %v, %v; want none", ids, err)
	}
	pending, err := s.PendingChanges(ctx, 10)
	if err != nil || len(pending) != 1 || pending[0].Joined || pending[0].CustomerID != "anon" || pending[0].SegmentID != seg.ID {
		t.Errorf("outbox after merge = %+v, %v; want one leave of anon", pending, err)
	}
	drainOutbox(t, s)
}

// testConcurrentEvents applies identify calls for one new customer from
// several goroutines (as replicas would): no trait and no count may be lost.
func testConcurrentEvents(t *testing.T, s *store.Store) {
	ctx := context.Background()
	w := ws(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, err := s.ApplyEvent(ctx, segment.Event{WorkspaceID: w, EventID: fmt.Sprintf("e%d", i), CustomerID: "c1",
				Type: segment.EventIdentify, Time: t0, Traits: map[string]any{fmt.Sprintf("k%d", i): "v"}}, t0)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	c, err := s.Customer(ctx, w, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Traits) != n || c.EventCount != n {
		t.Errorf("customer has %d traits and %d events, want %d of each", len(c.Traits), c.EventCount, n)
	}
}

// testUnmerge merges anon into user and undoes it, in one message or in
// parts, each delivered twice.
func testUnmerge(t *testing.T, s *store.Store) {
	undo := t0.Add(3 * time.Hour)
	tests := []struct {
		name  string
		parts [][]string
		// first-seen times in the messages; zero when not sent
		restoredFirst, survivorFirst time.Time
		wantRestoredFirst            time.Time
		wantSurvivorFirst            time.Time
	}{
		{name: "one message", parts: [][]string{{"i1", "o1", "t1", "never-seen"}},
			restoredFirst: t0.Add(-2 * time.Hour), survivorFirst: t0.Add(30 * time.Minute),
			wantRestoredFirst: t0.Add(-2 * time.Hour), wantSurvivorFirst: t0.Add(30 * time.Minute)},
		{name: "in parts", parts: [][]string{{"i1", "o1"}, {"t1", "never-seen"}},
			restoredFirst: t0.Add(-2 * time.Hour), survivorFirst: t0.Add(30 * time.Minute),
			wantRestoredFirst: t0.Add(-2 * time.Hour), wantSurvivorFirst: t0.Add(30 * time.Minute)},
		// Without first-seen times the restored customer is dated by its
		// moved rows and the survivor keeps its own.
		{name: "without first-seen times", parts: [][]string{{"i1", "o1", "t1"}},
			wantRestoredFirst: t0.Add(-time.Hour), wantSurvivorFirst: t0.Add(-time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			w := ws(t)
			mustApply(t, s, segment.Event{WorkspaceID: w, EventID: "i1", CustomerID: "anon", Type: segment.EventIdentify, Time: t0,
				Traits: map[string]any{"plan": "free", "city": "Kyoto"}})
			o1 := track(w, "o1", "anon", "Order Completed", t0.Add(-time.Hour))
			o1.Order = &segment.Order{ID: "order-1", Revenue: 20}
			mustApply(t, s, o1)
			mustApply(t, s, track(w, "t1", "anon", "Viewed", t0))
			mustApply(t, s, segment.Event{WorkspaceID: w, EventID: "i2", CustomerID: "user", Type: segment.EventIdentify, Time: t0.Add(time.Hour),
				Traits: map[string]any{"plan": "pro"}})
			o2 := track(w, "o2", "user", "Order Completed", t0.Add(30*time.Minute))
			o2.Order = &segment.Order{ID: "order-2", Revenue: 5}
			mustApply(t, s, o2)
			mustApply(t, s, track(w, "t2", "user", "Viewed", t0.Add(2*time.Hour)))
			if _, _, err := s.ApplyMerge(ctx, segment.Merge{WorkspaceID: w, MergeID: "m1", SurvivorID: "user", MergedIDs: []string{"anon"}},
				t0); err != nil {
				t.Fatal(err)
			}
			drainOutbox(t, s)
			v0, _ := s.OrdersVersion(ctx, w)

			for i, ids := range tt.parts {
				u := segment.Unmerge{
					WorkspaceID: w, UnmergeID: fmt.Sprintf("u%d", i), MergeID: "m1", SurvivorID: "user", RestoredID: "anon", EventIDs: ids,
					RestoredTraits: map[string]any{"plan": "free", "city": "Kyoto"}, SurvivorTraits: map[string]any{"plan": "pro"},
					Time: undo, RestoredFirstSeen: tt.restoredFirst, SurvivorFirstSeen: tt.survivorFirst,
				}
				for run, wantApplied := range []bool{true, false} {
					applied, err := s.ApplyUnmerge(ctx, u, undo)
					if err != nil || applied != wantApplied {
						t.Fatalf("ApplyUnmerge %s run %d = %v, %v; want %v", u.UnmergeID, run, applied, err, wantApplied)
					}
				}
			}

			at := undo.UnixMicro()
			want := map[string]segment.Customer{
				"anon": {WorkspaceID: w, ID: "anon", Traits: map[string]any{"plan": "free", "city": "Kyoto"},
					TraitTimes: map[string]int64{"plan": at, "city": at},
					FirstSeen:  tt.wantRestoredFirst, LastSeen: t0, EventCount: 3},
				"user": {WorkspaceID: w, ID: "user", Traits: map[string]any{"plan": "pro"}, TraitTimes: map[string]int64{"plan": at},
					FirstSeen: tt.wantSurvivorFirst, LastSeen: t0.Add(2 * time.Hour), EventCount: 3},
			}
			for id, wc := range want {
				c, err := s.Customer(ctx, w, id)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(c, wc) {
					t.Errorf("customer %s = %+v\nwant %+v", id, c, wc)
				}
			}
			orders := map[string]segment.OrderStats{
				"anon": {CustomerID: "anon", Count: 1, Revenue: 20, LastOrder: t0.Add(-time.Hour)},
				"user": {CustomerID: "user", Count: 1, Revenue: 5, LastOrder: t0.Add(30 * time.Minute)},
			}
			for id, wo := range orders {
				if st, err := s.CustomerOrderStats(ctx, w, id); err != nil || st != wo {
					t.Errorf("orders of %s = %+v, %v; want %+v", id, st, err, wo)
				}
			}
			for _, c := range []struct {
				customer, name string
				want           int64
			}{{"anon", "Viewed", 1}, {"user", "Viewed", 1}, {"anon", "Order Completed", 1}, {"user", "Order Completed", 1}} {
				if n, err := s.CountEvents(ctx, w, c.customer, c.name, t0.Add(-day)); err != nil || n != c.want {
					t.Errorf("CountEvents(%s, %s) = %d, %v; want %d", c.customer, c.name, n, err, c.want)
				}
			}
			if v1, _ := s.OrdersVersion(ctx, w); v1 == v0 {
				t.Errorf("orders version unchanged (%d) after moving orders", v1)
			}
			// Memberships are the engine's to re-evaluate: nothing announced.
			if pending, err := s.PendingChanges(ctx, 10); err != nil || len(pending) != 0 {
				t.Errorf("outbox after unmerge = %+v, %v; want empty", pending, err)
			}
		})
	}
}

const day = 24 * time.Hour

// testUnmergeKeepsLaterTraits applies an event stamped after the undo before
// the unmerge message: its trait survives the message's snapshot.
func testUnmergeKeepsLaterTraits(t *testing.T, s *store.Store) {
	ctx := context.Background()
	w := ws(t)
	undo := t0.Add(time.Hour)
	mustApply(t, s, segment.Event{WorkspaceID: w, EventID: "i1", CustomerID: "user", Type: segment.EventIdentify, Time: t0,
		Traits: map[string]any{"plan": "pro", "city": "Nara"}})
	mustApply(t, s, segment.Event{WorkspaceID: w, EventID: "i2", CustomerID: "user", Type: segment.EventIdentify, Time: undo.Add(time.Minute),
		Traits: map[string]any{"plan": "enterprise"}})
	u := segment.Unmerge{WorkspaceID: w, UnmergeID: "u1", MergeID: "m1", SurvivorID: "user", RestoredID: "anon",
		SurvivorTraits: map[string]any{"plan": "pro"}, Time: undo}
	if _, err := s.ApplyUnmerge(ctx, u, undo); err != nil {
		t.Fatal(err)
	}
	c, err := s.Customer(ctx, w, "user")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"plan": "enterprise"}; !reflect.DeepEqual(c.Traits, want) {
		t.Errorf("survivor traits = %v, want %v (city dropped by the undo, the later plan kept)", c.Traits, want)
	}
	// A restored customer without traits or events still exists again.
	r, err := s.Customer(ctx, w, "anon")
	if err != nil || len(r.Traits) != 0 || r.EventCount != 0 || !r.FirstSeen.Equal(undo) {
		t.Errorf("restored = %+v, %v; want no traits, no events, first seen at the undo", r, err)
	}
}

// testMergeAfterItsUnmerge applies an unmerge before the merge it undoes,
// as when the merge's first delivery failed: the late merge must not fold
// the restored customer back in, but still merges the others.
func testMergeAfterItsUnmerge(t *testing.T, s *store.Store) {
	ctx := context.Background()
	w := ws(t)
	mustApply(t, s, segment.Event{WorkspaceID: w, EventID: "i1", CustomerID: "anon", Type: segment.EventIdentify, Time: t0,
		Traits: map[string]any{"plan": "free"}})
	mustApply(t, s, track(w, "t1", "anon", "Viewed", t0))
	mustApply(t, s, track(w, "t2", "other", "Viewed", t0))
	mustApply(t, s, segment.Event{WorkspaceID: w, EventID: "i2", CustomerID: "user", Type: segment.EventIdentify, Time: t0,
		Traits: map[string]any{"plan": "pro"}})
	u := segment.Unmerge{WorkspaceID: w, UnmergeID: "u1", MergeID: "m1", SurvivorID: "user", RestoredID: "anon",
		EventIDs: []string{"i1", "t1"}, RestoredTraits: map[string]any{"plan": "free"}, SurvivorTraits: map[string]any{"plan": "pro"},
		Time: t0.Add(time.Hour)}
	if _, err := s.ApplyUnmerge(ctx, u, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	m := segment.Merge{WorkspaceID: w, MergeID: "m1", SurvivorID: "user", MergedIDs: []string{"anon", "other"}}
	if _, applied, err := s.ApplyMerge(ctx, m, t0.Add(2*time.Hour)); err != nil || !applied {
		t.Fatalf("late ApplyMerge = %v, %v; want applied", applied, err)
	}
	for _, c := range []struct {
		customer string
		events   int64
		viewed   int64
	}{{"anon", 2, 1}, {"user", 2, 1}} {
		got, err := s.Customer(ctx, w, c.customer)
		if err != nil {
			t.Fatalf("customer %s: %v", c.customer, err)
		}
		if got.EventCount != c.events {
			t.Errorf("customer %s has %d events, want %d", c.customer, got.EventCount, c.events)
		}
		if n, err := s.CountEvents(ctx, w, c.customer, "Viewed", t0); err != nil || n != c.viewed {
			t.Errorf("CountEvents(%s) = %d, %v; want %d", c.customer, n, err, c.viewed)
		}
	}
	if _, err := s.Customer(ctx, w, "other"); !errors.Is(err, segment.ErrNotFound) {
		t.Errorf("other after merge: %v, want ErrNotFound", err)
	}
	drainOutbox(t, s)
}

// testUnmergeManyEvents lists as many event ids as one message may, more
// than one statement binds, with the known events spread across them.
func testUnmergeManyEvents(t *testing.T, s *store.Store) {
	ctx := context.Background()
	w := ws(t)
	ids := make([]string, segment.MaxEventIDsPerUnmerge)
	for i := range ids {
		ids[i] = fmt.Sprintf("unknown-%d", i)
	}
	known := []int{0, 777, segment.MaxEventIDsPerUnmerge - 1}
	for _, i := range known {
		ids[i] = fmt.Sprintf("e%d", i)
		mustApply(t, s, track(w, ids[i], "anon", "Viewed", t0.Add(time.Duration(i)*time.Second)))
	}
	if _, _, err := s.ApplyMerge(ctx, segment.Merge{WorkspaceID: w, MergeID: "m1", SurvivorID: "user", MergedIDs: []string{"anon"}},
		t0); err != nil {
		t.Fatal(err)
	}
	u := segment.Unmerge{WorkspaceID: w, UnmergeID: "u1", MergeID: "m1", SurvivorID: "user", RestoredID: "anon", EventIDs: ids, Time: t0.Add(day)}
	if _, err := s.ApplyUnmerge(ctx, u, t0.Add(day)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		customer string
		n        int64
	}{{"anon", 3}, {"user", 0}} {
		got, err := s.Customer(ctx, w, c.customer)
		if err != nil {
			t.Fatal(err)
		}
		viewed, err := s.CountEvents(ctx, w, c.customer, "Viewed", t0)
		if err != nil || viewed != c.n || got.EventCount != c.n {
			t.Errorf("%s: %d views (%v), %d events; want %d of each", c.customer, viewed, err, got.EventCount, c.n)
		}
	}
	last := t0.Add(time.Duration(known[len(known)-1]) * time.Second)
	if got, _ := s.Customer(ctx, w, "anon"); !got.FirstSeen.Equal(t0) || !got.LastSeen.Equal(last) {
		t.Errorf("restored seen %v..%v, want %v..%v", got.FirstSeen, got.LastSeen, t0, last)
	}
	drainOutbox(t, s)
}

// testBehavioursByNames reads events by more names than one statement
// binds, with their properties, per customer and per customer range.
func testBehavioursByNames(t *testing.T, s *store.Store) {
	ctx := context.Background()
	w := ws(t)
	now := t0.Add(10 * day)
	props := map[string]any{"category": "A", "products": []any{map[string]any{"sku": "X1"}}, "revenue": 1200.0}
	for i := range 3 {
		e := track(w, fmt.Sprintf("v%d", i), "c1", "Viewed", now.Add(-time.Duration(i)*day))
		e.Properties = props
		mustApply(t, s, e)
	}
	mustApply(t, s, track(w, "o", "c2", "Viewed", now))
	mustApply(t, s, track(w, "late", "c3", "Other 599", now))
	names := []string{"Viewed"}
	for i := range 600 {
		names = append(names, fmt.Sprintf("Other %d", i))
	}
	got, err := s.CustomerBehaviours(ctx, w, "c1", names, now.Add(-day))
	if err != nil || len(got) != 2 || !got[0].Time.Before(got[1].Time) || !reflect.DeepEqual(got[0].Properties, props) {
		t.Errorf("CustomerBehaviours = %+v, %v; want the last two days' two events, oldest first, with properties", got, err)
	}
	all, err := s.BehavioursInRange(ctx, w, names, time.Time{}, "", "")
	var order []string
	for _, b := range all {
		order = append(order, b.CustomerID+"/"+b.Name)
	}
	want := []string{"c1/Viewed", "c1/Viewed", "c1/Viewed", "c2/Viewed", "c3/Other 599"}
	if err != nil || !reflect.DeepEqual(order, want) {
		t.Errorf("BehavioursInRange = %v, %v; want %v", order, err, want)
	}
	if all[3].Properties != nil {
		t.Errorf("event without properties has %v", all[3].Properties)
	}
	mid, err := s.BehavioursInRange(ctx, w, names, time.Time{}, "c1", "c2")
	if err != nil || len(mid) != 1 || mid[0].CustomerID != "c2" {
		t.Errorf("BehavioursInRange(c1, c2] = %+v, %v; want c2's one event", mid, err)
	}
}

func testSegmentsVersion(t *testing.T, s *store.Store) {
	ctx := context.Background()
	w := ws(t)
	version := func() int64 {
		t.Helper()
		v, err := s.SegmentsVersion(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	v0 := version()
	a := newSegment(t, w, "A", traitRule)
	if err := s.CreateSegment(ctx, a); err != nil {
		t.Fatal(err)
	}
	v1 := version()
	if v1 == v0 {
		t.Errorf("version unchanged (%d) by a create", v1)
	}
	if err := s.DeleteSegment(ctx, w, a.ID); err != nil {
		t.Fatal(err)
	}
	v2 := version()
	if v2 == v1 {
		t.Errorf("version unchanged (%d) by a delete", v2)
	}
	if err := s.DeleteSegment(ctx, w, a.ID); !errors.Is(err, segment.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if v3 := version(); v3 != v2 {
		t.Errorf("version moved from %d to %d by a failed delete", v2, v3)
	}
}

// testMembershipsVersion checks that every write changing memberships
// takes the next memberships version, ApplyChanges returning it, that a
// write changing none takes none, and that segments versions are apart.
func testMembershipsVersion(t *testing.T, s *store.Store) {
	ctx := context.Background()
	w := ws(t)
	version := func() int64 {
		t.Helper()
		v, err := s.MembershipsVersion(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := version(); v != 0 {
		t.Fatalf("version %d before any write, want 0", v)
	}
	seg := createSegment(t, s, w)
	segs, err := s.SegmentsVersion(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	seen(t, s, w, "a", "b", "c", "d")
	step := func(name string, wantVersion bool, write func() int64) {
		t.Helper()
		before := version()
		returned := write()
		after := version()
		switch {
		case wantVersion && after != before+1:
			t.Errorf("%s: version %d → %d, want +1", name, before, after)
		case !wantVersion && after != before:
			t.Errorf("%s: version %d → %d, want unchanged", name, before, after)
		case returned >= 0 && wantVersion && returned != after:
			t.Errorf("%s: returned version %d, want %d", name, returned, after)
		case returned >= 0 && !wantVersion && returned != 0:
			t.Errorf("%s: returned version %d, want 0 (none taken)", name, returned)
		}
	}
	apply := func(changes ...segment.MembershipChange) int64 {
		t.Helper()
		_, v, err := s.ApplyChanges(ctx, changes)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	step("joins", true, func() int64 {
		return apply(change(t, w, seg.ID, "a", true), change(t, w, seg.ID, "b", true), change(t, w, seg.ID, "c", true))
	})
	step("joins changing nothing", false, func() int64 { return apply(change(t, w, seg.ID, "a", true)) })
	step("a leave", true, func() int64 { return apply(change(t, w, seg.ID, "a", false)) })
	step("a merge", true, func() int64 {
		if _, _, err := s.ApplyMerge(ctx, segment.Merge{WorkspaceID: w, MergeID: "m1", SurvivorID: "d", MergedIDs: []string{"b"}}, t0); err != nil {
			t.Fatal(err)
		}
		return -1
	})
	step("an erasure", true, func() int64 {
		if _, _, err := s.EraseCustomers(ctx, w, "r1", []string{"c"}, t0); err != nil {
			t.Fatal(err)
		}
		return -1
	})
	step("a segment deleted", true, func() int64 {
		if err := s.DeleteSegment(ctx, w, seg.ID); err != nil {
			t.Fatal(err)
		}
		return -1
	})
	if v, err := s.SegmentsVersion(ctx, w); err != nil || v != segs+1 {
		t.Errorf("segments version %d, %v after one deletion from %d: memberships writes moved it", v, err, segs)
	}
}

func testListMembersMissing(t *testing.T, s *store.Store) {
	ctx := context.Background()
	w := ws(t)
	if _, _, err := s.ListMembers(ctx, w, "seg_missing", "", 10); !errors.Is(err, segment.ErrNotFound) {
		t.Errorf("ListMembers of a missing segment: %v, want ErrNotFound", err)
	}
	seg := newSegment(t, w, "S", traitRule)
	if err := s.CreateSegment(ctx, seg); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ListMembers(ctx, w+"_other", seg.ID, "", 10); !errors.Is(err, segment.ErrNotFound) {
		t.Errorf("ListMembers from another workspace: %v, want ErrNotFound", err)
	}
	if m, total, err := s.ListMembers(ctx, w, seg.ID, "", 10); err != nil || len(m) != 0 || total != 0 {
		t.Errorf("ListMembers of an empty segment = %v, %d, %v; want none", m, total, err)
	}
}

func testMembershipsInRangeBySegment(t *testing.T, s *store.Store) {
	ctx := context.Background()
	w := ws(t)
	a, b := newSegment(t, w, "A", traitRule), newSegment(t, w, "B", traitRule)
	comma := newSegment(t, w, "C", traitRule)
	comma.ID = "seg,with,commas" // ids are generated without, but the read must not depend on it
	for _, seg := range []segment.Segment{a, b, comma} {
		if err := s.CreateSegment(ctx, seg); err != nil {
			t.Fatal(err)
		}
	}
	seen(t, s, w, "c1", "c2", "c3")
	if _, _, err := s.ApplyChanges(ctx, []segment.MembershipChange{
		change(t, w, a.ID, "c1", true), change(t, w, b.ID, "c1", true), change(t, w, b.ID, "c2", true),
		change(t, w, comma.ID, "c2", true), change(t, w, comma.ID, "c3", true),
	}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		segments []string
		want     map[string][]string
	}{
		{[]string{b.ID}, map[string][]string{"c1": {b.ID}, "c2": {b.ID}}},
		{[]string{a.ID, b.ID}, map[string][]string{"c1": {a.ID, b.ID}, "c2": {b.ID}}},
		{[]string{b.ID, comma.ID}, map[string][]string{"c1": {b.ID}, "c2": {b.ID, comma.ID}, "c3": {comma.ID}}},
		{nil, map[string][]string{}},
	} {
		got, err := s.MembershipsInRange(ctx, w, c.segments, "", "")
		for _, ids := range got {
			slices.Sort(ids)
		}
		for _, ids := range c.want {
			slices.Sort(ids)
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("MembershipsInRange(%v) = %v, %v; want %v", c.segments, got, err, c.want)
		}
	}
	drainOutbox(t, s)
}

// testMergeMany merges more customers than one statement binds, each with
// an event and a membership, listing the survivor and duplicates too.
func testMergeMany(t *testing.T, s *store.Store) {
	ctx := context.Background()
	w := ws(t)
	seg := newSegment(t, w, "S", traitRule)
	if err := s.CreateSegment(ctx, seg); err != nil {
		t.Fatal(err)
	}
	const n = segment.MaxMergedIDsPerMerge
	ids := []string{"user"}
	var joins []segment.MembershipChange
	for i := range n {
		id := fmt.Sprintf("anon-%04d", i)
		ids = append(ids, id)
		mustApply(t, s, track(w, "e-"+id, id, "Viewed", t0.Add(time.Duration(i)*time.Second)))
		joins = append(joins, change(t, w, seg.ID, id, true))
	}
	ids = append(ids, "anon-0000")
	mustApply(t, s, segment.Event{WorkspaceID: w, EventID: "i-user", CustomerID: "user", Type: segment.EventIdentify, Time: t0,
		Traits: map[string]any{"plan": "pro"}})
	if _, _, err := s.ApplyChanges(ctx, joins); err != nil {
		t.Fatal(err)
	}
	drainOutbox(t, s)
	if _, _, err := s.ApplyMerge(ctx, segment.Merge{WorkspaceID: w, MergeID: "m1", SurvivorID: "user", MergedIDs: ids}, t0); err != nil {
		t.Fatal(err)
	}
	c, err := s.Customer(ctx, w, "user")
	if err != nil {
		t.Fatal(err)
	}
	last := t0.Add((n - 1) * time.Second)
	if c.EventCount != n+1 || !c.FirstSeen.Equal(t0) || !c.LastSeen.Equal(last) || c.Traits["plan"] != "pro" {
		t.Errorf("survivor = %+v; want %d events seen %v..%v, plan pro", c, n+1, t0, last)
	}
	if viewed, err := s.CountEvents(ctx, w, "user", "Viewed", t0); err != nil || viewed != n {
		t.Errorf("survivor views = %d, %v; want %d", viewed, err, n)
	}
	for _, id := range []string{"anon-0000", fmt.Sprintf("anon-%04d", n-1)} {
		if _, err := s.Customer(ctx, w, id); !errors.Is(err, segment.ErrNotFound) {
			t.Errorf("merged customer %s: %v, want ErrNotFound", id, err)
		}
	}
	if _, total, err := s.ListMembers(ctx, w, seg.ID, "", 1); err != nil || total != 0 {
		t.Errorf("members after merge: %d, %v; want none", total, err)
	}
	pending, err := s.PendingChanges(ctx, 2*n)
	if err != nil || len(pending) != n {
		t.Fatalf("outbox after merge has %d changes, %v; want %d leaves", len(pending), err, n)
	}
	for i, p := range pending {
		if want := fmt.Sprintf("anon-%04d", i); p.Joined || p.CustomerID != want || !p.Time.Equal(t0) {
			t.Fatalf("outbox[%d] = %+v; want %s leaving at %v", i, p, want, t0)
		}
	}
	drainOutbox(t, s)
}

// testAppliedAt checks that every kind of message is recorded at the time
// it was applied, not at the time it reports.
func testAppliedAt(t *testing.T, s *store.Store) {
	ctx := context.Background()
	w := ws(t)
	applied := t0.Add(day)
	if _, err := s.ApplyEvent(ctx, track(w, "e1", "c1", "Viewed", t0), applied); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.ApplyMerge(ctx, segment.Merge{WorkspaceID: w, MergeID: "m1", SurvivorID: "c1", MergedIDs: []string{"c2"}}, applied); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyUnmerge(ctx, segment.Unmerge{WorkspaceID: w, UnmergeID: "u1", MergeID: "m1", SurvivorID: "c1", RestoredID: "c2", Time: t0}, applied); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := s.DB().QueryRowContext(ctx, `SELECT count(*) FROM applied_messages WHERE workspace_id = $1 AND applied_at = $2`,
		w, applied.UnixMicro()).Scan(&n); err != nil || n != 3 {
		t.Errorf("messages applied at %v: %d, %v; want 3", applied, n, err)
	}
}

// testConcurrentMixedEvents applies track calls (counted by one upsert) and
// identify calls (read-modify-write) for one new customer at once: no count,
// trait or seen time may be lost.
func testConcurrentMixedEvents(t *testing.T, s *store.Store) {
	ctx := context.Background()
	w := ws(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			_, err := s.ApplyEvent(ctx, track(w, fmt.Sprintf("t%d", i), "c1", "Viewed", t0.Add(time.Duration(i)*time.Minute)), t0)
			errs <- err
		})
		wg.Go(func() {
			_, err := s.ApplyEvent(ctx, segment.Event{WorkspaceID: w, EventID: fmt.Sprintf("i%d", i), CustomerID: "c1",
				Type: segment.EventIdentify, Time: t0.Add(-time.Duration(i) * time.Minute), Traits: map[string]any{fmt.Sprintf("k%d", i): "v"}}, t0)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	c, err := s.Customer(ctx, w, "c1")
	if err != nil {
		t.Fatal(err)
	}
	first, last := t0.Add(-(n-1)*time.Minute), t0.Add((n-1)*time.Minute)
	if len(c.Traits) != n || c.EventCount != 2*n || !c.FirstSeen.Equal(first) || !c.LastSeen.Equal(last) {
		t.Errorf("customer = %+v; want %d traits, %d events, seen %v..%v", c, n, 2*n, first, last)
	}
}
