package store

import (
	"context"
	"fmt"
	"slices"

	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// eraseChunk bounds the ids bound into one statement.
const eraseChunk = 400

// ExitReasonSuppressed ends the live entries of a suppressed customer.
const ExitReasonSuppressed = "suppressed"

// ApplyRegulation applies a data-rights regulation to the customers ids,
// once per regulation id (messageID): with erase, every row about them —
// journey entries with their trigger events, sends with their rendered
// subject and body (campaigns send through journeys too), channel
// consents, A/B assignments; without, their journey entries in progress
// end (exit reason "suppressed"), and the sender skips whatever is still
// planned because their profile says suppressed. It returns the rows
// changed.
func (t *Tx) ApplyRegulation(ctx context.Context, workspaceID, messageID string, ids []string, erase bool) (int64, error) {
	first, err := t.FirstApply(ctx, workspaceID, messageID)
	if err != nil || !first {
		return 0, err
	}
	var total int64
	for chunk := range slices.Chunk(ids, eraseChunk) {
		in, args := sqldb.InList(2, chunk)
		args = append([]any{workspaceID}, args...)
		if !erase {
			in, _ := sqldb.InList(5, chunk)
			res, err := t.tx.ExecContext(ctx, `UPDATE entries SET state = $2, exit_reason = $3, end_time = $4
				WHERE workspace_id = $1 AND state = '`+EntryInProgress+`' AND customer_id IN (`+in+`)`,
				append([]any{workspaceID, EntryExited, ExitReasonSuppressed, micros(t.now)}, args[1:]...)...)
			if err != nil {
				return 0, fmt.Errorf("end suppressed entries: %w", err)
			}
			n, _ := res.RowsAffected()
			total += n
			continue
		}
		for _, table := range []string{"sends", "entries", "consents", "assignments"} {
			res, err := t.tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE workspace_id = $1 AND customer_id IN (`+in+`)`, args...)
			if err != nil {
				return 0, fmt.Errorf("erase %s: %w", table, err)
			}
			n, _ := res.RowsAffected()
			total += n
		}
	}
	return total, nil
}
