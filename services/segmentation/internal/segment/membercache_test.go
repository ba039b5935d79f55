package segment_test

import (
	"context"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
	"github.com/kizuna/kizuna/services/segmentation/internal/store"
)

// membershipReads counts the store's MembershipsInRange calls, the reads
// a warm membership cache saves.
type membershipReads struct {
	*store.Store
	reads atomic.Int64
}

func (s *membershipReads) MembershipsInRange(ctx context.Context, workspaceID string, segmentIDs []string, after, upTo string) (map[string][]string, error) {
	s.reads.Add(1)
	return s.Store.MembershipsInRange(ctx, workspaceID, segmentIDs, after, upTo)
}

// TestMemberCacheFollowsOtherWriters recomputes with one engine, whose
// membership cache is built once and then kept in step with its own
// writes, while the fixture's engine (another replica) and direct store
// writes (a replica evaluating older facts) change memberships. Each of
// those writes is one a recompute diffing against a stale cache would
// not undo; the recompute must also read memberships back exactly when
// someone else wrote.
func TestMemberCacheFollowsOtherWriters(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		f := newFixtureOn(t, db)
		ctx := context.Background()
		st := &membershipReads{Store: f.store}
		e, err := segment.NewEngine(segment.Config{Store: st, Now: f.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		viewers := f.create(t, "w", "viewers", eventCond("Viewed", 1, 0))
		pro := f.create(t, "w", "pro", traitCond("plan", "pro"))
		f.apply(t, viewed("w", "v1", "a", t0))
		f.apply(t, viewed("w", "v2", "b", t0))
		f.apply(t, identify("w", "i1", "c", t0, map[string]any{"plan": "pro"}))
		change := func(seg segment.Segment, customer string, joined bool) {
			t.Helper()
			id, err := segment.NewChangeID()
			if err != nil {
				t.Fatal(err)
			}
			c := segment.MembershipChange{WorkspaceID: "w", ChangeID: id, SegmentID: seg.ID, CustomerID: customer, Joined: joined, Time: f.clock.Now()}
			if _, _, err := f.store.ApplyChanges(ctx, []segment.MembershipChange{c}); err != nil {
				t.Fatal(err)
			}
		}
		check := func(stage string, read bool, wantViewers, wantPro []string) {
			t.Helper()
			before := st.reads.Load()
			if err := e.Recompute(ctx, "w"); err != nil {
				t.Fatalf("%s: recompute: %v", stage, err)
			}
			if got := st.reads.Load() > before; got != read {
				t.Errorf("%s: recompute read memberships from the store: %v, want %v", stage, got, read)
			}
			if got := f.members(t, "w", viewers.ID); !reflect.DeepEqual(got, wantViewers) {
				t.Errorf("%s: viewers = %v, want %v", stage, got, wantViewers)
			}
			if got := f.members(t, "w", pro.ID); !reflect.DeepEqual(got, wantPro) {
				t.Errorf("%s: pro = %v, want %v", stage, got, wantPro)
			}
		}

		check("first, cold", true, []string{"a", "b"}, []string{"c"})
		check("second, warm", false, []string{"a", "b"}, []string{"c"})

		// The engine's own live path keeps its cache in step.
		if err := e.ApplyEvent(ctx, viewed("w", "v3", "c", t0)); err != nil {
			t.Fatal(err)
		}
		check("after its own live write", false, []string{"a", "b", "c"}, []string{"c"})

		change(viewers, "a", false)
		check("after another writer's leave", true, []string{"a", "b", "c"}, []string{"c"})
		check("warm again", false, []string{"a", "b", "c"}, []string{"c"})

		change(pro, "a", true)
		check("after another writer's join", true, []string{"a", "b", "c"}, []string{"c"})

		// Its own write after another's: the cache cannot move past the
		// other's version, so it is rebuilt.
		change(pro, "b", true)
		if err := e.ApplyEvent(ctx, identify("w", "i2", "a", t0, map[string]any{"plan": "pro"})); err != nil {
			t.Fatal(err)
		}
		check("after another's write, then its own", true, []string{"a", "b", "c"}, []string{"a", "c"})

		if err := f.engine.ApplyMerge(ctx, segment.Merge{WorkspaceID: "w", MergeID: "m1", SurvivorID: "c", MergedIDs: []string{"b"}}); err != nil {
			t.Fatal(err)
		}
		check("after another's merge", true, []string{"a", "c"}, []string{"a", "c"})

		if _, err := f.engine.EraseCustomers(ctx, "w", "r1", []string{"a"}); err != nil {
			t.Fatal(err)
		}
		check("after another's erasure", true, []string{"c"}, []string{"c"})

		if err := f.engine.Delete(ctx, "w", pro.ID); err != nil {
			t.Fatal(err)
		}
		again := f.create(t, "w", "pro again", traitCond("plan", "pro"))
		pro = again
		check("after another's segment deletion", true, []string{"c"}, []string{"c"})
		check("warm at last", false, []string{"c"}, []string{"c"})

		// Idle caches go, as event caches do.
		e.SetCacheAge(2 * time.Hour)
		check("after going idle", true, []string{"c"}, []string{"c"})
	})
}
