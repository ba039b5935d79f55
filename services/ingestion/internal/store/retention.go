package store

import (
	"context"
	"fmt"
	"time"

	"github.com/kizuna/kizuna/services/platform/prune"
)

// PruneEvents deletes, in every workspace with an event retention, the raw
// events received more than its EventRetentionDays before now, and returns
// how many it deleted. Profiles (traits, counters, consents, identities)
// and merge records stay; a message id whose event is gone is no longer
// recognised as a duplicate.
func (s *Store) PruneEvents(ctx context.Context, now time.Time) (int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT workspace_id, event_retention_days FROM workspaces WHERE event_retention_days > 0 ORDER BY workspace_id`)
	if err != nil {
		return 0, fmt.Errorf("read event retention: %w", err)
	}
	type ret struct {
		ws   string
		days int
	}
	var all []ret
	for rows.Next() {
		var r ret
		if err := rows.Scan(&r.ws, &r.days); err != nil {
			rows.Close()
			return 0, fmt.Errorf("read event retention: %w", err)
		}
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read event retention: %w", err)
	}
	var total int64
	for _, r := range all {
		cutoff := now.Add(-time.Duration(r.days) * 24 * time.Hour)
		n, err := prune.Delete(ctx, s.db, "events", []string{"workspace_id", "event_id"}, `workspace_id = $1 AND receive_time < $2`, r.ws, micros(cutoff))
		total += n
		if err != nil {
			return total, fmt.Errorf("workspace %s: %w", r.ws, err)
		}
	}
	return total, nil
}
