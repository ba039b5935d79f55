package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// The memberships version of a workspace numbers the transactions that
// change its memberships (ApplyChanges, merges, erasures, segment
// deletions), so that the engine's membership cache can tell whether
// anything but its own writes changed them (segment.MembershipsVersion).
// Without a migration of its own, it is a row of segments_versions under
// a key no workspace's segments use (membershipsKey): a counter shared by
// mistake with another would only bump more often, which costs a cache
// reload and never serves a stale one.
//
// A transaction takes it last, after its row locks (just before the
// behaviours version when it takes both), and holds its row until it
// commits, so that versions commit in order: a reader of version v knows
// every change with a version up to v is committed.
func membershipsKey(workspaceID string) string { return "\x1fmemberships\x1f" + workspaceID }

// nextMembershipsVersion takes the workspace's next memberships version.
func nextMembershipsVersion(ctx context.Context, tx *sqldb.Tx, workspaceID string) (int64, error) {
	var v int64
	err := tx.QueryRowPrepared(ctx, `INSERT INTO segments_versions (workspace_id, version) VALUES ($1, 1)
ON CONFLICT (workspace_id) DO UPDATE SET version = segments_versions.version + 1 RETURNING version`, membershipsKey(workspaceID)).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("bump memberships version: %w", err)
	}
	return v, nil
}

// MembershipsVersion implements segment.Store.
func (s *Store) MembershipsVersion(ctx context.Context, workspaceID string) (int64, error) {
	var v int64
	err := s.db.QueryRowPrepared(ctx, `SELECT version FROM segments_versions WHERE workspace_id = $1`, membershipsKey(workspaceID)).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("memberships version: %w", err)
	}
	return v, nil
}
