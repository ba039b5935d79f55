package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	"github.com/kizuna/kizuna/services/campaign/internal/campaign"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// CreateCampaign inserts c.
func (s *Store) CreateCampaign(ctx context.Context, c campaign.Campaign) error {
	_, err := s.db.ExecWrite(ctx, `INSERT INTO campaigns
	(workspace_id, campaign_id, display_name, segment_id, webhook_url, message_template, state, create_time, launch_time,
	 holdout_percent, goal)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		c.WorkspaceID, c.ID, c.DisplayName, c.SegmentID, c.WebhookURL, c.MessageTemplate,
		string(c.State), micros(c.CreateTime), micros(c.LaunchTime), c.HoldoutPercent, encodeGoal(c.Goal))
	if err != nil {
		return fmt.Errorf("insert campaign %q: %w", c.ID, err)
	}
	return nil
}

// campaignColumns are read by scanCampaign.
const campaignColumns = `c.workspace_id, c.campaign_id, c.display_name, c.segment_id, c.webhook_url,
	c.message_template, c.state, c.create_time, c.launch_time, c.journey_id, c.channel_id, c.holdout_percent, c.goal`

// campaignSelect adds to campaignColumns whether the campaign's journey is
// still at work (members to enrol, entries in progress; a journey row that
// does not exist is a campaign launched before campaigns ran as journeys)
// and the counts of its sends, from a LEFT JOIN grouped per campaign.
const campaignSelect = `SELECT ` + campaignColumns + `,
	COALESCE((SELECT NOT j.enrolled FROM journeys j WHERE j.workspace_id = c.workspace_id AND j.journey_id = c.journey_id), FALSE)
	OR EXISTS (SELECT 1 FROM entries e WHERE e.workspace_id = c.workspace_id AND e.journey_id = c.journey_id AND e.state = 'in_progress'),
	COUNT(d.send_id),
	COALESCE(SUM(CASE WHEN d.status IN ('pending', 'deferred') THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN d.status = 'sent' THEN 1 ELSE 0 END), 0),
	COALESCE(SUM(CASE WHEN d.status IN ('failed', 'skipped') THEN 1 ELSE 0 END), 0)`

const campaignSends = ` LEFT JOIN sends d ON d.workspace_id = c.workspace_id AND d.journey_id = c.journey_id AND c.journey_id <> ''`

const campaignGroupBy = ` GROUP BY ` + campaignColumns

// GetCampaign returns the campaign with its delivery counts.
func (s *Store) GetCampaign(ctx context.Context, workspaceID, campaignID string) (campaign.Campaign, error) {
	row := s.db.QueryRowContext(ctx, campaignSelect+` FROM campaigns c`+campaignSends+`
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
	// The page is chosen first, in a subquery, so counting sends touches
	// only the campaigns returned.
	rows, err := s.db.QueryContext(ctx, campaignSelect+`
	FROM (SELECT * FROM campaigns
		WHERE workspace_id = $1 AND ($2 = '' OR campaign_id < $2)
		ORDER BY campaign_id DESC LIMIT $3) c`+campaignSends+
		campaignGroupBy+` ORDER BY c.campaign_id DESC`,
		workspaceID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("select campaigns: %w", err)
	}
	cs, err := collect(rows, scanCampaignCounts)
	if err != nil {
		return nil, fmt.Errorf("select campaigns: %w", err)
	}
	return cs, nil
}

// scanCampaign reads campaignColumns, followed by any extra destinations.
// encodeGoal stores a campaign's goal as protojson, "" for none.
func encodeGoal(g *campaignv1.Goal) string {
	if g == nil {
		return ""
	}
	b, err := protojson.Marshal(g)
	if err != nil {
		return "" // a Goal always marshals; it holds no Any or invalid UTF-8 after validation
	}
	return string(b)
}

func scanCampaign(row scanner, extra ...any) (campaign.Campaign, error) {
	var (
		c                  campaign.Campaign
		state              string
		createUS, launchUS int64
		goal               string
	)
	dest := append([]any{&c.WorkspaceID, &c.ID, &c.DisplayName, &c.SegmentID, &c.WebhookURL,
		&c.MessageTemplate, &state, &createUS, &launchUS, &c.JourneyID, &c.ChannelID, &c.HoldoutPercent, &goal}, extra...)
	if err := row.Scan(dest...); err != nil {
		return campaign.Campaign{}, err
	}
	if goal != "" {
		c.Goal = &campaignv1.Goal{}
		if err := protojson.Unmarshal([]byte(goal), c.Goal); err != nil {
			return campaign.Campaign{}, fmt.Errorf("campaign %q goal: %w", c.ID, err)
		}
	}
	c.State = campaign.State(state)
	c.CreateTime = fromMicros(createUS)
	c.LaunchTime = fromMicros(launchUS)
	return c, nil
}

// scanCampaignCounts reads a row of campaignSelect. A SENDING campaign
// whose journey has enrolled everyone, has no entry in progress and no
// send waiting is COMPLETED.
func scanCampaignCounts(row scanner) (campaign.Campaign, error) {
	var working bool
	var total, pend, sent, f int64
	c, err := scanCampaign(row, &working, &total, &pend, &sent, &f)
	if err != nil {
		return campaign.Campaign{}, err
	}
	c.Counts = campaign.Counts{Total: total, Pending: pend, Sent: sent, Failed: f}
	if c.State == campaign.StateSending && !working && pend == 0 {
		c.State = campaign.StateCompleted
	}
	return c, nil
}

// LaunchCampaign moves a draft campaign to SENDING, creating its webhook
// channel ch and its journey j (active), in one transaction. It returns
// campaign.ErrNotDraft, changing nothing, when the campaign is no longer
// a draft.
func (s *Store) LaunchCampaign(ctx context.Context, workspaceID, campaignID string, ch Channel, j Journey, at time.Time) error {
	def, err := encodeDefinition(j.Definition)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE campaigns SET state = 'sending', launch_time = $3, journey_id = $4, channel_id = $5
			WHERE workspace_id = $1 AND campaign_id = $2 AND state = 'draft'`,
			workspaceID, campaignID, micros(at), j.ID, ch.ID)
		if err != nil {
			return fmt.Errorf("mark campaign %q sending: %w", campaignID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("mark campaign %q sending: %w", campaignID, err)
		} else if n == 0 {
			return campaign.ErrNotDraft
		}
		if err := insertChannel(ctx, tx, ch); err != nil {
			return err
		}
		return insertJourney(ctx, tx, j, def)
	})
}

// ListDeliveries returns up to limit deliveries (the sends of its journey)
// of the campaign in id order, after the id after.
func (s *Store) ListDeliveries(ctx context.Context, workspaceID, campaignID, after string, limit int) ([]campaign.Delivery, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+prefixed("d.", sendColumns)+` FROM campaigns c
		JOIN sends d ON d.workspace_id = c.workspace_id AND d.journey_id = c.journey_id AND c.journey_id <> ''
		WHERE c.workspace_id = $1 AND c.campaign_id = $2 AND d.send_id > $3
		ORDER BY d.send_id LIMIT $4`, workspaceID, campaignID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("select deliveries of %q: %w", campaignID, err)
	}
	ds, err := collect(rows, func(r scanner) (campaign.Delivery, error) {
		sd, err := scanSend(r)
		return deliveryOf(campaignID, sd), err
	})
	if err != nil {
		return nil, fmt.Errorf("select deliveries of %q: %w", campaignID, err)
	}
	return ds, nil
}

// deliveryOf shows a send as a campaign delivery: deferred is still
// pending, skipped is failed with its reason.
func deliveryOf(campaignID string, sd Send) campaign.Delivery {
	d := campaign.Delivery{
		WorkspaceID: sd.WorkspaceID, ID: sd.ID, CampaignID: campaignID, CustomerID: sd.CustomerID,
		Attempts: sd.Attempts, LastError: sd.Error, SendTime: sd.SendTime, Message: sd.Body,
	}
	switch sd.Status {
	case SendPending, SendDeferred:
		d.Status = campaign.DeliveryPending
	case SendSent:
		d.Status = campaign.DeliverySent
	default:
		d.Status = campaign.DeliveryFailed
		if sd.Reason != "" {
			d.LastError = sd.Reason
			if sd.Error != "" {
				d.LastError += ": " + sd.Error
			}
		}
	}
	return d
}

// prefixed qualifies each of a comma-separated list of columns with alias.
func prefixed(alias, columns string) string {
	parts := strings.Split(columns, ",")
	for i, p := range parts {
		parts[i] = alias + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}
