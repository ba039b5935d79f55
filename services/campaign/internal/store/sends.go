package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kizuna/kizuna/services/platform/sqldb"
)

const sendColumns = `workspace_id, send_id, journey_id, entry_id, customer_id, entry_number, step_id, channel_id, channel_type,
	transactional, status, reason, error, provider_message_id, attempts, create_time, planned_time, send_time, late, subject,
	batch_key, lease_token, body, variant`

func scanSend(row scanner, extra ...any) (Send, error) {
	var (
		sd                      Send
		number, attempts        int64
		create, planned, sendUS int64
	)
	dest := append([]any{&sd.WorkspaceID, &sd.ID, &sd.JourneyID, &sd.EntryID, &sd.CustomerID, &number, &sd.StepID, &sd.ChannelID,
		&sd.ChannelType, &sd.Transactional, &sd.Status, &sd.Reason, &sd.Error, &sd.ProviderMessageID, &attempts,
		&create, &planned, &sendUS, &sd.Late, &sd.Subject, &sd.BatchKey, &sd.LeaseToken, &sd.Body, &sd.Variant}, extra...)
	if err := row.Scan(dest...); err != nil {
		return Send{}, err
	}
	sd.EntryNumber, sd.Attempts = int(number), int(attempts)
	sd.CreateTime, sd.PlannedTime, sd.SendTime = fromMicros(create), fromMicros(planned), fromMicros(sendUS)
	return sd, nil
}

// ClaimDueSends leases up to limit pending or deferred sends of active
// journeys that are due, oldest first.
func (s *Store) ClaimDueSends(ctx context.Context, now, leaseUntil time.Time, token string, limit int) ([]Send, error) {
	skipLocked := ""
	if s.db.Dialect == sqldb.Postgres {
		skipLocked = " FOR UPDATE OF d SKIP LOCKED"
	}
	var sds []Send
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE sends SET lease_until = $2, lease_token = $3
	WHERE status IN ('pending', 'deferred') AND planned_time <= $1 AND lease_until <= $1
	AND (workspace_id, send_id) IN (
		SELECT d.workspace_id, d.send_id FROM sends d
		JOIN journeys j ON j.workspace_id = d.workspace_id AND j.journey_id = d.journey_id
		WHERE d.status IN ('pending', 'deferred') AND d.planned_time <= $1 AND d.lease_until <= $1 AND j.state = 'active'
		ORDER BY d.planned_time LIMIT $4`+skipLocked+`)
	RETURNING `+sendColumns+`, COALESCE((SELECT e.event FROM entries e
		WHERE e.workspace_id = sends.workspace_id AND e.entry_id = sends.entry_id), '{}')`,
			micros(now), micros(leaseUntil), token, limit)
		if err != nil {
			return err
		}
		sds, err = collect(rows, func(r scanner) (Send, error) {
			var event string
			sd, err := scanSend(r, &event)
			sd.Event = event
			return sd, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim sends: %w", err)
	}
	return sds, nil
}

// Outcome is the result of handling one claimed send.
type Outcome struct {
	Send Send // as claimed
	// Status is final (sent, failed, skipped), or pending/deferred with
	// PlannedTime the next try.
	Status, Reason, Error, ProviderMessageID string
	PlannedTime, SendTime                    time.Time
	// Attempted counts a call to the channel in attempts.
	Attempted bool
	Subject   string
	BatchKey  string
	// Body is the rendered text, kept up to MaxBodyBytes.
	Body string
}

// MaxBodyBytes bounds the rendered text kept with a send.
const MaxBodyBytes = 4096

// truncate cuts s to at most n bytes on a character boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// RecordOutcomes stores outcomes in one transaction, each only if its
// lease is still the current one; it returns how many were stored.
func (s *Store) RecordOutcomes(ctx context.Context, os []Outcome) (int, error) {
	stored := 0
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		stored = 0
		// Prepared once per batch: parsing the statement per send costs
		// more than running it.
		record, err := tx.PrepareContext(ctx, `UPDATE sends SET status = $4, reason = $5, error = $6, provider_message_id = $7,
			planned_time = $8, send_time = $9, attempts = attempts + $10, subject = $11, batch_key = $12, body = $13,
			lease_until = 0, lease_token = ''
			WHERE workspace_id = $1 AND send_id = $2 AND lease_token = $3 AND status IN ('pending', 'deferred')`)
		if err != nil {
			return fmt.Errorf("prepare send update: %w", err)
		}
		defer record.Close()
		for _, o := range os {
			attempted := 0
			if o.Attempted {
				attempted = 1
			}
			planned := o.PlannedTime
			if planned.IsZero() {
				planned = o.Send.PlannedTime
			}
			res, err := record.ExecContext(ctx, o.Send.WorkspaceID, o.Send.ID, o.Send.LeaseToken, o.Status, o.Reason, storable(o.Error),
				storable(o.ProviderMessageID), micros(planned), micros(o.SendTime), attempted, storable(o.Subject), o.BatchKey,
				storable(truncate(o.Body, MaxBodyBytes)))
			if err != nil {
				return fmt.Errorf("record send %q: %w", o.Send.ID, err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				stored++
			}
		}
		return nil
	})
	return stored, err
}

// SentSince returns, per customer and channel type, the send times of
// messages sent at or after since, counting marketing and transactional
// sends alike (a cap limits what a customer receives).
func (s *Store) SentSince(ctx context.Context, workspaceID string, customerIDs []string, since time.Time) (map[string]map[string][]time.Time, error) {
	out := map[string]map[string][]time.Time{}
	for start := 0; start < len(customerIDs); start += 500 {
		batch := customerIDs[start:min(start+500, len(customerIDs))]
		in, args := s.db.Dialect.InList(3, batch)
		rows, err := s.db.QueryContext(ctx, `SELECT customer_id, channel_type, send_time FROM sends
			WHERE workspace_id = $1 AND status = 'sent' AND send_time >= $2 AND customer_id IN (`+in+`)`,
			append([]any{workspaceID, micros(since)}, args...)...)
		if err != nil {
			return nil, fmt.Errorf("select recent sends: %w", err)
		}
		for rows.Next() {
			var cus, typ string
			var at int64
			if err := rows.Scan(&cus, &typ, &at); err != nil {
				rows.Close()
				return nil, fmt.Errorf("select recent sends: %w", err)
			}
			if out[cus] == nil {
				out[cus] = map[string][]time.Time{}
			}
			out[cus][typ] = append(out[cus][typ], fromMicros(at))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("select recent sends: %w", err)
		}
	}
	return out, nil
}

// ListSends returns up to limit sends of a journey (by = "journey_id",
// oldest first) or of a customer (by = "customer_id", newest first),
// after the send id after.
func (s *Store) ListSends(ctx context.Context, workspaceID, by, id, after string, limit int) ([]Send, error) {
	order, cmp := "ASC", ">"
	if by == "customer_id" {
		order, cmp = "DESC", "<"
	} else if by != "journey_id" {
		return nil, fmt.Errorf("list sends by %q: unknown column", by)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+sendColumns+` FROM sends
		WHERE workspace_id = $1 AND `+by+` = $2 AND ($3 = '' OR send_id `+cmp+` $3)
		ORDER BY send_id `+order+` LIMIT $4`, workspaceID, id, after, limit)
	if err != nil {
		return nil, fmt.Errorf("select sends: %w", err)
	}
	sds, err := collect(rows, scanSendOnly)
	if err != nil {
		return nil, fmt.Errorf("select sends: %w", err)
	}
	return sds, nil
}

// UnpublishedSends returns up to limit sends with a final status whose
// outcome is not yet on the bus.
func (s *Store) UnpublishedSends(ctx context.Context, limit int) ([]Send, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+sendColumns+` FROM sends
		WHERE status IN ('sent', 'failed', 'skipped') AND NOT published ORDER BY workspace_id, send_id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("select unpublished sends: %w", err)
	}
	sds, err := collect(rows, scanSendOnly)
	if err != nil {
		return nil, fmt.Errorf("select unpublished sends: %w", err)
	}
	return sds, nil
}

// UnpublishedBacklog counts final send outcomes not yet on the bus (the
// outbox backlog an operator watches).
func (s *Store) UnpublishedBacklog(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sends
		WHERE status IN ('sent', 'failed', 'skipped') AND NOT published`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count unpublished sends: %w", err)
	}
	return n, nil
}

// MarkSendsPublished flags the outcomes of sds as published.
func (s *Store) MarkSendsPublished(ctx context.Context, sds []Send) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		for start := 0; start < len(sds); start += insertBatch {
			batch := sds[start:min(start+insertBatch, len(sds))]
			args := make([]any, 0, 2*len(batch))
			for _, sd := range batch {
				args = append(args, sd.WorkspaceID, sd.ID)
			}
			// A VALUES list rather than IN ((…), (…)): SQLite takes a row
			// value IN only with a subquery on the right.
			if _, err := tx.ExecContext(ctx, `UPDATE sends SET published = TRUE WHERE (workspace_id, send_id) IN (VALUES `+
				tx.Dialect.Rows(len(batch), 2)+`)`, args...); err != nil {
				return fmt.Errorf("mark %d send outcomes published: %w", len(batch), err)
			}
		}
		return nil
	})
}

// ConsentChange is a customer's consent for a channel type as an event
// sets it.
type ConsentChange struct {
	WorkspaceID, CustomerID, ChannelType string
	Subscribed                           bool
	Source                               string
}

// SetConsent records a customer's consent for a channel type.
func (t *Tx) SetConsent(ctx context.Context, c ConsentChange) error {
	_, err := setConsent(ctx, t.tx, c.WorkspaceID, c.CustomerID, c.ChannelType, c.Subscribed, c.Source, t.now)
	return err
}

// SetConsents records consents as SetConsent one by one, in key order
// (workspace, customer, channel type) rather than the caller's, the
// changes of one key keeping theirs: two batches writing the same consent
// rows in different orders would wait on each other's uncommitted rows, a
// deadlock on PostgreSQL.
func (t *Tx) SetConsents(ctx context.Context, cs []ConsentChange) error {
	cs = slices.SortedStableFunc(slices.Values(cs), func(a, b ConsentChange) int {
		return cmp.Or(strings.Compare(a.WorkspaceID, b.WorkspaceID), strings.Compare(a.CustomerID, b.CustomerID),
			strings.Compare(a.ChannelType, b.ChannelType))
	})
	for _, c := range cs {
		if err := t.SetConsent(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

// SetConsent is Tx.SetConsent in a transaction of its own.
func (s *Store) SetConsent(ctx context.Context, workspaceID, customerID, channelType string, subscribed bool, source string, now time.Time) (bool, error) {
	var changed bool
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		var err error
		changed, err = setConsent(ctx, tx, workspaceID, customerID, channelType, subscribed, source, now)
		return err
	})
	return changed, err
}

func setConsent(ctx context.Context, q querier, workspaceID, customerID, channelType string, subscribed bool, source string, now time.Time) (bool, error) {
	res, err := q.ExecContext(ctx, `INSERT INTO consents (workspace_id, customer_id, channel_type, subscribed, source, update_time)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (workspace_id, customer_id, channel_type) DO UPDATE SET subscribed = $4, source = $5, update_time = $6
		WHERE consents.subscribed <> $4`, workspaceID, customerID, channelType, subscribed, source, micros(now))
	if err != nil {
		return false, fmt.Errorf("set consent: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("set consent: %w", err)
	}
	if n == 1 && subscribed {
		// A first opt-in row for someone never opted out changes nothing
		// that matters, but is stored all the same (harmless).
		return true, nil
	}
	return n == 1, nil
}

// OptedOut returns, per customer, the channel types they opted out of.
func (s *Store) OptedOut(ctx context.Context, workspaceID string, customerIDs []string) (map[string]map[string]bool, error) {
	out := map[string]map[string]bool{}
	for start := 0; start < len(customerIDs); start += 500 {
		batch := customerIDs[start:min(start+500, len(customerIDs))]
		in, args := s.db.Dialect.InList(2, batch)
		rows, err := s.db.QueryContext(ctx, `SELECT customer_id, channel_type FROM consents
			WHERE workspace_id = $1 AND NOT subscribed AND customer_id IN (`+in+`)`, append([]any{workspaceID}, args...)...)
		if err != nil {
			return nil, fmt.Errorf("select consents: %w", err)
		}
		for rows.Next() {
			var cus, typ string
			if err := rows.Scan(&cus, &typ); err != nil {
				rows.Close()
				return nil, fmt.Errorf("select consents: %w", err)
			}
			if out[cus] == nil {
				out[cus] = map[string]bool{}
			}
			out[cus][typ] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("select consents: %w", err)
		}
	}
	return out, nil
}

// ListConsents returns the customer's stored consents.
func (s *Store) ListConsents(ctx context.Context, workspaceID, customerID string) ([]Consent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT customer_id, channel_type, subscribed, source, update_time FROM consents
		WHERE workspace_id = $1 AND customer_id = $2 ORDER BY channel_type`, workspaceID, customerID)
	if err != nil {
		return nil, fmt.Errorf("select consents: %w", err)
	}
	cs, err := collect(rows, func(r scanner) (Consent, error) {
		var c Consent
		var at int64
		err := r.Scan(&c.CustomerID, &c.ChannelType, &c.Subscribed, &c.Source, &at)
		c.UpdateTime = fromMicros(at)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("select consents: %w", err)
	}
	return cs, nil
}

// MoveConsents gives the survivor of a merge the opt-outs of the customers
// merged into it (an opt-out on either wins).
func (t *Tx) MoveConsents(ctx context.Context, workspaceID, survivor string, merged []string) error {
	if len(merged) == 0 {
		return nil
	}
	in, args := t.tx.Dialect.InList(3, merged)
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO consents (workspace_id, customer_id, channel_type, subscribed, source, update_time)
		SELECT workspace_id, $2, channel_type, subscribed, source, update_time FROM consents
		WHERE workspace_id = $1 AND NOT subscribed AND customer_id IN (`+in+`)
		ON CONFLICT (workspace_id, customer_id, channel_type) DO UPDATE SET subscribed = FALSE, source = excluded.source, update_time = excluded.update_time`,
		append([]any{workspaceID, survivor}, args...)...); err != nil {
		return fmt.Errorf("move consents to %q: %w", survivor, err)
	}
	return nil
}

func scanSendOnly(row scanner) (Send, error) { return scanSend(row) }
