package ingest

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/ingestion/internal/tracking"
)

// TestEventPayloadInTwoParts: the bus message put together from the
// caller's part and the writer's reads as the message encoded whole.
func TestEventPayloadInTwoParts(t *testing.T) {
	at := time.Date(2026, 11, 23, 1, 2, 3, 456789000, time.UTC)
	received := at.Add(90 * time.Second)
	for _, tt := range []struct {
		name string
		m    tracking.Message
	}{
		{"track with properties", tracking.Message{Type: tracking.Track, MessageID: "m1", Name: "Product Viewed", UserID: "u1", AnonymousID: "a1", Timestamp: at,
			Properties: map[string]any{"sku": "SKU-1", "price": 980.0, "tags": []any{"a", "b"}}, Context: map[string]any{"library": map[string]any{"name": "x"}}}},
		{"identify with traits", tracking.Message{Type: tracking.Identify, MessageID: "m2", UserID: "u2", Timestamp: at,
			Traits: map[string]any{"email": "a@example.jp", "name": "山田太郎"}}},
		{"order", tracking.Message{Type: tracking.Track, MessageID: "m3", Name: "Order Completed", UserID: "u3", Timestamp: at,
			Order: &tracking.Order{OrderID: "o1", Revenue: 1200, Currency: "JPY"}}},
		{"alias, nothing optional", tracking.Message{Type: tracking.Alias, MessageID: "m4", UserID: "u4", PreviousID: "a4", Timestamp: at}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			part, err := eventPart("ws1", &tt.m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := eventPayload(part, "cus_1", received)
			if err != nil {
				t.Fatal(err)
			}
			pb, err := EventProto(eventOf("ws1", "cus_1", &tt.m, received))
			if err != nil {
				t.Fatal(err)
			}
			want := &ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_EventRecorded{EventRecorded: pb}}
			var decoded ingestionv1.IngestionBusMessage
			if err := proto.Unmarshal(got, &decoded); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(&decoded, want) {
				t.Errorf("payload reads as\n%v\nwant\n%v", &decoded, want)
			}
		})
	}
}
