package dispatch

import (
	"context"
	"time"

	"github.com/kizuna/kizuna/services/campaign/internal/campaign"
)

// Claim is a pending delivery leased to this dispatcher.
type Claim struct {
	campaign.Delivery
	WebhookURL string
	// LeaseToken identifies this claim; Store.Record needs it.
	LeaseToken string
}

// Outcome is the result of one attempt at a delivery.
type Outcome struct {
	// Status is DeliverySent, DeliveryFailed (final) or DeliveryPending
	// (try again at RetryAt).
	Status       campaign.DeliveryStatus
	ResponseCode int
	LastError    string
	// SendTime is set when Status is DeliverySent.
	SendTime time.Time
	// RetryAt is set when Status is DeliveryPending.
	RetryAt time.Time
}

// Final is a delivery whose outcome is final, to be published. Its
// Message is not loaded: an outcome does not carry it.
type Final struct {
	campaign.Delivery
	SegmentID string
}

// Store is the persistence the dispatcher needs. Unlike the API's store
// methods these span workspaces: the dispatcher is one queue for all of
// them. Each returned row carries its workspace id and every write is keyed
// by it.
type Store interface {
	// ClaimDue leases up to limit pending deliveries of SENDING campaigns
	// whose lease_until is at or before now, setting lease_until to
	// leaseUntil and the lease token to token. Concurrent callers never
	// receive the same delivery while its lease holds.
	ClaimDue(ctx context.Context, now, leaseUntil time.Time, token string, limit int) ([]Claim, error)
	// Record stores the outcome of an attempt (counting it in attempts)
	// if c's lease is still the current one, and reports whether it was.
	// It makes o.LastError storable text, whatever the webhook answered.
	Record(ctx context.Context, c Claim, o Outcome) (bool, error)
	// CompleteCampaigns moves SENDING campaigns without pending deliveries
	// to COMPLETED and returns how many it moved.
	CompleteCampaigns(ctx context.Context) (int, error)
	// Unpublished returns up to limit deliveries with a final status not
	// yet marked published.
	Unpublished(ctx context.Context, limit int) ([]Final, error)
	// MarkPublished records that the outcomes of fs were published; only
	// their WorkspaceID and ID are read.
	MarkPublished(ctx context.Context, fs []Final) error
}
