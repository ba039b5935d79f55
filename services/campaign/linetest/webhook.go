package linetest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"
)

// Event is a LINE webhook event as LINE sends it. Tests may change fields
// (Timestamp, DeliveryContext.IsRedelivery) before building a body.
type Event struct {
	Type            string          `json:"type"`
	Mode            string          `json:"mode"`
	Timestamp       int64           `json:"timestamp"` // Unix milliseconds
	Source          Source          `json:"source"`
	WebhookEventID  string          `json:"webhookEventId"`
	DeliveryContext DeliveryContext `json:"deliveryContext"`
	ReplyToken      string          `json:"replyToken,omitempty"`
	Follow          *Follow         `json:"follow,omitempty"`
}

// Source is where an event came from.
type Source struct {
	Type   string `json:"type"`
	UserID string `json:"userId,omitempty"`
}

// DeliveryContext says whether LINE is redelivering an event.
type DeliveryContext struct {
	IsRedelivery bool `json:"isRedelivery"`
}

// Follow is the detail of a follow event.
type Follow struct {
	IsUnblocked bool `json:"isUnblocked"`
}

// FollowEvent is userID adding the account as a friend (or unblocking it).
func FollowEvent(userID, webhookEventID string) Event {
	return Event{
		Type:           "follow",
		Mode:           "active",
		Timestamp:      time.Now().UnixMilli(),
		Source:         Source{Type: "user", UserID: userID},
		WebhookEventID: webhookEventID,
		ReplyToken:     "reply-" + webhookEventID,
		Follow:         &Follow{},
	}
}

// UnfollowEvent is userID blocking the account. LINE sends no reply token:
// there is no one to reply to.
func UnfollowEvent(userID, webhookEventID string) Event {
	return Event{
		Type:           "unfollow",
		Mode:           "active",
		Timestamp:      time.Now().UnixMilli(),
		Source:         Source{Type: "user", UserID: userID},
		WebhookEventID: webhookEventID,
	}
}

// WebhookBody is the body LINE posts to a webhook URL. destination is the
// bot's user id.
func WebhookBody(destination string, events ...Event) []byte {
	if events == nil {
		events = []Event{} // LINE sends [], not null, when checking the URL
	}
	b, err := json.Marshal(struct {
		Destination string  `json:"destination"`
		Events      []Event `json:"events"`
	}{destination, events})
	if err != nil {
		panic(err) // cannot happen: the types hold strings, numbers and bools
	}
	return b
}

// Sign returns the X-Line-Signature LINE would send with body.
func Sign(channelSecret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(channelSecret))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
