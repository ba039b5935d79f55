package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

const journeyColumns = `workspace_id, journey_id, state, definition, entry_kind, entry_key, create_time, update_time, activate_time, enrolled`

func scanJourney(row scanner) (Journey, error) {
	var (
		j                   Journey
		def                 string
		create, update, act int64
	)
	if err := row.Scan(&j.WorkspaceID, &j.ID, &j.State, &def, &j.EntryKind, &j.EntryKey, &create, &update, &act, &j.Enrolled); err != nil {
		return Journey{}, err
	}
	j.Definition = &campaignv1.Journey{}
	if err := protojson.Unmarshal([]byte(def), j.Definition); err != nil {
		return Journey{}, fmt.Errorf("journey %q definition: %w", j.ID, err)
	}
	j.CreateTime, j.UpdateTime, j.ActivateTime = fromMicros(create), fromMicros(update), fromMicros(act)
	return j, nil
}

func encodeDefinition(d *campaignv1.Journey) (string, error) {
	b, err := protojson.Marshal(d)
	if err != nil {
		return "", fmt.Errorf("encode journey definition: %w", err)
	}
	return string(b), nil
}

// CreateJourney inserts j.
func (s *Store) CreateJourney(ctx context.Context, j Journey) error {
	def, err := encodeDefinition(j.Definition)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error { return insertJourney(ctx, tx, j, def) })
}

func insertJourney(ctx context.Context, tx *sqldb.Tx, j Journey, def string) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO journeys (`+journeyColumns+`, display_name)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		j.WorkspaceID, j.ID, j.State, def, j.EntryKind, j.EntryKey, micros(j.CreateTime), micros(j.UpdateTime),
		micros(j.ActivateTime), j.Enrolled, j.Definition.GetDisplayName()); err != nil {
		return fmt.Errorf("insert journey %q: %w", j.ID, err)
	}
	return bumpVersion(ctx, tx, j.WorkspaceID)
}

// bumpVersion tells every replica's journey cache that the workspace's
// journeys changed.
func bumpVersion(ctx context.Context, tx *sqldb.Tx, workspaceID string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO journey_versions (workspace_id, version) VALUES ($1, 1)
		ON CONFLICT (workspace_id) DO UPDATE SET version = journey_versions.version + 1`, workspaceID)
	if err != nil {
		return fmt.Errorf("bump journey version: %w", err)
	}
	return nil
}

// JourneysVersion returns the workspace's journey version (0 before any).
func (s *Store) JourneysVersion(ctx context.Context, workspaceID string) (int64, error) {
	var v int64
	err := s.db.QueryRowPrepared(ctx, `SELECT version FROM journey_versions WHERE workspace_id = $1`, workspaceID).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("select journey version: %w", err)
	}
	return v, nil
}

// GetJourney returns the workspace's journey or ErrNotFound.
func (s *Store) GetJourney(ctx context.Context, workspaceID, journeyID string) (Journey, error) {
	j, err := scanJourney(s.db.QueryRowContext(ctx, `SELECT `+journeyColumns+` FROM journeys
		WHERE workspace_id = $1 AND journey_id = $2`, workspaceID, journeyID))
	if errors.Is(err, sql.ErrNoRows) {
		return Journey{}, fmt.Errorf("journey %q: %w", journeyID, ErrNotFound)
	}
	if err != nil {
		return Journey{}, fmt.Errorf("select journey %q: %w", journeyID, err)
	}
	return j, nil
}

// ListJourneys returns up to limit journeys, newest first, after the id
// after.
func (s *Store) ListJourneys(ctx context.Context, workspaceID, after string, limit int) ([]Journey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+journeyColumns+` FROM journeys
		WHERE workspace_id = $1 AND ($2 = '' OR journey_id < $2) ORDER BY journey_id DESC LIMIT $3`, workspaceID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("select journeys: %w", err)
	}
	js, err := collect(rows, scanJourney)
	if err != nil {
		return nil, fmt.Errorf("select journeys: %w", err)
	}
	return js, nil
}

// LiveJourneys returns the workspace's active and paused journeys.
func (s *Store) LiveJourneys(ctx context.Context, workspaceID string) ([]Journey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+journeyColumns+` FROM journeys
		WHERE workspace_id = $1 AND state IN ('active', 'paused')`, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("select live journeys: %w", err)
	}
	js, err := collect(rows, scanJourney)
	if err != nil {
		return nil, fmt.Errorf("select live journeys: %w", err)
	}
	return js, nil
}

// UpdateDraft replaces a draft journey's definition; ErrConflict when it is
// no longer a draft.
func (s *Store) UpdateDraft(ctx context.Context, j Journey) error {
	def, err := encodeDefinition(j.Definition)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE journeys SET definition = $3, display_name = $4, entry_kind = $5, entry_key = $6, update_time = $7
			WHERE workspace_id = $1 AND journey_id = $2 AND state = 'draft'`,
			j.WorkspaceID, j.ID, def, j.Definition.GetDisplayName(), j.EntryKind, j.EntryKey, micros(j.UpdateTime))
		if err != nil {
			return fmt.Errorf("update journey %q: %w", j.ID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return s.stateConflict(ctx, tx, j.WorkspaceID, j.ID, "only a draft can be edited")
		}
		return bumpVersion(ctx, tx, j.WorkspaceID)
	})
}

// SetJourneyState moves a journey from one of the states from to state to.
// It returns ErrConflict (naming the current state) when the journey is in
// none of them, ErrNotFound when it does not exist. Archiving also ends
// the entries in progress and skips their queued sends.
func (s *Store) SetJourneyState(ctx context.Context, workspaceID, journeyID string, from []string, to string, now time.Time) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		in, args := sqldb.InList(5, from)
		res, err := tx.ExecContext(ctx, `UPDATE journeys SET state = $3, update_time = $4,
			activate_time = CASE WHEN activate_time = 0 AND $3 = 'active' THEN $4 ELSE activate_time END
			WHERE workspace_id = $1 AND journey_id = $2 AND state IN (`+in+`)`,
			append([]any{workspaceID, journeyID, to, micros(now)}, args...)...)
		if err != nil {
			return fmt.Errorf("set journey %q %s: %w", journeyID, to, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return s.stateConflict(ctx, tx, workspaceID, journeyID, "cannot become "+to)
		}
		if to == JourneyArchived {
			if _, err := tx.ExecContext(ctx, `UPDATE entries SET state = 'exited', exit_reason = 'JOURNEY_ARCHIVED', end_time = $3, due_time = 0, waiting = FALSE
				WHERE workspace_id = $1 AND journey_id = $2 AND state = 'in_progress'`, workspaceID, journeyID, micros(now)); err != nil {
				return fmt.Errorf("end entries of %q: %w", journeyID, err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE sends SET status = 'skipped', reason = 'ENTRY_ENDED', lease_token = ''
				WHERE workspace_id = $1 AND journey_id = $2 AND status IN ('pending', 'deferred')`, workspaceID, journeyID); err != nil {
				return fmt.Errorf("skip sends of %q: %w", journeyID, err)
			}
		}
		return bumpVersion(ctx, tx, workspaceID)
	})
}

func (s *Store) stateConflict(ctx context.Context, tx *sqldb.Tx, workspaceID, journeyID, why string) error {
	var state string
	err := tx.QueryRowContext(ctx, `SELECT state FROM journeys WHERE workspace_id = $1 AND journey_id = $2`, workspaceID, journeyID).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("journey %q: %w", journeyID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("select journey %q: %w", journeyID, err)
	}
	return fmt.Errorf("journey %q is %s: %s: %w", journeyID, state, why, ErrConflict)
}

// DueBroadcasts returns active broadcast journeys, over all workspaces,
// whose members are not enrolled yet. The caller checks the start time.
func (s *Store) DueBroadcasts(ctx context.Context, limit int) ([]Journey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+journeyColumns+` FROM journeys
		WHERE state = 'active' AND entry_kind = 'broadcast' AND NOT enrolled LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("select due broadcasts: %w", err)
	}
	js, err := collect(rows, scanJourney)
	if err != nil {
		return nil, fmt.Errorf("select due broadcasts: %w", err)
	}
	return js, nil
}

// MarkEnrolled records that a broadcast's members are all enrolled.
func (s *Store) MarkEnrolled(ctx context.Context, workspaceID, journeyID string) error {
	_, err := s.db.ExecWrite(ctx, `UPDATE journeys SET enrolled = TRUE WHERE workspace_id = $1 AND journey_id = $2`, workspaceID, journeyID)
	if err != nil {
		return fmt.Errorf("mark journey %q enrolled: %w", journeyID, err)
	}
	return nil
}
