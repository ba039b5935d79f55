package store

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/kizuna/kizuna/services/metrics/internal/ledger"
	"github.com/kizuna/kizuna/services/platform/regulation"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// kindErased keys the erased customers in applied_messages, by the SHA-256
// of their ids (regulation.ErasedKey; no table but the regulation keeps an erased id
// in the clear). An event published for a customer before its erasure can
// be delivered after it (a retried message, another replica's batch);
// applied as it came, it would bring the person's orders and first-seen
// time back. ApplyEvents drops it instead (erasedAmong), as ApplySend and
// ApplyExposure drop a late send outcome (lockErased). The rows go with the other
// applied message ids after prune.DedupeWindow: an event older than the
// erasure is past the bus streams' MaxAge by then and cannot come any more.
// (Late events of merged-away customers need nothing more: the aliases of
// merges resolve them to the survivor.)
const kindErased = "erased"

// recordErased records the customers ids as erased.
func (s *Store) recordErased(ctx context.Context, tx *sqldb.Tx, ws string, ids []string) error {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = regulation.ErasedKey(id)
	}
	slices.Sort(keys) // unique-key inserts in one order
	keys = slices.Compact(keys)
	err := tx.InsertRows(ctx, `INSERT INTO applied_messages (workspace_id, kind, message_id, applied_at)`,
		`ON CONFLICT DO NOTHING`, 4, len(keys), func(args []any, i int) ([]any, error) {
			return append(args, ws, kindErased, keys[i], s.now().UnixMicro()), nil
		})
	if err != nil {
		return fmt.Errorf("record %d customers erased: %w", len(ids), err)
	}
	return nil
}

// erasedAmong returns which of the events' customers are erased, with one
// look-up per workspace. It locks each workspace's ledger row first, in
// workspace order, for the whole batch (ApplyEvents and newLedgerBatch
// rely on it): an erasure takes that row first too, so one in flight is
// waited for and seen.
func erasedAmong(ctx context.Context, tx *sqldb.Tx, events []ledger.Event) (map[wsID]bool, error) {
	byWorkspace := map[string]map[string]bool{} // workspace → customers
	for _, e := range events {
		if byWorkspace[e.WorkspaceID] == nil {
			byWorkspace[e.WorkspaceID] = map[string]bool{}
		}
		byWorkspace[e.WorkspaceID][e.CustomerID] = true
	}
	erased := map[wsID]bool{}
	for _, ws := range slices.Sorted(maps.Keys(byWorkspace)) {
		if err := lockLedger(ctx, tx, ws); err != nil {
			return nil, err
		}
		// Most workspaces have erased no one within the records' window:
		// one index probe spares hashing every customer of the batch and
		// looking the hashes up.
		var erasures int
		err := tx.QueryRowPrepared(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM applied_messages WHERE workspace_id = $1 AND kind = $2 LIMIT 1) erased`,
			ws, kindErased).Scan(&erasures)
		if err != nil {
			return nil, fmt.Errorf("look for erased customers: %w", err)
		}
		if erasures == 0 {
			continue
		}
		gone, err := erasedOf(ctx, tx, ws, slices.Collect(maps.Keys(byWorkspace[ws])))
		if err != nil {
			return nil, err
		}
		for id := range gone {
			erased[wsID{ws, id}] = true
		}
	}
	return erased, nil
}

// lockErased locks the workspace's ledger row, as erasedAmong does, and
// tells whether customerID is erased: a send outcome or exposure
// published before its customer's erasure and delivered after it is
// dropped, as a late event is, not let bring the person back.
func lockErased(ctx context.Context, tx *sqldb.Tx, ws, customerID string) (bool, error) {
	if err := lockLedger(ctx, tx, ws); err != nil {
		return false, err
	}
	gone, err := erasedOf(ctx, tx, ws, []string{customerID})
	return gone[customerID], err
}

// erasedOf returns those of the customers ids of workspace ws that are
// erased.
func erasedOf(ctx context.Context, tx *sqldb.Tx, ws string, ids []string) (map[string]bool, error) {
	byKey := make(map[string]string, len(ids)) // erased key → customer
	for _, id := range ids {
		byKey[regulation.ErasedKey(id)] = id
	}
	out := map[string]bool{}
	err := tx.QueryIn(ctx, `SELECT message_id FROM applied_messages WHERE workspace_id = $1 AND kind = $2 AND message_id IN (%s)`,
		[]any{ws, kindErased}, slices.Sorted(maps.Keys(byKey)), func(row sqldb.RowScanner) error {
			var key string
			err := row.Scan(&key)
			out[byKey[key]] = true
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("read erased customers: %w", err)
	}
	return out, nil
}
