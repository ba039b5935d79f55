// Package store is the campaign service's SQL store: one implementation
// over platform/sqldb that runs on SQLite and PostgreSQL alike, with its
// migrations embedded. It serves both the API (campaign.Store, always
// within one workspace) and the dispatcher (dispatch.Store, a queue across
// workspaces).
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/kizuna/kizuna/services/campaign/internal/campaign"
	"github.com/kizuna/kizuna/services/campaign/internal/dispatch"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store implements campaign.Store and dispatch.Store.
type Store struct {
	db *sqldb.DB
}

var (
	_ campaign.Store = (*Store)(nil)
	_ dispatch.Store = (*Store)(nil)
)

// New migrates db to the current schema and returns a Store on it.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("campaign store: %w", err)
	}
	if err := sqldb.Migrate(ctx, db, sub); err != nil {
		return nil, fmt.Errorf("campaign store: %w", err)
	}
	return &Store{db: db}, nil
}

// insertBatch bounds the rows of one multi-row INSERT, keeping it under
// SQLite's and PostgreSQL's bound-parameter limits.
const insertBatch = 100

// CreateCampaign inserts c.
func (s *Store) CreateCampaign(ctx context.Context, c campaign.Campaign) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO campaigns
	(workspace_id, campaign_id, display_name, segment_id, webhook_url, message_template, state, create_time, launch_time)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		c.WorkspaceID, c.ID, c.DisplayName, c.SegmentID, c.WebhookURL, c.MessageTemplate,
		string(c.State), micros(c.CreateTime), micros(c.LaunchTime))
	if err != nil {
		return fmt.Errorf("insert campaign %q: %w", c.ID, err)
	}
	return nil
}

// campaignColumns are read by scanCampaign.
const campaignColumns = `c.workspace_id, c.campaign_id, c.display_name, c.segment_id, c.webhook_url,
	c.message_template, c.state, c.create_time, c.launch_time`

// campaignSelect adds the delivery counts to campaignColumns; they come
// from a LEFT JOIN on deliveries grouped per campaign.
const campaignSelect = `SELECT ` + campaignColumns + `,
	COUNT(d.delivery_id),
	COALESCE(SUM(CASE WHEN d.status = 'pending' THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN d.status = 'sent' THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN d.status = 'failed' THEN 1 ELSE 0 END), 0)`

const campaignGroupBy = ` GROUP BY ` + campaignColumns

// GetCampaign returns the campaign with its delivery counts.
func (s *Store) GetCampaign(ctx context.Context, workspaceID, campaignID string) (campaign.Campaign, error) {
	row := s.db.QueryRowContext(ctx, campaignSelect+`
	FROM campaigns c
	LEFT JOIN deliveries d ON d.workspace_id = c.workspace_id AND d.campaign_id = c.campaign_id
	WHERE c.workspace_id = $1 AND c.campaign_id = $2`+campaignGroupBy,
		workspaceID, campaignID)
	c, err := scanCampaignCounts(row)
	if errors.Is(err, sql.ErrNoRows) {
		return campaign.Campaign{}, campaign.ErrNotFound
	}
	if err != nil {
		return campaign.Campaign{}, fmt.Errorf("select campaign %q: %w", campaignID, err)
	}
	return c, nil
}

// LookupCampaign returns the campaign without counting its deliveries.
func (s *Store) LookupCampaign(ctx context.Context, workspaceID, campaignID string) (campaign.Campaign, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+campaignColumns+` FROM campaigns c
	WHERE c.workspace_id = $1 AND c.campaign_id = $2`, workspaceID, campaignID)
	c, err := scanCampaign(row)
	if errors.Is(err, sql.ErrNoRows) {
		return campaign.Campaign{}, campaign.ErrNotFound
	}
	if err != nil {
		return campaign.Campaign{}, fmt.Errorf("select campaign %q: %w", campaignID, err)
	}
	return c, nil
}

// ListCampaigns returns up to limit campaigns, newest first (ids are
// UUIDv7, so id order is creation order), after the id after.
func (s *Store) ListCampaigns(ctx context.Context, workspaceID, after string, limit int) ([]campaign.Campaign, error) {
	// The page is chosen first, in a subquery, so counting deliveries
	// touches only the campaigns returned.
	rows, err := s.db.QueryContext(ctx, campaignSelect+`
	FROM (SELECT * FROM campaigns
		WHERE workspace_id = $1 AND ($2 = '' OR campaign_id < $2)
		ORDER BY campaign_id DESC LIMIT $3) c
	LEFT JOIN deliveries d ON d.workspace_id = c.workspace_id AND d.campaign_id = c.campaign_id`+
		campaignGroupBy+` ORDER BY c.campaign_id DESC`,
		workspaceID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("select campaigns: %w", err)
	}
	defer rows.Close()
	var cs []campaign.Campaign
	for rows.Next() {
		c, err := scanCampaignCounts(rows)
		if err != nil {
			return nil, fmt.Errorf("select campaigns: %w", err)
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select campaigns: %w", err)
	}
	return cs, nil
}

// scanCampaign reads campaignColumns, followed by any extra destinations.
func scanCampaign(row interface{ Scan(...any) error }, extra ...any) (campaign.Campaign, error) {
	var (
		c                  campaign.Campaign
		state              string
		createUS, launchUS int64
	)
	dest := append([]any{&c.WorkspaceID, &c.ID, &c.DisplayName, &c.SegmentID, &c.WebhookURL,
		&c.MessageTemplate, &state, &createUS, &launchUS}, extra...)
	if err := row.Scan(dest...); err != nil {
		return campaign.Campaign{}, err
	}
	c.State = campaign.State(state)
	c.CreateTime = fromMicros(createUS)
	c.LaunchTime = fromMicros(launchUS)
	return c, nil
}

// scanCampaignCounts reads a row of campaignSelect.
func scanCampaignCounts(row interface{ Scan(...any) error }) (campaign.Campaign, error) {
	var total, pend, sent, f int64
	c, err := scanCampaign(row, &total, &pend, &sent, &f)
	if err != nil {
		return campaign.Campaign{}, err
	}
	c.Counts = campaign.Counts{Total: total, Pending: pend, Sent: sent, Failed: f}
	return c, nil
}

// InsertDeliveries adds deliveries to a draft campaign, ignoring duplicates.
// The deliveries' WorkspaceID and CampaignID are not read.
func (s *Store) InsertDeliveries(ctx context.Context, workspaceID, campaignID string, ds []campaign.Delivery) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		// A no-op UPDATE rather than a SELECT: it takes the campaign's row
		// lock on PostgreSQL, so MarkSending (and with it completion) waits
		// until these rows are committed, and it re-checks the state after
		// a concurrent MarkSending commits. SQLite transactions here are
		// IMMEDIATE, so they are serialised anyway.
		res, err := tx.ExecContext(ctx, `UPDATE campaigns SET state = state
			WHERE workspace_id = $1 AND campaign_id = $2 AND state = 'draft'`, workspaceID, campaignID)
		if err != nil {
			return fmt.Errorf("lock campaign %q: %w", campaignID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("lock campaign %q: %w", campaignID, err)
		} else if n == 0 {
			return campaign.ErrNotDraft
		}
		for start := 0; start < len(ds); start += insertBatch {
			if err := insertDeliveries(ctx, tx, workspaceID, campaignID, ds[start:min(start+insertBatch, len(ds))]); err != nil {
				return err
			}
		}
		return nil
	})
}

func insertDeliveries(ctx context.Context, tx *sqldb.Tx, workspaceID, campaignID string, ds []campaign.Delivery) error {
	const cols = 7
	var q strings.Builder
	q.WriteString(`INSERT INTO deliveries (workspace_id, delivery_id, campaign_id, customer_id, status, message, last_error) VALUES `)
	args := make([]any, 0, len(ds)*cols)
	for i, d := range ds {
		if i > 0 {
			q.WriteString(", ")
		}
		n := i * cols
		fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7)
		args = append(args, workspaceID, d.ID, campaignID, d.CustomerID, string(d.Status), storable(d.Message), storable(d.LastError))
	}
	q.WriteString(` ON CONFLICT (workspace_id, campaign_id, customer_id) DO NOTHING`)
	if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
		return fmt.Errorf("insert deliveries of %q: %w", campaignID, err)
	}
	return nil
}

// MarkSending moves a draft campaign to SENDING.
func (s *Store) MarkSending(ctx context.Context, workspaceID, campaignID string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE campaigns SET state = 'sending', launch_time = $3
		WHERE workspace_id = $1 AND campaign_id = $2 AND state = 'draft'`,
		workspaceID, campaignID, micros(at))
	if err != nil {
		return fmt.Errorf("mark campaign %q sending: %w", campaignID, err)
	}
	return nil
}

const deliveryColumns = `workspace_id, delivery_id, campaign_id, customer_id, status, attempts,
	last_error, response_code, send_time, message`

// ListDeliveries returns up to limit deliveries of the campaign in id order.
func (s *Store) ListDeliveries(ctx context.Context, workspaceID, campaignID, after string, limit int) ([]campaign.Delivery, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries
		WHERE workspace_id = $1 AND campaign_id = $2 AND delivery_id > $3
		ORDER BY delivery_id LIMIT $4`, workspaceID, campaignID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("select deliveries of %q: %w", campaignID, err)
	}
	defer rows.Close()
	var ds []campaign.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("select deliveries of %q: %w", campaignID, err)
		}
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select deliveries of %q: %w", campaignID, err)
	}
	return ds, nil
}

// scanDelivery reads deliveryColumns, followed by any extra destinations.
func scanDelivery(row interface{ Scan(...any) error }, extra ...any) (campaign.Delivery, error) {
	var (
		d              campaign.Delivery
		status         string
		attempts, code int64
		sendUS         int64
	)
	dest := append([]any{&d.WorkspaceID, &d.ID, &d.CampaignID, &d.CustomerID, &status, &attempts,
		&d.LastError, &code, &sendUS, &d.Message}, extra...)
	if err := row.Scan(dest...); err != nil {
		return campaign.Delivery{}, err
	}
	d.Status = campaign.DeliveryStatus(status)
	d.Attempts = int(attempts)
	d.ResponseCode = int(code)
	d.SendTime = fromMicros(sendUS)
	return d, nil
}

// ClaimDue leases due deliveries of SENDING campaigns.
func (s *Store) ClaimDue(ctx context.Context, now, leaseUntil time.Time, token string, limit int) ([]dispatch.Claim, error) {
	// The outer WHERE repeats the due condition: on PostgreSQL, a claim that
	// waited on a row another claimer just leased re-checks the row's new
	// version against it (the subquery's result is not re-evaluated), so
	// two claimers never both win. SKIP LOCKED lets concurrent claimers
	// pick different rows instead of queueing; SQLite has no row locks and
	// runs one writer at a time, so it needs neither.
	skipLocked := ""
	if s.db.Dialect == sqldb.Postgres {
		skipLocked = " FOR UPDATE OF d SKIP LOCKED"
	}
	rows, err := s.db.QueryContext(ctx, `UPDATE deliveries SET lease_until = $2, lease_token = $3
	WHERE status = 'pending' AND lease_until <= $1
	AND (workspace_id, delivery_id) IN (
		SELECT d.workspace_id, d.delivery_id FROM deliveries d
		JOIN campaigns c ON c.workspace_id = d.workspace_id AND c.campaign_id = d.campaign_id
		WHERE d.status = 'pending' AND d.lease_until <= $1 AND c.state = 'sending'
		ORDER BY d.lease_until LIMIT $4`+skipLocked+`)
	RETURNING `+deliveryColumns+`,
		(SELECT webhook_url FROM campaigns c
		 WHERE c.workspace_id = deliveries.workspace_id AND c.campaign_id = deliveries.campaign_id)`,
		micros(now), micros(leaseUntil), token, limit)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	defer rows.Close()
	var cs []dispatch.Claim
	for rows.Next() {
		var url string
		d, err := scanDelivery(rows, &url)
		if err != nil {
			return nil, fmt.Errorf("claim deliveries: %w", err)
		}
		cs = append(cs, dispatch.Claim{Delivery: d, WebhookURL: url, LeaseToken: token})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim deliveries: %w", err)
	}
	return cs, nil
}

// Record stores an attempt's outcome if c's lease is current.
func (s *Store) Record(ctx context.Context, c dispatch.Claim, o dispatch.Outcome) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE deliveries SET
		status = $4, attempts = attempts + 1, response_code = $5, last_error = $6,
		send_time = $7, lease_until = $8, lease_token = ''
	WHERE workspace_id = $1 AND delivery_id = $2 AND lease_token = $3 AND status = 'pending'`,
		c.WorkspaceID, c.ID, c.LeaseToken, string(o.Status), o.ResponseCode, storable(o.LastError),
		micros(o.SendTime), micros(o.RetryAt))
	if err != nil {
		return false, fmt.Errorf("record delivery %q: %w", c.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("record delivery %q: %w", c.ID, err)
	}
	return n == 1, nil
}

// CompleteCampaigns completes SENDING campaigns with nothing pending.
// The campaigns.complete_time column is no longer written (nothing reads
// it); it stays in the schema at its default, 0.
func (s *Store) CompleteCampaigns(ctx context.Context) (int, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE campaigns SET state = 'completed'
	WHERE state = 'sending' AND NOT EXISTS (
		SELECT 1 FROM deliveries d
		WHERE d.workspace_id = campaigns.workspace_id AND d.campaign_id = campaigns.campaign_id
		AND d.status = 'pending')`)
	if err != nil {
		return 0, fmt.Errorf("complete campaigns: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("complete campaigns: %w", err)
	}
	return int(n), nil
}

// Unpublished returns final deliveries whose outcome is not yet published.
// It reads only what an outcome carries: not the message, which may be
// large.
func (s *Store) Unpublished(ctx context.Context, limit int) ([]dispatch.Final, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT d.workspace_id, d.delivery_id, d.campaign_id, d.customer_id,
		d.status, d.attempts, d.last_error, d.response_code, d.send_time, c.segment_id
	FROM deliveries d
	JOIN campaigns c ON c.workspace_id = d.workspace_id AND c.campaign_id = d.campaign_id
	WHERE d.status <> 'pending' AND NOT d.published
	ORDER BY d.workspace_id, d.delivery_id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("select unpublished deliveries: %w", err)
	}
	defer rows.Close()
	var fs []dispatch.Final
	for rows.Next() {
		var (
			f              dispatch.Final
			status         string
			attempts, code int64
			sendUS         int64
		)
		if err := rows.Scan(&f.WorkspaceID, &f.ID, &f.CampaignID, &f.CustomerID,
			&status, &attempts, &f.LastError, &code, &sendUS, &f.SegmentID); err != nil {
			return nil, fmt.Errorf("select unpublished deliveries: %w", err)
		}
		f.Status = campaign.DeliveryStatus(status)
		f.Attempts = int(attempts)
		f.ResponseCode = int(code)
		f.SendTime = fromMicros(sendUS)
		fs = append(fs, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select unpublished deliveries: %w", err)
	}
	return fs, nil
}

// MarkPublished flags the outcomes of fs as published, one UPDATE per
// insertBatch of them.
func (s *Store) MarkPublished(ctx context.Context, fs []dispatch.Final) error {
	for start := 0; start < len(fs); start += insertBatch {
		batch := fs[start:min(start+insertBatch, len(fs))]
		// A VALUES list rather than IN ((…), (…)): SQLite takes a row
		// value IN only with a subquery on the right.
		var q strings.Builder
		q.WriteString(`UPDATE deliveries SET published = TRUE WHERE (workspace_id, delivery_id) IN (VALUES `)
		args := make([]any, 0, 2*len(batch))
		for i, f := range batch {
			if i > 0 {
				q.WriteString(", ")
			}
			fmt.Fprintf(&q, "($%d, $%d)", 2*i+1, 2*i+2)
			args = append(args, f.WorkspaceID, f.ID)
		}
		q.WriteString(`)`)
		if _, err := s.db.ExecContext(ctx, q.String(), args...); err != nil {
			return fmt.Errorf("mark %d delivery outcomes published: %w", len(batch), err)
		}
	}
	return nil
}

// storable makes s storable as TEXT on both backends: invalid UTF-8 (a
// Liquid filter can cut a character in half, a webhook error can quote
// anything) and NUL, which PostgreSQL rejects, become U+FFFD.
func storable(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// micros stores t as Unix microseconds; the zero time is stored as 0.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}
