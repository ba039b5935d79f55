package campaign

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/kizuna/kizuna/services/campaign/internal/message"

	"github.com/kizuna/kizuna/services/platform/validation"
)

// ErrNotDraft is returned by Store.InsertDeliveries when the campaign has
// left the draft state, i.e. another launch finished first.
var ErrNotDraft = errors.New("campaign is no longer a draft")

// Store is the persistence the domain needs. Every method is scoped to one
// workspace.
type Store interface {
	// CreateCampaign inserts c.
	CreateCampaign(ctx context.Context, c Campaign) error
	// GetCampaign returns the campaign with its delivery counts, or
	// ErrNotFound.
	GetCampaign(ctx context.Context, workspaceID, campaignID string) (Campaign, error)
	// LookupCampaign is GetCampaign without the counts (Counts is zero),
	// which cost a scan of the campaign's deliveries.
	LookupCampaign(ctx context.Context, workspaceID, campaignID string) (Campaign, error)
	// ListCampaigns returns up to limit campaigns with their counts, newest
	// first, starting after the campaign id after ("" for the newest).
	ListCampaigns(ctx context.Context, workspaceID, after string, limit int) ([]Campaign, error)
	// InsertDeliveries adds the deliveries of a draft campaign, ignoring any
	// whose (campaign, customer) already has one. It returns ErrNotDraft,
	// inserting nothing, once the campaign is no longer a draft. The
	// deliveries belong to workspaceID and campaignID; their own
	// WorkspaceID and CampaignID are not read. Message and LastError are
	// stored as text made valid (see the store), so callers need not clean
	// them.
	InsertDeliveries(ctx context.Context, workspaceID, campaignID string, ds []Delivery) error
	// MarkSending moves a draft campaign to SENDING with launch time at; it
	// does nothing to a campaign in any other state.
	MarkSending(ctx context.Context, workspaceID, campaignID string, at time.Time) error
	// ListDeliveries returns up to limit deliveries of the campaign in id
	// order, starting after the delivery id after.
	ListDeliveries(ctx context.Context, workspaceID, campaignID, after string, limit int) ([]Delivery, error)
}

// Audience reads a segment's members and their profiles from the services
// that own them, as the caller (so only the caller's workspace is visible).
type Audience interface {
	// Members calls fn with successive pages of the segment's member ids,
	// in customer id order. It returns ErrSegmentNotFound when the segment
	// does not exist and stops at the first error fn returns.
	Members(ctx context.Context, segmentID string, fn func(customerIDs []string) error) error
	// Traits returns the traits of the customers found among ids (at most
	// ProfileBatchSize); unknown ids are absent from the map.
	Traits(ctx context.Context, customerIDs []string) (map[string]map[string]any, error)
}

// ProfileBatchSize is how many profiles Launch asks for at once, the most
// ingestion's BatchGetCustomers accepts.
const ProfileBatchSize = 1000

// errProfileMissing is recorded on the delivery of a member whose profile
// no longer exists (deleted or merged away); such a member is not messaged.
const errProfileMissing = "customer profile not found"

// Manager carries out the campaign use cases for the API.
type Manager struct {
	store    Store
	audience Audience
	now      func() time.Time
	wake     func()
}

// NewManager returns a Manager. now supplies the clock; wake is called after
// a launch so the dispatcher starts sending at once (it may be nil).
func NewManager(store Store, audience Audience, now func() time.Time, wake func()) *Manager {
	if now == nil {
		now = time.Now
	}
	if wake == nil {
		wake = func() {}
	}
	return &Manager{store: store, audience: audience, now: now, wake: wake}
}

// Create validates c and stores it as a new draft in the workspace.
func (m *Manager) Create(ctx context.Context, workspaceID string, c Campaign) (Campaign, error) {
	if err := validateNew(c); err != nil {
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
	limit, after, err := p.resolve(DeliveryIDPrefix)
	var pv *validation.Error
	if errors.As(err, &pv) {
		v.Violations = append(v.Violations, pv.Violations...)
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

// Launch snapshots the segment's members and gives each one pending
// delivery with its rendered message, then moves the campaign to SENDING.
// A campaign that is already SENDING or COMPLETED is returned unchanged, so
// launching is idempotent; a launch that failed part way can simply be
// retried (see the package doc).
func (m *Manager) Launch(ctx context.Context, workspaceID, campaignID string) (Campaign, error) {
	if err := validateCampaignID(campaignID); err != nil {
		return Campaign{}, err
	}
	// Counts are not needed to launch; they are read once, at the end.
	c, err := m.store.LookupCampaign(ctx, workspaceID, campaignID)
	if err != nil {
		return Campaign{}, fmt.Errorf("launch campaign %q: %w", campaignID, err)
	}
	if c.State != StateDraft {
		return m.reload(ctx, workspaceID, campaignID)
	}
	tmpl, err := message.Parse(c.MessageTemplate)
	if err != nil {
		// Create validated it, so this is a stored template gone bad.
		return Campaign{}, fmt.Errorf("launch campaign %q: stored template: %w", campaignID, err)
	}
	err = m.audience.Members(ctx, c.SegmentID, func(ids []string) error {
		for start := 0; start < len(ids); start += ProfileBatchSize {
			batch := ids[start:min(start+ProfileBatchSize, len(ids))]
			if err := m.addDeliveries(ctx, c, tmpl, batch); err != nil {
				return err
			}
		}
		return nil
	})
	switch {
	case errors.Is(err, ErrNotDraft):
		// A concurrent launch completed; its snapshot stands.
	case err != nil:
		return Campaign{}, fmt.Errorf("launch campaign %q: %w", campaignID, err)
	default:
		if err := m.store.MarkSending(ctx, workspaceID, campaignID, m.now().UTC()); err != nil {
			return Campaign{}, fmt.Errorf("launch campaign %q: %w", campaignID, err)
		}
	}
	m.wake()
	return m.reload(ctx, workspaceID, campaignID)
}

// reload reads the campaign Launch returns, with its counts.
func (m *Manager) reload(ctx context.Context, workspaceID, campaignID string) (Campaign, error) {
	c, err := m.store.GetCampaign(ctx, workspaceID, campaignID)
	if err != nil {
		return Campaign{}, fmt.Errorf("launch campaign %q: reload: %w", campaignID, err)
	}
	return c, nil
}

// addDeliveries renders the message for one batch of members and stores
// their deliveries. A member whose message cannot be rendered gets a FAILED
// delivery saying why, so one customer's odd traits do not stop the launch.
func (m *Manager) addDeliveries(ctx context.Context, c Campaign, tmpl *message.Template, customerIDs []string) error {
	traits, err := m.audience.Traits(ctx, customerIDs)
	if err != nil {
		return err
	}
	ds := make([]Delivery, 0, len(customerIDs))
	for _, customerID := range customerIDs {
		id, err := NewID(DeliveryIDPrefix)
		if err != nil {
			return err
		}
		// The workspace and campaign are InsertDeliveries' arguments.
		d := Delivery{
			ID:         id,
			CustomerID: customerID,
			Status:     DeliveryPending,
		}
		t, ok := traits[customerID]
		if !ok {
			d.Status, d.LastError = DeliveryFailed, errProfileMissing
		} else if msg, err := tmpl.Render(message.Customer{ID: customerID, Traits: t}); err != nil {
			d.Status, d.LastError = DeliveryFailed, "render message: "+err.Error()
		} else {
			d.Message = msg
		}
		ds = append(ds, d)
	}
	if err := m.store.InsertDeliveries(ctx, c.WorkspaceID, c.ID, ds); err != nil {
		return fmt.Errorf("store deliveries: %w", err)
	}
	return nil
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
