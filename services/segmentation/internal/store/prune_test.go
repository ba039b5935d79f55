package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/platform/prune"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
	"github.com/kizuna/kizuna/services/segmentation/internal/store"
)

// TestPruneKeepsEventsAndMerges prunes applied message ids older than the
// dedupe window: those of unmerges and regulations go, those of events and
// merges (an undo reads them) and younger ones stay.
func TestPruneKeepsEventsAndMerges(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s, err := store.New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		old := t0.Add(-prune.DedupeWindow - time.Hour).UnixMicro()
		young := t0.Add(-time.Hour).UnixMicro()
		for _, r := range []struct {
			kind, id string
			at       int64
		}{{"event", "e-old", old}, {"merge", "m-old", old}, {"unmerge", "u-old", old}, {"regulation", "r-old", old}, {"unmerge", "u-young", young}} {
			if _, err := db.ExecContext(ctx, `INSERT INTO applied_messages (workspace_id, kind, message_id, applied_at) VALUES ('ws', $1, $2, $3)`,
				r.kind, r.id, r.at); err != nil {
				t.Fatal(err)
			}
		}
		n, err := s.PruneTask().Run(ctx, t0)
		if err != nil || n != 2 {
			t.Fatalf("pruned %d, %v; want the old unmerge and regulation", n, err)
		}
		rows, err := db.QueryContext(ctx, `SELECT message_id FROM applied_messages ORDER BY message_id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var left []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			left = append(left, id)
		}
		if want := "[e-old m-old u-young]"; fmt.Sprint(left) != want {
			t.Errorf("left %v, want %s", left, want)
		}
	})
}

// TestPruneBehaviourChanges keeps the change log of a workspace's latest
// behaviour versions only, and tells a cache older than what was pruned
// to reload everything.
func TestPruneBehaviourChanges(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s, err := store.New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		store.SetChangesKept(t, 1)
		w := ws(t)
		for _, c := range []string{"user", "a1", "a2"} {
			mustApply(t, s, track(w, "e-"+c, c, "Viewed", t0))
		}
		for i, anon := range []string{"a1", "a2"} {
			m := segment.Merge{WorkspaceID: w, MergeID: fmt.Sprintf("m%d", i), SurvivorID: "user", MergedIDs: []string{anon}}
			if _, _, err := s.ApplyMerge(ctx, m, t0); err != nil {
				t.Fatal(err)
			}
		}
		v, err := s.BehavioursVersion(ctx, w)
		if err != nil {
			t.Fatal(err)
		}
		if ids, all, err := s.BehaviourChanges(ctx, w, 0, v); err != nil || all || fmt.Sprint(ids) != "[a1 a2 user]" {
			t.Fatalf("changes before pruning = %v, %v, %v", ids, all, err)
		}
		n, err := s.BehaviourChangesTask().Run(ctx, t0)
		if err != nil || n != 2 { // the first merge's a1 and user
			t.Fatalf("pruned %d, %v; want the first merge's 2 rows", n, err)
		}
		if _, all, err := s.BehaviourChanges(ctx, w, 0, v); err != nil || !all {
			t.Errorf("a cache from before the pruned versions: all = %v, %v; want a full reload", all, err)
		}
		if ids, all, err := s.BehaviourChanges(ctx, w, v-1, v); err != nil || all || fmt.Sprint(ids) != "[a2 user]" {
			t.Errorf("a cache one version behind = %v, %v, %v; want the last merge's customers", ids, all, err)
		}
		if n, err := s.BehaviourChangesTask().Run(ctx, t0); err != nil || n != 0 {
			t.Errorf("second run pruned %d, %v", n, err)
		}
	})
}
