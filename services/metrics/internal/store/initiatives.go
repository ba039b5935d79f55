package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"

	metricsv1 "github.com/kizuna/kizuna/gen/kizuna/metrics/v1"
	"github.com/kizuna/kizuna/services/metrics/internal/initiative"
)

// CreatePdcaInitiative stores in under a new id, which it sets.
func (s *Store) CreatePdcaInitiative(ctx context.Context, ws string, in *metricsv1.PdcaInitiative) error {
	id, err := NewID("ini_")
	if err != nil {
		return err
	}
	in.InitiativeId = id
	body, err := protojson.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode initiative: %w", err)
	}
	_, err = s.db.ExecWrite(ctx, `INSERT INTO pdca_initiatives (workspace_id, initiative_id, state, kpi, body, create_time) VALUES ($1, $2, $3, $4, $5, $6)`,
		ws, id, in.GetState().String(), in.GetKpi(), string(body), in.GetCreateTime().AsTime().UnixMicro())
	if err != nil {
		return fmt.Errorf("create initiative: %w", err)
	}
	return nil
}

// GetPdcaInitiative returns an initiative, initiative.ErrNotFound when the
// workspace has none of that id.
func (s *Store) GetPdcaInitiative(ctx context.Context, ws, id string) (*metricsv1.PdcaInitiative, error) {
	var body string
	err := s.db.QueryRowContext(ctx, `SELECT body FROM pdca_initiatives WHERE workspace_id = $1 AND initiative_id = $2`, ws, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, initiative.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("get initiative: %w", err)
	}
	return decodeInitiative(body)
}

func decodeInitiative(body string) (*metricsv1.PdcaInitiative, error) {
	in := &metricsv1.PdcaInitiative{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal([]byte(body), in); err != nil {
		return nil, fmt.Errorf("decode initiative: %w", err)
	}
	return in, nil
}

// UpdatePdcaInitiative stores in if the stored one is still in state from;
// otherwise someone moved it meanwhile and it fails with
// initiative.ErrTransition.
func (s *Store) UpdatePdcaInitiative(ctx context.Context, ws string, in *metricsv1.PdcaInitiative, from metricsv1.InitiativeState) error {
	body, err := protojson.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode initiative: %w", err)
	}
	res, err := s.db.ExecWrite(ctx, `UPDATE pdca_initiatives SET state = $4, body = $5 WHERE workspace_id = $1 AND initiative_id = $2 AND state = $3`,
		ws, in.GetInitiativeId(), from.String(), in.GetState().String(), string(body))
	if err != nil {
		return fmt.Errorf("update initiative: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("update initiative: %w", err)
	} else if n == 0 {
		return fmt.Errorf("%w: the initiative moved on from %s meanwhile", initiative.ErrTransition, from)
	}
	return nil
}

// ListPdcaInitiatives returns up to limit initiatives, newest first, after
// skipping offset, filtered by state and kpi when they are set.
func (s *Store) ListPdcaInitiatives(ctx context.Context, ws, state, kpi string, limit, offset int) ([]*metricsv1.PdcaInitiative, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT body FROM pdca_initiatives
WHERE workspace_id = $1 AND ($2 = '' OR state = $2) AND ($3 = '' OR kpi = $3)
ORDER BY create_time DESC, initiative_id DESC LIMIT $4 OFFSET $5`, ws, state, kpi, limit, offset)
	if err != nil {
		return nil, fmt.Errorf("list initiatives: %w", err)
	}
	defer rows.Close()
	var out []*metricsv1.PdcaInitiative
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, fmt.Errorf("list initiatives: %w", err)
		}
		in, err := decodeInitiative(body)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list initiatives: %w", err)
	}
	return out, nil
}
