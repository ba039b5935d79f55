package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// kindRegulation keys applied regulations in applied_messages.
const kindRegulation = "regulation"

// EraseCustomers implements segment.Store: it deletes every row about the
// customers ids — profile and traits, behaviour, orders, predictions,
// memberships (with a leave change each, so sizes and campaign stay
// right) and unmerge records — in one transaction keyed by the regulation
// id, and records the ids as erased (retired_customers, hashed), so that
// their events delivered late are dropped. It returns the rows deleted and false when the regulation was
// applied before.
func (s *Store) EraseCustomers(ctx context.Context, workspaceID, regulationID string, ids []string, now time.Time) (int64, bool, error) {
	var total int64
	var applied bool
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		total = 0
		var err error
		if applied, err = markApplied(ctx, tx, workspaceID, kindRegulation, regulationID, now); err != nil || !applied {
			return err
		}
		total, err = eraseCustomers(ctx, tx, workspaceID, ids, now)
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("erase customers for regulation %s: %w", regulationID, err)
	}
	return total, applied, nil
}

// eraseCustomers is EraseCustomers' work once the regulation is recorded
// as applied, and a merge's whose survivor was erased (applyMerge). It
// must be the transaction's last write (see nextBehavioursVersion).
func eraseCustomers(ctx context.Context, tx *sqldb.Tx, workspaceID string, ids []string, now time.Time) (int64, error) {
	// The rows are locked in id order first, as batches of events and
	// merges lock theirs: the deletes below lock them in whatever order
	// the plan visits them, which could deadlock with either. Customers
	// with no row get one first, deleted with the rest: a batch creating
	// one of them waits for this erasure (see createCustomers).
	made, err := createCustomers(ctx, tx, workspaceID, ids, nil)
	if err != nil {
		return 0, err
	}
	if _, err := lockCustomers(ctx, tx, workspaceID, ids); err != nil {
		return 0, err
	}
	total := -int64(len(made)) // counted deleted below
	// Chunks in id order too: each locks its customers' memberships
	// (leaveAll), which must be taken in one order across chunks.
	for chunk := range slices.Chunk(slices.Sorted(slices.Values(ids)), mergeChunk) {
		if err := leaveAll(ctx, tx, workspaceID, chunk, now); err != nil {
			return 0, err
		}
		in, args := sqldb.InList(2, chunk)
		args = append([]any{workspaceID}, args...)
		for _, table := range []string{"customers", "behaviours", "orders", "predictions", "unmerged_customers"} {
			res, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE workspace_id = $1 AND customer_id IN (`+in+`)`, args...)
			if err != nil {
				return 0, fmt.Errorf("erase %s: %w", table, err)
			}
			n, _ := res.RowsAffected()
			total += n
		}
	}
	// Their late events are dropped, not let re-create them.
	if err := retireErased(ctx, tx, workspaceID, ids, now); err != nil {
		return 0, err
	}
	if err := bumpOrdersVersion(ctx, tx, workspaceID, 1); err != nil {
		return 0, err
	}
	if _, err := nextMembershipsVersion(ctx, tx, workspaceID); err != nil { // last but one: see nextMembershipsVersion
		return 0, err
	}
	// Last (see nextBehavioursVersion), and without the erased ids: every
	// cached behaviour of the workspace is reloaded.
	return total, logBehaviourChanges(ctx, tx, workspaceID, []string{""})
}
