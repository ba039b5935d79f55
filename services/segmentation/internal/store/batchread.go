package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
)

// The live path evaluates the customers of a consumed batch together: the
// Of methods read what it needs of many customers with one query per
// chunk of ids, instead of one query per customer and kind.

// queryIDs runs query (whose %s is the IN list of ids, after the
// parameters args) for each chunk of ids and calls scan for every row. The
// statements are prepared once (sqldb.DB.QueryIn): the live path runs
// them for every consumed batch, and parsing them each time was a tenth
// of its evaluation.
func (s *Store) queryIDs(ctx context.Context, query string, args []any, ids []string, scan func(row scanner) error) error {
	return s.db.QueryIn(ctx, query, args, ids, func(row sqldb.RowScanner) error { return scan(row) })
}

// CustomersOf implements segment.Store.
func (s *Store) CustomersOf(ctx context.Context, workspaceID string, ids []string) (map[string]segment.Customer, error) {
	out := make(map[string]segment.Customer, len(ids))
	err := s.queryIDs(ctx, `SELECT customer_id, traits, trait_times, first_seen, last_seen, event_count
FROM customers WHERE workspace_id = $1 AND customer_id IN (%s)`, []any{workspaceID}, ids, func(row scanner) error {
		c, err := scanCustomer(row, workspaceID)
		out[c.ID] = c
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("get %d customers: %w", len(ids), err)
	}
	return out, nil
}

// BehavioursOf implements segment.Store.
func (s *Store) BehavioursOf(ctx context.Context, workspaceID string, ids, names []string, since time.Time) ([]segment.Behaviour, error) {
	var out []segment.Behaviour
	for chunk := range slices.Chunk(ids, mergeChunk) {
		in, args := sqldb.InList(2, chunk)
		evs, err := s.behaviours(ctx, `customer_id IN (`+in+`)`, args, workspaceID, names, since)
		if err != nil {
			return nil, fmt.Errorf("behaviour of %d customers: %w", len(ids), err)
		}
		out = append(out, evs...)
	}
	return out, nil
}

// OrderStatsOf implements segment.Store.
func (s *Store) OrderStatsOf(ctx context.Context, workspaceID string, ids []string) (map[string]segment.OrderStats, error) {
	out := make(map[string]segment.OrderStats, len(ids))
	for chunk := range slices.Chunk(ids, mergeChunk) {
		in, args := sqldb.InList(2, chunk)
		stats, err := s.orderStats(ctx, fmt.Sprintf(orderStatsQuery, "AND customer_id IN ("+in+")"), append([]any{workspaceID}, args...)...)
		if err != nil {
			return nil, fmt.Errorf("order stats of %d customers: %w", len(ids), err)
		}
		for _, st := range stats {
			out[st.CustomerID] = st
		}
	}
	return out, nil
}

// SegmentIDsOf implements segment.Store.
func (s *Store) SegmentIDsOf(ctx context.Context, workspaceID string, ids []string) (map[string][]string, error) {
	out := make(map[string][]string, len(ids))
	err := s.queryIDs(ctx, `SELECT customer_id, segment_id FROM memberships WHERE workspace_id = $1 AND customer_id IN (%s)
ORDER BY customer_id, segment_id`, []any{workspaceID}, ids, func(row scanner) error {
		var customer, segmentID string
		if err := row.Scan(&customer, &segmentID); err != nil {
			return err
		}
		out[customer] = append(out[customer], segmentID)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("memberships of %d customers: %w", len(ids), err)
	}
	return out, nil
}

// PredictionsOf implements segment.Store.
func (s *Store) PredictionsOf(ctx context.Context, workspaceID string, ids []string) (map[string]segment.Prediction, error) {
	out := make(map[string]segment.Prediction, len(ids))
	err := s.queryIDs(ctx, `SELECT `+predictionColumns+` FROM predictions WHERE workspace_id = $1 AND customer_id IN (%s)`,
		[]any{workspaceID}, ids, func(row scanner) error {
			p, err := scanPrediction(row)
			out[p.CustomerID] = p
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("predictions of %d customers: %w", len(ids), err)
	}
	return out, nil
}
