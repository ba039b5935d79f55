// Package store is segmentation's SQL store: one implementation of
// segment.Store written against platform/sqldb, run on SQLite and
// PostgreSQL alike, with its migrations embedded.
package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Message kinds in applied_messages.
const (
	kindEvent   = "event"
	kindMerge   = "merge"
	kindUnmerge = "unmerge"
)

// Store implements segment.Store.
type Store struct {
	db *sqldb.DB
}

var _ segment.Store = (*Store)(nil)

// New migrates db to the current schema and returns a Store on it.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("segmentation store: %w", err)
	}
	if err := sqldb.Migrate(ctx, db, sub); err != nil {
		return nil, fmt.Errorf("segmentation store: %w", err)
	}
	return &Store{db: db}, nil
}

// forUpdate locks the selected row until the transaction ends on
// PostgreSQL, where concurrent read-modify-write of a customer would
// otherwise lose trait updates. SQLite needs nothing: its write
// transactions are exclusive.
func forUpdate(d sqldb.Dialect) string {
	if d == sqldb.Postgres {
		return " FOR UPDATE"
	}
	return ""
}

func micros(t time.Time) int64 { return t.UTC().UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// markApplied records a message id and reports whether it was new.
func markApplied(ctx context.Context, tx *sqldb.Tx, workspaceID, kind, id string, now time.Time) (bool, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO applied_messages (workspace_id, kind, message_id, applied_at)
VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, workspaceID, kind, id, micros(now))
	if err != nil {
		return false, fmt.Errorf("record %s %s: %w", kind, id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record %s %s: %w", kind, id, err)
	}
	return n == 1, nil
}

// ApplyEvent implements segment.Store.
func (s *Store) ApplyEvent(ctx context.Context, e segment.Event) (bool, error) {
	var applied bool
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		var err error
		if applied, err = markApplied(ctx, tx, e.WorkspaceID, kindEvent, e.EventID, e.Time); err != nil || !applied {
			return err
		}
		// Create the row first so that the row lock below serialises even
		// the first two events of a new customer on PostgreSQL.
		if _, err := tx.ExecContext(ctx, `INSERT INTO customers (workspace_id, customer_id, traits, trait_times, first_seen, last_seen, event_count)
VALUES ($1, $2, '{}', '{}', $3, $3, 0) ON CONFLICT DO NOTHING`, e.WorkspaceID, e.CustomerID, micros(e.Time)); err != nil {
			return fmt.Errorf("create customer %s: %w", e.CustomerID, err)
		}
		c, _, err := lockCustomer(ctx, tx, e.WorkspaceID, e.CustomerID)
		if err != nil {
			return err
		}
		segment.MergeTraits(c.Traits, c.TraitTimes, e.TraitUpdates(), micros(e.Time))
		if e.Time.Before(c.FirstSeen) {
			c.FirstSeen = e.Time
		}
		if e.Time.After(c.LastSeen) {
			c.LastSeen = e.Time
		}
		c.EventCount++
		if err := writeCustomer(ctx, tx, c); err != nil {
			return err
		}
		if name := e.BehaviourName(); name != "" {
			if _, err := tx.ExecContext(ctx, `INSERT INTO behaviours (workspace_id, event_id, customer_id, name, occurred_at)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, e.WorkspaceID, e.EventID, e.CustomerID, name, micros(e.Time)); err != nil {
				return fmt.Errorf("insert behaviour: %w", err)
			}
		}
		if e.Order != nil {
			res, err := tx.ExecContext(ctx, `INSERT INTO orders (workspace_id, order_id, customer_id, revenue, occurred_at, event_id)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`, e.WorkspaceID, e.Order.ID, e.CustomerID, e.Order.Revenue, micros(e.Time), e.EventID)
			if err != nil {
				return fmt.Errorf("insert order: %w", err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("insert order: %w", err)
			} else if n == 1 {
				return bumpOrdersVersion(ctx, tx, e.WorkspaceID)
			}
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("apply event %s: %w", e.EventID, err)
	}
	return applied, nil
}

func bumpOrdersVersion(ctx context.Context, tx *sqldb.Tx, workspaceID string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO orders_versions (workspace_id, version) VALUES ($1, 1)
ON CONFLICT (workspace_id) DO UPDATE SET version = orders_versions.version + 1`, workspaceID)
	if err != nil {
		return fmt.Errorf("bump orders version: %w", err)
	}
	return nil
}

// lockCustomer reads a customer for update; found is false when there is
// none, and the returned Customer then has empty, non-nil maps.
func lockCustomer(ctx context.Context, tx *sqldb.Tx, workspaceID, customerID string) (segment.Customer, bool, error) {
	row := tx.QueryRowContext(ctx, `SELECT customer_id, traits, trait_times, first_seen, last_seen, event_count
FROM customers WHERE workspace_id = $1 AND customer_id = $2`+forUpdate(tx.Dialect), workspaceID, customerID)
	c, err := scanCustomer(row, workspaceID)
	if errors.Is(err, segment.ErrNotFound) {
		return segment.Customer{WorkspaceID: workspaceID, ID: customerID, Traits: map[string]any{}, TraitTimes: map[string]int64{}}, false, nil
	}
	if err != nil {
		return segment.Customer{}, false, err
	}
	return c, true, nil
}

func writeCustomer(ctx context.Context, tx *sqldb.Tx, c segment.Customer) error {
	traits, err := json.Marshal(c.Traits)
	if err != nil {
		return fmt.Errorf("encode traits of %s: %w", c.ID, err)
	}
	times, err := json.Marshal(c.TraitTimes)
	if err != nil {
		return fmt.Errorf("encode trait times of %s: %w", c.ID, err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO customers (workspace_id, customer_id, traits, trait_times, first_seen, last_seen, event_count)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (workspace_id, customer_id) DO UPDATE SET traits = excluded.traits, trait_times = excluded.trait_times,
  first_seen = excluded.first_seen, last_seen = excluded.last_seen, event_count = excluded.event_count`,
		c.WorkspaceID, c.ID, string(traits), string(times), micros(c.FirstSeen), micros(c.LastSeen), c.EventCount)
	if err != nil {
		return fmt.Errorf("write customer %s: %w", c.ID, err)
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

func scanCustomer(row scanner, workspaceID string) (segment.Customer, error) {
	var (
		c                   segment.Customer
		traits, times       string
		firstSeen, lastSeen int64
	)
	if err := row.Scan(&c.ID, &traits, &times, &firstSeen, &lastSeen, &c.EventCount); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return segment.Customer{}, segment.ErrNotFound
		}
		return segment.Customer{}, fmt.Errorf("scan customer: %w", err)
	}
	c.WorkspaceID = workspaceID
	c.FirstSeen, c.LastSeen = fromMicros(firstSeen), fromMicros(lastSeen)
	if err := json.Unmarshal([]byte(traits), &c.Traits); err != nil {
		return segment.Customer{}, fmt.Errorf("decode traits of %s: %w", c.ID, err)
	}
	if err := json.Unmarshal([]byte(times), &c.TraitTimes); err != nil {
		return segment.Customer{}, fmt.Errorf("decode trait times of %s: %w", c.ID, err)
	}
	if c.Traits == nil {
		c.Traits = map[string]any{}
	}
	if c.TraitTimes == nil {
		c.TraitTimes = map[string]int64{}
	}
	return c, nil
}

// ApplyMerge implements segment.Store.
func (s *Store) ApplyMerge(ctx context.Context, m segment.Merge, newChangeID func() (string, error), now time.Time) (bool, error) {
	var applied bool
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		var err error
		if applied, err = markApplied(ctx, tx, m.WorkspaceID, kindMerge, m.MergeID, now); err != nil || !applied {
			return err
		}
		undone, err := unmergedCustomers(ctx, tx, m.WorkspaceID, m.MergeID)
		if err != nil {
			return err
		}
		survivor, found, err := lockCustomer(ctx, tx, m.WorkspaceID, m.SurvivorID)
		if err != nil {
			return err
		}
		ordersMoved := false
		for _, id := range m.MergedIDs {
			if undone[id] {
				continue
			}
			merged, ok, err := lockCustomer(ctx, tx, m.WorkspaceID, id)
			if err != nil {
				return err
			}
			if ok {
				segment.MergeCustomer(&survivor, merged)
				found = true
				if _, err := tx.ExecContext(ctx, `DELETE FROM customers WHERE workspace_id = $1 AND customer_id = $2`, m.WorkspaceID, id); err != nil {
					return fmt.Errorf("delete merged customer %s: %w", id, err)
				}
			}
			if _, err := tx.ExecContext(ctx, `UPDATE behaviours SET customer_id = $3 WHERE workspace_id = $1 AND customer_id = $2`,
				m.WorkspaceID, id, m.SurvivorID); err != nil {
				return fmt.Errorf("move behaviour of %s: %w", id, err)
			}
			res, err := tx.ExecContext(ctx, `UPDATE orders SET customer_id = $3 WHERE workspace_id = $1 AND customer_id = $2`,
				m.WorkspaceID, id, m.SurvivorID)
			if err != nil {
				return fmt.Errorf("move orders of %s: %w", id, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return fmt.Errorf("move orders of %s: %w", id, err)
			} else if n > 0 {
				ordersMoved = true
			}
			if err := leaveAll(ctx, tx, m.WorkspaceID, id, newChangeID, now); err != nil {
				return err
			}
		}
		if found {
			if err := writeCustomer(ctx, tx, survivor); err != nil {
				return err
			}
		}
		if ordersMoved {
			return bumpOrdersVersion(ctx, tx, m.WorkspaceID)
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("apply merge %s: %w", m.MergeID, err)
	}
	return applied, nil
}

// unmergedCustomers returns the customers restored by undoing the merge
// mergeID so far.
func unmergedCustomers(ctx context.Context, tx *sqldb.Tx, workspaceID, mergeID string) (map[string]bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT customer_id FROM unmerged_customers WHERE workspace_id = $1 AND merge_id = $2`,
		workspaceID, mergeID)
	if err != nil {
		return nil, fmt.Errorf("read undone merge %s: %w", mergeID, err)
	}
	ids, err := collectStrings(rows)
	if err != nil {
		return nil, fmt.Errorf("read undone merge %s: %w", mergeID, err)
	}
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// unmergeChunk bounds the event ids bound in one statement, well under the
// smallest bind-parameter limit of the two backends (999 on SQLite before
// 3.32).
const unmergeChunk = 500

// ApplyUnmerge implements segment.Store.
//
// Traits are replaced by the message's, each stamped with the undo time (see
// traitsAsOf), so an older event arriving late does not undo the undo.
// Identify events leave no row but their id in applied_messages, so event
// counts move by the listed ids found there (once the merge undone has been
// applied here), and the restored customer's last-seen time is dated by the
// behaviour and orders moved to it. The
// survivor's last-seen time stays: what remains of its events cannot date
// it either.
func (s *Store) ApplyUnmerge(ctx context.Context, u segment.Unmerge, now time.Time) (bool, error) {
	var applied bool
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		var err error
		if applied, err = markApplied(ctx, tx, u.WorkspaceID, kindUnmerge, u.UnmergeID, now); err != nil || !applied {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO unmerged_customers (workspace_id, merge_id, customer_id)
VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, u.WorkspaceID, u.MergeID, u.RestoredID); err != nil {
			return fmt.Errorf("record undone merge %s: %w", u.MergeID, err)
		}
		survivor, survivorFound, err := lockCustomer(ctx, tx, u.WorkspaceID, u.SurvivorID)
		if err != nil {
			return err
		}
		restored, restoredFound, err := lockCustomer(ctx, tx, u.WorkspaceID, u.RestoredID)
		if err != nil {
			return err
		}
		// Before its merge is applied here, the restored customer still
		// holds (and counts) its own events; only those recorded for the
		// survivor since, and found in a moved row, are to be counted over.
		merged, err := countApplied(ctx, tx, u.WorkspaceID, kindMerge, []string{u.MergeID})
		if err != nil {
			return err
		}
		var (
			events, orders int64
			moved          = map[string]int64{} // event id → when it happened, for rows moved
		)
		for ids := range slices.Chunk(u.EventIDs, unmergeChunk) {
			if merged > 0 {
				n, err := countApplied(ctx, tx, u.WorkspaceID, kindEvent, ids)
				if err != nil {
					return err
				}
				events += n
			}
			if _, err := moveEventRows(ctx, tx, "behaviours", u, ids, moved); err != nil {
				return err
			}
			n, err := moveEventRows(ctx, tx, "orders", u, ids, moved)
			if err != nil {
				return err
			}
			orders += n
		}
		if merged == 0 {
			events = int64(len(moved))
		}

		undo := micros(u.Time)
		restored.Traits, restored.TraitTimes = traitsAsOf(restored, u.RestoredTraits, undo)
		if !restoredFound {
			restored.FirstSeen = u.Time
		}
		if len(moved) > 0 {
			times := slices.Collect(maps.Values(moved))
			first, last := fromMicros(slices.Min(times)), fromMicros(slices.Max(times))
			if !restoredFound || first.Before(restored.FirstSeen) {
				restored.FirstSeen = first
			}
			if last.After(restored.LastSeen) {
				restored.LastSeen = last
			}
		}
		if !u.RestoredFirstSeen.IsZero() {
			restored.FirstSeen = u.RestoredFirstSeen
		}
		if restored.LastSeen.Before(restored.FirstSeen) {
			restored.LastSeen = restored.FirstSeen
		}
		restored.EventCount += events
		if err := writeCustomer(ctx, tx, restored); err != nil {
			return err
		}

		survivor.Traits, survivor.TraitTimes = traitsAsOf(survivor, u.SurvivorTraits, undo)
		switch {
		case !u.SurvivorFirstSeen.IsZero():
			survivor.FirstSeen = u.SurvivorFirstSeen
		case !survivorFound:
			survivor.FirstSeen = u.Time
		}
		if survivor.LastSeen.Before(survivor.FirstSeen) {
			survivor.LastSeen = survivor.FirstSeen
		}
		// Never negative, even if events reached the two customers in
		// another order than ingestion saw them.
		survivor.EventCount = max(0, survivor.EventCount-events)
		if err := writeCustomer(ctx, tx, survivor); err != nil {
			return err
		}
		if orders > 0 {
			return bumpOrdersVersion(ctx, tx, u.WorkspaceID)
		}
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("apply unmerge %s: %w", u.UnmergeID, err)
	}
	return applied, nil
}

// traitsAsOf returns the traits an unmerge message gives c, every key
// stamped with the undo time at, except c's values set after at: the message
// is a snapshot at the undo, and per key the later value wins as always.
// That keeps a trait set after the undo when the message (or a later part of
// a restoration) is applied after the event that set it.
func traitsAsOf(c segment.Customer, traits map[string]any, at int64) (map[string]any, map[string]int64) {
	out := make(map[string]any, len(traits))
	times := make(map[string]int64, len(traits))
	for k, v := range traits {
		out[k] = v
		times[k] = at
	}
	for k, t := range c.TraitTimes {
		if t > at {
			out[k] = c.Traits[k]
			times[k] = t
		}
	}
	return out, times
}

// inList returns "$first, $first+1, …" for len(ids) parameters and the ids
// as arguments.
func inList(first int, ids []string) (string, []any) {
	var b strings.Builder
	args := make([]any, len(ids))
	for i, id := range ids {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", first+i)
		args[i] = id
	}
	return b.String(), args
}

// countApplied counts the ids among ids recorded as applied messages of kind.
func countApplied(ctx context.Context, tx *sqldb.Tx, workspaceID, kind string, ids []string) (int64, error) {
	in, args := inList(3, ids)
	var n int64
	err := tx.QueryRowContext(ctx, `SELECT count(*) FROM applied_messages
WHERE workspace_id = $1 AND kind = $2 AND message_id IN (`+in+`)`, append([]any{workspaceID, kind}, args...)...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count applied %ss: %w", kind, err)
	}
	return n, nil
}

// moveEventRows moves the rows of table (behaviours or orders) for the
// events ids from u's survivor to its restored customer, records in moved
// when each moved row's event happened, and returns how many rows moved.
// Only the survivor's rows move: a row the restored customer holds already
// needs nothing, and orders are found through their customer index rather
// than by event id.
func moveEventRows(ctx context.Context, tx *sqldb.Tx, table string, u segment.Unmerge, ids []string, moved map[string]int64) (int64, error) {
	in, args := inList(4, ids)
	rows, err := tx.QueryContext(ctx, `UPDATE `+table+` SET customer_id = $3
WHERE workspace_id = $1 AND customer_id = $2 AND event_id IN (`+in+`) RETURNING event_id, occurred_at`,
		append([]any{u.WorkspaceID, u.SurvivorID, u.RestoredID}, args...)...)
	if err != nil {
		return 0, fmt.Errorf("move %s to %s: %w", table, u.RestoredID, err)
	}
	defer rows.Close()
	var n int64
	for rows.Next() {
		var id string
		var at int64
		if err := rows.Scan(&id, &at); err != nil {
			return 0, fmt.Errorf("move %s to %s: %w", table, u.RestoredID, err)
		}
		moved[id] = at
		n++
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("move %s to %s: %w", table, u.RestoredID, err)
	}
	return n, nil
}

// leaveAll removes a customer from every segment, recording a leave change
// for each membership in the outbox.
func leaveAll(ctx context.Context, tx *sqldb.Tx, workspaceID, customerID string, newChangeID func() (string, error), now time.Time) error {
	rows, err := tx.QueryContext(ctx, `DELETE FROM memberships WHERE workspace_id = $1 AND customer_id = $2 RETURNING segment_id`,
		workspaceID, customerID)
	if err != nil {
		return fmt.Errorf("remove memberships of %s: %w", customerID, err)
	}
	segIDs, err := collectStrings(rows)
	if err != nil {
		return fmt.Errorf("remove memberships of %s: %w", customerID, err)
	}
	for _, segID := range segIDs {
		id, err := newChangeID()
		if err != nil {
			return err
		}
		c := segment.MembershipChange{ChangeID: id, WorkspaceID: workspaceID, SegmentID: segID, CustomerID: customerID, Time: now}
		if err := insertOutbox(ctx, tx, c); err != nil {
			return err
		}
	}
	return nil
}

func collectStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func insertOutbox(ctx context.Context, tx *sqldb.Tx, c segment.MembershipChange) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO membership_outbox (workspace_id, change_id, segment_id, customer_id, joined, change_time)
VALUES ($1, $2, $3, $4, $5, $6)`, c.WorkspaceID, c.ChangeID, c.SegmentID, c.CustomerID, c.Joined, micros(c.Time))
	if err != nil {
		return fmt.Errorf("write outbox change %s: %w", c.ChangeID, err)
	}
	return nil
}

// CreateSegment implements segment.Store.
func (s *Store) CreateSegment(ctx context.Context, seg segment.Segment) error {
	rule, err := json.Marshal(seg.Rule)
	if err != nil {
		return fmt.Errorf("create segment: encode rule: %w", err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO segments (workspace_id, segment_id, display_name, description, rule, is_dynamic, create_time)
VALUES ($1, $2, $3, $4, $5, $6, $7)`, seg.WorkspaceID, seg.ID, seg.DisplayName, seg.Description, string(rule), seg.Rule.Dynamic(), micros(seg.CreateTime))
	if err != nil {
		return fmt.Errorf("create segment %s: %w", seg.ID, err)
	}
	return nil
}

// segmentColumns selects a segment and its size; the size subquery uses the
// memberships primary key.
const segmentColumns = `s.segment_id, s.display_name, s.description, s.rule, s.create_time,
  (SELECT count(*) FROM memberships m WHERE m.workspace_id = s.workspace_id AND m.segment_id = s.segment_id)`

func scanSegment(row scanner, workspaceID string, withSize bool) (segment.Segment, error) {
	var (
		seg     segment.Segment
		rule    string
		created int64
	)
	dest := []any{&seg.ID, &seg.DisplayName, &seg.Description, &rule, &created}
	if withSize {
		dest = append(dest, &seg.Size)
	}
	if err := row.Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return segment.Segment{}, segment.ErrNotFound
		}
		return segment.Segment{}, fmt.Errorf("scan segment: %w", err)
	}
	seg.WorkspaceID = workspaceID
	seg.CreateTime = fromMicros(created)
	if err := json.Unmarshal([]byte(rule), &seg.Rule); err != nil {
		return segment.Segment{}, fmt.Errorf("decode rule of %s: %w", seg.ID, err)
	}
	return seg, nil
}

func (s *Store) querySegments(ctx context.Context, workspaceID string, withSize bool, query string, args ...any) ([]segment.Segment, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []segment.Segment
	for rows.Next() {
		seg, err := scanSegment(rows, workspaceID, withSize)
		if err != nil {
			return nil, err
		}
		out = append(out, seg)
	}
	return out, rows.Err()
}

// GetSegment implements segment.Store.
func (s *Store) GetSegment(ctx context.Context, workspaceID, segmentID string) (segment.Segment, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+segmentColumns+` FROM segments s WHERE s.workspace_id = $1 AND s.segment_id = $2`,
		workspaceID, segmentID)
	seg, err := scanSegment(row, workspaceID, true)
	if err != nil {
		return segment.Segment{}, fmt.Errorf("get segment %s: %w", segmentID, err)
	}
	return seg, nil
}

// ListSegments implements segment.Store.
func (s *Store) ListSegments(ctx context.Context, workspaceID, after string, limit int) ([]segment.Segment, error) {
	segs, err := s.querySegments(ctx, workspaceID, true, `SELECT `+segmentColumns+` FROM segments s
WHERE s.workspace_id = $1 AND s.segment_id > $2 ORDER BY s.segment_id LIMIT $3`, workspaceID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	return segs, nil
}

// AllSegments implements segment.Store.
func (s *Store) AllSegments(ctx context.Context, workspaceID string) ([]segment.Segment, error) {
	segs, err := s.querySegments(ctx, workspaceID, false, `SELECT s.segment_id, s.display_name, s.description, s.rule, s.create_time
FROM segments s WHERE s.workspace_id = $1 ORDER BY s.segment_id`, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("load segments: %w", err)
	}
	return segs, nil
}

// DeleteSegment implements segment.Store.
func (s *Store) DeleteSegment(ctx context.Context, workspaceID, segmentID string) error {
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		// Explicit rather than relying on ON DELETE CASCADE, which SQLite
		// honours only with foreign keys switched on.
		if _, err := tx.ExecContext(ctx, `DELETE FROM memberships WHERE workspace_id = $1 AND segment_id = $2`, workspaceID, segmentID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM segments WHERE workspace_id = $1 AND segment_id = $2`, workspaceID, segmentID)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return segment.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete segment %s: %w", segmentID, err)
	}
	return nil
}

// WorkspacesWithDynamicSegments implements segment.Store. It is one of the
// two queries that span workspaces: the sweep has to find its work.
func (s *Store) WorkspacesWithDynamicSegments(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT workspace_id FROM segments WHERE is_dynamic ORDER BY workspace_id`)
	if err != nil {
		return nil, fmt.Errorf("list workspaces with dynamic segments: %w", err)
	}
	out, err := collectStrings(rows)
	if err != nil {
		return nil, fmt.Errorf("list workspaces with dynamic segments: %w", err)
	}
	return out, nil
}

// Customer implements segment.Store.
func (s *Store) Customer(ctx context.Context, workspaceID, customerID string) (segment.Customer, error) {
	row := s.db.QueryRowContext(ctx, `SELECT customer_id, traits, trait_times, first_seen, last_seen, event_count
FROM customers WHERE workspace_id = $1 AND customer_id = $2`, workspaceID, customerID)
	c, err := scanCustomer(row, workspaceID)
	if err != nil {
		return segment.Customer{}, fmt.Errorf("get customer %s: %w", customerID, err)
	}
	return c, nil
}

// ListCustomers implements segment.Store.
func (s *Store) ListCustomers(ctx context.Context, workspaceID, after string, limit int) ([]segment.Customer, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT customer_id, traits, trait_times, first_seen, last_seen, event_count
FROM customers WHERE workspace_id = $1 AND customer_id > $2 ORDER BY customer_id LIMIT $3`, workspaceID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list customers: %w", err)
	}
	defer rows.Close()
	var out []segment.Customer
	for rows.Next() {
		c, err := scanCustomer(rows, workspaceID)
		if err != nil {
			return nil, fmt.Errorf("list customers: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list customers: %w", err)
	}
	return out, nil
}

// CountEvents implements segment.Store.
func (s *Store) CountEvents(ctx context.Context, workspaceID, customerID, name string, since time.Time) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM behaviours
WHERE workspace_id = $1 AND customer_id = $2 AND name = $3 AND occurred_at >= $4`,
		workspaceID, customerID, name, micros(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count %q events of %s: %w", name, customerID, err)
	}
	return n, nil
}

// CountEventsByCustomer implements segment.Store.
func (s *Store) CountEventsByCustomer(ctx context.Context, workspaceID, name string, since time.Time) (map[string]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT customer_id, count(*) FROM behaviours
WHERE workspace_id = $1 AND name = $2 AND occurred_at >= $3 GROUP BY customer_id`, workspaceID, name, micros(since))
	if err != nil {
		return nil, fmt.Errorf("count %q events: %w", name, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("count %q events: %w", name, err)
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("count %q events: %w", name, err)
	}
	return out, nil
}

// OrderStats implements segment.Store.
func (s *Store) OrderStats(ctx context.Context, workspaceID string) ([]segment.OrderStats, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT customer_id, count(*), sum(revenue), max(occurred_at) FROM orders
WHERE workspace_id = $1 GROUP BY customer_id ORDER BY customer_id`, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("order stats: %w", err)
	}
	defer rows.Close()
	var out []segment.OrderStats
	for rows.Next() {
		var st segment.OrderStats
		var last int64
		if err := rows.Scan(&st.CustomerID, &st.Count, &st.Revenue, &last); err != nil {
			return nil, fmt.Errorf("order stats: %w", err)
		}
		st.LastOrder = fromMicros(last)
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("order stats: %w", err)
	}
	return out, nil
}

// CustomerOrderStats implements segment.Store.
func (s *Store) CustomerOrderStats(ctx context.Context, workspaceID, customerID string) (segment.OrderStats, error) {
	st := segment.OrderStats{CustomerID: customerID}
	var last int64
	err := s.db.QueryRowContext(ctx, `SELECT count(*), COALESCE(sum(revenue), 0), COALESCE(max(occurred_at), 0) FROM orders
WHERE workspace_id = $1 AND customer_id = $2`, workspaceID, customerID).Scan(&st.Count, &st.Revenue, &last)
	if err != nil {
		return segment.OrderStats{}, fmt.Errorf("order stats of %s: %w", customerID, err)
	}
	if st.Count > 0 {
		st.LastOrder = fromMicros(last)
	}
	return st, nil
}

// OrdersVersion implements segment.Store.
func (s *Store) OrdersVersion(ctx context.Context, workspaceID string) (int64, error) {
	var v int64
	err := s.db.QueryRowContext(ctx, `SELECT version FROM orders_versions WHERE workspace_id = $1`, workspaceID).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("orders version: %w", err)
	}
	return v, nil
}

// CustomerSegmentIDs implements segment.Store.
func (s *Store) CustomerSegmentIDs(ctx context.Context, workspaceID, customerID string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT segment_id FROM memberships WHERE workspace_id = $1 AND customer_id = $2 ORDER BY segment_id`,
		workspaceID, customerID)
	if err != nil {
		return nil, fmt.Errorf("memberships of %s: %w", customerID, err)
	}
	ids, err := collectStrings(rows)
	if err != nil {
		return nil, fmt.Errorf("memberships of %s: %w", customerID, err)
	}
	return ids, nil
}

// MembershipsInRange implements segment.Store.
func (s *Store) MembershipsInRange(ctx context.Context, workspaceID, after, upTo string) ([]segment.Membership, error) {
	query := `SELECT segment_id, customer_id FROM memberships WHERE workspace_id = $1 AND customer_id > $2`
	args := []any{workspaceID, after}
	if upTo != "" {
		query += ` AND customer_id <= $3`
		args = append(args, upTo)
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("memberships in range: %w", err)
	}
	defer rows.Close()
	var out []segment.Membership
	for rows.Next() {
		var m segment.Membership
		if err := rows.Scan(&m.SegmentID, &m.CustomerID); err != nil {
			return nil, fmt.Errorf("memberships in range: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("memberships in range: %w", err)
	}
	return out, nil
}

// ApplyChanges implements segment.Store.
func (s *Store) ApplyChanges(ctx context.Context, changes []segment.MembershipChange) ([]segment.MembershipChange, error) {
	var applied []segment.MembershipChange
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		applied = applied[:0]
		for _, c := range changes {
			var res sql.Result
			var err error
			if c.Joined {
				// The EXISTS guard skips segments deleted since evaluation
				// began; the casts give PostgreSQL types for bare parameters.
				res, err = tx.ExecContext(ctx, `INSERT INTO memberships (workspace_id, segment_id, customer_id, join_time)
SELECT CAST($1 AS TEXT), CAST($2 AS TEXT), CAST($3 AS TEXT), CAST($4 AS BIGINT)
WHERE EXISTS (SELECT 1 FROM segments WHERE workspace_id = $1 AND segment_id = $2)
ON CONFLICT DO NOTHING`, c.WorkspaceID, c.SegmentID, c.CustomerID, micros(c.Time))
			} else {
				res, err = tx.ExecContext(ctx, `DELETE FROM memberships WHERE workspace_id = $1 AND segment_id = $2 AND customer_id = $3`,
					c.WorkspaceID, c.SegmentID, c.CustomerID)
			}
			if err != nil {
				return fmt.Errorf("change membership of %s in %s: %w", c.CustomerID, c.SegmentID, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("change membership of %s in %s: %w", c.CustomerID, c.SegmentID, err)
			}
			if n == 0 {
				continue // already so: nothing changed, nothing to announce
			}
			if err := insertOutbox(ctx, tx, c); err != nil {
				return err
			}
			applied = append(applied, c)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("apply membership changes: %w", err)
	}
	return applied, nil
}

// ListMembers implements segment.Store.
func (s *Store) ListMembers(ctx context.Context, workspaceID, segmentID, after string, limit int) ([]segment.Member, int64, error) {
	var total int64
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM memberships WHERE workspace_id = $1 AND segment_id = $2`,
		workspaceID, segmentID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count members of %s: %w", segmentID, err)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT customer_id, join_time FROM memberships
WHERE workspace_id = $1 AND segment_id = $2 AND customer_id > $3 ORDER BY customer_id LIMIT $4`, workspaceID, segmentID, after, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("list members of %s: %w", segmentID, err)
	}
	defer rows.Close()
	var out []segment.Member
	for rows.Next() {
		var m segment.Member
		var joined int64
		if err := rows.Scan(&m.CustomerID, &joined); err != nil {
			return nil, 0, fmt.Errorf("list members of %s: %w", segmentID, err)
		}
		m.JoinTime = fromMicros(joined)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("list members of %s: %w", segmentID, err)
	}
	return out, total, nil
}

// CustomerSegments implements segment.Store.
func (s *Store) CustomerSegments(ctx context.Context, workspaceID, customerID string) ([]segment.Segment, error) {
	segs, err := s.querySegments(ctx, workspaceID, true, `SELECT `+segmentColumns+` FROM segments s
JOIN memberships cm ON cm.workspace_id = s.workspace_id AND cm.segment_id = s.segment_id
WHERE s.workspace_id = $1 AND cm.customer_id = $2 ORDER BY s.segment_id`, workspaceID, customerID)
	if err != nil {
		return nil, fmt.Errorf("segments of customer %s: %w", customerID, err)
	}
	return segs, nil
}

// PendingChanges implements segment.Store. Like the sweep's workspace
// listing it spans workspaces: the relay serves all of them.
func (s *Store) PendingChanges(ctx context.Context, limit int) ([]segment.MembershipChange, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT workspace_id, change_id, segment_id, customer_id, joined, change_time
FROM membership_outbox ORDER BY change_id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("pending changes: %w", err)
	}
	defer rows.Close()
	var out []segment.MembershipChange
	for rows.Next() {
		var c segment.MembershipChange
		var at int64
		if err := rows.Scan(&c.WorkspaceID, &c.ChangeID, &c.SegmentID, &c.CustomerID, &c.Joined, &at); err != nil {
			return nil, fmt.Errorf("pending changes: %w", err)
		}
		c.Time = fromMicros(at)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pending changes: %w", err)
	}
	return out, nil
}

// DeleteChanges implements segment.Store.
func (s *Store) DeleteChanges(ctx context.Context, changes []segment.MembershipChange) error {
	if len(changes) == 0 {
		return nil
	}
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		for _, c := range changes {
			if _, err := tx.ExecContext(ctx, `DELETE FROM membership_outbox WHERE workspace_id = $1 AND change_id = $2`,
				c.WorkspaceID, c.ChangeID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete published changes: %w", err)
	}
	return nil
}
