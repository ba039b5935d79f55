package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/customer"
	"github.com/kizuna/kizuna/services/ingestion/internal/dedupe"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

const scanColumns = `workspace_id, scan_id, state, phase, progress, customers_total, customers_scanned, pairs_compared,
	suggestions_created, merges_applied, auto_merge, error, create_time, update_time, end_time`

func scanScan(sc interface{ Scan(...any) error }) (dedupe.Scan, error) {
	var s dedupe.Scan
	var created, updated, ended int64
	err := sc.Scan(&s.WorkspaceID, &s.ID, &s.State, &s.Phase, &s.Progress, &s.CustomersTotal, &s.CustomersScanned, &s.PairsCompared,
		&s.SuggestionsCreated, &s.MergesApplied, &s.AutoMerge, &s.Error, &created, &updated, &ended)
	s.CreateTime, s.UpdateTime = fromMicros(created), fromMicros(updated)
	if ended != 0 {
		s.EndTime = fromMicros(ended)
	}
	return s, err
}

// StartScan records a new running scan unless the workspace has one
// running that was updated after staleBefore; then it returns that one and
// started=false. A running scan not updated since staleBefore was cut off
// (its process stopped) and is marked failed.
func (s *Store) StartScan(ctx context.Context, sc dedupe.Scan, staleBefore time.Time) (dedupe.Scan, bool, error) {
	var out dedupe.Scan
	var started bool
	var err error
	// A concurrent start may win the unique index on running scans: the
	// retry then finds and returns its scan.
	for attempt := 0; attempt < 3; attempt++ {
		err = s.InTx(ctx, func(tx *Tx) error {
			out, started = sc, false
			live, err := tx.failStaleScans(ctx, sc.WorkspaceID, staleBefore, sc.CreateTime)
			if err != nil || live != nil {
				if live != nil {
					out = *live
				}
				return err
			}
			if _, err := tx.tx.ExecContext(ctx, `INSERT INTO duplicate_scans (workspace_id, scan_id, state, phase, auto_merge, customers_total, create_time, update_time)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`, sc.WorkspaceID, sc.ID, sc.State, sc.Phase, sc.AutoMerge, sc.CustomersTotal, micros(sc.CreateTime)); err != nil {
				return fmt.Errorf("record scan: %w", err)
			}
			started = true
			return nil
		})
		if err == nil || !sqldb.IsUniqueViolation(err) {
			break
		}
	}
	return out, started, err
}

// failStaleScans marks the workspace's running scan failed if it was not
// updated since staleBefore, and otherwise returns it (nil when none runs;
// a unique index allows one).
func (t *Tx) failStaleScans(ctx context.Context, ws string, staleBefore, now time.Time) (*dedupe.Scan, error) {
	r, err := scanScan(t.tx.QueryRowContext(ctx, `SELECT `+scanColumns+` FROM duplicate_scans WHERE workspace_id = $1 AND state = $2`, ws, dedupe.ScanRunning))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("find running scan: %w", err)
	}
	if !r.Stale(staleBefore) {
		return &r, nil
	}
	if _, err := t.tx.ExecContext(ctx, `UPDATE duplicate_scans SET state = $3, error = $4, end_time = $5 WHERE workspace_id = $1 AND scan_id = $2`,
		ws, r.ID, dedupe.ScanFailed, dedupe.ScanInterrupted, micros(now)); err != nil {
		return nil, fmt.Errorf("fail stale scan: %w", err)
	}
	return nil, nil
}

// UpdateScan stores a scan's progress and state.
func (s *Store) UpdateScan(ctx context.Context, sc dedupe.Scan) error {
	var ended int64
	if !sc.EndTime.IsZero() {
		ended = micros(sc.EndTime)
	}
	_, err := s.db.ExecWrite(ctx, `UPDATE duplicate_scans SET state = $3, phase = $4, progress = $5, customers_total = $6, customers_scanned = $7,
		pairs_compared = $8, suggestions_created = $9, merges_applied = $10, error = $11, update_time = $12, end_time = $13
		WHERE workspace_id = $1 AND scan_id = $2`,
		sc.WorkspaceID, sc.ID, sc.State, sc.Phase, sc.Progress, sc.CustomersTotal, sc.CustomersScanned, sc.PairsCompared,
		sc.SuggestionsCreated, sc.MergesApplied, sc.Error, micros(sc.UpdateTime), ended)
	if err != nil {
		return fmt.Errorf("update scan %s: %w", sc.ID, err)
	}
	return nil
}

// Scan returns one scan.
func (s *Store) Scan(ctx context.Context, ws, id string) (dedupe.Scan, error) {
	sc, err := scanScan(s.db.QueryRowContext(ctx, `SELECT `+scanColumns+` FROM duplicate_scans WHERE workspace_id = $1 AND scan_id = $2`, ws, id))
	if errors.Is(err, sql.ErrNoRows) {
		return dedupe.Scan{}, fmt.Errorf("duplicate scan %q: %w", id, dedupe.ErrNotFound)
	}
	if err != nil {
		return dedupe.Scan{}, fmt.Errorf("load scan %q: %w", id, err)
	}
	return sc, nil
}

// CountLiveCustomers counts the customers not merged away.
func (s *Store) CountLiveCustomers(ctx context.Context, ws string) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM customers WHERE workspace_id = $1 AND merged_into = ''`, ws).Scan(&n); err != nil {
		return 0, fmt.Errorf("count customers: %w", err)
	}
	return n, nil
}

// LiveCustomers returns up to limit live customers with ids after after, in
// id order.
func (s *Store) LiveCustomers(ctx context.Context, ws, after string, limit int) ([]dedupe.LiveCustomer, error) {
	rows, err := s.db.QueryContext(ctx, fmt.Sprintf(`SELECT customer_id, user_id, traits FROM customers
		WHERE workspace_id = $1 AND merged_into = '' AND customer_id > $2 ORDER BY customer_id LIMIT %d`, limit), ws, after)
	if err != nil {
		return nil, fmt.Errorf("read customers: %w", err)
	}
	defer rows.Close()
	var out []dedupe.LiveCustomer
	for rows.Next() {
		var c dedupe.LiveCustomer
		var traits string
		if err := rows.Scan(&c.ID, &c.UserID, &traits); err != nil {
			return nil, fmt.Errorf("scan customer: %w", err)
		}
		if c.Traits, err = decodeTraits(traits); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

const suggestionColumns = `suggestion_id, customer_a, customer_b, score, reasons, state, scan_id, merge_id, create_time, decide_time`

func scanSuggestion(sc interface{ Scan(...any) error }) (customer.Suggestion, error) {
	var s customer.Suggestion
	var reasons string
	var created, decided int64
	if err := sc.Scan(&s.ID, &s.CustomerA, &s.CustomerB, &s.Score, &reasons, &s.State, &s.ScanID, &s.MergeID, &created, &decided); err != nil {
		return customer.Suggestion{}, err
	}
	s.CreateTime = fromMicros(created)
	if decided != 0 {
		s.DecideTime = fromMicros(decided)
	}
	if err := json.Unmarshal([]byte(reasons), &s.Reasons); err != nil {
		return customer.Suggestion{}, fmt.Errorf("decode reasons of %s: %w", s.ID, err)
	}
	return s, nil
}

// InsertSuggestion stores a pending suggestion unless the pair was
// suggested before (in any state); it reports whether it stored one.
func (t *Tx) InsertSuggestion(ctx context.Context, ws string, s customer.Suggestion) (bool, error) {
	if s.CustomerA > s.CustomerB {
		s.CustomerA, s.CustomerB = s.CustomerB, s.CustomerA
	}
	reasons, err := json.Marshal(s.Reasons)
	if err != nil {
		return false, fmt.Errorf("encode reasons: %w", err)
	}
	res, err := t.tx.ExecContext(ctx, `INSERT INTO merge_suggestions (workspace_id, suggestion_id, customer_a, customer_b, score, reasons, state, scan_id, create_time)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
		ws, s.ID, s.CustomerA, s.CustomerB, s.Score, string(reasons), customer.SuggestionPending, s.ScanID, micros(s.CreateTime))
	if err != nil {
		return false, fmt.Errorf("insert suggestion: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("insert suggestion: %w", err)
	}
	return n == 1, nil
}

// rejectPair records that two customers are different people, whatever was
// suggested for the pair before; id names a new row.
func (t *Tx) rejectPair(ctx context.Context, ws, id, a, b string, now time.Time) error {
	if a > b {
		a, b = b, a
	}
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO merge_suggestions (workspace_id, suggestion_id, customer_a, customer_b, score, reasons, state, scan_id, create_time, decide_time)
		VALUES ($1, $2, $3, $4, 0, '[]', $5, '', $6, $6)
		ON CONFLICT (workspace_id, customer_a, customer_b) DO UPDATE SET state = excluded.state, decide_time = excluded.decide_time`,
		ws, id, a, b, customer.SuggestionRejected, micros(now)); err != nil {
		return fmt.Errorf("reject pair: %w", err)
	}
	return nil
}

// PairRejected reports whether a person rejected merging a and b (or
// undid their merge).
func (t *Tx) PairRejected(ctx context.Context, ws, a, b string) (bool, error) {
	if a > b {
		a, b = b, a
	}
	var state string
	err := t.tx.QueryRowContext(ctx, `SELECT state FROM merge_suggestions WHERE workspace_id = $1 AND customer_a = $2 AND customer_b = $3`, ws, a, b).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read pair: %w", err)
	}
	return state == customer.SuggestionRejected, nil
}

// Suggestion returns one suggestion.
func (t *Tx) Suggestion(ctx context.Context, ws, id string) (customer.Suggestion, error) {
	s, err := scanSuggestion(t.tx.QueryRowContext(ctx, `SELECT `+suggestionColumns+` FROM merge_suggestions WHERE workspace_id = $1 AND suggestion_id = $2`, ws, id))
	if errors.Is(err, sql.ErrNoRows) {
		return customer.Suggestion{}, fmt.Errorf("merge suggestion %q: %w", id, customer.ErrNotFound)
	}
	if err != nil {
		return customer.Suggestion{}, fmt.Errorf("load suggestion %q: %w", id, err)
	}
	return s, nil
}

// DecideSuggestion sets a suggestion's state.
func (t *Tx) DecideSuggestion(ctx context.Context, ws, id, state, mergeID string, now time.Time) error {
	if _, err := t.tx.ExecContext(ctx, `UPDATE merge_suggestions SET state = $3, merge_id = $4, decide_time = $5 WHERE workspace_id = $1 AND suggestion_id = $2`,
		ws, id, state, mergeID, micros(now)); err != nil {
		return fmt.Errorf("decide suggestion %s: %w", id, err)
	}
	return nil
}

// Suggestions lists suggestions in a state, highest score first.
func (s *Store) Suggestions(ctx context.Context, ws, state string, pageSize int, token string) (*customer.SuggestionPage, error) {
	q := `SELECT ` + suggestionColumns + ` FROM merge_suggestions WHERE workspace_id = $1 AND state = $2`
	args := []any{ws, state}
	if token != "" {
		pos, id, err := decodeToken(token)
		if err != nil {
			return nil, err
		}
		score, err := strconv.ParseFloat(pos, 64)
		if err != nil {
			return nil, ErrBadPageToken
		}
		q += ` AND (score < $3 OR (score = $3 AND suggestion_id > $4))`
		args = append(args, score, id)
	}
	q += fmt.Sprintf(` ORDER BY score DESC, suggestion_id LIMIT %d`, pageSize+1)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list suggestions: %w", err)
	}
	defer rows.Close()
	page := &customer.SuggestionPage{}
	for rows.Next() {
		sg, err := scanSuggestion(rows)
		if err != nil {
			return nil, fmt.Errorf("scan suggestion: %w", err)
		}
		page.Suggestions = append(page.Suggestions, sg)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list suggestions: %w", err)
	}
	page.Suggestions, page.NextToken = trimPage(page.Suggestions, pageSize, func(s customer.Suggestion) string {
		return encodeToken(strconv.FormatFloat(s.Score, 'g', -1, 64), s.ID)
	})
	return page, nil
}
