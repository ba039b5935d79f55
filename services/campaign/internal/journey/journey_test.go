package journey

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/platform/validation"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestNextLocal(t *testing.T) {
	tokyo, ny := mustZone(t, "Asia/Tokyo"), mustZone(t, "America/New_York")
	tests := []struct {
		name  string
		now   time.Time
		loc   *time.Location
		clock string
		wd    campaignv1.Weekday
		want  time.Time
	}{
		{"later today", time.Date(2026, 12, 5, 8, 0, 0, 0, tokyo), tokyo, "10:00", 0, time.Date(2026, 12, 5, 10, 0, 0, 0, tokyo)},
		{"tomorrow", time.Date(2026, 12, 5, 11, 0, 0, 0, tokyo), tokyo, "10:00", 0, time.Date(2026, 12, 6, 10, 0, 0, 0, tokyo)},
		{"exactly now", time.Date(2026, 12, 5, 10, 0, 0, 0, tokyo), tokyo, "10:00", 0, time.Date(2026, 12, 5, 10, 0, 0, 0, tokyo)},
		{"next monday", time.Date(2026, 12, 5, 8, 0, 0, 0, tokyo), tokyo, "09:30", campaignv1.Weekday_MONDAY, time.Date(2026, 12, 7, 9, 30, 0, 0, tokyo)},
		{"sunday", time.Date(2026, 12, 5, 8, 0, 0, 0, tokyo), tokyo, "09:30", campaignv1.Weekday_SUNDAY, time.Date(2026, 12, 6, 9, 30, 0, 0, tokyo)},
		// 2026-03-08 02:30 does not exist in New York: it becomes 03:30 EDT.
		{"spring forward", time.Date(2026, 3, 7, 12, 0, 0, 0, ny), ny, "02:30", 0, time.Date(2026, 3, 8, 7, 30, 0, 0, time.UTC)},
		// Across the change 10:00 local stays 10:00 local (UTC offset moves).
		{"after DST", time.Date(2026, 3, 7, 12, 0, 0, 0, ny), ny, "10:00", 0, time.Date(2026, 3, 8, 14, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseClock(tt.clock)
			if err != nil {
				t.Fatal(err)
			}
			if got := NextLocal(tt.now, tt.loc, c, tt.wd); !got.Equal(tt.want) {
				t.Errorf("NextLocal = %v, want %v", got, tt.want.In(tt.loc))
			}
		})
	}
}

func TestQuietHours(t *testing.T) {
	tokyo := mustZone(t, "Asia/Tokyo")
	q, ok, err := ParseQuietHours("21:00", "09:00")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	tests := []struct {
		at     time.Time
		inside bool
		until  time.Time
	}{
		{time.Date(2026, 12, 5, 22, 0, 0, 0, tokyo), true, time.Date(2026, 12, 6, 9, 0, 0, 0, tokyo)},
		{time.Date(2026, 12, 5, 3, 0, 0, 0, tokyo), true, time.Date(2026, 12, 5, 9, 0, 0, 0, tokyo)},
		{time.Date(2026, 12, 5, 9, 0, 0, 0, tokyo), false, time.Time{}},
		{time.Date(2026, 12, 5, 20, 59, 0, 0, tokyo), false, time.Time{}},
	}
	for _, tt := range tests {
		until, in := q.Until(tt.at, tokyo)
		if in != tt.inside || !until.Equal(tt.until) {
			t.Errorf("Until(%v) = %v, %v; want %v, %v", tt.at, until, in, tt.until, tt.inside)
		}
	}
	for _, bad := range [][2]string{{"25:00", "09:00"}, {"09:00", "09:00"}, {"9:00", "10:00"}, {"09:00", ""}} {
		if _, _, err := ParseQuietHours(bad[0], bad[1]); err == nil {
			t.Errorf("ParseQuietHours(%q, %q) accepted", bad[0], bad[1])
		}
	}
	if loc := Location("Not/AZone", ""); loc.String() != DefaultTimezone {
		t.Errorf("Location fallback = %v", loc)
	}
	if loc := Location("America/New_York", "Asia/Tokyo"); loc.String() != "America/New_York" {
		t.Errorf("customer zone not preferred: %v", loc)
	}
}

func TestMatchEvent(t *testing.T) {
	props := map[string]any{"category": "ｓｈｏｅｓ ", "revenue": 12000.0, "products": []any{map[string]any{"sku": "A-1"}, map[string]any{"sku": "B-2"}}}
	m := func(js string) *campaignv1.EventMatch {
		var em campaignv1.EventMatch
		if err := protojson.Unmarshal([]byte(js), &em); err != nil {
			t.Fatal(err)
		}
		return &em
	}
	tests := []struct {
		match string
		want  bool
	}{
		{`{"event":"Order Completed"}`, true},
		{`{"event":"Order completed"}`, false},
		{`{"event":"Order Completed","propertyFilters":[{"property":"category","equals":"Shoes"}]}`, true},
		{`{"event":"Order Completed","propertyFilters":[{"property":"products.sku","equals":"B-2"}]}`, true},
		{`{"event":"Order Completed","propertyFilters":[{"property":"products.sku","equals":"C-3"}]}`, false},
		{`{"event":"Order Completed","propertyFilters":[{"property":"revenue","gte":10000},{"property":"revenue","lte":12000}]}`, true},
		{`{"event":"Order Completed","propertyFilters":[{"property":"revenue","gte":20000}]}`, false},
		{`{"event":"Order Completed","propertyFilters":[{"property":"coupon","exists":false}]}`, true},
	}
	for _, tt := range tests {
		if got := MatchEvent(m(tt.match), "Order Completed", props); got != tt.want {
			t.Errorf("MatchEvent(%s) = %v, want %v", tt.match, got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	channels := ChannelTypes{"chn_mail": ingestionv1.ChannelType_EMAIL, "chn_line": ingestionv1.ChannelType_LINE}
	tests := []struct {
		name   string
		js     string
		fields []string
	}{
		{"valid", `{"displayName":"W","entry":{"event":{"event":"Signed Up"}},"steps":[
			{"id":"m","send":{"channelId":"chn_mail","subject":"Hi","text":"x"}},{"id":"d","delay":{"duration":"3s"}},
			{"id":"l","send":{"channelId":"chn_line","text":"y"}}]}`, nil},
		{"missing everything", `{}`, []string{"journey.display_name", "journey.entry", "journey.steps"}},
		{"bad refs and templates", `{"displayName":"W","entry":{"event":{"event":"A"}},"steps":[
			{"id":"m","next":"nope","send":{"channelId":"chn_gone","text":"{% if %}"}},
			{"id":"w","waitFor":{"event":{"event":"B"},"timeout":"0s","onEvent":"zzz"}}]}`,
			[]string{"journey.steps[0].next", "journey.steps[0].send.channel_id", "journey.steps[0].send.text", "journey.steps[1].wait_for.timeout", "journey.steps[1].wait_for.on_event"}},
		{"email needs a subject", `{"displayName":"W","entry":{"event":{"event":"A"}},"steps":[{"id":"m","send":{"channelId":"chn_mail","text":"x"}}]}`,
			[]string{"journey.steps[0].send.subject"}},
		{"instant loop", `{"displayName":"W","entry":{"event":{"event":"A"}},"steps":[
			{"id":"a","send":{"channelId":"chn_line","text":"x"}},{"id":"b","branch":{"trait":{"key":"k","exists":true},"thenStep":"a","elseStep":"a"}}]}`,
			[]string{"journey.steps"}},
		{"loop through a delay is fine", `{"displayName":"W","entry":{"event":{"event":"A"}},"steps":[
			{"id":"a","send":{"channelId":"chn_line","text":"x"}},{"id":"d","delay":{"duration":"86400s"},"next":"a"}]}`, nil},
		{"duplicate ids", `{"displayName":"W","entry":{"event":{"event":"A"}},"steps":[{"id":"a","exit":{}},{"id":"a","exit":{}}]}`,
			[]string{"journey.steps[1].id"}},
		{"holdout, goal and variants (the contract's shape)", `{"displayName":"W","entry":{"event":{"event":"A"}},
			"holdout":{"percent":10},"goal":{"event":{"event":"Order Completed"},"attributionWindow":"604800s"},
			"steps":[{"id":"mail","send":{"channelId":"chn_mail","variants":[
				{"name":"A","weight":50,"subject":"a","text":"x"},{"name":"B","weight":50,"subject":"b","text":"y"},
				{"name":"LINE","weight":10,"text":"z","channelId":"chn_line"}]}}]}`, nil},
		{"bad holdout, goal and variants", `{"displayName":"W","entry":{"event":{"event":"A"}},
			"holdout":{"percent":95},"goal":{"attributionWindow":"60s"},
			"steps":[{"id":"mail","send":{"channelId":"chn_mail","text":"t","variants":[
				{"name":"holdout","weight":0,"subject":"a","text":"x"},{"name":"B","weight":5,"text":"y","html":"<p>"},
				{"name":"B","weight":5,"subject":"s","text":"{% if %}","channelId":"chn_gone"},
				{"name":"L","weight":1,"subject":"s","text":"z","channelId":"chn_line"}]}}]}`,
			[]string{"journey.steps[0].send.text", "journey.steps[0].send.variants[0].name", "journey.steps[0].send.variants[0].weight",
				"journey.steps[0].send.variants[1].subject", "journey.steps[0].send.variants[2].name",
				"journey.steps[0].send.variants[2].channel_id", "journey.steps[0].send.variants[2].text",
				"journey.steps[0].send.variants[3].subject",
				"journey.holdout.percent", "journey.goal.event", "journey.goal.attribution_window"}},
		{"one variant is no test", `{"displayName":"W","entry":{"event":{"event":"A"}},"steps":[{"id":"l","send":{"channelId":"chn_line",
			"variants":[{"name":"A","weight":1,"text":"x"}]}}]}`, []string{"journey.steps[0].send.variants"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var j campaignv1.Journey
			if err := protojson.Unmarshal([]byte(tt.js), &j); err != nil {
				t.Fatal(err)
			}
			err := Validate(&j, channels, "journey")
			var got []string
			if ve, ok := err.(*validation.Error); ok {
				for _, v := range ve.Violations {
					got = append(got, v.Field)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != strings.Join(tt.fields, ",") {
				t.Errorf("violations = %v (%v), want %v", got, err, tt.fields)
			}
		})
	}
}
