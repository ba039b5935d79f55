// Package store is the metrics service's SQL store: the purchase ledger
// (customers, orders, merge aliases, applied message ids) and the
// aggregates KPIs are computed from. It is written once against
// platform/sqldb and runs on SQLite and PostgreSQL alike; every query is
// filtered by workspace_id.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"time"

	"github.com/kizuna/kizuna/services/metrics/internal/kpi"
	"github.com/kizuna/kizuna/services/metrics/internal/ledger"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store implements ledger.Store and kpi.Store.
type Store struct {
	db  *sqldb.DB
	now func() time.Time
	// analyzer keeps PostgreSQL's planner statistics of customers current
	// while the table is young (nil on SQLite). Every batch of events
	// reads its customers' first-seen times by id (ledgerBatch.plan);
	// with a young table's statistics that read was planned as a scan of
	// the whole workspace filtered against the batch's ids, its generic
	// plan comparing each row with every id: 92 ms of server time per
	// batch at 10,000 customers, a third of the PostgreSQL server's time
	// under the suite's live load (docs/BENCHMARKS.md, helper branch
	// pg-live), as in ingestion and segmentation before.
	analyzer *sqldb.Analyzer
}

var _ ledger.Store = (*Store)(nil)

// New migrates db and returns a Store on it. now stamps applied messages.
func New(ctx context.Context, db *sqldb.DB, now func() time.Time) (*Store, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("metrics store: %w", err)
	}
	if err := sqldb.Migrate(ctx, db, sub); err != nil {
		return nil, fmt.Errorf("metrics store: %w", err)
	}
	return &Store{db: db, now: now, analyzer: sqldb.NewAnalyzer(db, "customers")}, nil
}

// Message kinds in applied_messages. Named events record no kindEvent row:
// their rows in events tell them seen (ApplyEvents).
const (
	kindEvent   = "event"
	kindMerge   = "merge"
	kindUnmerge = "unmerge"
)

// ApplyMerge moves the merged customers' orders to the survivor, folds
// their first-seen times into it, deletes them, and records aliases so later
// events for them land on the survivor.
func (s *Store) ApplyMerge(ctx context.Context, m ledger.Merge) (bool, error) {
	var applied bool
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		applied = false
		fresh, err := s.markApplied(ctx, tx, m.WorkspaceID, kindMerge, m.MergeID)
		if err != nil || !fresh {
			return err
		}
		// The ledger row is locked first: a merge of the survivor in
		// flight on another replica is then committed before it is
		// resolved.
		if _, err := bumpVersion(ctx, tx, m.WorkspaceID, "structure"); err != nil {
			return err
		}
		// The survivor may itself have been merged away meanwhile; resolving
		// keeps every alias pointing at a live customer.
		survivor, err := resolve(ctx, tx, m.WorkspaceID, m.SurvivorID)
		if err != nil {
			return err
		}
		for _, id := range m.MergedIDs {
			if err := mergeOne(ctx, tx, m.WorkspaceID, id, survivor); err != nil {
				return fmt.Errorf("merge %q into %q: %w", id, survivor, err)
			}
		}
		applied = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store merge %s: %w", m.MergeID, err)
	}
	return applied, nil
}

func mergeOne(ctx context.Context, tx *sqldb.Tx, ws, mergedID, survivor string) error {
	merged, err := resolve(ctx, tx, ws, mergedID)
	if err != nil {
		return err
	}
	if merged == survivor {
		return nil // already one customer
	}
	// Sends move with the customer but, having no event, stay with the
	// survivor when the merge is undone.
	for _, table := range append(customerTables, "sends") {
		if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET customer_id = $3 WHERE workspace_id = $1 AND customer_id = $2`,
			ws, merged, survivor); err != nil {
			return fmt.Errorf("move %s: %w", table, err)
		}
	}
	var firstSeen int64
	err = tx.QueryRowContext(ctx, `DELETE FROM customers WHERE workspace_id = $1 AND customer_id = $2 RETURNING first_seen`,
		ws, merged).Scan(&firstSeen)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// Never seen in an event: nothing to fold into the survivor.
	case err != nil:
		return fmt.Errorf("delete customer: %w", err)
	default:
		if _, err := upsertCustomer(ctx, tx, ws, survivor, firstSeen); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE customer_aliases SET survivor_customer_id = $3 WHERE workspace_id = $1 AND survivor_customer_id = $2`,
		ws, merged, survivor); err != nil {
		return fmt.Errorf("repoint aliases: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `
INSERT INTO customer_aliases (workspace_id, merged_customer_id, survivor_customer_id) VALUES ($1, $2, $3)
ON CONFLICT (workspace_id, merged_customer_id) DO UPDATE SET survivor_customer_id = excluded.survivor_customer_id`,
		ws, merged, survivor); err != nil {
		return fmt.Errorf("record alias: %w", err)
	}
	return nil
}

// unmergeChunk bounds the event ids bound in one statement, well under the
// smallest bind-parameter limit of the two backends (999 on older SQLite).
const unmergeChunk = 500

// ApplyUnmerge recreates the restored customer, moves the orders of the
// listed events back to it from the survivor, takes both customers'
// first-seen times from the message, and drops the restored customer's
// alias so later events for it land on it again.
//
// Aliases of customers merged into the restored one before it was itself
// merged away were repointed to the survivor then, and stay there: the
// alias table keeps no history to tell them from the survivor's own, and
// ingestion resolves new events to live customers itself, so those aliases
// only steer late events and segments still listing such ids.
func (s *Store) ApplyUnmerge(ctx context.Context, u ledger.Unmerge) (bool, error) {
	var applied bool
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		applied = false
		fresh, err := s.markApplied(ctx, tx, u.WorkspaceID, kindUnmerge, u.UnmergeID)
		if err != nil || !fresh {
			return err
		}
		// A message whose apply failed is redelivered after later ones, so
		// the merge undone may not be applied yet; marking it applied makes
		// it a no-op when it comes, rather than merging the customers again
		// for good.
		if _, err := s.markApplied(ctx, tx, u.WorkspaceID, kindMerge, u.MergeID); err != nil {
			return err
		}
		if _, err := bumpVersion(ctx, tx, u.WorkspaceID, "structure"); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM customer_aliases WHERE workspace_id = $1 AND merged_customer_id = $2`,
			u.WorkspaceID, u.RestoredID); err != nil {
			return fmt.Errorf("drop alias of %q: %w", u.RestoredID, err)
		}
		// Ingestion refuses to undo a merge whose survivor was merged away
		// since, but a later merge of it may have been applied here first
		// (see above): the orders are then held by its survivor.
		survivor, err := resolve(ctx, tx, u.WorkspaceID, u.SurvivorID)
		if err != nil {
			return err
		}
		for ids := range slices.Chunk(u.EventIDs, unmergeChunk) {
			if err := moveEventOrders(ctx, tx, u.WorkspaceID, survivor, u.RestoredID, ids); err != nil {
				return fmt.Errorf("move orders to %q: %w", u.RestoredID, err)
			}
		}
		// The merge deleted the restored customer's row, so this normally
		// recreates it. A row already there was written by events applied
		// since (an earlier part of this unmerge, or delivery out of
		// order), and an earlier time it holds is one of its own events.
		if _, err := upsertCustomer(ctx, tx, u.WorkspaceID, u.RestoredID, u.RestoredFirstSeen.UnixMicro()); err != nil {
			return err
		}
		// Only an existing row is updated: customers counts those seen in
		// events, and a survivor without a row has none here (or was merged
		// away, its time folded into a customer it cannot be taken from).
		if _, err := tx.ExecContext(ctx, `UPDATE customers SET first_seen = $3 WHERE workspace_id = $1 AND customer_id = $2`,
			u.WorkspaceID, u.SurvivorID, u.SurvivorFirstSeen.UnixMicro()); err != nil {
			return fmt.Errorf("update customer %q: %w", u.SurvivorID, err)
		}
		applied = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("store unmerge %s: %w", u.UnmergeID, err)
	}
	return applied, nil
}

// moveEventOrders moves the orders of eventIDs held by from to to.
// Orders stored before event ids were recorded (see migration 0002) do not
// match and stay with from.
func moveEventOrders(ctx context.Context, tx *sqldb.Tx, ws, from, to string, eventIDs []string) error {
	in, ids := sqldb.InList(4, eventIDs)
	args := append([]any{ws, from, to}, ids...)
	for _, table := range customerTables {
		if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET customer_id = $3
WHERE workspace_id = $1 AND customer_id = $2 AND event_id IN (`+in+`)`, args...); err != nil {
			return fmt.Errorf("move %s: %w", table, err)
		}
	}
	return nil
}

// customerTables hold a customer's facts by event: a merge moves their rows
// to the survivor, an undone merge moves its events' rows back.
var customerTables = []string{"orders", "events", "survey_answers"}

// bumpVersion increments the workspace's ledger version column ("seq" or
// "structure") and returns its new value. The row stays locked until tx
// ends, so seq values are handed out in commit order.
func bumpVersion(ctx context.Context, tx *sqldb.Tx, ws, column string) (int64, error) {
	var v int64
	err := tx.QueryRowPrepared(ctx, `
INSERT INTO ledger_versions (workspace_id, structure, seq) VALUES ($1, 1, 1)
ON CONFLICT (workspace_id) DO UPDATE SET `+column+` = ledger_versions.`+column+` + 1
RETURNING `+column, ws).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("bump ledger %s: %w", column, err)
	}
	return v, nil
}

// lockLedger locks the workspace's ledger row on PostgreSQL, as merges and
// undone merges lock it before they move customers: a transaction that
// resolves customers through the aliases and then writes them must take
// it first, or a merge in flight moves the customers' rows before it
// commits and the write stays on a merged-away id. The row is created if
// need be (as bumpSeq would, with no seq taken): a SELECT … FOR UPDATE
// finds no row to lock while the workspace's first merge, which creates
// it, is in flight. SQLite's writers are serial anyway.
func lockLedger(ctx context.Context, tx *sqldb.Tx, ws string) error {
	if tx.Dialect != sqldb.Postgres {
		return nil
	}
	if _, err := tx.ExecPrepared(ctx, `INSERT INTO ledger_versions (workspace_id, structure, seq) VALUES ($1, 1, 0)
ON CONFLICT (workspace_id) DO UPDATE SET seq = ledger_versions.seq`, ws); err != nil {
		return fmt.Errorf("lock ledger: %w", err)
	}
	return nil
}

// bumpSeq adds n to the workspace's ledger seq and returns its new value:
// the seqs n changes take are the n values up to it. The row stays locked
// until tx ends, as in bumpVersion.
func bumpSeq(ctx context.Context, tx *sqldb.Tx, ws string, n int64) (int64, error) {
	var v int64
	err := tx.QueryRowPrepared(ctx, `
INSERT INTO ledger_versions (workspace_id, structure, seq) VALUES ($1, 1, $2)
ON CONFLICT (workspace_id) DO UPDATE SET seq = ledger_versions.seq + excluded.seq
RETURNING seq`, ws, n).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("bump ledger seq: %w", err)
	}
	return v, nil
}

// LedgerVersion returns the workspace's ledger version: structure changes
// with every merge or undone merge, seq with every order stored.
func (s *Store) LedgerVersion(ctx context.Context, ws string) (structure, seq int64, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT structure, seq FROM ledger_versions WHERE workspace_id = $1`, ws).Scan(&structure, &seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("read ledger version: %w", err)
	}
	return structure, seq, nil
}

// markApplied records a message id and reports whether it was new.
func (s *Store) markApplied(ctx context.Context, tx *sqldb.Tx, ws, kind, id string) (bool, error) {
	res, err := tx.ExecPrepared(ctx, `
INSERT INTO applied_messages (workspace_id, kind, message_id, applied_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (workspace_id, kind, message_id) DO NOTHING`,
		ws, kind, id, s.now().UnixMicro())
	if err != nil {
		return false, fmt.Errorf("record applied %s: %w", kind, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record applied %s: %w", kind, err)
	}
	return n == 1, nil
}

// resolve returns the live customer id behind id (id itself unless merged).
func resolve(ctx context.Context, tx *sqldb.Tx, ws, id string) (string, error) {
	var survivor string
	err := tx.QueryRowPrepared(ctx, `SELECT survivor_customer_id FROM customer_aliases WHERE workspace_id = $1 AND merged_customer_id = $2`,
		ws, id).Scan(&survivor)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return id, nil
	case err != nil:
		return "", fmt.Errorf("resolve customer %q: %w", id, err)
	}
	return survivor, nil
}

// upsertCustomer inserts a customer or lowers its first_seen to firstSeen.
// The conflict update's WHERE (valid on SQLite and PostgreSQL alike) leaves
// the row untouched unless firstSeen is earlier, so the usual event of a
// known customer writes nothing. It reports whether a row was written.
func upsertCustomer(ctx context.Context, tx *sqldb.Tx, ws, id string, firstSeen int64) (bool, error) {
	res, err := tx.ExecPrepared(ctx, `
INSERT INTO customers (workspace_id, customer_id, first_seen) VALUES ($1, $2, $3)
ON CONFLICT (workspace_id, customer_id) DO UPDATE SET first_seen = excluded.first_seen
WHERE excluded.first_seen < customers.first_seen`,
		ws, id, firstSeen)
	if err != nil {
		return false, fmt.Errorf("upsert customer %q: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("upsert customer %q: %w", id, err)
	}
	return n > 0, nil
}

// bounds turns r into inclusive-exclusive Unix-microsecond bounds, open
// ends becoming the extreme int64 values.
func bounds(r kpi.Range) (from, to int64) {
	from, to = math.MinInt64, math.MaxInt64
	if !r.Start.IsZero() {
		from = r.Start.UnixMicro()
	}
	if !r.End.IsZero() {
		to = r.End.UnixMicro()
	}
	return from, to
}

// WorkspaceTotals aggregates in one statement, so the customer count and
// the order figures come from the same snapshot.
func (s *Store) WorkspaceTotals(ctx context.Context, ws string, r kpi.Range) (kpi.Totals, error) {
	from, to := bounds(r)
	var t kpi.Totals
	err := s.db.QueryRowContext(ctx, `
SELECT
	(SELECT COUNT(*) FROM customers WHERE workspace_id = $1),
	COUNT(*),
	CAST(COALESCE(SUM(CASE WHEN n >= 2 THEN 1 ELSE 0 END), 0) AS BIGINT),
	CAST(COALESCE(SUM(n), 0) AS BIGINT),
	COALESCE(SUM(rev), 0)
FROM (
	SELECT customer_id, COUNT(*) AS n, SUM(revenue) AS rev
	FROM orders
	WHERE workspace_id = $1 AND order_time >= $2 AND order_time < $3
	GROUP BY customer_id
) per_customer`, ws, from, to).Scan(&t.Customers, &t.PurchasingCustomers, &t.RepeatCustomers, &t.Orders, &t.Revenue)
	if err != nil {
		return kpi.Totals{}, fmt.Errorf("workspace totals: %w", err)
	}
	return t, nil
}

// MemberTotals filters in Go rather than in SQL: a segment can have ~10^5
// members, too many for an IN list or bind parameters, and a temporary
// table would need a write transaction (on SQLite, the database's single
// write lock) just to read. Instead the members become a set, and the
// workspace's per-customer order totals in range — already grouped by the
// database, so one row per purchasing customer — are streamed and kept when
// their customer is in the set. Member ids are first resolved through the
// merge aliases, so a segment still listing a merged id counts its orders,
// now held by the survivor.
func (s *Store) MemberTotals(ctx context.Context, ws string, customerIDs []string, r kpi.Range) (kpi.Totals, error) {
	members := make(map[string]struct{}, len(customerIDs))
	for _, id := range customerIDs {
		members[id] = struct{}{}
	}
	if err := s.resolveMembers(ctx, ws, members); err != nil {
		return kpi.Totals{}, err
	}
	t := kpi.Totals{Customers: int64(len(members))}
	if len(members) == 0 {
		return t, nil
	}
	from, to := bounds(r)
	rows, err := s.db.QueryContext(ctx, `
SELECT customer_id, COUNT(*), SUM(revenue)
FROM orders
WHERE workspace_id = $1 AND order_time >= $2 AND order_time < $3
GROUP BY customer_id`, ws, from, to)
	if err != nil {
		return kpi.Totals{}, fmt.Errorf("member totals: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id  string
			n   int64
			rev float64
		)
		if err := rows.Scan(&id, &n, &rev); err != nil {
			return kpi.Totals{}, fmt.Errorf("member totals: %w", err)
		}
		if _, ok := members[id]; !ok {
			continue
		}
		t.PurchasingCustomers++
		t.Orders += n
		t.Revenue += rev
		if n >= 2 {
			t.RepeatCustomers++
		}
	}
	if err := rows.Err(); err != nil {
		return kpi.Totals{}, fmt.Errorf("member totals: %w", err)
	}
	return t, nil
}

// resolveMembers replaces merged ids in members by their survivors.
func (s *Store) resolveMembers(ctx context.Context, ws string, members map[string]struct{}) error {
	rows, err := s.db.QueryContext(ctx, `SELECT merged_customer_id, survivor_customer_id FROM customer_aliases WHERE workspace_id = $1`, ws)
	if err != nil {
		return fmt.Errorf("resolve members: %w", err)
	}
	defer rows.Close()
	var survivors []string
	for rows.Next() {
		var merged, survivor string
		if err := rows.Scan(&merged, &survivor); err != nil {
			return fmt.Errorf("resolve members: %w", err)
		}
		if _, ok := members[merged]; ok {
			delete(members, merged)
			survivors = append(survivors, survivor)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("resolve members: %w", err)
	}
	for _, id := range survivors {
		members[id] = struct{}{}
	}
	return nil
}

// maxCLVOrders bounds the orders one CLV fit loads into memory (about 40 bytes
// each plus the customer id).
const maxCLVOrders = 5_000_000

// Orders calls fn for each of the workspace's orders placed before end, in
// no particular order. It fails with kpi.ErrTooManyOrders beyond
// maxCLVOrders.
func (s *Store) Orders(ctx context.Context, ws string, end time.Time, fn func(customerID string, at time.Time, revenue float64)) error {
	rows, err := s.db.QueryContext(ctx, `SELECT customer_id, order_time, revenue FROM orders WHERE workspace_id = $1 AND order_time < $2`, ws, end.UnixMicro())
	if err != nil {
		return fmt.Errorf("list orders: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id string
		var at int64
		var revenue float64
		if err := rows.Scan(&id, &at, &revenue); err != nil {
			return fmt.Errorf("scan order: %w", err)
		}
		if n++; n > maxCLVOrders {
			return kpi.ErrTooManyOrders
		}
		fn(id, time.UnixMicro(at).UTC(), revenue)
	}
	return rows.Err()
}
