package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kizuna/kizuna/services/metrics/internal/kpi"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

var _ kpi.Source = (*Store)(nil)

// ErrNotFound: no such cost, tree or initiative in the workspace.
var ErrNotFound = errors.New("not found")

// NewID returns a random id with prefix.
func NewID(prefix string) (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new id: %w", err)
	}
	return prefix + hex.EncodeToString(b), nil
}

// ScanOrders calls fn for each of the workspace's orders. It fails with
// kpi.ErrTooManyOrders beyond maxCLVOrders.
func (s *Store) ScanOrders(ctx context.Context, ws string, fn func(customerID string, at time.Time, revenue float64, currency string)) error {
	rows, err := s.db.QueryContext(ctx, `SELECT customer_id, order_time, revenue, currency FROM orders WHERE workspace_id = $1`, ws)
	return readOrders(rows, err, fn)
}

// readOrders reads (customer, time, revenue, currency) rows for fn,
// failing with kpi.ErrTooManyOrders beyond maxCLVOrders.
func readOrders(rows *sql.Rows, err error, fn func(customerID string, at time.Time, revenue float64, currency string)) error {
	if err != nil {
		return fmt.Errorf("scan orders: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			id, currency string
			at           int64
			revenue      float64
		)
		if err := rows.Scan(&id, &at, &revenue, &currency); err != nil {
			return fmt.Errorf("scan orders: %w", err)
		}
		if n++; n > maxCLVOrders {
			return kpi.ErrTooManyOrders
		}
		fn(id, time.UnixMicro(at).UTC(), revenue, currency)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan orders: %w", err)
	}
	return nil
}

// ScanCustomersUpTo calls fn for each customer whose row was last written
// with afterSeq < seq <= upToSeq, with its first-seen time.
func (s *Store) ScanCustomersUpTo(ctx context.Context, ws string, afterSeq, upToSeq int64, fn func(customerID string, firstSeen time.Time)) error {
	return s.scanIDTimes(ctx, "scan customers", `SELECT customer_id, first_seen FROM customers WHERE workspace_id = $1 AND seq > $2 AND seq <= $3`,
		[]any{ws, afterSeq, upToSeq}, fn)
}

// ScanSurveyAnswers calls fn for each answer in [from, to), newest first;
// zero bounds are open.
func (s *Store) ScanSurveyAnswers(ctx context.Context, ws string, from, to time.Time, fn func(kpi.SurveyAnswer)) error {
	lo, hi := bounds(kpi.Range{Start: from, End: to})
	rows, err := s.db.QueryContext(ctx, `
SELECT event_id, customer_id, survey, kind, score, comment, answer_time FROM survey_answers
WHERE workspace_id = $1 AND answer_time >= $2 AND answer_time < $3
ORDER BY answer_time DESC, event_id`, ws, lo, hi)
	if err != nil {
		return fmt.Errorf("scan survey answers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			a  kpi.SurveyAnswer
			at int64
		)
		if err := rows.Scan(&a.EventID, &a.CustomerID, &a.Survey, &a.Kind, &a.Score, &a.Comment, &at); err != nil {
			return fmt.Errorf("scan survey answers: %w", err)
		}
		a.Time = time.UnixMicro(at).UTC()
		fn(a)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan survey answers: %w", err)
	}
	return nil
}

// ResolveMembers turns ids into live customer ids.
func (s *Store) ResolveMembers(ctx context.Context, ws string, ids []string) (map[string]struct{}, error) {
	members := make(map[string]struct{}, len(ids))
	for _, id := range ids {
		members[id] = struct{}{}
	}
	if err := s.resolveMembers(ctx, ws, members); err != nil {
		return nil, err
	}
	return members, nil
}

// maxCosts bounds the costs of a workspace, all read by every cost KPI.
const maxCosts = 100_000

// CreateCost stores c under a new id and returns it.
func (s *Store) CreateCost(ctx context.Context, ws string, c kpi.Cost) (kpi.Cost, error) {
	id, err := NewID("cost_")
	if err != nil {
		return kpi.Cost{}, err
	}
	c.ID, c.CreateTime = id, s.now().UTC()
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM costs WHERE workspace_id = $1`, ws).Scan(&n); err != nil {
		return kpi.Cost{}, fmt.Errorf("count costs: %w", err)
	}
	if n >= maxCosts {
		return kpi.Cost{}, fmt.Errorf("%w: the workspace has %d costs, the limit", kpi.ErrLimit, maxCosts)
	}
	_, err = s.db.ExecWrite(ctx, `
INSERT INTO costs (workspace_id, cost_id, amount, currency, channel, campaign_id, journey_id, start_time, end_time, create_time)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		ws, c.ID, c.Amount, c.Currency, c.Channel, c.CampaignID, c.JourneyID, c.Start.UnixMicro(), c.End.UnixMicro(), c.CreateTime.UnixMicro())
	if err != nil {
		return kpi.Cost{}, fmt.Errorf("insert cost: %w", err)
	}
	return c, nil
}

// Costs lists the workspace's costs, latest period first.
func (s *Store) Costs(ctx context.Context, ws string) ([]kpi.Cost, error) {
	rows, err := s.db.QueryContext(ctx, `
SELECT cost_id, amount, currency, channel, campaign_id, journey_id, start_time, end_time, create_time
FROM costs WHERE workspace_id = $1 ORDER BY start_time DESC, cost_id`, ws)
	if err != nil {
		return nil, fmt.Errorf("list costs: %w", err)
	}
	defer rows.Close()
	var out []kpi.Cost
	for rows.Next() {
		var (
			c                   kpi.Cost
			start, end, created int64
		)
		if err := rows.Scan(&c.ID, &c.Amount, &c.Currency, &c.Channel, &c.CampaignID, &c.JourneyID, &start, &end, &created); err != nil {
			return nil, fmt.Errorf("list costs: %w", err)
		}
		c.Start, c.End, c.CreateTime = time.UnixMicro(start).UTC(), time.UnixMicro(end).UTC(), time.UnixMicro(created).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list costs: %w", err)
	}
	return out, nil
}

// DeleteCost deletes a cost, ErrNotFound when there is none.
func (s *Store) DeleteCost(ctx context.Context, ws, id string) error {
	return s.deleteOne(ctx, `DELETE FROM costs WHERE workspace_id = $1 AND cost_id = $2`, ws, id)
}

func (s *Store) deleteOne(ctx context.Context, query string, args ...any) error {
	res, err := s.db.ExecWrite(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// Settings returns the workspace's settings, the zero Settings when it
// never set any.
func (s *Store) Settings(ctx context.Context, ws string) (kpi.Settings, error) {
	var (
		st    kpi.Settings
		rates string
	)
	err := s.db.QueryRowContext(ctx, `SELECT currency, exchange_rates, gross_margin, f2_window_days FROM metrics_settings WHERE workspace_id = $1`, ws).
		Scan(&st.Currency, &rates, &st.GrossMargin, &st.F2WindowDays)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return kpi.Settings{}, nil
	case err != nil:
		return kpi.Settings{}, fmt.Errorf("read settings: %w", err)
	}
	if err := json.Unmarshal([]byte(rates), &st.ExchangeRates); err != nil {
		return kpi.Settings{}, fmt.Errorf("read settings: exchange rates: %w", err)
	}
	return st, nil
}

// PutSettings replaces the workspace's settings.
func (s *Store) PutSettings(ctx context.Context, ws string, st kpi.Settings) error {
	rates, err := json.Marshal(st.ExchangeRates)
	if err != nil {
		return fmt.Errorf("write settings: %w", err)
	}
	if st.ExchangeRates == nil {
		rates = []byte("{}")
	}
	_, err = s.db.ExecWrite(ctx, `
INSERT INTO metrics_settings (workspace_id, currency, exchange_rates, gross_margin, f2_window_days) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (workspace_id) DO UPDATE SET currency = excluded.currency, exchange_rates = excluded.exchange_rates,
	gross_margin = excluded.gross_margin, f2_window_days = excluded.f2_window_days`,
		ws, st.Currency, string(rates), st.GrossMargin, st.F2WindowDays)
	if err != nil {
		return fmt.Errorf("write settings: %w", err)
	}
	return nil
}

// FunnelEvent is a stored named event.
type FunnelEvent struct {
	CustomerID, Name string
	Time             time.Time
	Properties       map[string]any
}

// maxFunnelEvents bounds the events one funnel reads.
const maxFunnelEvents = 5_000_000

// ScanEvents calls fn for each event named one of names at or after from
// and before to (zero bounds open).
func (s *Store) ScanEvents(ctx context.Context, ws string, names []string, from, to time.Time, fn func(FunnelEvent)) error {
	lo, hi := bounds(kpi.Range{Start: from, End: to})
	in, args := sqldb.InList(4, names)
	rows, err := s.db.QueryContext(ctx, `
SELECT customer_id, name, event_time, properties FROM events
WHERE workspace_id = $1 AND event_time >= $2 AND event_time < $3 AND name IN (`+in+`)`,
		append([]any{ws, lo, hi}, args...)...)
	if err != nil {
		return fmt.Errorf("scan events: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			e     FunnelEvent
			at    int64
			props string
		)
		if err := rows.Scan(&e.CustomerID, &e.Name, &at, &props); err != nil {
			return fmt.Errorf("scan events: %w", err)
		}
		if n++; n > maxFunnelEvents {
			return fmt.Errorf("%w: more than %d events", kpi.ErrLimit, maxFunnelEvents)
		}
		e.Time = time.UnixMicro(at).UTC()
		if err := json.Unmarshal([]byte(props), &e.Properties); err != nil {
			return fmt.Errorf("scan events: properties: %w", err)
		}
		fn(e)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan events: %w", err)
	}
	return nil
}

// ScanOrdersUpTo calls fn for each order with afterSeq < seq <= upToSeq,
// with its currency. It fails with kpi.ErrTooManyOrders beyond
// maxCLVOrders.
func (s *Store) ScanOrdersUpTo(ctx context.Context, ws string, afterSeq, upToSeq int64, fn func(customerID string, at time.Time, revenue float64, currency string)) error {
	rows, err := s.db.QueryContext(ctx, `SELECT customer_id, order_time, revenue, currency FROM orders
WHERE workspace_id = $1 AND seq > $2 AND seq <= $3`, ws, afterSeq, upToSeq)
	return readOrders(rows, err, fn)
}

// FirstOrderProperty returns, for each customer with an order stored with
// its event, the value of the string property key of the event of their
// earliest such order (e.g. "channel" or "campaign"); customers whose
// first order event lacks it are left out.
func (s *Store) FirstOrderProperty(ctx context.Context, ws, key string) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, `
SELECT o.customer_id, o.order_time, e.properties FROM orders o
JOIN events e ON e.workspace_id = o.workspace_id AND e.event_id = o.event_id
WHERE o.workspace_id = $1`, ws)
	if err != nil {
		return nil, fmt.Errorf("first order property: %w", err)
	}
	defer rows.Close()
	type first struct {
		at    int64
		value string
	}
	firsts := map[string]first{}
	for rows.Next() {
		var (
			id, props string
			at        int64
		)
		if err := rows.Scan(&id, &at, &props); err != nil {
			return nil, fmt.Errorf("first order property: %w", err)
		}
		if f, ok := firsts[id]; ok && f.at <= at {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(props), &m); err != nil {
			return nil, fmt.Errorf("first order property: %w", err)
		}
		v, _ := m[key].(string)
		firsts[id] = first{at: at, value: v}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("first order property: %w", err)
	}
	out := make(map[string]string, len(firsts))
	for id, f := range firsts {
		if f.value != "" {
			out[id] = f.value
		}
	}
	return out, nil
}
