package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kizuna/kizuna/services/metrics/internal/kpi"
	"github.com/kizuna/kizuna/services/metrics/internal/ledger"
	"github.com/kizuna/kizuna/services/metrics/internal/results"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// ApplySend records a send outcome; a redelivered one overwrites itself.
// The customer is resolved through the merge aliases like an event's,
// with the ledger locked as a batch of events locks it; the send of a
// customer erased is dropped (lockErased).
func (s *Store) ApplySend(ctx context.Context, sd ledger.Send) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		if gone, err := lockErased(ctx, tx, sd.WorkspaceID, sd.CustomerID); err != nil || gone {
			return err
		}
		customerID, err := resolve(ctx, tx, sd.WorkspaceID, sd.CustomerID)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `
INSERT INTO sends (workspace_id, send_id, customer_id, channel, journey_id, status, send_time) VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (workspace_id, send_id) DO UPDATE SET status = excluded.status, send_time = excluded.send_time`,
			sd.WorkspaceID, sd.SendID, customerID, sd.Channel, sd.JourneyID, sd.Status, sd.Time.UnixMicro())
		if err != nil {
			return fmt.Errorf("store send %s: %w", sd.SendID, err)
		}
		return nil
	})
}

// Unsubscribe events: an `Unsubscribed` track event names its channel in
// properties.channel; a LINE unfollow is an unsubscribe from LINE.
const (
	eventUnsubscribed = "Unsubscribed"
	eventLineUnfollow = "LINE Unfollowed"
)

// ScanMessages calls fn for each send outcome and unsubscribe in [from,
// to) (zero bounds open).
func (s *Store) ScanMessages(ctx context.Context, ws string, from, to time.Time, fn func(kpi.Message)) error {
	lo, hi := bounds(kpi.Range{Start: from, End: to})
	rows, err := s.db.QueryContext(ctx, `SELECT customer_id, channel, status, send_time FROM sends
WHERE workspace_id = $1 AND send_time >= $2 AND send_time < $3`, ws, lo, hi)
	if err != nil {
		return fmt.Errorf("scan sends: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			m  kpi.Message
			at int64
		)
		if err := rows.Scan(&m.CustomerID, &m.Channel, &m.Status, &at); err != nil {
			return fmt.Errorf("scan sends: %w", err)
		}
		m.Time = time.UnixMicro(at).UTC()
		fn(m)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan sends: %w", err)
	}
	return s.ScanEvents(ctx, ws, []string{eventUnsubscribed, eventLineUnfollow}, from, to, func(e FunnelEvent) {
		channel := "LINE"
		if e.Name == eventUnsubscribed {
			c, _ := e.Properties["channel"].(string)
			channel = normalChannel(c)
		}
		fn(kpi.Message{CustomerID: e.CustomerID, Channel: channel, Status: kpi.Unsubscribed, Time: e.Time})
	})
}

// normalChannel reads a channel as people write it ("email", "e-mail",
// "line") as the channel type names sends carry.
func normalChannel(s string) string {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "email", "e-mail", "mail":
		return "EMAIL"
	case "line":
		return "LINE"
	case "webhook":
		return "WEBHOOK"
	}
	return strings.ToUpper(s)
}

// ApplyExposure records a customer's exposure to a journey unless an
// earlier one is stored: the first exposure fixes the arm for good, and a
// redelivered outcome changes nothing. The exposure of a customer erased
// is dropped (lockErased).
func (s *Store) ApplyExposure(ctx context.Context, e ledger.Exposure) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		if gone, err := lockErased(ctx, tx, e.WorkspaceID, e.CustomerID); err != nil || gone {
			return err
		}
		_, err := tx.ExecContext(ctx, `
INSERT INTO exposures (workspace_id, journey_id, customer_id, variant, exposure_time, send_id) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (workspace_id, journey_id, customer_id) DO UPDATE
SET variant = excluded.variant, exposure_time = excluded.exposure_time, send_id = excluded.send_id
WHERE excluded.exposure_time < exposures.exposure_time`,
			e.WorkspaceID, e.JourneyID, e.CustomerID, e.Variant, e.Time.UnixMicro(), e.SendID)
		if err != nil {
			return fmt.Errorf("store exposure %s: %w", e.SendID, err)
		}
		return nil
	})
}

// Exposures returns the journey's exposures with customer ids resolved
// through merges; when several exposed ids now are one customer, the
// earliest exposure is theirs. More than limit fails with
// results.ErrTooLarge.
func (s *Store) Exposures(ctx context.Context, ws, journeyID string, limit int) ([]results.Exposure, error) {
	rows, err := s.db.QueryContext(ctx, `
SELECT COALESCE(a.survivor_customer_id, x.customer_id), x.variant, x.exposure_time FROM exposures x
LEFT JOIN customer_aliases a ON a.workspace_id = x.workspace_id AND a.merged_customer_id = x.customer_id
WHERE x.workspace_id = $1 AND x.journey_id = $2
ORDER BY x.exposure_time, x.customer_id`, ws, journeyID)
	if err != nil {
		return nil, fmt.Errorf("exposures: %w", err)
	}
	defer rows.Close()
	var (
		out  []results.Exposure
		seen = map[string]bool{}
	)
	for rows.Next() {
		var (
			e  results.Exposure
			at int64
		)
		if err := rows.Scan(&e.CustomerID, &e.Variant, &at); err != nil {
			return nil, fmt.Errorf("exposures: %w", err)
		}
		if seen[e.CustomerID] {
			continue
		}
		seen[e.CustomerID] = true
		if len(out) == limit {
			return nil, results.ErrTooLarge
		}
		e.Time = time.UnixMicro(at).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("exposures: %w", err)
	}
	return out, nil
}

// ScanOrderRevenue calls fn for every order in [from, to).
func (s *Store) ScanOrderRevenue(ctx context.Context, ws string, from, to time.Time, fn func(customerID string, at time.Time, revenue float64)) error {
	rows, err := s.db.QueryContext(ctx, `SELECT customer_id, order_time, revenue FROM orders
WHERE workspace_id = $1 AND order_time >= $2 AND order_time < $3`, ws, from.UnixMicro(), to.UnixMicro())
	if err != nil {
		return fmt.Errorf("scan orders: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id      string
			at      int64
			revenue float64
		)
		if err := rows.Scan(&id, &at, &revenue); err != nil {
			return fmt.Errorf("scan orders: %w", err)
		}
		fn(id, time.UnixMicro(at).UTC(), revenue)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("scan orders: %w", err)
	}
	return nil
}

// ScanEventTimes calls fn for every event named name in [from, to).
func (s *Store) ScanEventTimes(ctx context.Context, ws, name string, from, to time.Time, fn func(customerID string, at time.Time)) error {
	return s.scanIDTimes(ctx, "scan events", `SELECT customer_id, event_time FROM events
WHERE workspace_id = $1 AND name = $2 AND event_time >= $3 AND event_time < $4`, []any{ws, name, from.UnixMicro(), to.UnixMicro()}, fn)
}

// scanIDTimes runs query, whose rows are a customer id and a Unix
// microsecond time, and calls fn for each row; what names it in errors.
func (s *Store) scanIDTimes(ctx context.Context, what, query string, args []any, fn func(customerID string, at time.Time)) error {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id string
			at int64
		)
		if err := rows.Scan(&id, &at); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		fn(id, time.UnixMicro(at).UTC())
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

var _ results.Store = (*Store)(nil)
