package store

import (
	"context"
	"fmt"
	"time"

	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// DB exposes the store's database to tests that check rows no method reads.
func (s *Store) DB() *sqldb.DB { return s.db }

// CountEvents counts a customer's behaviour events named name at or after
// since, for tests that check what was recorded.
func (s *Store) CountEvents(ctx context.Context, workspaceID, customerID, name string, since time.Time) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM behaviours WHERE workspace_id = $1 AND customer_id = $2 AND name = $3 AND occurred_at >= $4`,
		workspaceID, customerID, name, micros(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count events of %s: %w", customerID, err)
	}
	return n, nil
}

// SetChangesKept sets how many behaviour versions keep their change log,
// until the test ends.
func SetChangesKept(t interface{ Cleanup(func()) }, n int64) {
	old := changesKept
	changesKept = n
	t.Cleanup(func() { changesKept = old })
}

// SetAnalyzeMinRows sets how many rows ApplyEvents, or ApplyChanges,
// writes before the store's planner statistics of the tables it writes
// are refreshed (PostgreSQL only).
func SetAnalyzeMinRows(s *Store, n int64) {
	for _, a := range []*sqldb.Analyzer{s.analyzer, s.memberships} {
		if a != nil {
			a.MinRows = n
		}
	}
}
