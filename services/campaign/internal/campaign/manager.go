package campaign

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kizuna/kizuna/services/platform/validation"
)

// Store is the persistence the domain needs. Every method is scoped to one
// workspace.
type Store interface {
	// CreateCampaign inserts c.
	CreateCampaign(ctx context.Context, c Campaign) error
	// GetCampaign returns the campaign with its delivery counts and its
	// state as its journey has it, or ErrNotFound.
	GetCampaign(ctx context.Context, workspaceID, campaignID string) (Campaign, error)
	// LookupCampaign is GetCampaign without the counts (Counts is zero),
	// which cost a scan of the campaign's sends.
	LookupCampaign(ctx context.Context, workspaceID, campaignID string) (Campaign, error)
	// ListCampaigns returns up to limit campaigns with their counts, newest
	// first, starting after the campaign id after ("" for the newest).
	ListCampaigns(ctx context.Context, workspaceID, after string, limit int) ([]Campaign, error)
	// ListDeliveries returns up to limit deliveries of the campaign in id
	// order, starting after the delivery id after.
	ListDeliveries(ctx context.Context, workspaceID, campaignID, after string, limit int) ([]Delivery, error)
}

// Launcher turns a draft campaign into an active broadcast journey.
type Launcher interface {
	// Check validates what the launch will make of c: its webhook URL
	// against the workspace's URL policy, its holdout and goal as the
	// journey's; violations name the campaign's fields.
	Check(ctx context.Context, workspaceID string, c Campaign) error
	// Launch makes the campaign's webhook channel and journey, activates
	// the journey and moves the campaign to SENDING at the given time, all
	// or nothing. It returns ErrNotDraft, changing nothing, when the
	// campaign is no longer a draft, and ErrSegmentNotFound when its
	// segment does not exist.
	Launch(ctx context.Context, c Campaign, at time.Time) error
}

// Manager carries out the campaign use cases for the API.
type Manager struct {
	store    Store
	launcher Launcher
	now      func() time.Time
	wake     func()
}

// NewManager returns a Manager. now supplies the clock; wake is called after
// a launch so the journey runner enrols the segment at once (it may be nil).
func NewManager(store Store, launcher Launcher, now func() time.Time, wake func()) *Manager {
	if now == nil {
		now = time.Now
	}
	if wake == nil {
		wake = func() {}
	}
	return &Manager{store: store, launcher: launcher, now: now, wake: wake}
}

// Create validates c and stores it as a new draft in the workspace.
func (m *Manager) Create(ctx context.Context, workspaceID string, c Campaign) (Campaign, error) {
	if err := validateNew(c); err != nil {
		return Campaign{}, err
	}
	if err := m.launcher.Check(ctx, workspaceID, c); err != nil {
		return Campaign{}, err
	}
	id, err := NewID(CampaignIDPrefix)
	if err != nil {
		return Campaign{}, err
	}
	c = Campaign{
		WorkspaceID:     workspaceID,
		ID:              id,
		DisplayName:     c.DisplayName,
		SegmentID:       c.SegmentID,
		WebhookURL:      c.WebhookURL,
		MessageTemplate: c.MessageTemplate,
		HoldoutPercent:  c.HoldoutPercent,
		Goal:            c.Goal,
		State:           StateDraft,
		CreateTime:      m.now().UTC().Truncate(time.Microsecond),
	}
	if err := m.store.CreateCampaign(ctx, c); err != nil {
		return Campaign{}, fmt.Errorf("create campaign: %w", err)
	}
	return c, nil
}

// Get returns the workspace's campaign with its delivery counts.
func (m *Manager) Get(ctx context.Context, workspaceID, campaignID string) (Campaign, error) {
	if err := validateCampaignID(campaignID); err != nil {
		return Campaign{}, err
	}
	c, err := m.store.GetCampaign(ctx, workspaceID, campaignID)
	if err != nil {
		return Campaign{}, fmt.Errorf("get campaign %q: %w", campaignID, err)
	}
	return c, nil
}

// List returns one page of the workspace's campaigns, newest first, and the
// token of the next page ("" after the last).
func (m *Manager) List(ctx context.Context, workspaceID string, p Page) ([]Campaign, string, error) {
	limit, after, err := p.resolve(CampaignIDPrefix)
	if err != nil {
		return nil, "", err
	}
	cs, err := m.store.ListCampaigns(ctx, workspaceID, after, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list campaigns: %w", err)
	}
	cs, next := trimPage(cs, limit, func(c Campaign) string { return c.ID })
	return cs, next, nil
}

// ListDeliveries returns one page of a campaign's deliveries and the token
// of the next page.
func (m *Manager) ListDeliveries(ctx context.Context, workspaceID, campaignID string, p Page) ([]Delivery, string, error) {
	var v validation.Error
	checkID(&v, "campaign_id", campaignID)
	// Deliveries are sends ("snd_"), or "dlv_" for campaigns launched
	// before campaigns ran as journeys.
	limit, after, err := p.resolve("")
	var pv *validation.Error
	if errors.As(err, &pv) {
		v.Violations = append(v.Violations, pv.Violations...)
	} else if after != "" && !strings.HasPrefix(after, "snd_") && !strings.HasPrefix(after, "dlv_") {
		v.Add("page_token", "is not a token returned by this method")
	}
	if err := v.Err(); err != nil {
		return nil, "", err
	}
	ds, err := m.store.ListDeliveries(ctx, workspaceID, campaignID, after, limit+1)
	if err != nil {
		return nil, "", fmt.Errorf("list deliveries of %q: %w", campaignID, err)
	}
	if len(ds) == 0 {
		// Deliveries are read within the workspace, so a page with some
		// proves the campaign is this workspace's. An empty one must still
		// answer NotFound for a campaign that is not, rather than say it
		// exists (a draft's page is empty too).
		if _, err := m.store.LookupCampaign(ctx, workspaceID, campaignID); err != nil {
			return nil, "", fmt.Errorf("list deliveries of %q: %w", campaignID, err)
		}
	}
	ds, next := trimPage(ds, limit, func(d Delivery) string { return d.ID })
	return ds, next, nil
}

// trimPage cuts items, read with limit+1, to one page and returns the next
// page's token: the extra item says whether another page exists without a
// count query.
func trimPage[T any](items []T, limit int, id func(T) string) ([]T, string) {
	if len(items) <= limit {
		return items, ""
	}
	items = items[:limit]
	return items, encodePageToken(id(items[limit-1]))
}

// Launch starts the campaign's broadcast journey and moves the campaign to
// SENDING. A campaign that is already SENDING or COMPLETED is returned
// unchanged, so launching is idempotent, and two launches racing start one
// journey.
func (m *Manager) Launch(ctx context.Context, workspaceID, campaignID string) (Campaign, error) {
	if err := validateCampaignID(campaignID); err != nil {
		return Campaign{}, err
	}
	c, err := m.store.LookupCampaign(ctx, workspaceID, campaignID)
	if err != nil {
		return Campaign{}, fmt.Errorf("launch campaign %q: %w", campaignID, err)
	}
	if c.State == StateDraft {
		err := m.launcher.Launch(ctx, c, m.now().UTC().Truncate(time.Microsecond))
		if err != nil && !errors.Is(err, ErrNotDraft) {
			return Campaign{}, fmt.Errorf("launch campaign %q: %w", campaignID, err)
		}
		m.wake()
	}
	c, err = m.store.GetCampaign(ctx, workspaceID, campaignID)
	if err != nil {
		return Campaign{}, fmt.Errorf("launch campaign %q: reload: %w", campaignID, err)
	}
	return c, nil
}

func validateCampaignID(id string) error {
	var v validation.Error
	checkID(&v, "campaign_id", id)
	return v.Err()
}

// newID returns prefix + a UUIDv7, so ids sort in creation order.
func NewID(prefix string) (string, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("new id: %w", err)
	}
	return prefix + u.String(), nil
}
