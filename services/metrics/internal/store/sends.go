package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kizuna/kizuna/services/metrics/internal/kpi"
	"github.com/kizuna/kizuna/services/metrics/internal/ledger"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// ApplySend records a send outcome; a redelivered one overwrites itself.
// The customer is resolved through the merge aliases like an event's.
func (s *Store) ApplySend(ctx context.Context, sd ledger.Send) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
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
