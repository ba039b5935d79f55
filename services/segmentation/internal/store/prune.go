package store

import (
	"context"
	"fmt"
	"time"

	"github.com/kizuna/kizuna/services/platform/prune"
)

// PruneTasks are the segmentation store's pruning steps: applied message
// ids (PruneTask), old behaviour changes (BehaviourChangesTask) and old
// records of customers merged away or erased (RetiredCustomersTask).
func (s *Store) PruneTasks() []prune.Task {
	return []prune.Task{s.PruneTask(), s.BehaviourChangesTask(), s.RetiredCustomersTask()}
}

// RetiredCustomersTask deletes the records of customers merged away or
// erased longer than prune.DedupeWindow ago. They redirect events
// published before the merge or erasure and delivered after it; an event
// that old is past the bus streams' MaxAge, so none can come any more.
func (s *Store) RetiredCustomersTask() prune.Task {
	return prune.AppliedMessages(s.db, "retired_customers", "retired_at", []string{"workspace_id", "customer_id"}, "")
}

// changesKept is how many of a workspace's latest behaviour versions keep
// their change log: one version per consumed batch, so hours of traffic —
// far more than a running process's event cache falls behind between
// refreshes. A cache further behind reloads everything.
var changesKept int64 = 100_000

// BehaviourChangesTask deletes the behaviour changes of versions older
// than the latest changesKept of each workspace, after moving the
// workspace's watermark (behaviours_versions.changes_from) past them, so
// BehaviourChanges tells a cache that old to reload everything.
func (s *Store) BehaviourChangesTask() prune.Task {
	return prune.Task{Name: "behaviour_changes", Run: func(ctx context.Context, _ time.Time) (int64, error) {
		if _, err := s.db.ExecWrite(ctx, `UPDATE behaviours_versions SET changes_from = version - $1 WHERE version - $1 > changes_from`,
			changesKept); err != nil {
			return 0, fmt.Errorf("prune behaviour changes: %w", err)
		}
		return prune.Delete(ctx, s.db, "behaviour_changes", []string{"workspace_id", "version", "customer_id"},
			`version <= (SELECT changes_from FROM behaviours_versions v WHERE v.workspace_id = behaviour_changes.workspace_id)`)
	}}
}

// PruneTask deletes the ids of applied bus messages older than
// prune.DedupeWindow, except those of events and merges: an undone merge,
// however late, reads them (whether its merge was applied here, and which
// moved identify calls to count over), so they are kept.
func (s *Store) PruneTask() prune.Task {
	return prune.AppliedMessages(s.db, "applied_messages", "applied_at", []string{"workspace_id", "kind", "message_id"},
		"kind NOT IN ('"+kindEvent+"', '"+kindMerge+"')")
}
