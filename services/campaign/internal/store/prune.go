package store

import "github.com/kizuna/kizuna/services/platform/prune"

// PruneTask deletes the ids of applied bus messages (events, membership
// changes, merges) older than prune.DedupeWindow: the streams can no longer
// deliver them again. Nothing else reads them.
func (s *Store) PruneTask() prune.Task {
	return prune.AppliedMessages(s.db, "applied_messages", "apply_time", []string{"workspace_id", "message_id"}, "")
}
