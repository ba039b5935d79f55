// Package launch runs a campaign as a broadcast journey: the campaigns API
// keeps its shape while journeys and campaigns share one send path (the
// journey runner and sender, with consent, caps, quiet hours and
// exactly-once sends).
package launch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	domain "github.com/kizuna/kizuna/services/campaign/internal/campaign"
	"github.com/kizuna/kizuna/services/campaign/internal/channel"
	"github.com/kizuna/kizuna/services/campaign/internal/journey"
	"github.com/kizuna/kizuna/services/campaign/internal/peers"
	"github.com/kizuna/kizuna/services/campaign/internal/store"
	"github.com/kizuna/kizuna/services/platform/validation"
)

// StepID is the id of a campaign journey's one step.
const StepID = "message"

// Segments tells whether a segment exists.
type Segments interface {
	SegmentExists(ctx context.Context, workspaceID, segmentID string) (bool, error)
}

// Launcher implements campaign.Launcher.
type Launcher struct {
	Store    *store.Store
	Channels *channel.Manager
	Segments Segments
}

var _ domain.Launcher = (*Launcher)(nil)

// Check checks a campaign's webhook URL against the workspace's URL
// policy (no loopback or private addresses unless allowed) and the journey
// it would launch as, so a campaign that could never send is refused when
// created, with the same rules as at launch, and that its segment exists.
func (l *Launcher) Check(ctx context.Context, workspaceID string, c domain.Campaign) error {
	if _, err := l.Channels.Prepare(ctx, workspaceID, webhookChannel("check", c.WebhookURL)); err != nil {
		return renameFields(err)
	}
	const channelID = "check"
	if err := journey.Validate(definition(c, channelID), journey.ChannelTypes{channelID: ingestionv1.ChannelType_WEBHOOK}, "campaign"); err != nil {
		return err
	}
	// A campaign naming a segment the workspace does not have fails here,
	// not later at launch.
	ok, err := l.Segments.SegmentExists(ctx, workspaceID, c.SegmentID)
	if err != nil {
		return unavailable(err)
	}
	if !ok {
		return validation.Invalid("campaign.segment_id", "no segment %q in this workspace", c.SegmentID)
	}
	return nil
}

// definition is the broadcast journey a campaign launches as.
func definition(c domain.Campaign, channelID string) *campaignv1.Journey {
	def := &campaignv1.Journey{
		DisplayName: c.DisplayName,
		Description: "Campaign " + c.ID,
		Entry:       &campaignv1.Entry{Kind: &campaignv1.Entry_Broadcast{Broadcast: &campaignv1.BroadcastEntry{SegmentId: c.SegmentID}}},
		Reentry:     campaignv1.Reentry_REENTRY_NEVER,
		Steps: []*campaignv1.Step{{Id: StepID, Kind: &campaignv1.Step_Send{Send: &campaignv1.SendStep{
			ChannelId: channelID, Text: c.MessageTemplate,
		}}}},
		Goal: c.Goal,
	}
	if c.HoldoutPercent != 0 {
		def.Holdout = &campaignv1.Holdout{Percent: c.HoldoutPercent}
	}
	return def
}

// Launch implements campaign.Launcher.
func (l *Launcher) Launch(ctx context.Context, c domain.Campaign, at time.Time) error {
	ok, err := l.Segments.SegmentExists(ctx, c.WorkspaceID, c.SegmentID)
	if err != nil {
		return unavailable(err)
	}
	if !ok {
		return fmt.Errorf("segment %q: %w", c.SegmentID, domain.ErrSegmentNotFound)
	}
	ch, err := l.Channels.Prepare(ctx, c.WorkspaceID, webhookChannel(c.DisplayName, c.WebhookURL))
	if err != nil {
		return unavailable(renameFields(err))
	}
	def := definition(c, ch.ID)
	if err := journey.Validate(def, journey.ChannelTypes{ch.ID: ingestionv1.ChannelType_WEBHOOK}, "campaign"); err != nil {
		return fmt.Errorf("campaign journey: %w", err)
	}
	id, err := domain.NewID("jny_")
	if err != nil {
		return err
	}
	j := store.Journey{
		WorkspaceID: c.WorkspaceID, ID: id, State: store.JourneyActive, Definition: def,
		EntryKind: store.EntryBroadcast, EntryKey: c.SegmentID, CreateTime: at, UpdateTime: at, ActivateTime: at,
	}
	return l.Store.LaunchCampaign(ctx, c.WorkspaceID, c.ID, ch, j, at)
}

func webhookChannel(name, url string) *campaignv1.Channel {
	if r := []rune(name); len(r) > 180 {
		name = string(r[:180]) + "…"
	}
	return &campaignv1.Channel{
		DisplayName: "Campaign: " + name,
		Config:      &campaignv1.Channel_Webhook{Webhook: &campaignv1.WebhookChannel{Url: url}},
	}
}

// renameFields names a channel's invalid URL as the campaign's field.
func renameFields(err error) error {
	var v *validation.Error
	if !errors.As(err, &v) {
		return err
	}
	out := &validation.Error{}
	for _, vi := range v.Violations {
		out.Add(strings.Replace(vi.Field, "channel.webhook.url", "campaign.webhook.url", 1), vi.Description)
	}
	return out
}

// unavailable marks a peer outage as the campaign domain's.
func unavailable(err error) error {
	if errors.Is(err, peers.ErrUnavailable) {
		return errors.Join(domain.ErrUnavailable, err)
	}
	return err
}
