package segment_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
)

// TestLateEventAfterMerge: an event published for a customer before it
// was merged away and delivered after the merge counts for the survivor,
// which is re-evaluated and joins; the merged-away customer is not
// re-created and joins nothing (a ghost member). One event alone and in a
// batch take two paths through the engine.
func TestLateEventAfterMerge(t *testing.T) {
	for _, batch := range []bool{false, true} {
		f := newFixture(t)
		ctx := context.Background()
		seg := f.create(t, "w", "viewers", eventCond("Viewed", 3, 30))
		anySeg := f.create(t, "w", "any", eventCond("Viewed", 1, 30)) // a re-created anon would join
		f.apply(t, viewed("w", "e1", "anon", t0))
		f.apply(t, viewed("w", "e3", "user", t0))
		if err := f.engine.ApplyMerge(ctx, segment.Merge{WorkspaceID: "w", MergeID: "m1", SurvivorID: "user", MergedIDs: []string{"anon"}}); err != nil {
			t.Fatal(err)
		}
		if got, want := f.published(t), []string{"+anon@any", "+user@any", "-anon@any"}; !reflect.DeepEqual(got, want) {
			t.Fatalf("published %v before the late event, want %v", got, want)
		}
		late := viewed("w", "e2", "anon", t0)
		if batch {
			if err := f.engine.ApplyEvents(ctx, []segment.Event{late, viewed("w", "e4", "anon", t0)}); err != nil {
				t.Fatal(err)
			}
		} else {
			f.apply(t, late)
		}
		if got, want := f.published(t), []string{"+user@viewers"}; !reflect.DeepEqual(got, want) {
			t.Errorf("batch %v: published %v, want %v", batch, got, want)
		}
		for _, id := range []string{seg.ID, anySeg.ID} {
			if got, want := f.members(t, "w", id), []string{"user"}; !reflect.DeepEqual(got, want) {
				t.Errorf("batch %v: members of %s %v, want %v", batch, f.names[id], got, want)
			}
		}
	}
}

// TestLateEventAfterErasure: an event of an erased customer delivered
// after the erasure brings nothing back, and joins nothing.
func TestLateEventAfterErasure(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	seg := f.create(t, "w", "viewers", eventCond("Viewed", 1, 30))
	f.apply(t, viewed("w", "e1", "anon", t0))
	if _, err := f.engine.EraseCustomers(ctx, "w", "r1", []string{"anon"}); err != nil {
		t.Fatal(err)
	}
	if got, want := f.published(t), []string{"+anon@viewers", "-anon@viewers"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("published %v before the late event, want %v", got, want)
	}
	f.apply(t, viewed("w", "e2", "anon", t0))
	if got := f.published(t); len(got) != 0 {
		t.Errorf("published %v after the late event, want nothing", got)
	}
	if got := f.members(t, "w", seg.ID); len(got) != 0 {
		t.Errorf("members %v, want none", got)
	}
	if _, err := f.store.Customer(ctx, "w", "anon"); err == nil {
		t.Error("the erased customer has a row again")
	}
}
