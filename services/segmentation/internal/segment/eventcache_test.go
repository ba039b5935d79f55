package segment_test

import (
	"context"
	"reflect"
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
