// Package store is segmentation's SQL store: one implementation of
// segment.Store written against platform/sqldb, run on SQLite and
// PostgreSQL alike, with its migrations embedded.
package store

import (
	"cmp"
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
	// analyzer keeps PostgreSQL's planner statistics of the tables every
	// batch of events writes current while they are young (nil on
	// SQLite). Until autovacuum first analyzed a new customers table, the
	// lock a batch takes on its customers (lockEventCustomers) was planned
	// as a scan of the whole workspace filtered against the batch's ids:
	// 16–25 ms of server CPU per batch of 200 events at 5,000 customers
	// (docs/BENCHMARKS.md, session of 2026-12-07 17:10 UTC), as
	// ingestion's duplicate check was.
	analyzer *sqldb.Analyzer
	// memberships does the same for the memberships table, which every
	// evaluation reads by the batch's customers (SegmentIDsOf): with the
	// statistics of a young table the read was planned as a scan of the
	// workspace's memberships filtered against the batch's ids, 11–47 ms
	// of server time per batch of 100 customers at 5,000–10,000
	// customers (docs/BENCHMARKS.md, helper branch pg-live). A separate
	// analyzer, as memberships grow with changes, not with events.
	memberships *sqldb.Analyzer
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
	return &Store{db: db, analyzer: sqldb.NewAnalyzer(db, "customers", "behaviours", "applied_messages"),
		memberships: sqldb.NewAnalyzer(db, "memberships")}, nil
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
	res, err := tx.ExecPrepared(ctx, `INSERT INTO applied_messages (workspace_id, kind, message_id, applied_at)
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

// bumpOrdersVersion adds n, the orders a transaction changed, to the
// workspace's orders version.
func bumpOrdersVersion(ctx context.Context, tx *sqldb.Tx, workspaceID string, n int64) error {
	_, err := tx.ExecPrepared(ctx, `INSERT INTO orders_versions (workspace_id, version) VALUES ($1, $2)
ON CONFLICT (workspace_id) DO UPDATE SET version = orders_versions.version + excluded.version`, workspaceID, n)
	if err != nil {
		return fmt.Errorf("bump orders version: %w", err)
	}
	return nil
}

func bumpSegmentsVersion(ctx context.Context, tx *sqldb.Tx, workspaceID string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO segments_versions (workspace_id, version) VALUES ($1, 1)
ON CONFLICT (workspace_id) DO UPDATE SET version = segments_versions.version + 1`, workspaceID)
	if err != nil {
		return fmt.Errorf("bump segments version: %w", err)
	}
	return nil
}

// lockOrCreateCustomers reads the customers ids for update, in id order,
// for a writer that writes every one of them: one with no row gets an
// empty one first (createCustomers). found tells which had a row; the
// others are returned with empty, non-nil maps.
func lockOrCreateCustomers(ctx context.Context, tx *sqldb.Tx, workspaceID string, ids ...string) (map[string]segment.Customer, map[string]bool, error) {
	created, err := createCustomers(ctx, tx, workspaceID, ids, nil)
	if err != nil {
		return nil, nil, err
	}
	locked, err := lockCustomers(ctx, tx, workspaceID, ids)
	if err != nil {
		return nil, nil, err
	}
	found := map[string]bool{}
	for _, id := range ids {
		if _, ok := locked[id]; ok && !created[id] {
			found[id] = true
			continue
		}
		locked[id] = segment.Customer{WorkspaceID: workspaceID, ID: id, Traits: map[string]any{}, TraitTimes: map[string]int64{}}
	}
	return locked, found, nil
}

// createCustomers inserts an empty row (no traits, no events, seen at the
// times in at, or 0) for each of the customers ids that has none, in id
// order, and returns those it created. Every writer of customer rows on
// PostgreSQL first creates those it takes that have no row, then locks
// them all, each pass in id order, so that:
//   - a customer with no row yet is still a row two writers meet: an
//     insert waits for another transaction's uncommitted one of the same
//     key, where a lock finds nothing to wait for. A merge or erasure
//     makes rows of the customers it retires that have none (deleting
//     them with the rest), so a batch creating one of them waits for it
//     and then sees its record (retiredTargets), and one that comes
//     after the batch finds the batch's row and moves or deletes it.
//   - no two writers deadlock: each takes the rows it creates, then the
//     rows it locks, in one order. Created when written, after the
//     locks, a row would be taken out of that order.
func createCustomers(ctx context.Context, tx *sqldb.Tx, workspaceID string, ids []string, at map[string]seen) (map[string]bool, error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	created := map[string]bool{}
	err := tx.QueryRows(ctx, `INSERT INTO customers (workspace_id, customer_id, traits, trait_times, first_seen, last_seen, event_count)`,
		`ON CONFLICT DO NOTHING RETURNING customer_id`, 7, len(ids), func(args []any, i int) ([]any, error) {
			s := at[ids[i]]
			return append(args, workspaceID, ids[i], "{}", "{}", s.first, s.last, 0), nil
		}, func(row sqldb.RowScanner) error {
			var id string
			err := row.Scan(&id)
			created[id] = true
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("create customers: %w", err)
	}
	return created, nil
}

// deleteCustomerRows deletes the rows of customers ids (sorted), in
// chunks.
func deleteCustomerRows(ctx context.Context, tx *sqldb.Tx, workspaceID string, ids []string) error {
	for chunk := range slices.Chunk(ids, mergeChunk) {
		in, args := sqldb.InList(2, chunk)
		if _, err := tx.ExecContext(ctx, `DELETE FROM customers WHERE workspace_id = $1 AND customer_id IN (`+in+`)`,
			append([]any{workspaceID}, args...)...); err != nil {
			return fmt.Errorf("delete %d customers: %w", len(chunk), err)
		}
	}
	return nil
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

// ApplyMerge implements segment.Store. Its statements are set-based over
// the merged customers, so a merge costs the same few statements whatever
// the number of customers it folds in (per chunk of mergeChunk).
//
// A merge can come after its survivor was merged away in turn or erased
// (a redelivery, or another replica's message): the merged customers then
// go where the survivor's facts went, the end of its chain of merges, as
// their late events do, and the survivor is not re-created. When the
// chain ends in an erasure, the merged customers are erased (as
// EraseCustomers erases, and recorded so): they are the erased person,
// and whatever of theirs this replica still holds (the erasure may not
// have listed them, or their events came after it) must not stay, nor be
// folded into anyone.
func (s *Store) ApplyMerge(ctx context.Context, m segment.Merge, now time.Time) (string, bool, error) {
	var applied bool
	var into string
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		var err error
		if applied, err = markApplied(ctx, tx, m.WorkspaceID, kindMerge, m.MergeID, now); err != nil {
			return err
		}
		if !applied { // the engine re-evaluates where the survivor's facts are now
			into, err = survivorOf(ctx, tx, m.WorkspaceID, m.SurvivorID)
			return err
		}
		into, err = applyMerge(ctx, tx, m, now)
		return err
	})
	if err != nil {
		return "", false, fmt.Errorf("apply merge %s: %w", m.MergeID, err)
	}
	return into, applied, nil
}

// survivorOf returns where the events of id go: id, or the last survivor
// of its chain of merges, or erased.
func survivorOf(ctx context.Context, tx *sqldb.Tx, workspaceID, id string) (string, error) {
	to, err := survivorChains(ctx, tx, workspaceID, []string{id})
	if err != nil {
		return "", err
	}
	if s, ok := to[id]; ok {
		return s, nil
	}
	return id, nil
}

// applyMerge is ApplyMerge's work once the merge is recorded as applied.
// It returns the customer the merged ones were folded into, erased when
// none.
func applyMerge(ctx context.Context, tx *sqldb.Tx, m segment.Merge, now time.Time) (string, error) {
	undone, err := unmergedCustomers(ctx, tx, m.WorkspaceID, m.MergeID)
	if err != nil {
		return "", err
	}
	var (
		into    = m.SurvivorID
		ids     []string
		locked  = map[string]segment.Customer{}
		created = map[string]bool{} // rows made only to be locked in order (createCustomers)
	)
	// The survivor's chain is read after its row is locked: a merge or
	// erasure of it in flight on another replica holds that row, so its
	// record is seen once it commits. A survivor found retired is followed
	// to the end of its chain, whose row is then locked after the merged
	// customers' (out of id order, in this rare case only).
	for range maxSurvivorChain {
		// The survivors and any id restored by an undo of this merge stay.
		skip := map[string]bool{m.SurvivorID: true, into: true}
		ids = ids[:0]
		for _, id := range m.MergedIDs {
			if !undone[id] && !skip[id] {
				skip[id] = true
				ids = append(ids, id)
			}
		}
		// The merged customers with no row get one too: a batch creating
		// one of them waits for this merge (see createCustomers).
		take := append(slices.Clone(ids), into)
		made, err := createCustomers(ctx, tx, m.WorkspaceID, take, nil)
		if err != nil {
			return "", err
		}
		maps.Copy(created, made)
		rows, err := lockCustomers(ctx, tx, m.WorkspaceID, take)
		if err != nil {
			return "", err
		}
		maps.Copy(locked, rows)
		end, err := survivorOf(ctx, tx, m.WorkspaceID, into)
		if err != nil {
			return "", err
		}
		if end == into {
			break
		}
		if created[into] { // the retired survivor's empty row
			if err := deleteCustomerRows(ctx, tx, m.WorkspaceID, []string{into}); err != nil {
				return "", fmt.Errorf("delete retired survivor %s: %w", into, err)
			}
			delete(created, into)
		}
		delete(locked, into)
		if end == erased {
			// The merged customers are the erased person: what this
			// replica still holds of them goes as the erasure's did, and
			// their late events are dropped.
			if len(ids) == 0 {
				return erased, nil
			}
			_, err := eraseCustomers(ctx, tx, m.WorkspaceID, ids, now)
			return erased, err
		}
		into = end
	}
	survivor, found := locked[into]
	if created[into] {
		survivor, found = segment.Customer{WorkspaceID: m.WorkspaceID, ID: into, Traits: map[string]any{}, TraitTimes: map[string]int64{}}, false
	}
	for _, id := range ids { // in message order: on a tie of trait times the later customer wins
		if c, ok := locked[id]; ok && !created[id] {
			segment.MergeCustomer(&survivor, c)
			found = true
		}
	}
	ordersMoved := false
	var behaviourMoved []string // merged customers whose behaviour moved
	// In id order, not the message's: each chunk locks its customers'
	// memberships (leaveAll), which must be taken in one order across
	// chunks, as ApplyChanges takes them.
	for chunk := range slices.Chunk(slices.Sorted(slices.Values(ids)), mergeChunk) {
		in, idArgs := sqldb.InList(2, chunk)
		if _, err := tx.ExecContext(ctx, `DELETE FROM customers WHERE workspace_id = $1 AND customer_id IN (`+in+`)`,
			append([]any{m.WorkspaceID}, idArgs...)...); err != nil {
			return "", fmt.Errorf("delete merged customers: %w", err)
		}
		in, _ = sqldb.InList(3, chunk)
		args := append([]any{m.WorkspaceID, into}, idArgs...)
		res, err := tx.ExecContext(ctx, `UPDATE behaviours SET customer_id = $2 WHERE workspace_id = $1 AND customer_id IN (`+in+`)`, args...)
		if err != nil {
			return "", fmt.Errorf("move behaviour of merged customers: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return "", fmt.Errorf("move behaviour of merged customers: %w", err)
		} else if n > 0 {
			behaviourMoved = append(behaviourMoved, chunk...)
		}
		res, err = tx.ExecContext(ctx, `UPDATE orders SET customer_id = $2 WHERE workspace_id = $1 AND customer_id IN (`+in+`)`, args...)
		if err != nil {
			return "", fmt.Errorf("move orders of merged customers: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return "", fmt.Errorf("move orders of merged customers: %w", err)
		} else if n > 0 {
			ordersMoved = true
		}
		if err := leaveAll(ctx, tx, m.WorkspaceID, chunk, now); err != nil {
			return "", err
		}
	}
	// Late events of the merged customers go to the survivor, and on along
	// its chain. The record names the merge's own survivor, as ingestion
	// does: an undo of the survivor's merge sends them to it again.
	if err := retireMerged(ctx, tx, m.WorkspaceID, m.SurvivorID, m.MergeID, ids, now); err != nil {
		return "", err
	}
	switch {
	case found:
		if err := writeCustomer(ctx, tx, survivor); err != nil {
			return "", err
		}
	case created[into]: // nothing to fold in: the survivor stays without a row
		if err := deleteCustomerRows(ctx, tx, m.WorkspaceID, []string{into}); err != nil {
			return "", fmt.Errorf("delete empty survivor %s: %w", into, err)
		}
	}
	if ordersMoved {
		if err := bumpOrdersVersion(ctx, tx, m.WorkspaceID, 1); err != nil {
			return "", err
		}
	}
	if _, err := nextMembershipsVersion(ctx, tx, m.WorkspaceID); err != nil { // last but one: see nextMembershipsVersion
		return "", err
	}
	if len(behaviourMoved) > 0 { // last: see nextBehavioursVersion
		if err := logBehaviourChanges(ctx, tx, m.WorkspaceID, append(behaviourMoved, into)); err != nil {
			return "", err
		}
	}
	return into, nil
}

// mergeChunk bounds the customer ids bound in one statement of a merge,
// under SQLite's smallest bind-parameter limit (999, before 3.32).
const mergeChunk = 500

// lockCustomers reads the customers ids that exist, for update. On
// PostgreSQL the rows are locked in id order, so two transactions locking
// overlapping sets cannot deadlock on them.
func lockCustomers(ctx context.Context, tx *sqldb.Tx, workspaceID string, ids []string) (map[string]segment.Customer, error) {
	out := make(map[string]segment.Customer, len(ids))
	for chunk := range slices.Chunk(slices.Sorted(slices.Values(ids)), mergeChunk) {
		in, args := sqldb.InList(2, chunk)
		rows, err := tx.QueryContext(ctx, `SELECT customer_id, traits, trait_times, first_seen, last_seen, event_count
FROM customers WHERE workspace_id = $1 AND customer_id IN (`+in+`) ORDER BY `+tx.Dialect.ByteOrder("customer_id")+forUpdate(tx.Dialect),
			append([]any{workspaceID}, args...)...)
		if err != nil {
			return nil, fmt.Errorf("lock customers: %w", err)
		}
		for rows.Next() {
			c, err := scanCustomer(rows, workspaceID)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("lock customers: %w", err)
			}
			out[c.ID] = c
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("lock customers: %w", err)
		}
	}
	return out, nil
}

// unmergedCustomers returns the customers restored by undoing the merge
// mergeID so far.
func unmergedCustomers(ctx context.Context, tx *sqldb.Tx, workspaceID, mergeID string) (map[string]bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT customer_id FROM unmerged_customers WHERE workspace_id = $1 AND merge_id = $2`,
		workspaceID, mergeID)
	if err != nil {
		return nil, fmt.Errorf("read undone merge %s: %w", mergeID, err)
	}
	ids, err := sqldb.Strings(rows, nil)
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
		if err := restoreUnmerged(ctx, tx, u.WorkspaceID, u.MergeID, u.RestoredID); err != nil {
			return err
		}
		locked, found, err := lockOrCreateCustomers(ctx, tx, u.WorkspaceID, u.SurvivorID, u.RestoredID)
		if err != nil {
			return err
		}
		survivor, survivorFound := locked[u.SurvivorID], found[u.SurvivorID]
		restored, restoredFound := locked[u.RestoredID], found[u.RestoredID]
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
			behaviourMoved bool
		)
		for ids := range slices.Chunk(u.EventIDs, unmergeChunk) {
			if merged > 0 {
				n, err := countApplied(ctx, tx, u.WorkspaceID, kindEvent, ids)
				if err != nil {
					return err
				}
				events += n
			}
			n, err := moveEventRows(ctx, tx, "behaviours", u, ids, moved)
			if err != nil {
				return err
			}
			behaviourMoved = behaviourMoved || n > 0
			n, err = moveEventRows(ctx, tx, "orders", u, ids, moved)
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
			if err := bumpOrdersVersion(ctx, tx, u.WorkspaceID, 1); err != nil {
				return err
			}
		}
		if behaviourMoved { // last: see nextBehavioursVersion
			return logBehaviourChanges(ctx, tx, u.WorkspaceID, []string{u.SurvivorID, u.RestoredID})
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

// countApplied counts the ids among ids recorded as applied messages of kind.
func countApplied(ctx context.Context, tx *sqldb.Tx, workspaceID, kind string, ids []string) (int64, error) {
	in, args := sqldb.InList(3, ids)
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
	in, args := sqldb.InList(4, ids)
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

// leaveAll removes the customers ids from every segment, recording a leave
// change for each membership in the outbox.
func leaveAll(ctx context.Context, tx *sqldb.Tx, workspaceID string, ids []string, now time.Time) error {
	in, args := sqldb.InList(2, ids)
	// The rows are locked in (customer, segment) order first, as
	// ApplyChanges writes them: the DELETE locks them in plan order and
	// could deadlock with an evaluation or a sweep on another replica.
	if tx.Dialect == sqldb.Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT 1 FROM memberships WHERE workspace_id = $1 AND customer_id IN (`+in+`)
ORDER BY `+tx.Dialect.ByteOrder("customer_id", "segment_id")+` FOR UPDATE`, append([]any{workspaceID}, args...)...); err != nil {
			return fmt.Errorf("lock memberships: %w", err)
		}
	}
	rows, err := tx.QueryContext(ctx, `DELETE FROM memberships WHERE workspace_id = $1 AND customer_id IN (`+in+`)
RETURNING customer_id, segment_id`, append([]any{workspaceID}, args...)...)
	if err != nil {
		return fmt.Errorf("remove memberships: %w", err)
	}
	defer rows.Close()
	var changes []segment.MembershipChange
	for rows.Next() {
		c := segment.MembershipChange{WorkspaceID: workspaceID, Time: now}
		if err := rows.Scan(&c.CustomerID, &c.SegmentID); err != nil {
			return fmt.Errorf("remove memberships: %w", err)
		}
		changes = append(changes, c)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("remove memberships: %w", err)
	}
	rows.Close()
	// Ids in a stable order, so the outbox announces them in one.
	slices.SortFunc(changes, func(a, b segment.MembershipChange) int {
		return cmp.Or(strings.Compare(a.CustomerID, b.CustomerID), strings.Compare(a.SegmentID, b.SegmentID))
	})
	for i := range changes {
		if changes[i].ChangeID, err = segment.NewChangeID(); err != nil {
			return err
		}
	}
	return insertOutbox(ctx, tx, changes...)
}

// insertOutbox writes changes to the outbox and the membership history,
// with multi-row statements.
func insertOutbox(ctx context.Context, tx *sqldb.Tx, changes ...segment.MembershipChange) error {
	err := tx.InsertRows(ctx, `INSERT INTO membership_history (workspace_id, segment_id, change_id, change_time, delta)`, "", 5, len(changes),
		func(args []any, i int) ([]any, error) {
			c := changes[i]
			delta := -1
			if c.Joined {
				delta = 1
			}
			return append(args, c.WorkspaceID, c.SegmentID, c.ChangeID, micros(c.Time), delta), nil
		})
	if err != nil {
		return fmt.Errorf("write membership history: %w", err)
	}
	err = tx.InsertRows(ctx, `INSERT INTO membership_outbox (workspace_id, change_id, segment_id, customer_id, joined, change_time)`, "", 6, len(changes),
		func(args []any, i int) ([]any, error) {
			c := changes[i]
			return append(args, c.WorkspaceID, c.ChangeID, c.SegmentID, c.CustomerID, c.Joined, micros(c.Time)), nil
		})
	if err != nil {
		return fmt.Errorf("write outbox changes: %w", err)
	}
	return nil
}

// CreateSegment implements segment.Store.
func (s *Store) CreateSegment(ctx context.Context, seg segment.Segment) error {
	rule, err := json.Marshal(seg.Rule)
	if err != nil {
		return fmt.Errorf("create segment: encode rule: %w", err)
	}
	err = s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		if _, err := insertSegment(ctx, tx, seg, rule, ""); err != nil {
			return err
		}
		return bumpSegmentsVersion(ctx, tx, seg.WorkspaceID)
	})
	if err != nil {
		return fmt.Errorf("create segment %s: %w", seg.ID, err)
	}
	return nil
}

// insertSegment inserts a segment row (with onConflict appended, if any)
// and reports whether a row was written.
func insertSegment(ctx context.Context, tx *sqldb.Tx, seg segment.Segment, rule []byte, onConflict string) (bool, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO segments (workspace_id, segment_id, display_name, description, rule, is_dynamic, create_time, built_in)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`+onConflict,
		seg.WorkspaceID, seg.ID, seg.DisplayName, seg.Description, string(rule), seg.Rule.Dynamic(), micros(seg.CreateTime), seg.BuiltIn)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// EnsureSegments implements segment.Store.
func (s *Store) EnsureSegments(ctx context.Context, workspaceID string, segs []segment.Segment) ([]string, error) {
	var created []string
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		created = created[:0]
		for _, seg := range segs {
			rule, err := json.Marshal(seg.Rule)
			if err != nil {
				return fmt.Errorf("encode rule: %w", err)
			}
			seg.WorkspaceID = workspaceID
			ok, err := insertSegment(ctx, tx, seg, rule, " ON CONFLICT DO NOTHING")
			if err != nil {
				return err
			}
			if ok {
				created = append(created, seg.ID)
			}
		}
		if len(created) == 0 {
			return nil
		}
		return bumpSegmentsVersion(ctx, tx, workspaceID)
	})
	if err != nil {
		return nil, fmt.Errorf("ensure segments: %w", err)
	}
	return created, nil
}

// UpdateSegment implements segment.Store.
func (s *Store) UpdateSegment(ctx context.Context, seg segment.Segment) error {
	rule, err := json.Marshal(seg.Rule)
	if err != nil {
		return fmt.Errorf("update segment: encode rule: %w", err)
	}
	err = s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE segments SET display_name = $3, description = $4, rule = $5, is_dynamic = $6
WHERE workspace_id = $1 AND segment_id = $2`, seg.WorkspaceID, seg.ID, seg.DisplayName, seg.Description, string(rule), seg.Rule.Dynamic())
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return segment.ErrNotFound
		}
		return bumpSegmentsVersion(ctx, tx, seg.WorkspaceID)
	})
	if err != nil {
		return fmt.Errorf("update segment %s: %w", seg.ID, err)
	}
	return nil
}

// segmentColumns selects a segment and its size; the size subquery uses the
// memberships primary key.
const segmentColumns = `s.segment_id, s.display_name, s.description, s.rule, s.create_time, s.built_in,
  (SELECT count(*) FROM memberships m WHERE m.workspace_id = s.workspace_id AND m.segment_id = s.segment_id)`

func scanSegment(row scanner, workspaceID string, withSize bool) (segment.Segment, error) {
	var (
		seg     segment.Segment
		rule    string
		created int64
	)
	dest := []any{&seg.ID, &seg.DisplayName, &seg.Description, &rule, &created, &seg.BuiltIn}
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
	segs, err := s.querySegments(ctx, workspaceID, false, `SELECT s.segment_id, s.display_name, s.description, s.rule, s.create_time, s.built_in
FROM segments s WHERE s.workspace_id = $1 ORDER BY s.segment_id`, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("load segments: %w", err)
	}
	return segs, nil
}

// SegmentsVersion implements segment.Store.
func (s *Store) SegmentsVersion(ctx context.Context, workspaceID string) (int64, error) {
	var v int64
	err := s.db.QueryRowContext(ctx, `SELECT version FROM segments_versions WHERE workspace_id = $1`, workspaceID).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("segments version: %w", err)
	}
	return v, nil
}

// DeleteSegment implements segment.Store.
func (s *Store) DeleteSegment(ctx context.Context, workspaceID, segmentID string) error {
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		// Memberships go by ON DELETE CASCADE.
		res, err := tx.ExecContext(ctx, `DELETE FROM segments WHERE workspace_id = $1 AND segment_id = $2`, workspaceID, segmentID)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM membership_history WHERE workspace_id = $1 AND segment_id = $2`, workspaceID, segmentID); err != nil {
			return err
		}
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
		if err := bumpSegmentsVersion(ctx, tx, workspaceID); err != nil {
			return err
		}
		_, err = nextMembershipsVersion(ctx, tx, workspaceID) // its memberships went too
		return err
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
	out, err := sqldb.Strings(rows, nil)
	if err != nil {
		return nil, fmt.Errorf("list workspaces with dynamic segments: %w", err)
	}
	return out, nil
}

// Customer implements segment.Store.
func (s *Store) Customer(ctx context.Context, workspaceID, customerID string) (segment.Customer, error) {
	found, err := s.CustomersOf(ctx, workspaceID, []string{customerID})
	if err != nil {
		return segment.Customer{}, err
	}
	c, ok := found[customerID]
	if !ok {
		return segment.Customer{}, fmt.Errorf("get customer %s: %w", customerID, segment.ErrNotFound)
	}
	return c, nil
}

// ListCustomerTraits implements segment.Store. The traits documents are
// read only when keys names some, and then only those traits decoded.
func (s *Store) ListCustomerTraits(ctx context.Context, workspaceID, after string, limit int, keys []string) ([]segment.CustomerTraits, error) {
	columns := "customer_id"
	if len(keys) > 0 {
		columns += ", traits"
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+`
FROM customers WHERE workspace_id = $1 AND customer_id > $2 ORDER BY customer_id LIMIT $3`, workspaceID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list customer traits: %w", err)
	}
	defer rows.Close()
	out := make([]segment.CustomerTraits, 0, limit)
	var traits sql.RawBytes // valid until the next row: DecodeTraits keeps none of it
	for rows.Next() {
		var c segment.CustomerTraits
		if len(keys) == 0 {
			err = rows.Scan(&c.ID)
		} else if err = rows.Scan(&c.ID, &traits); err == nil {
			c.Traits, err = segment.DecodeTraits(traits, keys)
		}
		if err != nil {
			return nil, fmt.Errorf("list customer traits: customer %s: %w", c.ID, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list customer traits: %w", err)
	}
	return out, nil
}

// CustomerBehaviours implements segment.Store.
func (s *Store) CustomerBehaviours(ctx context.Context, workspaceID, customerID string, names []string, since time.Time) ([]segment.Behaviour, error) {
	return s.BehavioursOf(ctx, workspaceID, []string{customerID}, names, since)
}

// BehavioursInRange implements segment.Store.
func (s *Store) BehavioursInRange(ctx context.Context, workspaceID string, names []string, since time.Time, after, upTo string) ([]segment.Behaviour, error) {
	where, args := `customer_id > $2`, []any{after}
	if upTo != "" {
		where, args = `customer_id > $2 AND customer_id <= $3`, []any{after, upTo}
	}
	out, err := s.behaviours(ctx, where, args, workspaceID, names, since)
	if err != nil {
		return nil, fmt.Errorf("behaviour of customers after %q: %w", after, err)
	}
	return out, nil
}

// maxDecodedProperties bounds the distinct property texts one read of
// behaviours keeps decoded for reuse.
const maxDecodedProperties = 4096

// behaviours reads the behaviour rows matching where (over parameters $2…
// given by args) with one of the names, at or after since, by customer and
// time. The names are bound in chunks; each chunk is one range scan of the
// behaviours_by_customer index per customer.
func (s *Store) behaviours(ctx context.Context, where string, args []any, workspaceID string, names []string, since time.Time) ([]segment.Behaviour, error) {
	var out []segment.Behaviour
	// Events of a shop repeat their properties (the same category, product
	// and price on many rows), and decoding JSON was half the cost of
	// reading events back: one decoded map per distinct text, shared
	// read-only by the rows carrying it, bounded so unique properties
	// (order ids) cost a map lookup each and no memory.
	decoded := map[string]map[string]any{}
	for chunk := range slices.Chunk(names, mergeChunk) {
		a := append([]any{workspaceID}, args...)
		a = append(a, micros(since))
		sinceParam := len(a)
		in, nameArgs := sqldb.InList(len(a)+1, chunk)
		rows, err := s.db.QueryContext(ctx, fmt.Sprintf(`SELECT customer_id, name, occurred_at, properties FROM behaviours
WHERE workspace_id = $1 AND %s AND name IN (%s) AND occurred_at >= $%d ORDER BY customer_id, occurred_at, %s`, where, in, sinceParam, s.db.Dialect.ByteOrder("event_id")),
			append(a, nameArgs...)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var b segment.Behaviour
			var at int64
			var props string
			if err := rows.Scan(&b.CustomerID, &b.Name, &at, &props); err != nil {
				rows.Close()
				return nil, err
			}
			b.Time = fromMicros(at)
			if props != "{}" {
				var ok bool
				if b.Properties, ok = decoded[props]; !ok {
					if err := json.Unmarshal([]byte(props), &b.Properties); err != nil {
						rows.Close()
						return nil, fmt.Errorf("decode properties: %w", err)
					}
					if len(decoded) < maxDecodedProperties {
						decoded[props] = b.Properties
					}
				}
			}
			out = append(out, b)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	if len(names) > mergeChunk { // chunks interleave customers and times
		slices.SortStableFunc(out, func(a, b segment.Behaviour) int {
			return cmp.Or(strings.Compare(a.CustomerID, b.CustomerID), a.Time.Compare(b.Time))
		})
	}
	return out, nil
}

// orderStatsQuery aggregates orders per customer, with the time of the
// order before the last one (row_number over each customer's orders,
// newest first; both backends have window functions).
const orderStatsQuery = `SELECT customer_id, count(*), sum(revenue), max(occurred_at),
  COALESCE(max(CASE WHEN rn = 2 THEN occurred_at END), 0)
FROM (SELECT customer_id, revenue, occurred_at,
        row_number() OVER (PARTITION BY customer_id ORDER BY occurred_at DESC, order_id) AS rn
      FROM orders WHERE workspace_id = $1 %s) o
GROUP BY customer_id ORDER BY customer_id`

// OrderStats implements segment.Store.
func (s *Store) OrderStats(ctx context.Context, workspaceID string) ([]segment.OrderStats, error) {
	out, err := s.orderStats(ctx, fmt.Sprintf(orderStatsQuery, ""), workspaceID)
	if err != nil {
		return nil, fmt.Errorf("order stats: %w", err)
	}
	return out, nil
}

// CustomerOrderStats implements segment.Store.
func (s *Store) CustomerOrderStats(ctx context.Context, workspaceID, customerID string) (segment.OrderStats, error) {
	stats, err := s.OrderStatsOf(ctx, workspaceID, []string{customerID})
	if err != nil {
		return segment.OrderStats{}, err
	}
	if st, ok := stats[customerID]; ok {
		return st, nil
	}
	return segment.OrderStats{CustomerID: customerID}, nil
}

func (s *Store) orderStats(ctx context.Context, query string, args ...any) ([]segment.OrderStats, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []segment.OrderStats
	for rows.Next() {
		var st segment.OrderStats
		var last, prev int64
		if err := rows.Scan(&st.CustomerID, &st.Count, &st.Revenue, &last, &prev); err != nil {
			return nil, err
		}
		st.LastOrder = fromMicros(last)
		if st.Count > 1 {
			st.PrevOrder = fromMicros(prev)
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// SizeChanges implements segment.Store.
func (s *Store) SizeChanges(ctx context.Context, workspaceID, segmentID string, bucket time.Duration, before time.Time) ([]segment.SizeChange, error) {
	width := bucket.Microseconds()
	rows, err := s.db.QueryContext(ctx, `SELECT change_time / $3, sum(CASE WHEN delta > 0 THEN 1 ELSE 0 END), sum(CASE WHEN delta < 0 THEN 1 ELSE 0 END)
FROM membership_history WHERE workspace_id = $1 AND segment_id = $2 AND change_time < $4
GROUP BY change_time / $3 ORDER BY change_time / $3`, workspaceID, segmentID, width, micros(before))
	if err != nil {
		return nil, fmt.Errorf("size changes of %s: %w", segmentID, err)
	}
	defer rows.Close()
	var out []segment.SizeChange
	for rows.Next() {
		var c segment.SizeChange
		var b int64
		if err := rows.Scan(&b, &c.Joined, &c.Left); err != nil {
			return nil, fmt.Errorf("size changes of %s: %w", segmentID, err)
		}
		c.Bucket = fromMicros(b * width)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("size changes of %s: %w", segmentID, err)
	}
	return out, nil
}

// Orders implements segment.Store.
func (s *Store) Orders(ctx context.Context, workspaceID string) ([]segment.OrderRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT customer_id, occurred_at, revenue FROM orders WHERE workspace_id = $1`, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("orders: %w", err)
	}
	defer rows.Close()
	var out []segment.OrderRow
	for rows.Next() {
		var o segment.OrderRow
		var at int64
		if err := rows.Scan(&o.CustomerID, &at, &o.Revenue); err != nil {
			return nil, fmt.Errorf("orders: %w", err)
		}
		o.Time = fromMicros(at)
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("orders: %w", err)
	}
	return out, nil
}

// predictionChunk bounds the prediction rows written per statement (five
// parameters each).
const predictionChunk = 150

// SavePredictions implements segment.Store.
func (s *Store) SavePredictions(ctx context.Context, workspaceID string, fit segment.PredictionFit, preds []segment.Prediction) error {
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM predictions WHERE workspace_id = $1`, workspaceID); err != nil {
			return err
		}
		for chunk := range slices.Chunk(preds, predictionChunk) {
			var q strings.Builder
			q.WriteString(`INSERT INTO predictions (workspace_id, customer_id, probability_alive, expected_purchases, clv) VALUES `)
			args := make([]any, 0, 5*len(chunk))
			for i, p := range chunk {
				if i > 0 {
					q.WriteString(", ")
				}
				n := len(args)
				fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5)
				var clv sql.NullFloat64
				if p.CLV != nil {
					clv = sql.NullFloat64{Float64: *p.CLV, Valid: true}
				}
				args = append(args, workspaceID, p.CustomerID, p.ProbabilityAlive, p.ExpectedPurchases, clv)
			}
			if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO prediction_fits (workspace_id, fit_time, customers, repeat_customers, clv_reason, attempt_time)
VALUES ($1, $2, $3, $4, $5, $2) ON CONFLICT (workspace_id) DO UPDATE SET fit_time = excluded.fit_time, customers = excluded.customers,
  repeat_customers = excluded.repeat_customers, clv_reason = excluded.clv_reason`,
			workspaceID, micros(fit.Time), fit.Customers, fit.RepeatCustomers, fit.CLVUnavailableReason)
		return err
	})
	if err != nil {
		return fmt.Errorf("save predictions: %w", err)
	}
	return nil
}

const predictionColumns = `customer_id, probability_alive, expected_purchases, clv`

func scanPrediction(row scanner) (segment.Prediction, error) {
	var p segment.Prediction
	var clv sql.NullFloat64
	if err := row.Scan(&p.CustomerID, &p.ProbabilityAlive, &p.ExpectedPurchases, &clv); err != nil {
		return segment.Prediction{}, err
	}
	if clv.Valid {
		p.CLV = &clv.Float64
	}
	return p, nil
}

// CustomerPrediction implements segment.Store.
func (s *Store) CustomerPrediction(ctx context.Context, workspaceID, customerID string) (segment.Prediction, bool, error) {
	preds, err := s.PredictionsOf(ctx, workspaceID, []string{customerID})
	p, ok := preds[customerID]
	return p, ok, err
}

// PredictionsInRange implements segment.Store.
func (s *Store) PredictionsInRange(ctx context.Context, workspaceID, after, upTo string) ([]segment.Prediction, error) {
	query, args := `SELECT `+predictionColumns+` FROM predictions WHERE workspace_id = $1 AND customer_id > $2`, []any{workspaceID, after}
	if upTo != "" {
		query, args = query+` AND customer_id <= $3`, append(args, upTo)
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("predictions: %w", err)
	}
	defer rows.Close()
	var out []segment.Prediction
	for rows.Next() {
		p, err := scanPrediction(rows)
		if err != nil {
			return nil, fmt.Errorf("predictions: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("predictions: %w", err)
	}
	return out, nil
}

// LastPredictionFit implements segment.Store.
func (s *Store) LastPredictionFit(ctx context.Context, workspaceID string) (segment.PredictionFit, error) {
	var f segment.PredictionFit
	var at int64
	err := s.db.QueryRowContext(ctx, `SELECT fit_time, customers, repeat_customers, clv_reason FROM prediction_fits WHERE workspace_id = $1`,
		workspaceID).Scan(&at, &f.Customers, &f.RepeatCustomers, &f.CLVUnavailableReason)
	if errors.Is(err, sql.ErrNoRows) || err == nil && at == 0 {
		return segment.PredictionFit{}, nil
	}
	if err != nil {
		return segment.PredictionFit{}, fmt.Errorf("last prediction fit: %w", err)
	}
	f.Time = fromMicros(at)
	return f, nil
}

// PredictionAttempt implements segment.Store.
func (s *Store) PredictionAttempt(ctx context.Context, workspaceID string) (time.Time, error) {
	var at int64
	err := s.db.QueryRowContext(ctx, `SELECT attempt_time FROM prediction_fits WHERE workspace_id = $1`, workspaceID).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("prediction attempt: %w", err)
	}
	return fromMicros(at), nil
}

// SetPredictionAttempt implements segment.Store.
func (s *Store) SetPredictionAttempt(ctx context.Context, workspaceID string, at time.Time) error {
	_, err := s.db.ExecWrite(ctx, `INSERT INTO prediction_fits (workspace_id, fit_time, customers, repeat_customers, clv_reason, attempt_time)
VALUES ($1, 0, 0, 0, '', $2) ON CONFLICT (workspace_id) DO UPDATE SET attempt_time = excluded.attempt_time`, workspaceID, micros(at))
	if err != nil {
		return fmt.Errorf("record prediction attempt: %w", err)
	}
	return nil
}

// CreateComputedTrait implements segment.Store.
func (s *Store) CreateComputedTrait(ctx context.Context, workspaceID string, c segment.ComputedTrait) error {
	def, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode computed trait: %w", err)
	}
	res, err := s.db.ExecWrite(ctx, `INSERT INTO computed_traits (workspace_id, trait_key, definition) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING`, workspaceID, c.Key, string(def))
	if err != nil {
		return fmt.Errorf("create computed trait %s: %w", c.Key, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("create computed trait %s: %w", c.Key, err)
	} else if n == 0 {
		return fmt.Errorf("create computed trait %s: %w", c.Key, segment.ErrExists)
	}
	return nil
}

// ComputedTraits implements segment.Store.
func (s *Store) ComputedTraits(ctx context.Context, workspaceID string) ([]segment.ComputedTrait, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT definition FROM computed_traits WHERE workspace_id = $1 ORDER BY trait_key`, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("computed traits: %w", err)
	}
	defs, err := sqldb.Strings(rows, nil)
	if err != nil {
		return nil, fmt.Errorf("computed traits: %w", err)
	}
	out := make([]segment.ComputedTrait, len(defs))
	for i, d := range defs {
		if err := json.Unmarshal([]byte(d), &out[i]); err != nil {
			return nil, fmt.Errorf("decode computed trait: %w", err)
		}
	}
	return out, nil
}

// DeleteComputedTrait implements segment.Store.
func (s *Store) DeleteComputedTrait(ctx context.Context, workspaceID, key string) error {
	res, err := s.db.ExecWrite(ctx, `DELETE FROM computed_traits WHERE workspace_id = $1 AND trait_key = $2`, workspaceID, key)
	if err != nil {
		return fmt.Errorf("delete computed trait %s: %w", key, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("delete computed trait %s: %w", key, err)
	} else if n == 0 {
		return fmt.Errorf("delete computed trait %s: %w", key, segment.ErrNotFound)
	}
	return nil
}

// LifecycleSettings implements segment.Store.
func (s *Store) LifecycleSettings(ctx context.Context, workspaceID string) (segment.LifecycleSettings, error) {
	var ls segment.LifecycleSettings
	err := s.db.QueryRowContext(ctx, `SELECT loyal_min_orders, dormant_days, churned_days FROM lifecycle_settings WHERE workspace_id = $1`,
		workspaceID).Scan(&ls.LoyalMinOrders, &ls.DormantDays, &ls.ChurnedDays)
	if errors.Is(err, sql.ErrNoRows) {
		return segment.DefaultLifecycleSettings, nil
	}
	if err != nil {
		return segment.LifecycleSettings{}, fmt.Errorf("lifecycle settings: %w", err)
	}
	return ls, nil
}

// SetLifecycleSettings implements segment.Store.
func (s *Store) SetLifecycleSettings(ctx context.Context, workspaceID string, ls segment.LifecycleSettings) error {
	_, err := s.db.ExecWrite(ctx, `INSERT INTO lifecycle_settings (workspace_id, loyal_min_orders, dormant_days, churned_days)
VALUES ($1, $2, $3, $4) ON CONFLICT (workspace_id) DO UPDATE SET loyal_min_orders = excluded.loyal_min_orders,
  dormant_days = excluded.dormant_days, churned_days = excluded.churned_days`, workspaceID, ls.LoyalMinOrders, ls.DormantDays, ls.ChurnedDays)
	if err != nil {
		return fmt.Errorf("set lifecycle settings: %w", err)
	}
	return nil
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
	ids, err := s.SegmentIDsOf(ctx, workspaceID, []string{customerID})
	return ids[customerID], err
}

// MembershipsInRange implements segment.Store. It reads one row per
// customer, its segment ids joined by commas: a full recompute reads every
// membership, and rows returned one by one cost most of that read.
func (s *Store) MembershipsInRange(ctx context.Context, workspaceID string, segmentIDs []string, after, upTo string) (map[string][]string, error) {
	out := map[string][]string{}
	asked := make(map[string]bool, len(segmentIDs))
	for _, id := range segmentIDs {
		asked[id] = true
	}
	agg := "group_concat(segment_id, ',')"
	if s.db.Dialect == sqldb.Postgres {
		agg = "string_agg(segment_id, ',')"
	}
	for chunk := range slices.Chunk(segmentIDs, mergeChunk) {
		query := `SELECT customer_id, ` + agg + ` FROM memberships WHERE workspace_id = $1 AND customer_id > $2`
		args := []any{workspaceID, after}
		if upTo != "" {
			query += ` AND customer_id <= $3`
			args = append(args, upTo)
		}
		in, ids := sqldb.InList(len(args)+1, chunk)
		query += ` AND segment_id IN (` + in + `) GROUP BY customer_id`
		if err := s.membershipsInRange(ctx, query, append(args, ids...), chunk, asked, out); err != nil {
			return nil, fmt.Errorf("memberships in range: %w", err)
		}
	}
	return out, nil
}

func allAsked(ids []string, asked map[string]bool) bool {
	for _, id := range ids {
		if !asked[id] {
			return false
		}
	}
	return true
}

func (s *Store) membershipsInRange(ctx context.Context, query string, args []any, chunk []string, asked map[string]bool, out map[string][]string) error {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	var odd []string // customers in a segment whose id has a comma
	for rows.Next() {
		var customerID, joined string
		if err := rows.Scan(&customerID, &joined); err != nil {
			rows.Close()
			return err
		}
		ids := strings.Split(joined, ",")
		if !allAsked(ids, asked) {
			odd = append(odd, customerID)
			continue
		}
		out[customerID] = append(out[customerID], ids...)
	}
	if err := cmp.Or(rows.Err(), rows.Close()); err != nil {
		return err
	}
	in, inArgs := sqldb.InList(3, chunk)
	for _, customerID := range odd {
		ids, err := sqldb.Strings(s.db.QueryContext(ctx, `SELECT segment_id FROM memberships
WHERE workspace_id = $1 AND customer_id = $2 AND segment_id IN (`+in+`)`, append([]any{args[0], customerID}, inArgs...)...))
		if err != nil {
			return err
		}
		out[customerID] = append(out[customerID], ids...)
	}
	return nil
}

// ApplyChanges implements segment.Store. The changes are written in
// (customer, segment) order, as merges and erasures lock the rows they
// delete (leaveAll), so that writers on two replicas cannot deadlock; the
// sort is stable, so two changes of one membership keep their order.
//
// They are written with multi-row statements, a first fill of millions of
// memberships being bound by one statement per change otherwise. A
// membership changed twice or more in one call goes in rounds: round k
// holds the k-th change of each membership, so no statement names one
// twice and each change sees the ones before it. Each statement returns
// the rows it inserted or deleted: only those changes are applied, and
// announced. The transaction takes a memberships version of each
// workspace whose memberships it changed, last.
func (s *Store) ApplyChanges(ctx context.Context, changes []segment.MembershipChange) ([]segment.MembershipChange, int64, error) {
	changes = slices.Clone(changes)
	slices.SortStableFunc(changes, func(a, b segment.MembershipChange) int {
		return cmp.Or(strings.Compare(a.WorkspaceID, b.WorkspaceID), strings.Compare(a.CustomerID, b.CustomerID),
			strings.Compare(a.SegmentID, b.SegmentID))
	})
	var applied []segment.MembershipChange
	var version int64
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		version = 0
		write, err := withoutGoneJoins(ctx, tx, changes) // still in order
		if err != nil {
			return err
		}
		done := make([]bool, len(write)) // InTx may retry: afresh each time
		for _, round := range membershipRounds(write) {
			var leaves, joins []int
			for _, i := range round {
				if write[i].Joined {
					joins = append(joins, i)
				} else {
					leaves = append(leaves, i)
				}
			}
			if err := leaveMemberships(ctx, tx, write, leaves, done); err != nil {
				return err
			}
			if err := joinMemberships(ctx, tx, write, joins, done); err != nil {
				return err
			}
		}
		applied = applied[:0]
		for i, c := range write {
			if done[i] { // else already so: nothing changed, nothing to announce
				applied = append(applied, c)
			}
		}
		if err := insertOutbox(ctx, tx, applied...); err != nil {
			return err
		}
		var workspaces []string // sorted, as applied is
		for _, c := range applied {
			if len(workspaces) == 0 || workspaces[len(workspaces)-1] != c.WorkspaceID {
				workspaces = append(workspaces, c.WorkspaceID)
			}
		}
		for _, ws := range workspaces { // last: see nextMembershipsVersion
			if version, err = nextMembershipsVersion(ctx, tx, ws); err != nil {
				return err
			}
		}
		if len(workspaces) > 1 {
			version = 0
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("apply membership changes: %w", err)
	}
	s.memberships.Wrote(len(applied)) // a row inserted or deleted each
	return applied, version, nil
}

// membershipKey names a membership row.
type membershipKey struct{ workspace, segment, customer string }

func keyOf(c segment.MembershipChange) membershipKey {
	return membershipKey{c.WorkspaceID, c.SegmentID, c.CustomerID}
}

// membershipRounds splits the indexes of sorted changes into rounds, round
// k holding the k-th change of each membership, in order: a membership's
// changes are adjacent in them.
func membershipRounds(changes []segment.MembershipChange) [][]int {
	var rounds [][]int
	k := 0
	for i, c := range changes {
		if i > 0 && keyOf(changes[i-1]) == keyOf(c) {
			k++
		} else {
			k = 0
		}
		if k == len(rounds) {
			rounds = append(rounds, nil)
		}
		rounds[k] = append(rounds[k], i)
	}
	return rounds
}

// changedRows runs a multi-row statement over the changes at idx (each
// membership once) whose rows are the changes' (workspace, segment,
// customer) and maybe more columns, and sets done[i] for each change
// whose row the statement returns.
func changedRows(ctx context.Context, tx *sqldb.Tx, head, tail string, cols int, changes []segment.MembershipChange, idx []int, done []bool) error {
	at := make(map[membershipKey]int, len(idx))
	for _, i := range idx {
		at[keyOf(changes[i])] = i
	}
	return tx.QueryRows(ctx, head, tail, cols, len(idx),
		func(args []any, j int) ([]any, error) {
			c := changes[idx[j]]
			args = append(args, c.WorkspaceID, c.SegmentID, c.CustomerID)
			if cols == 4 {
				args = append(args, micros(c.Time))
			}
			return args, nil
		},
		func(row sqldb.RowScanner) error {
			var k membershipKey
			if err := row.Scan(&k.workspace, &k.segment, &k.customer); err != nil {
				return err
			}
			i, ok := at[k]
			if !ok || done[i] {
				return fmt.Errorf("membership of %s in %s changed but not asked, or twice", k.customer, k.segment)
			}
			done[i] = true
			return nil
		})
}

// changesSubquery opens the subquery of a row-value IN over a VALUES
// list: SQLite searches the primary key for each row of such a subquery,
// but scans the whole table for a bare IN (VALUES …).
const changesSubquery = `SELECT column1, column2, column3 FROM (`

// leaveMemberships deletes the memberships of the leave changes at idx.
// On PostgreSQL their rows are locked first in (workspace, customer,
// segment) order, as leaveAll locks them: the DELETE would lock them in
// its plan's order.
func leaveMemberships(ctx context.Context, tx *sqldb.Tx, changes []segment.MembershipChange, idx []int, done []bool) error {
	if len(idx) == 0 {
		return nil
	}
	if tx.Dialect == sqldb.Postgres {
		err := tx.QueryRows(ctx, `SELECT 1 FROM memberships WHERE (workspace_id, segment_id, customer_id) IN (`+changesSubquery,
			`) AS v) ORDER BY `+tx.Dialect.ByteOrder("workspace_id", "customer_id", "segment_id")+` FOR UPDATE`, 3, len(idx),
			func(args []any, j int) ([]any, error) {
				c := changes[idx[j]]
				return append(args, c.WorkspaceID, c.SegmentID, c.CustomerID), nil
			},
			func(sqldb.RowScanner) error { return nil })
		if err != nil {
			return fmt.Errorf("lock %d memberships to leave: %w", len(idx), err)
		}
	}
	err := changedRows(ctx, tx, `DELETE FROM memberships WHERE (workspace_id, segment_id, customer_id) IN (`+changesSubquery,
		`) AS v) RETURNING workspace_id, segment_id, customer_id`, 3, changes, idx, done)
	if err != nil {
		return fmt.Errorf("leave %d memberships: %w", len(idx), err)
	}
	return nil
}

// joinMemberships inserts the memberships of the join changes at idx,
// skipping those of segments deleted since evaluation began. The segments
// kept are locked against deletion (as the foreign key's check would lock
// them) until the transaction ends, so none goes between the look-up and
// the INSERT.
func joinMemberships(ctx context.Context, tx *sqldb.Tx, changes []segment.MembershipChange, idx []int, done []bool) error {
	if len(idx) == 0 {
		return nil
	}
	segs := map[string][]string{}
	for _, i := range idx {
		c := changes[i]
		if !slices.Contains(segs[c.WorkspaceID], c.SegmentID) {
			segs[c.WorkspaceID] = append(segs[c.WorkspaceID], c.SegmentID)
		}
	}
	lock := ""
	if tx.Dialect == sqldb.Postgres {
		lock = " FOR KEY SHARE"
	}
	live := map[wsID]bool{}
	for _, ws := range slices.Sorted(maps.Keys(segs)) {
		err := tx.QueryIn(ctx, `SELECT segment_id FROM segments WHERE workspace_id = $1 AND segment_id IN (%s)`+lock,
			[]any{ws}, slices.Sorted(slices.Values(segs[ws])), func(row sqldb.RowScanner) error {
				var id string
				err := row.Scan(&id)
				live[wsID{ws, id}] = true
				return err
			})
		if err != nil {
			return fmt.Errorf("look up segments to join: %w", err)
		}
	}
	idx = slices.DeleteFunc(slices.Clone(idx), func(i int) bool {
		return !live[wsID{changes[i].WorkspaceID, changes[i].SegmentID}]
	})
	err := changedRows(ctx, tx, `INSERT INTO memberships (workspace_id, segment_id, customer_id, join_time)`,
		`ON CONFLICT DO NOTHING RETURNING workspace_id, segment_id, customer_id`, 4, changes, idx, done)
	if err != nil {
		return fmt.Errorf("join %d memberships: %w", len(idx), err)
	}
	return nil
}

// ListMembers implements segment.Store.
func (s *Store) ListMembers(ctx context.Context, workspaceID, segmentID, after string, limit int) ([]segment.Member, int64, error) {
	// One statement tells whether the segment exists and counts its members.
	var total int64
	err := s.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM memberships m WHERE m.workspace_id = s.workspace_id AND m.segment_id = s.segment_id)
FROM segments s WHERE s.workspace_id = $1 AND s.segment_id = $2`, workspaceID, segmentID).Scan(&total)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, 0, fmt.Errorf("list members of %s: %w", segmentID, segment.ErrNotFound)
	}
	if err != nil {
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

// OutboxBacklog counts the membership changes not yet published (the
// kizuna.outbox.backlog gauge).
func (s *Store) OutboxBacklog(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM membership_outbox`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count outbox: %w", err)
	}
	return n, nil
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

// DeleteChanges implements segment.Store. Change ids are UUIDv7s, unique
// across workspaces, so they alone name the rows.
func (s *Store) DeleteChanges(ctx context.Context, changes []segment.MembershipChange) error {
	if len(changes) == 0 {
		return nil
	}
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		for chunk := range slices.Chunk(changes, mergeChunk) {
			ids := make([]string, len(chunk))
			for i, c := range chunk {
				ids[i] = c.ChangeID
			}
			// Padded: the relay deletes what it published after every
			// pass, so the statement comes in a few sizes, prepared once.
			in, args := tx.Dialect.InList(1, sqldb.PadIn(ids))
			if _, err := tx.ExecPrepared(ctx, `DELETE FROM membership_outbox WHERE change_id IN (`+in+`)`, args...); err != nil {
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
