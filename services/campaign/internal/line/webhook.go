package line

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// VerifySignature reports whether signature (the X-Line-Signature header,
// base64) is the HMAC-SHA256 of body keyed with channelSecret. The
// comparison is constant-time so that timing does not reveal how much of
// a forged signature is right. An empty secret verifies nothing: anyone
// can compute an HMAC with an empty key.
func VerifySignature(channelSecret string, body []byte, signature string) bool {
	if channelSecret == "" {
		return false
	}
	got, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, []byte(channelSecret))
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// WebhookEvent is the part of a LINE webhook event the campaign service
// uses.
type WebhookEvent struct {
	// Type is follow, unfollow, message, postback, ...
	Type string
	// WebhookEventID is unique per event, and the same when LINE
	// redelivers it: the key to apply each event once.
	WebhookEventID string
	Timestamp      time.Time
	// UserID is source.userId; empty when the source hides it (some group
	// events).
	UserID string
	// Redelivery is deliveryContext.isRedelivery: LINE sent this event
	// before and got no 2xx.
	Redelivery bool
}

type webhookBody struct {
	Destination string `json:"destination"`
	Events      []struct {
		Type           string `json:"type"`
		WebhookEventID string `json:"webhookEventId"`
		Timestamp      int64  `json:"timestamp"` // Unix milliseconds
		Source         struct {
			UserID string `json:"userId"`
		} `json:"source"`
		DeliveryContext struct {
			IsRedelivery bool `json:"isRedelivery"`
		} `json:"deliveryContext"`
	} `json:"events"`
}

// ParseWebhook parses LINE's webhook body {"destination": "...", "events":
// [...]}. destination is the user id of the bot that received the events.
// events may be empty: LINE sends that to check a webhook URL. Verify the
// signature first: the body is untrusted until then.
func ParseWebhook(body []byte) (destination string, events []WebhookEvent, err error) {
	var b webhookBody
	if err := json.Unmarshal(body, &b); err != nil {
		return "", nil, fmt.Errorf("parse LINE webhook body: %w", err)
	}
	events = make([]WebhookEvent, 0, len(b.Events))
	for i, e := range b.Events {
		if e.Type == "" {
			return "", nil, fmt.Errorf("parse LINE webhook body: event %d has no type", i)
		}
		events = append(events, WebhookEvent{
			Type:           e.Type,
			WebhookEventID: e.WebhookEventID,
			Timestamp:      time.UnixMilli(e.Timestamp).UTC(),
			UserID:         e.Source.UserID,
			Redelivery:     e.DeliveryContext.IsRedelivery,
		})
	}
	return b.Destination, events, nil
}
