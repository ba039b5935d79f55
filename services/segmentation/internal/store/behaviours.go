package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
)

// nextBehavioursVersion takes the workspace's next behaviours version and
// holds its row until tx ends: called last in every transaction writing
// behaviour, after its other row locks (only the new behaviour rows, which
// wait on no one, are inserted after it), so writers commit in version
// order and cannot deadlock on it.
func nextBehavioursVersion(ctx context.Context, tx *sqldb.Tx, workspaceID string) (int64, error) {
	var v int64
	err := tx.QueryRowPrepared(ctx, `INSERT INTO behaviours_versions (workspace_id, version) VALUES ($1, 1)
ON CONFLICT (workspace_id) DO UPDATE SET version = behaviours_versions.version + 1 RETURNING version`, workspaceID).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("bump behaviours version: %w", err)
	}
	return v, nil
}

// logBehaviourChanges records, under the workspace's next version, that
// tx moved or deleted the behaviour of customers ids; an empty id stands
// for every customer.
func logBehaviourChanges(ctx context.Context, tx *sqldb.Tx, workspaceID string, ids []string) error {
	v, err := nextBehavioursVersion(ctx, tx, workspaceID)
	if err != nil {
		return err
	}
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	for chunk := range slices.Chunk(ids, mergeChunk) {
		args := make([]any, 0, 3*len(chunk))
		for _, id := range chunk {
			args = append(args, workspaceID, v, id)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO behaviour_changes (workspace_id, version, customer_id) VALUES `+
			tx.Dialect.Rows(len(chunk), 3)+` ON CONFLICT DO NOTHING`, args...); err != nil {
			return fmt.Errorf("log behaviour changes: %w", err)
		}
	}
	return nil
}

// BehavioursVersion implements segment.Store.
func (s *Store) BehavioursVersion(ctx context.Context, workspaceID string) (int64, error) {
	var v int64
	err := s.db.QueryRowPrepared(ctx, `SELECT COALESCE(max(version), 0) FROM behaviours_versions WHERE workspace_id = $1`, workspaceID).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("behaviours version: %w", err)
	}
	return v, nil
}

// BehaviourChanges implements segment.Store.
func (s *Store) BehaviourChanges(ctx context.Context, workspaceID string, after, upTo int64) ([]string, bool, error) {
	// One statement, so that it sees the changes and the prune watermark
	// at one moment: a cache older than the pruned changes gets "" (all).
	ids, err := sqldb.Strings(s.db.QueryPrepared(ctx, `SELECT customer_id FROM behaviour_changes
WHERE workspace_id = $1 AND version > $2 AND version <= $3
UNION SELECT '' FROM behaviours_versions WHERE workspace_id = $1 AND changes_from > $2
ORDER BY customer_id`, workspaceID, after, upTo))
	if err != nil {
		return nil, false, fmt.Errorf("behaviour changes: %w", err)
	}
	if len(ids) > 0 && ids[0] == "" {
		return nil, true, nil
	}
	return ids, false, nil
}

// ScanBehaviours implements segment.Store.
func (s *Store) ScanBehaviours(ctx context.Context, q segment.BehaviourScan, fn func(segment.BehaviourRow) error) error {
	if len(q.Names) == 0 {
		return nil
	}
	if q.Customers == nil {
		return s.scanBehaviours(ctx, q, nil, fn)
	}
	for chunk := range slices.Chunk(q.Customers, mergeChunk) {
		if err := s.scanBehaviours(ctx, q, chunk, fn); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) scanBehaviours(ctx context.Context, q segment.BehaviourScan, customers []string, fn func(segment.BehaviourRow) error) error {
	args := []any{q.WorkspaceID, q.AfterSeq, q.UpToSeq}
	where := ""
	if len(q.Names) <= mergeChunk { // else filtered below
		in, nameArgs := sqldb.InList(len(args)+1, q.Names)
		where += ` AND name IN (` + in + `)`
		args = append(args, nameArgs...)
	}
	if customers != nil {
		in, idArgs := sqldb.InList(len(args)+1, customers)
		where += ` AND customer_id IN (` + in + `)`
		args = append(args, idArgs...)
	}
	if q.From != "" {
		args = append(args, q.From)
		where += fmt.Sprintf(` AND customer_id >= $%d`, len(args))
	}
	if q.Below != "" {
		args = append(args, q.Below)
		where += fmt.Sprintf(` AND customer_id < $%d`, len(args))
	}
	cols := "customer_id, event_id, name, occurred_at, properties"
	var b segment.BehaviourRow
	dest := []any{&b.CustomerID, &b.EventID, &b.Name, &b.Micros, &b.Properties}
	if q.NoEventIDs {
		cols, dest = "customer_id, name, occurred_at, properties", slices.Delete(dest, 1, 2)
	}
	query, run := `SELECT `+cols+` FROM behaviours
WHERE workspace_id = $1 AND seq > $2 AND seq <= $3`+where+` ORDER BY customer_id`, s.db.QueryContext
	if customers == nil {
		// A live batch's refresh runs this text every time; lists of
		// customers vary, and are not kept prepared.
		run = s.db.QueryPrepared
	}
	rows, err := run(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("scan behaviours: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return fmt.Errorf("scan behaviours: %w", err)
		}
		if len(q.Names) > mergeChunk {
			if _, ok := slices.BinarySearch(q.Names, b.Name); !ok {
				continue
			}
		}
		if err := fn(b); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan behaviours: %w", err)
	}
	return nil
}

// ScanInParts implements segment.Store: on SQLite, where this process
// steps the rows, one reader used one core. On PostgreSQL the server steps
// them and the client decodes them, together about both cores of the
// machine measured (PostgreSQL on the same two cores): a cold recompute
// at 200,000 customers read in 16 parts by two readers took 12.7–15.9 s
// against 9.6 s in one query (docs/BENCHMARKS.md, "Cold recompute: the
// event cache loaded in parallel ranges").
func (s *Store) ScanInParts() bool {
	return s.db.Dialect == sqldb.SQLite
}

// CustomerBounds implements segment.Store. It counts the customers, then
// steps from bound to bound, each step reading one part's entries of the
// primary key. At a million customers in the sqlite3 shell, a window
// function numbering them all took 0.55 s; the count 0.05 s and each step
// of 125,000 0.015 s.
// The bounds are in the database's order of customer ids, which the range
// conditions of ScanBehaviours compare in.
func (s *Store) CustomerBounds(ctx context.Context, workspaceID string, parts int) ([]string, error) {
	if parts < 2 {
		return nil, nil
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM customers WHERE workspace_id = $1`, workspaceID).Scan(&n); err != nil {
		return nil, fmt.Errorf("customer bounds: %w", err)
	}
	step := n / parts
	if step == 0 {
		return nil, nil
	}
	bounds := make([]string, 0, parts-1)
	from := "" // every id is at least ""
	for len(bounds) < parts-1 {
		var id string
		err := s.db.QueryRowContext(ctx, `SELECT customer_id FROM customers WHERE workspace_id = $1 AND customer_id >= $2
ORDER BY customer_id LIMIT 1 OFFSET $3`, workspaceID, from, step).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) { // customers deleted since the count
			break
		}
		if err != nil {
			return nil, fmt.Errorf("customer bounds: %w", err)
		}
		bounds = append(bounds, id)
		from = id
	}
	return bounds, nil
}
