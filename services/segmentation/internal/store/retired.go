package store

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/kizuna/kizuna/services/platform/regulation"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
)

// retired_customers holds the customer ids that are gone: merged away
// (into survivor_id, by merge_id) or erased (survivor_id erased, under
// erasedKey). An event published for such a customer before its merge or
// erasure can be delivered after it: a retried bus message, or another
// replica's batch. Applied as it comes, its customer upsert would
// re-create the customer, which is then evaluated and joins segments
// again; an erased person's data would come back. Customer ids are never
// reused (ingestion mints a new one per person), so an id retired stays
// retired until an undo of its merge restores it, or until its row is
// pruned (RetiredCustomersTask): by then the bus holds no event older
// than the merge or erasure.

// erased is the survivor_id of an erased customer.
const erased = ""

// erasedKey is the customer_id of an erased customer's row: the SHA-256 of
// its id (regulation.ErasedKey), marked apart from the ids of merged-away
// customers in the same column.
func erasedKey(id string) string { return "erased:" + regulation.ErasedKey(id) }

// maxSurvivorChain bounds how many merges retiredTargets follows from one
// id (X merged into S, S later into T, ...): far more than real chains,
// and a stop should messages out of order ever leave a cycle.
const maxSurvivorChain = 32

// retireMerged records ids as merged into survivor by mergeID. An id
// recorded already keeps its row: a merge of an id already merged
// elsewhere is an older message delivered late (a merged-away id is merged
// again only after an undo, which deletes its row).
func retireMerged(ctx context.Context, tx *sqldb.Tx, workspaceID, survivor, mergeID string, ids []string, now time.Time) error {
	ids = slices.Sorted(slices.Values(ids)) // unique-key inserts in one order, as other writers'
	err := tx.InsertRows(ctx, `INSERT INTO retired_customers (workspace_id, customer_id, survivor_id, merge_id, retired_at)`,
		`ON CONFLICT DO NOTHING`, 5, len(ids), func(args []any, i int) ([]any, error) {
			return append(args, workspaceID, ids[i], survivor, mergeID, micros(now)), nil
		})
	if err != nil {
		return fmt.Errorf("record %d customers merged into %s: %w", len(ids), survivor, err)
	}
	return nil
}

// retireErased records ids as erased, replacing the records of their
// merges: an erasure lists every id of the person, merged-away ones
// included, and none of their late events may come back, not even to a
// survivor. The ids merged into them, directly or along a chain, are the
// person too and are recorded as erased with them, even when the erasure
// does not list them (a late merge into an erased survivor lists only its
// own): their records, which name an erased id, go, and their late events
// would otherwise re-create them.
func retireErased(ctx context.Context, tx *sqldb.Tx, workspaceID string, ids []string, now time.Time) error {
	ids, err := withMergedInto(ctx, tx, workspaceID, ids)
	if err != nil {
		return err
	}
	for chunk := range slices.Chunk(ids, mergeChunk) {
		in, args := sqldb.InList(2, chunk)
		// One statement per column: with an OR of the two, SQLite reads all
		// of the workspace's records instead of searching both indexes.
		for _, column := range []string{"customer_id", "survivor_id"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM retired_customers WHERE workspace_id = $1 AND `+column+` IN (`+in+`)`,
				append([]any{workspaceID}, args...)...); err != nil {
				return fmt.Errorf("delete merges of customers erased: %w", err)
			}
		}
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = erasedKey(id)
	}
	slices.Sort(keys)
	err = tx.InsertRows(ctx, `INSERT INTO retired_customers (workspace_id, customer_id, survivor_id, merge_id, retired_at)`,
		`ON CONFLICT (workspace_id, customer_id) DO UPDATE SET retired_at = excluded.retired_at`,
		5, len(keys), func(args []any, i int) ([]any, error) {
			return append(args, workspaceID, keys[i], erased, "", micros(now)), nil
		})
	if err != nil {
		return fmt.Errorf("record %d customers erased: %w", len(ids), err)
	}
	return nil
}

// withMergedInto returns ids, sorted and unique, with the ids recorded as
// merged into one of them, directly or along a chain (up to
// maxSurvivorChain merges).
func withMergedInto(ctx context.Context, tx *sqldb.Tx, workspaceID string, ids []string) ([]string, error) {
	all := map[string]bool{}
	for _, id := range ids {
		all[id] = true
	}
	ask := slices.Sorted(maps.Keys(all))
	for range maxSurvivorChain {
		if len(ask) == 0 {
			break
		}
		var found []string
		err := tx.QueryIn(ctx, `SELECT customer_id FROM retired_customers WHERE workspace_id = $1 AND survivor_id IN (%s)`,
			[]any{workspaceID}, ask, func(row sqldb.RowScanner) error {
				var id string
				if err := row.Scan(&id); err != nil {
					return err
				}
				if !all[id] {
					all[id] = true
					found = append(found, id)
				}
				return nil
			})
		if err != nil {
			return nil, fmt.Errorf("read customers merged into erased ones: %w", err)
		}
		ask = slices.Sorted(slices.Values(found))
	}
	return slices.Sorted(maps.Keys(all)), nil
}

// restoreUnmerged deletes the record of id's merge mergeID, undone: its
// events are its own again. A record of another merge (a later one) or of
// an erasure stays.
func restoreUnmerged(ctx context.Context, tx *sqldb.Tx, workspaceID, mergeID, id string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM retired_customers WHERE workspace_id = $1 AND customer_id = $2 AND merge_id = $3`,
		workspaceID, id, mergeID); err != nil {
		return fmt.Errorf("restore customer %s of merge %s: %w", id, mergeID, err)
	}
	return nil
}

// retiredTargets maps each retired customer of events to where its events
// go: the survivor at the end of its merges, or erased. It looks at every
// event, applied before or not, so that a redelivered one re-evaluates the
// survivor as its first delivery did.
//
// The look-up is one query per workspace of the batch (per chunk of ids)
// and merge followed, usually one: most customers are not retired. A
// workspace with no retired customer at all takes one index seek instead.
//
// On PostgreSQL the batch's customers with new events that have no row
// get one first, and then every customer row of the batch is locked (FOR
// NO KEY UPDATE, as the upserts that follow lock them), each pass in id
// order (see createCustomers): a merge or erasure in flight holds the
// rows it deletes, and makes rows of the customers it retires that had
// none, so the batch waits for it either way and the look-up, a later
// statement, sees its record. One that comes after waits for this
// transaction, then moves or deletes what it wrote. The rows made here
// for customers found retired are deleted again. A weaker key-share lock
// would deadlock: two batches holding one would each wait for the other
// to upgrade it (the customers setting traits are locked FOR UPDATE).
func retiredTargets(ctx context.Context, tx *sqldb.Tx, events []segment.Event, applied []bool) (map[wsID]string, error) {
	ids := map[string]map[string]bool{}   // workspace → customers
	fresh := map[string]map[string]seen{} // workspace → customers with new events: their times
	for i, e := range events {
		if ids[e.WorkspaceID] == nil {
			ids[e.WorkspaceID] = map[string]bool{}
			fresh[e.WorkspaceID] = map[string]seen{}
		}
		ids[e.WorkspaceID][e.CustomerID] = true
		if !applied[i] {
			continue
		}
		at := micros(e.Time)
		s, ok := fresh[e.WorkspaceID][e.CustomerID]
		if !ok {
			s = seen{first: at, last: at}
		}
		fresh[e.WorkspaceID][e.CustomerID] = seen{first: min(s.first, at), last: max(s.last, at)}
	}
	to := map[wsID]string{}
	for _, ws := range slices.Sorted(maps.Keys(ids)) {
		batch := slices.Sorted(maps.Keys(ids[ws]))
		var created map[string]bool
		if tx.Dialect == sqldb.Postgres {
			var err error
			if created, err = createCustomers(ctx, tx, ws, slices.Collect(maps.Keys(fresh[ws])), fresh[ws]); err != nil {
				return nil, err
			}
			if err := lockEventCustomers(ctx, tx, ws, batch); err != nil {
				return nil, err
			}
		}
		// Most workspaces have retired no one within the retention (8
		// days of merges and erasures): one index seek then spares hashing
		// every customer of the batch and looking each up. It runs where
		// the look-up would, after the locks above, so it sees what the
		// look-up would.
		var survivors map[string]string
		retired, err := anyRetired(ctx, tx, ws)
		if err != nil {
			return nil, err
		}
		if retired {
			if survivors, err = survivorChains(ctx, tx, ws, batch); err != nil {
				return nil, err
			}
		}
		var made []string
		for id, s := range survivors {
			to[wsID{ws, id}] = s
			if created[id] {
				made = append(made, id)
			}
		}
		if err := deleteCustomerRows(ctx, tx, ws, slices.Sorted(slices.Values(made))); err != nil {
			return nil, err
		}
	}
	return to, nil
}

// anyRetired reports whether the workspace has any record of a customer
// merged away or erased.
func anyRetired(ctx context.Context, tx *sqldb.Tx, workspaceID string) (bool, error) {
	var found bool
	if err := tx.QueryRowPrepared(ctx, `SELECT EXISTS (SELECT 1 FROM retired_customers WHERE workspace_id = $1)`, workspaceID).Scan(&found); err != nil {
		return false, fmt.Errorf("read retired customers: %w", err)
	}
	return found, nil
}

// redirect returns events with those of retired customers (to, from
// retiredTargets) given their survivor's id, and without those erased.
func redirect(events []segment.Event, to map[wsID]string) []segment.Event {
	if len(to) == 0 {
		return events
	}
	out := make([]segment.Event, 0, len(events))
	for _, e := range events {
		s, ok := to[wsID{e.WorkspaceID, e.CustomerID}]
		switch {
		case !ok:
			out = append(out, e)
		case s != erased:
			e.CustomerID = s
			out = append(out, e)
		}
	}
	return out
}

// lockEventCustomers locks the rows of customers ids, sorted, in id order
// (see retiredTargets).
func lockEventCustomers(ctx context.Context, tx *sqldb.Tx, workspaceID string, ids []string) error {
	err := tx.QueryIn(ctx, `SELECT customer_id FROM customers
WHERE workspace_id = $1 AND customer_id IN (%s) ORDER BY `+tx.Dialect.ByteOrder("customer_id")+` FOR NO KEY UPDATE`,
		[]any{workspaceID}, ids, func(sqldb.RowScanner) error { return nil })
	if err != nil {
		return fmt.Errorf("lock customers of events: %w", err)
	}
	return nil
}

// survivorChains returns, for those of ids that are retired, the id their
// events go to: the last survivor of their chain of merges, or erased.
func survivorChains(ctx context.Context, tx *sqldb.Tx, workspaceID string, ids []string) (map[string]string, error) {
	next, err := retiredOf(ctx, tx, workspaceID, ids)
	if err != nil || len(next) == 0 {
		return nil, err
	}
	// Survivors retired in turn are looked up a step at a time, all chains
	// of the batch together.
	for range maxSurvivorChain {
		var ask []string
		for _, s := range next {
			if _, known := next[s]; s != erased && !known {
				ask = append(ask, s)
			}
		}
		if len(ask) == 0 {
			break
		}
		more, err := retiredOf(ctx, tx, workspaceID, slices.Compact(slices.Sorted(slices.Values(ask))))
		if err != nil {
			return nil, err
		}
		for _, s := range ask {
			if _, ok := more[s]; !ok {
				more[s] = s // not retired: the end of its chain
			}
		}
		maps.Copy(next, more)
	}
	out := make(map[string]string, len(ids))
	for _, id := range ids {
		s, ok := next[id]
		if !ok {
			continue
		}
		for range maxSurvivorChain {
			n, ok := next[s]
			if !ok || n == s || s == erased {
				break
			}
			s = n
		}
		out[id] = s
	}
	return out, nil
}

// retiredOf reads the records of those of ids that are retired: id →
// survivor_id, erased for those erased.
func retiredOf(ctx context.Context, tx *sqldb.Tx, workspaceID string, ids []string) (map[string]string, error) {
	keys := slices.Clone(ids)
	byKey := make(map[string]string, len(ids))
	for _, id := range ids {
		k := erasedKey(id) // a SHA-256: once per id, for every batch's customers
		byKey[k] = id
		keys = append(keys, k)
	}
	out := map[string]string{}
	err := tx.QueryIn(ctx, `SELECT customer_id, survivor_id FROM retired_customers WHERE workspace_id = $1 AND customer_id IN (%s)`,
		[]any{workspaceID}, keys, func(row sqldb.RowScanner) error {
			var key, survivor string
			if err := row.Scan(&key, &survivor); err != nil {
				return err
			}
			if id, ok := byKey[key]; ok {
				out[id] = erased
			} else if _, ok := out[key]; !ok { // an erasure wins over a merge
				out[key] = survivor
			}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("read retired customers: %w", err)
	}
	return out, nil
}
