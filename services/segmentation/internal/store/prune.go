package store

import "github.com/kizuna/kizuna/services/platform/prune"

// PruneTask deletes the ids of applied bus messages older than
// prune.DedupeWindow, except those of events and merges: an undone merge,
// however late, reads them (whether its merge was applied here, and which
// moved identify calls to count over), so they are kept.
func (s *Store) PruneTask() prune.Task {
	return prune.AppliedMessages(s.db, "applied_messages", "applied_at", []string{"workspace_id", "kind", "message_id"},
		"kind NOT IN ('"+kindEvent+"', '"+kindMerge+"')")
}
