package line_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"reflect"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/campaign/internal/line"
	"github.com/kizuna/kizuna/services/campaign/linetest"
)

func TestVerifySignature(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	body := []byte(`{"destination":"Uabc","events":[]}`)

	// Computed here with crypto/hmac, apart from the code under test.
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	computed := base64.StdEncoding.EncodeToString(mac.Sum(nil))

	tests := []struct {
		name              string
		secret, signature string
		body              []byte
		want              bool
	}{
		// RFC 4231 test case 2: HMAC-SHA256("Jefe", "what do ya want for
		// nothing?") = 5bdcc146…3843, here in base64.
		{"RFC 4231 vector", "Jefe", "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=", []byte("what do ya want for nothing?"), true},
		// Computed with Python's hmac module when this test was written.
		{"fixed vector", secret, "i14/7Yib0HgSOv4Yemt7TxasXMjy421IKSQJNEiUtvE=", body, true},
		{"computed with crypto/hmac", secret, computed, body, true},
		{"tampered body", secret, computed, []byte(`{"destination":"Uabd","events":[]}`), false},
		{"other secret", "another-secret", computed, body, false},
		{"empty secret", "", linetest.Sign("", body), body, false},
		{"no signature", secret, "", body, false},
		{"not base64", secret, "!!" + computed, body, false},
		{"truncated signature", secret, computed[:20], body, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := line.VerifySignature(tt.secret, tt.body, tt.signature); got != tt.want {
				t.Errorf("VerifySignature = %v, want %v", got, tt.want)
			}
		})
	}
	if computed != linetest.Sign(secret, body) {
		t.Errorf("linetest.Sign = %s, want %s", linetest.Sign(secret, body), computed)
	}
}

// A body in the shape of LINE's documented samples: a follow, a
// redelivered unfollow (which has no reply token) and a message event.
const webhookSample = `{
  "destination": "U0123456789abcdef0123456789abcdef",
  "events": [
    {
      "replyToken": "85cbe770fa8b4f45bbe077b1d4be4a36",
      "type": "follow",
      "mode": "active",
      "timestamp": 1705891467176,
      "source": {"type": "user", "userId": "U3d3edab4f36c6292e6d8a8131f141b8b"},
      "webhookEventId": "01HMQGW40RZJPJM3RAJP7BHC2Q",
      "deliveryContext": {"isRedelivery": false},
      "follow": {"isUnblocked": false}
    },
    {
      "type": "unfollow",
      "mode": "active",
      "timestamp": 1462629479859,
      "source": {"type": "user", "userId": "U4af4980629a0b1c2d3e4f5a6b7c8d9e0"},
      "webhookEventId": "01FZ74A0TDDPYRVKNK77XKC3ZR",
      "deliveryContext": {"isRedelivery": true}
    },
    {
      "replyToken": "nHuyWiB7yP5Zw52FIkcQobQuGDXCTA",
      "type": "message",
      "mode": "active",
      "timestamp": 1462629479859,
      "source": {"type": "group", "groupId": "Ca56f94637c0a1b2c3d4e5f6a7b8c9d0e"},
      "webhookEventId": "01FZ74A0TDDPYRVKNK77XKC3ZS",
      "deliveryContext": {"isRedelivery": false},
      "message": {"id": "444573844083572737", "type": "text", "text": "Hello"}
    }
  ]
}`

func TestParseWebhook(t *testing.T) {
	dest, events, err := line.ParseWebhook([]byte(webhookSample))
	if err != nil {
		t.Fatal(err)
	}
	if dest != "U0123456789abcdef0123456789abcdef" {
		t.Errorf("destination = %q", dest)
	}
	want := []line.WebhookEvent{
		{Type: "follow", WebhookEventID: "01HMQGW40RZJPJM3RAJP7BHC2Q", Timestamp: time.UnixMilli(1705891467176).UTC(), UserID: "U3d3edab4f36c6292e6d8a8131f141b8b"},
		{Type: "unfollow", WebhookEventID: "01FZ74A0TDDPYRVKNK77XKC3ZR", Timestamp: time.UnixMilli(1462629479859).UTC(), UserID: "U4af4980629a0b1c2d3e4f5a6b7c8d9e0", Redelivery: true},
		{Type: "message", WebhookEventID: "01FZ74A0TDDPYRVKNK77XKC3ZS", Timestamp: time.UnixMilli(1462629479859).UTC()},
	}
	if !reflect.DeepEqual(events, want) {
		t.Errorf("events =\n%+v\nwant\n%+v", events, want)
	}
	if got := events[0].Timestamp.Format(time.RFC3339Nano); got != "2024-01-22T02:44:27.176Z" {
		t.Errorf("follow timestamp = %s", got)
	}
}

func TestParseWebhookErrors(t *testing.T) {
	for name, body := range map[string]string{
		"not JSON":           `{"destination":`,
		"events not a list":  `{"destination":"U1","events":{}}`,
		"event without type": `{"destination":"U1","events":[{"webhookEventId":"01X"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := line.ParseWebhook([]byte(body)); err == nil {
				t.Errorf("ParseWebhook(%s) succeeded, want an error", body)
			}
		})
	}
}

// LINE checks a webhook URL with an empty event list.
func TestParseWebhookVerification(t *testing.T) {
	dest, events, err := line.ParseWebhook(linetest.WebhookBody("Ubot"))
	if err != nil || dest != "Ubot" || len(events) != 0 {
		t.Errorf("ParseWebhook = %q, %v, %v; want Ubot, no events, no error", dest, events, err)
	}
}

func TestWebhookFromLinetest(t *testing.T) {
	const secret = "channel-secret"
	unfollow := linetest.UnfollowEvent("Ubob", "01EV2")
	unfollow.DeliveryContext.IsRedelivery = true
	body := linetest.WebhookBody("Ubot", linetest.FollowEvent("Ualice", "01EV1"), unfollow)
	if !line.VerifySignature(secret, body, linetest.Sign(secret, body)) {
		t.Fatal("signature from linetest.Sign does not verify")
	}
	_, events, err := line.ParseWebhook(body)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 ||
		events[0].Type != "follow" || events[0].UserID != "Ualice" || events[0].WebhookEventID != "01EV1" || events[0].Redelivery ||
		events[1].Type != "unfollow" || events[1].UserID != "Ubob" || !events[1].Redelivery {
		t.Errorf("events = %+v", events)
	}
	if age := time.Since(events[0].Timestamp); age < 0 || age > time.Hour {
		t.Errorf("follow timestamp %v is not about now", events[0].Timestamp)
	}
}
