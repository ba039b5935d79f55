package store

import "github.com/kizuna/kizuna/services/platform/prune"

// PruneTask deletes the ids of applied bus messages older than
// prune.DedupeWindow: the events stream can no longer deliver them again.
// The records of erased customers (kindErased) go with them: no event
// older than the erasure can come any more either.
func (s *Store) PruneTask() prune.Task {
	return prune.AppliedMessages(s.db, "applied_messages", "applied_at", []string{"workspace_id", "kind", "message_id"}, "")
}
