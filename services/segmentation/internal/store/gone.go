package store

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
)

// withoutGoneJoins returns changes without the joins of customers that
// have no row any more: merged away or erased after the evaluation that
// produced the join read them. An evaluation reads outside the
// transaction that writes its changes, and on another replica a merge can
// commit in between (the engine's workspace lock covers one process only);
// its join would leave a member that no longer exists, which nothing
// removes. Leaves pass: a membership row without a customer is exactly
// what a leave must remove.
//
// On PostgreSQL the customers' rows are share-locked (FOR KEY SHARE) in id
// order, before ApplyChanges takes any membership row: a merge or erasure
// in flight, holding a customer row, is waited for, and one that comes
// after waits for this transaction and then removes the membership it
// wrote. Merges and erasures likewise lock customer rows before
// memberships, each in id order, so the two cannot deadlock; event
// batches take customer rows only, and their upserts (FOR NO KEY UPDATE)
// do not conflict with a key-share lock.
func withoutGoneJoins(ctx context.Context, tx *sqldb.Tx, changes []segment.MembershipChange) ([]segment.MembershipChange, error) {
	joining := map[string]map[string]bool{} // workspace → customers joining
	for _, c := range changes {
		if c.Joined {
			if joining[c.WorkspaceID] == nil {
				joining[c.WorkspaceID] = map[string]bool{}
			}
			joining[c.WorkspaceID][c.CustomerID] = true
		}
	}
	if len(joining) == 0 {
		return changes, nil
	}
	lock := ""
	if tx.Dialect == sqldb.Postgres {
		lock = " FOR KEY SHARE"
	}
	present := map[wsID]bool{}
	for _, ws := range slices.Sorted(maps.Keys(joining)) {
		err := tx.QueryIn(ctx, `SELECT customer_id FROM customers
WHERE workspace_id = $1 AND customer_id IN (%s) ORDER BY `+tx.Dialect.ByteOrder("customer_id")+lock,
			[]any{ws}, slices.Sorted(maps.Keys(joining[ws])), func(row sqldb.RowScanner) error {
				var id string
				err := row.Scan(&id)
				present[wsID{ws, id}] = true
				return err
			})
		if err != nil {
			return nil, fmt.Errorf("lock customers joining segments: %w", err)
		}
	}
	out := make([]segment.MembershipChange, 0, len(changes))
	for _, c := range changes {
		if !c.Joined || present[wsID{c.WorkspaceID, c.CustomerID}] {
			out = append(out, c)
		}
	}
	return out, nil
}
