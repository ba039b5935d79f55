package campaign

import (
	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"

	"time"
)

// State is where a campaign is in its life.
type State string

// Campaign states. The values are stored, so never change them.
const (
	StateDraft     State = "draft"
	StateSending   State = "sending"
	StateCompleted State = "completed"
)

// DeliveryStatus is where a delivery is.
type DeliveryStatus string

// Delivery statuses. The values are stored, so never change them.
const (
	DeliveryPending DeliveryStatus = "pending"
	DeliverySent    DeliveryStatus = "sent"
	DeliveryFailed  DeliveryStatus = "failed"
)

// Campaign sends a message to the members of a segment over a webhook.
type Campaign struct {
	WorkspaceID     string
	ID              string
	DisplayName     string
	SegmentID       string
	WebhookURL      string
	MessageTemplate string
	State           State
	Counts          Counts
	CreateTime      time.Time
	// LaunchTime is zero until the campaign is launched.
	LaunchTime time.Time
	// JourneyID and ChannelID name the broadcast journey and the webhook
	// channel a launch made; empty for a draft.
	JourneyID, ChannelID string
	// HoldoutPercent (0 for none) and Goal (nil for the default, Order
	// Completed in 7 days) become the journey's holdout and goal.
	HoldoutPercent float64
	Goal           *campaignv1.Goal
}

// Counts summarises a campaign's deliveries.
type Counts struct {
	Total, Pending, Sent, Failed int64
}

// Delivery is one message to one customer: a send of the campaign's
// journey.
type Delivery struct {
	WorkspaceID string
	ID          string
	CampaignID  string
	CustomerID  string
	Status      DeliveryStatus
	// Attempts counts the webhook calls whose outcome was recorded.
	Attempts int
	// LastError is the channel's last answer when it was not a success, or
	// why the send was skipped (a reason such as NO_PROFILE, with detail).
	LastError string
	// SendTime is when the webhook accepted the message; zero otherwise.
	SendTime time.Time
	Message  string
}
