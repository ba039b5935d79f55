package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// kindRegulation keys applied regulations in applied_messages.
const kindRegulation = "regulation"

// eraseChunk bounds the ids bound into one statement.
const eraseChunk = 400

// EraseCustomers deletes every row about the customers ids (a DELETE
// regulation): orders, named events and survey answers with their
// comments, journey sends and experiment exposures (the person leaves
// the results), first-seen records and aliases to or from them, and
// records them erased (recordErased).
// It bumps the ledger's structure version, so cached KPIs are recomputed
// without them, and runs once per regulation id; it returns the rows
// deleted.
func (s *Store) EraseCustomers(ctx context.Context, ws, regulationID string, ids []string) (int64, error) {
	var total int64
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		total = 0
		fresh, err := s.markApplied(ctx, tx, ws, kindRegulation, regulationID)
		if err != nil || !fresh {
			return err
		}
		if _, err := bumpVersion(ctx, tx, ws, "structure"); err != nil {
			return err
		}
		for chunk := range slices.Chunk(ids, eraseChunk) {
			in, args := sqldb.InList(2, chunk)
			args = append([]any{ws}, args...)
			for _, st := range []struct{ table, where string }{
				{"orders", "customer_id IN (" + in + ")"},
				{"events", "customer_id IN (" + in + ")"},
				{"survey_answers", "customer_id IN (" + in + ")"},
				{"sends", "customer_id IN (" + in + ")"},
				{"exposures", "customer_id IN (" + in + ")"},
				{"customers", "customer_id IN (" + in + ")"},
				{"customer_aliases", "merged_customer_id IN (" + in + ") OR survivor_customer_id IN (" + in + ")"},
			} {
				res, err := tx.ExecContext(ctx, `DELETE FROM `+st.table+` WHERE workspace_id = $1 AND (`+st.where+`)`, args...)
				if err != nil {
					return fmt.Errorf("erase %s: %w", st.table, err)
				}
				n, _ := res.RowsAffected()
				total += n
			}
		}
		// Their late events are dropped, not let bring them back.
		return s.recordErased(ctx, tx, ws, ids)
	})
	if err != nil {
		return 0, fmt.Errorf("erase customers for regulation %s: %w", regulationID, err)
	}
	return total, nil
}
