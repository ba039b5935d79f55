package tracking

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"

	"github.com/kizuna/kizuna/services/platform/validation"
)

var now = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func batch(t testing.TB, js string) *ingestionv1.BatchRequest {
	t.Helper()
	var req ingestionv1.BatchRequest
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal([]byte(js), &req); err != nil {
		t.Fatalf("unmarshal %s: %v", js, err)
	}
	return &req
}

func TestParseBatch(t *testing.T) {
	msgs, err := ParseBatch(batch(t, `{
	  "batch": [
	    {"type":"identify","messageId":"m1","anonymousId":"a1","userId":"u1","traits":{"email":"Taro@Example.jp"},"timestamp":"2026-11-01T10:00:00.123+09:00"},
	    {"type":"track","messageId":"m2","userId":"u1","event":"Order Completed","properties":{"order_id":"o-1","revenue":"1200","currency":"jpy"}},
	    {"type":"track","messageId":"m3","userId":"u1","event":"Order Completed","properties":{"order_id":42,"total":99.5}},
	    {"type":"page","messageId":"m4","anonymousId":"a1","name":"Pricing","context":{"ip":"1.2.3.4"}}
	  ],
	  "context":{"library":{"name":"analytics-go"}},
	  "integrations":{"All":true}
	}`), now)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 4 {
		t.Fatalf("got %d messages, want 4", len(msgs))
	}
	if got, want := msgs[0].Timestamp, time.Date(2026, 11, 1, 1, 0, 0, 123e6, time.UTC); !got.Equal(want) {
		t.Errorf("timestamp = %v, want %v", got, want)
	}
	if got := UserTrait(msgs[0].Type, msgs[0].Traits, msgs[0].Context, "email"); got != "Taro@Example.jp" {
		t.Errorf("email = %q", got)
	}
	if o := msgs[1].Order; o == nil || o.OrderID != "o-1" || o.Revenue != 1200 || o.Currency != "JPY" {
		t.Errorf("order = %+v", o)
	}
	if o := msgs[2].Order; o == nil || o.OrderID != "42" || o.Revenue != 99.5 {
		t.Errorf("order from total = %+v", o)
	}
	if !msgs[3].Timestamp.Equal(now) {
		t.Errorf("missing timestamp should default to receipt time, got %v", msgs[3].Timestamp)
	}
	if msgs[3].Context["library"] == nil || msgs[3].Context["ip"] != "1.2.3.4" {
		t.Errorf("batch context not merged: %v", msgs[3].Context)
	}
}

func TestParseBatchRejects(t *testing.T) {
	tests := []struct {
		name, body, field string
	}{
		{"unknown type", `{"batch":[{"type":"purchase","userId":"u"}]}`, "batch[0].type"},
		{"missing type", `{"batch":[{"userId":"u"}]}`, "batch[0].type"},
		{"missing ids", `{"batch":[{"type":"track","event":"x"}]}`, "batch[0].userId"},
		{"track without event", `{"batch":[{"type":"track","userId":"u"}]}`, "batch[0].event"},
		{"group without group id", `{"batch":[{"type":"group","userId":"u"}]}`, "batch[0].groupId"},
		{"alias without previous id", `{"batch":[{"type":"alias","userId":"u"}]}`, "batch[0].previousId"},
		{"bad timestamp", `{"batch":[{"type":"page","userId":"u","timestamp":"yesterday"}]}`, "batch[0].timestamp"},
		{"bad revenue", `{"batch":[{"type":"track","userId":"u","event":"Order Completed","properties":{"revenue":"lots"}}]}`, "batch[0].properties.revenue"},
		{"empty batch", `{"batch":[]}`, "batch"},
		{"NUL in a user id", `{"batch":[{"type":"track","userId":"u\u0000x","event":"e"}]}`, "batch[0].userId"},
		{"NUL in an event name", `{"batch":[{"type":"track","userId":"u","event":"Order\u0000"}]}`, "batch[0].event"},
		{"NUL in a property", `{"batch":[{"type":"track","userId":"u","event":"e","properties":{"items":[{"sku":"a\u0000"}]}}]}`, "batch[0].properties.items[0].sku"},
		{"NUL in two properties: the first key", `{"batch":[{"type":"track","userId":"u","event":"e","properties":{"z":"\u0000","b":["ok","\u0000"],"a":{"x":"ok"}}}]}`, "batch[0].properties.b[1]"},
		{"NUL in a trait key", `{"batch":[{"type":"identify","userId":"u","traits":{"na\u0000me":"x"}}]}`, "batch[0].traits"},
		{"implausible revenue", `{"batch":[{"type":"track","userId":"u","event":"Order Completed","properties":{"revenue":1.7e308}}]}`, "batch[0].properties.revenue"},
		{"year 9999", `{"batch":[{"type":"page","userId":"u","timestamp":"9999-01-01T00:00:00Z"}]}`, "batch[0].timestamp"},
		{"two days ahead", `{"batch":[{"type":"page","userId":"u","timestamp":"` + now.Add(48*time.Hour).Format(time.RFC3339) + `"}]}`, "batch[0].timestamp"},
		{"second message bad", `{"batch":[{"type":"page","userId":"u"},{"type":"nope","userId":"u"}]}`, "batch[1].type"},
		{"conflicting message ids", `{"batch":[{"type":"page","userId":"u","messageId":"m"},{"type":"track","event":"e","userId":"u","messageId":"m"}]}`, "batch[1].messageId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseBatch(batch(t, tt.body), now)
			var verr *validation.Error
			if !errors.As(err, &verr) {
				t.Fatalf("err = %v, want a *validation.Error", err)
			}
			if verr.Violations[0].Field != tt.field {
				t.Errorf("field = %q, want %q (%v)", verr.Violations[0].Field, tt.field, verr)
			}
		})
	}
}

func TestParseBatchLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"batch":[`)
	for i := 0; i <= MaxBatchMessages; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"type":"page","userId":"u"}`)
	}
	b.WriteString(`]}`)
	if _, err := ParseBatch(batch(t, b.String()), now); err == nil || !strings.Contains(err.Error(), "over the limit of 2500") {
		t.Errorf("2,501 messages: err = %v", err)
	}
	big := strings.Repeat("x", MaxMessageBytes)
	_, err := ParseBatch(batch(t, `{"batch":[{"type":"track","userId":"u","event":"e","properties":{"blob":"`+big+`"}}]}`), now)
	if err == nil || !strings.Contains(err.Error(), "batch[0].message") {
		t.Errorf("oversized message: err = %v", err)
	}
}

func TestContentIDStable(t *testing.T) {
	body := `{"batch":[{"type":"track","userId":"u","event":"Signed Up","properties":{"plan":"pro"}}]}`
	a, err := ParseBatch(batch(t, body), now)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ParseBatch(batch(t, body), now.Add(time.Minute))
	if a[0].MessageID == "" || a[0].MessageID != b[0].MessageID {
		t.Errorf("ids %q and %q should be equal and non-empty", a[0].MessageID, b[0].MessageID)
	}
}

func FuzzParseBatch(f *testing.F) {
	f.Add(`{"batch":[{"type":"track","userId":"u","event":"Order Completed","properties":{"revenue":"1"}}]}`)
	f.Add(`{"batch":[{"type":"identify","anonymousId":"a","timestamp":"2026-01-01"}]}`)
	f.Fuzz(func(t *testing.T, js string) {
		var req ingestionv1.BatchRequest
		if protojson.Unmarshal([]byte(js), &req) != nil {
			return
		}
		msgs, err := ParseBatch(&req, now)
		if err == nil && len(msgs) != len(req.GetBatch()) {
			t.Fatalf("accepted %d of %d messages without an error", len(msgs), len(req.GetBatch()))
		}
	})
}

func TestParseSingleCalls(t *testing.T) {
	track, err := ParseTrack(&ingestionv1.TrackRequest{MessageId: "t", UserId: "u", Event: "Signed Up", Timestamp: "2026-01-02"}, now)
	if err != nil || track.Type != Track || track.Name != "Signed Up" || track.MessageID != "t" || !track.Timestamp.Equal(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("track = %+v, %v", track, err)
	}
	page, err := ParsePage(&ingestionv1.PageRequest{AnonymousId: "a", Name: "Pricing", Category: "Docs"}, now)
	if err != nil || page.Type != Page || page.Name != "Pricing" || page.Category != "Docs" || page.AnonymousID != "a" {
		t.Errorf("page = %+v, %v", page, err)
	}
	group, err := ParseGroup(&ingestionv1.GroupRequest{UserId: "u", GroupId: "g"}, now)
	if err != nil || group.Type != Group || group.GroupID != "g" {
		t.Errorf("group = %+v, %v", group, err)
	}
	alias, err := ParseAlias(&ingestionv1.AliasRequest{UserId: "u", PreviousId: "p"}, now)
	if err != nil || alias.Type != Alias || alias.PreviousID != "p" {
		t.Errorf("alias = %+v, %v", alias, err)
	}
	if _, err := ParseScreen(&ingestionv1.ScreenRequest{Name: "Home"}, now); err == nil {
		t.Error("screen without ids: want an error")
	}
	if _, err := ParseIdentify(&ingestionv1.IdentifyRequest{UserId: "u", Timestamp: "soon"}, now); err == nil {
		t.Error("identify with a bad timestamp: want an error")
	}
}

// TestEventTimeSkew: an explicit timestamp is kept; originalTimestamp with
// sentAt is corrected for the device clock's skew, as Segment does.
func TestEventTimeSkew(t *testing.T) {
	tests := []struct {
		name, body string
		want       time.Time
	}{
		{"timestamp wins", `{"batch":[{"type":"page","userId":"u","timestamp":"2026-11-01T10:00:00Z","originalTimestamp":"2026-11-01T09:00:00Z","sentAt":"2026-11-01T09:00:05Z"}]}`,
			time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)},
		{"fast clock corrected", `{"batch":[{"type":"page","userId":"u","originalTimestamp":"` + now.Add(time.Hour-30*time.Second).Format(time.RFC3339) + `"}],"sentAt":"` + now.Add(time.Hour).Format(time.RFC3339) + `"}`,
			now.Add(-30 * time.Second)},
		{"original alone", `{"batch":[{"type":"page","userId":"u","originalTimestamp":"2026-11-01T09:00:00Z"}]}`,
			time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msgs, err := ParseBatch(batch(t, tt.body), now)
			if err != nil {
				t.Fatal(err)
			}
			if !msgs[0].Timestamp.Equal(tt.want) {
				t.Errorf("timestamp %s, want %s", msgs[0].Timestamp, tt.want)
			}
		})
	}
}

// TestBatchSizes: the sizes ParseBatch checks are proto.Size's.
func TestBatchSizes(t *testing.T) {
	props, _ := structpb.NewStruct(map[string]any{"sku": "SKU-1", "price": 980, "long": strings.Repeat("x", 300)})
	ctx, _ := structpb.NewStruct(map[string]any{"library": map[string]any{"name": "x"}})
	newer := &ingestionv1.BatchRequest{Batch: []*ingestionv1.BatchMessage{{Type: "track", Event: "e"}}}
	newer.ProtoReflect().SetUnknown(protowire.AppendString(protowire.AppendTag(nil, 999, protowire.BytesType), strings.Repeat("n", 100)))
	for _, req := range []*ingestionv1.BatchRequest{
		{},
		{Batch: []*ingestionv1.BatchMessage{{Type: "track", Event: "e"}}},
		newer, // a field this version does not know
		{SentAt: "2026-11-23T00:00:00Z", Context: ctx, Batch: []*ingestionv1.BatchMessage{
			{Type: "track", Event: "e", Properties: props}, {}, {Type: "identify", UserId: strings.Repeat("u", 200), Context: ctx}}},
	} {
		sizes, total := batchSizes(req)
		if want := proto.Size(req); total != want {
			t.Errorf("total = %d, want proto.Size %d", total, want)
		}
		for i, b := range req.GetBatch() {
			if sizes[i] != proto.Size(b) {
				t.Errorf("message %d: size %d, want %d", i, sizes[i], proto.Size(b))
			}
		}
	}
}
