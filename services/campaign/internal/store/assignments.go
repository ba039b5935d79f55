package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// Assignment is a customer's arm in one of a journey's experiments.
type Assignment struct {
	WorkspaceID, JourneyID, CustomerID string
	// Unit is "holdout" or "step:<step id>".
	Unit    string
	Variant string
}

// Assignments returns the recorded assignments of customers in a journey:
// customer → unit → variant.
func (s *Store) Assignments(ctx context.Context, workspaceID, journeyID string, customerIDs []string) (map[string]map[string]string, error) {
	out := map[string]map[string]string{}
	for start := 0; start < len(customerIDs); start += 500 {
		batch := customerIDs[start:min(start+500, len(customerIDs))]
		in, args := s.db.Dialect.InList(3, batch)
		rows, err := s.db.QueryContext(ctx, `SELECT customer_id, unit, variant FROM assignments
			WHERE workspace_id = $1 AND journey_id = $2 AND customer_id IN (`+in+`)`, append([]any{workspaceID, journeyID}, args...)...)
		if err != nil {
			return nil, fmt.Errorf("select assignments: %w", err)
		}
		as, err := collect(rows, func(r scanner) (Assignment, error) {
			var a Assignment
			err := r.Scan(&a.CustomerID, &a.Unit, &a.Variant)
			return a, err
		})
		if err != nil {
			return nil, fmt.Errorf("select assignments: %w", err)
		}
		for _, a := range as {
			if out[a.CustomerID] == nil {
				out[a.CustomerID] = map[string]string{}
			}
			out[a.CustomerID][a.Unit] = a.Variant
		}
	}
	return out, nil
}

// insertAssignments records assignments; one already recorded is kept.
// The rows go in key order (workspace, journey, customer, unit), not the
// caller's: two transactions recording the same assignments (two replicas
// enrolling a broadcast's customers) would otherwise wait on each other's
// uncommitted rows, a deadlock on PostgreSQL.
func insertAssignments(ctx context.Context, tx *sqldb.Tx, now time.Time, as []Assignment) error {
	as = slices.SortedStableFunc(slices.Values(as), func(a, b Assignment) int {
		return cmp.Or(strings.Compare(a.WorkspaceID, b.WorkspaceID), strings.Compare(a.JourneyID, b.JourneyID),
			strings.Compare(a.CustomerID, b.CustomerID), strings.Compare(a.Unit, b.Unit))
	})
	const cols = 6
	for start := 0; start < len(as); start += insertBatch {
		batch := as[start:min(start+insertBatch, len(as))]
		args := make([]any, 0, len(batch)*cols)
		for _, a := range batch {
			args = append(args, a.WorkspaceID, a.JourneyID, a.CustomerID, a.Unit, a.Variant, micros(now))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO assignments (workspace_id, journey_id, customer_id, unit, variant, assign_time)
			VALUES `+tx.Dialect.Rows(len(batch), cols)+` ON CONFLICT DO NOTHING`, args...); err != nil {
			return fmt.Errorf("insert assignments: %w", err)
		}
	}
	return nil
}
