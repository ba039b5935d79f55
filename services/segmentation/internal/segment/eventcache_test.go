package segment_test

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
)

func viewedIn(ws, id, customer, category string, at time.Time) segment.Event {
	e := viewed(ws, id, customer, at)
	e.Properties = map[string]any{"category": category, "sku": id}
	return e
}

// TestEventCacheFollowsOtherWriters recomputes with one engine (whose
// event cache is loaded once and then refreshed) while another engine on
// the same database applies events, a merge, an unmerge and an erasure.
// Every write would leave the first engine's recompute wrong if its cache
// were stale: the live path of the writer sets memberships right, and a
// recompute from stale events would undo them.
func TestEventCacheFollowsOtherWriters(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixtureOn(t, db)
		ctx := context.Background()
		writer, err := segment.NewEngine(segment.Config{Store: f.store, Now: f.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		catA := segment.Rule{Event: &segment.EventCondition{Event: "Viewed", MinCount: 2, WithinDays: 30,
			Where: []segment.PropertyFilter{{Property: "category", Comparison: segment.Comparison{Op: segment.OpEquals, Value: "A"}}}}}
		twoA := f.create(t, "w", "two views of A", catA)
		viewers := f.create(t, "w", "viewers", eventCond("Viewed", 1, 0))
		apply := func(evs ...segment.Event) {
			t.Helper()
			if err := writer.ApplyEvents(ctx, evs); err != nil {
				t.Fatal(err)
			}
		}
		check := func(stage string, wantA, wantAny []string) {
			t.Helper()
			if err := f.engine.Recompute(ctx, "w"); err != nil {
				t.Fatalf("%s: recompute: %v", stage, err)
			}
			if got := f.members(t, "w", twoA.ID); !reflect.DeepEqual(got, wantA) {
				t.Errorf("%s: %s = %v, want %v", stage, f.names[twoA.ID], got, wantA)
			}
			if got := f.members(t, "w", viewers.ID); !reflect.DeepEqual(got, wantAny) {
				t.Errorf("%s: %s = %v, want %v", stage, f.names[viewers.ID], got, wantAny)
			}
		}

		apply(viewedIn("w", "a1", "a", "A", t0), viewedIn("w", "a2", "a", "A", t0.Add(-time.Hour)),
			viewedIn("w", "b1", "b", "A", t0), viewedIn("w", "c1", "c", "B", t0), viewedIn("w", "c2", "c", "B", t0))
		check("first load", []string{"a"}, []string{"a", "b", "c"})

		// b's second view has the time of its first: only event ids order
		// them, so the cache reloads b.
		apply(viewedIn("w", "b2", "b", "A", t0))
		check("events appended", []string{"a", "b"}, []string{"a", "b", "c"})

		f.apply(t, identify("w", "i1", "d", t0, map[string]any{"plan": "pro"}))
		if err := writer.ApplyMerge(ctx, segment.Merge{WorkspaceID: "w", MergeID: "m1", SurvivorID: "d", MergedIDs: []string{"b"}}); err != nil {
			t.Fatal(err)
		}
		check("after a merge", []string{"a", "d"}, []string{"a", "c", "d"})

		if err := writer.ApplyUnmerge(ctx, segment.Unmerge{WorkspaceID: "w", UnmergeID: "u1", MergeID: "m1", SurvivorID: "d", RestoredID: "b",
			EventIDs: []string{"b1", "b2"}, Time: t0.Add(time.Hour), RestoredFirstSeen: t0, SurvivorFirstSeen: t0}); err != nil {
			t.Fatal(err)
		}
		check("after an unmerge", []string{"a", "b"}, []string{"a", "b", "c"})

		if _, err := writer.EraseCustomers(ctx, "w", "r1", []string{"a"}); err != nil {
			t.Fatal(err)
		}
		// An event of a's published before the erasure and delivered
		// after it brings nothing back.
		apply(viewedIn("w", "a3", "a", "A", t0.Add(2*time.Hour)))
		check("after an erasure", []string{"b"}, []string{"b", "c"})

		f.clock.Set(t0.Add(40 * day))
		check("a window later", []string{}, []string{"b", "c"})

		// A segment reading another property rebuilds the cache.
		sku := f.create(t, "w", "sku c2", segment.Rule{Event: &segment.EventCondition{Event: "Viewed", MinCount: 1,
			Where: []segment.PropertyFilter{{Property: "sku", Comparison: segment.Comparison{Op: segment.OpEquals, Value: "c2"}}}}})
		if err := f.engine.Recompute(ctx, "w"); err != nil {
			t.Fatal(err)
		}
		if got, want := f.members(t, "w", sku.ID), []string{"c"}; !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v", f.names[sku.ID], got, want)
		}
		p, err := f.engine.Preview(ctx, "w", sku.Rule, 10)
		if err != nil || p.Size != 1 {
			t.Errorf("preview = %+v, %v; want one member", p, err)
		}
	})
}

// TestIdleEventCachesDropped drops a workspace's event cache after an hour
// of real time unused (noticed when events are applied), whatever the
// business clock says, and builds it again when an evaluation needs it.
func TestIdleEventCachesDropped(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	viewers := f.create(t, "w", "viewers", eventCond("Viewed", 1, 0))
	f.apply(t, viewed("w", "v1", "a", t0))
	if err := f.engine.Recompute(ctx, "w"); err != nil {
		t.Fatal(err)
	}
	if got := f.engine.CachedWorkspaces(); !reflect.DeepEqual(got, []string{"w"}) {
		t.Fatalf("cached after a recompute: %v", got)
	}
	f.clock.Set(t0.Add(48 * time.Hour))
	f.apply(t, viewed("w", "v2", "b", t0))
	if got := f.engine.CachedWorkspaces(); len(got) != 1 {
		t.Fatalf("dropped when the business clock moved: %v", got)
	}
	f.engine.SetCacheAge(59 * time.Minute)
	f.apply(t, viewed("w", "v2b", "b", t0))
	if got := f.engine.CachedWorkspaces(); len(got) != 1 {
		t.Fatalf("dropped before an hour unused: %v", got)
	}
	f.engine.SetCacheAge(2 * time.Hour)
	f.apply(t, viewed("w", "v3", "c", t0))
	if got := f.engine.CachedWorkspaces(); len(got) != 0 {
		t.Fatalf("still cached after two hours unused: %v", got)
	}
	if err := f.engine.Recompute(ctx, "w"); err != nil {
		t.Fatal(err)
	}
	if got := f.members(t, "w", viewers.ID); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Errorf("members after the cache was rebuilt = %v", got)
	}
}

// factReads counts the live path's reads of events and order statistics
// from the store.
type factReads struct {
	segment.Store
	behaviours, orderStats atomic.Int64
}

func (r *factReads) BehavioursOf(ctx context.Context, workspaceID string, ids, names []string, since time.Time) ([]segment.Behaviour, error) {
	r.behaviours.Add(1)
	return r.Store.BehavioursOf(ctx, workspaceID, ids, names, since)
}

func (r *factReads) OrderStatsOf(ctx context.Context, workspaceID string, ids []string) (map[string]segment.OrderStats, error) {
	r.orderStats.Add(1)
	return r.Store.OrderStatsOf(ctx, workspaceID, ids)
}

// TestLiveEventsFromWarmCache applies events through an engine whose
// event cache a recompute loaded, while another engine on the same
// database writes events, an order and a merge: the live path reads the
// events from the cache (refreshed first, so it sees the other writer's
// rows) and the order statistics from the cached RFM scores while no order
// changed, and leaves the cache's last use alone, so that a replica no
// longer evaluating in bulk still drops it.
func TestLiveEventsFromWarmCache(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixtureOn(t, db) // f.engine is the other writer
		ctx := context.Background()
		reads := &factReads{Store: f.store}
		// Every clock reading of the live engine costs a minute, so
		// scoring RFM "takes" a minute and the scores are reused for ten
		// after an order (behind it).
		live, err := segment.NewEngine(segment.Config{Store: reads, Now: (&clock{t: t0, step: time.Minute}).Now, RFMMaxAge: 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		catA := segment.Rule{Event: &segment.EventCondition{Event: "Viewed", MinCount: 2, WithinDays: 30,
			Where: []segment.PropertyFilter{{Property: "category", Comparison: segment.Comparison{Op: segment.OpEquals, Value: "A"}}}}}
		twoA := f.create(t, "w", "two views of A", catA)
		buyers := f.create(t, "w", "new buyers", segment.Rule{Lifecycle: &segment.LifecycleCondition{Stages: []segment.Stage{segment.StageNew}}})
		apply := func(e *segment.Engine, evs ...segment.Event) {
			t.Helper()
			if err := e.ApplyEvents(ctx, evs); err != nil {
				t.Fatal(err)
			}
		}
		check := func(stage string, seg segment.Segment, want []string) {
			t.Helper()
			if got := f.members(t, "w", seg.ID); !reflect.DeepEqual(got, want) {
				t.Errorf("%s: %s = %v, want %v", stage, f.names[seg.ID], got, want)
			}
		}

		apply(live, viewedIn("w", "a1", "a", "A", t0))
		if reads.behaviours.Load() == 0 {
			t.Fatal("without a cache, the live path read no events from the store")
		}
		if err := live.Recompute(ctx, "w"); err != nil {
			t.Fatal(err)
		}
		used := live.LastCacheUse("w")
		reads.behaviours.Store(0)
		reads.orderStats.Store(0)

		apply(f.engine, viewedIn("w", "b1", "b", "A", t0), viewedIn("w", "c1", "c", "A", t0), viewedIn("w", "c2", "c", "A", t0))
		apply(live, viewedIn("w", "a2", "a", "A", t0.Add(time.Minute)), viewedIn("w", "b2", "b", "A", t0.Add(time.Minute)))
		check("events of both writers", twoA, []string{"a", "b", "c"})
		if n := reads.behaviours.Load(); n != 0 {
			t.Errorf("%d event reads from the store with a warm cache, want none", n)
		}
		if n := reads.orderStats.Load(); n != 0 {
			t.Errorf("%d order statistics reads from the store while no order changed, want none", n)
		}

		// An order of the other writer changes the orders version: the
		// live path, served RFM scores from before it, must not take d's
		// statistics from them (d would leave the segment the other
		// writer put it in).
		apply(f.engine, segment.Event{WorkspaceID: "w", EventID: "o1", CustomerID: "d", Type: segment.EventTrack,
			Name: "Order Completed", Time: t0, Order: &segment.Order{ID: "o1", Revenue: 10}})
		apply(live, viewedIn("w", "d1", "d", "B", t0.Add(time.Minute)))
		check("after the other writer's order", buyers, []string{"d"})

		// The other writer merges c (two views of A) into e: e's next
		// event is evaluated with c's views.
		if err := f.engine.ApplyMerge(ctx, segment.Merge{WorkspaceID: "w", MergeID: "m1", SurvivorID: "e", MergedIDs: []string{"c"}}); err != nil {
			t.Fatal(err)
		}
		apply(live, viewedIn("w", "e1", "e", "B", t0.Add(time.Minute)))
		check("after the other writer's merge", twoA, []string{"a", "b", "e"})
		if n := reads.behaviours.Load(); n != 0 {
			t.Errorf("%d event reads from the store with a warm cache, want none", n)
		}
		if got := live.LastCacheUse("w"); !got.Equal(used) {
			t.Errorf("the live path moved the cache's last use from %v to %v", used, got)
		}
	})
}

// TestEventCacheLoadInParts loads event caches in ranges of customers read
// in parallel, and checks that each holds exactly what a load in one range
// does and what the events say: every customer once (also those a range
// begins with), numbered in id order, events by name and then time, ties
// in event id order, other names and workspaces left out.
func TestEventCacheLoadInParts(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixtureOn(t, db)
		ctx := context.Background()
		r := rand.New(rand.NewPCG(5, 6))
		type held struct {
			name     string
			at       int64
			id, line string
		}
		want := map[string][]held{}
		var evs []segment.Event
		for i := range 40 {
			c := fmt.Sprintf("c%02d", i)
			for j := range i % 6 { // c00, c06, … have none, so no customer row
				name := []string{"Ordered", "Viewed", "Other"}[r.IntN(3)]
				at := t0.Add(-time.Duration(r.IntN(3)) * time.Hour) // many ties
				cat := string(rune('A' + r.IntN(2)))
				ev := viewedIn("w", fmt.Sprintf("%s-%d", c, 9-j), c, cat, at) // ids the reverse of this order
				ev.Name = name
				evs = append(evs, ev)
				if name != "Other" {
					want[c] = append(want[c], held{name: name, at: at.UnixMicro(), id: ev.EventID, line: fmt.Sprintf("%s %d map[category:%s]", name, at.UnixMicro(), cat)})
				}
			}
		}
		evs = append(evs, viewedIn("x", "x1", "c05", "A", t0), viewedIn("x", "x2", "c99", "A", t0))
		if err := f.engine.ApplyEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		wantIDs := slices.Sorted(maps.Keys(want))
		wantEvents := make([][]string, len(wantIDs))
		for i, c := range wantIDs {
			hs := want[c]
			slices.SortFunc(hs, func(a, b held) int {
				return cmp.Or(strings.Compare(a.name, b.name), cmp.Compare(a.at, b.at), strings.Compare(a.id, b.id))
			})
			for _, h := range hs {
				wantEvents[i] = append(wantEvents[i], h.line)
			}
		}
		names, keys := []string{"Ordered", "Viewed"}, []string{"category"}
		for _, tt := range []struct{ parts, readers int }{{1, 1}, {3, 2}, {7, 3}, {16, 2}, {100, 4}} {
			ids, got, err := segment.LoadEventCache(ctx, f.store, "w", names, keys, tt.parts, tt.readers)
			if err != nil {
				t.Fatalf("%d parts: %v", tt.parts, err)
			}
			if !reflect.DeepEqual(ids, wantIDs) {
				t.Errorf("%d parts, %d readers: customers %v, want %v", tt.parts, tt.readers, ids, wantIDs)
				continue
			}
			for i, c := range ids {
				if !slices.Equal(got[i], wantEvents[i]) {
					t.Errorf("%d parts, %d readers: %s = %q, want %q", tt.parts, tt.readers, c, got[i], wantEvents[i])
				}
			}
		}

		// 34 customers with rows (c00, c06, … none; x's c99 not w's) in
		// 7 parts of 4: the bounds are every fourth.
		bounds, err := f.store.CustomerBounds(ctx, "w", 7)
		if err != nil {
			t.Fatal(err)
		}
		var rows []string
		for i := range 40 {
			if i%6 != 0 {
				rows = append(rows, fmt.Sprintf("c%02d", i))
			}
		}
		if want := []string{rows[4], rows[8], rows[12], rows[16], rows[20], rows[24]}; !reflect.DeepEqual(bounds, want) {
			t.Errorf("bounds = %v, want %v", bounds, want)
		}
		if bounds, err := f.store.CustomerBounds(ctx, "w", 50); err != nil || bounds != nil {
			t.Errorf("bounds in 50 parts of 34 customers = %v, %v; want none", bounds, err)
		}
	})
}

// mergingStore merges once, right after the first range of customers of a
// load was read (the reader of one at a time, between two ranges).
type mergingStore struct {
	segment.Store
	merge func()
	once  sync.Once
}

func (s *mergingStore) ScanBehaviours(ctx context.Context, q segment.BehaviourScan, fn func(segment.BehaviourRow) error) error {
	err := s.Store.ScanBehaviours(ctx, q, fn)
	if q.From == "" && q.Below != "" {
		s.once.Do(s.merge)
	}
	return err
}

// TestEventCacheLoadCatchesUp merges a customer of the last range of a
// load into one of the first after the first was read and before the last
// is: neither range read holds the moved events, and the load catches up
// with the merge before the cache is used.
func TestEventCacheLoadCatchesUp(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixtureOn(t, db)
		ctx := context.Background()
		var evs []segment.Event
		for i := range 20 {
			c := fmt.Sprintf("c%02d", i)
			evs = append(evs, viewedIn("w", c+"-1", c, "A", t0.Add(time.Duration(i)*time.Minute)), viewedIn("w", c+"-2", c, "B", t0))
		}
		if err := f.engine.ApplyEvents(ctx, evs); err != nil {
			t.Fatal(err)
		}
		st := &mergingStore{Store: f.store, merge: func() {
			if err := f.engine.ApplyMerge(ctx, segment.Merge{WorkspaceID: "w", MergeID: "m1", SurvivorID: "c01", MergedIDs: []string{"c19"}}); err != nil {
				t.Error(err)
			}
		}}
		names, keys := []string{"Viewed"}, []string{"category"}
		ids, got, err := segment.LoadEventCache(ctx, st, "w", names, keys, 4, 1)
		if err != nil {
			t.Fatal(err)
		}
		wantIDs, want, err := segment.LoadEventCache(ctx, f.store, "w", names, keys, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		if i := slices.Index(wantIDs, "c01"); i < 0 || len(want[i]) != 4 || slices.Contains(wantIDs, "c19") {
			t.Fatalf("after the merge: %v %q", wantIDs, want)
		}
		if !reflect.DeepEqual(ids, wantIDs) || !reflect.DeepEqual(got, want) {
			t.Errorf("loaded across the merge:\n got %v\n%q\nwant %v\n%q", ids, got, wantIDs, want)
		}
	})
}
