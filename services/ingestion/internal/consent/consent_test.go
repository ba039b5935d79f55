package consent

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var at = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func render(sts []Statement) string {
	var parts []string
	for _, s := range sts {
		parts = append(parts, fmt.Sprintf("%s=%t/%s@%s", s.Purpose, s.Granted, s.Source, s.Time.Format(time.DateOnly)))
	}
	return strings.Join(parts, " ")
}

func TestFromMessage(t *testing.T) {
	tests := []struct {
		name                  string
		kind, event           string
		traits, props, contxt map[string]any
		want                  string
	}{
		{"identify booleans", "identify", "", map[string]any{"consent": map[string]any{"marketing_email": true, "analytics": false}}, nil, nil,
			"analytics=false/identify@2026-12-01 marketing_email=true/identify@2026-12-01"},
		{"identify object with time and source", "identify", "", map[string]any{"consent": map[string]any{
			"marketing_line": map[string]any{"granted": true, "source": "store_form", "time": "2026-11-30T10:00:00+09:00"}}}, nil, nil,
			"marketing_line=true/store_form@2026-11-30"},
		{"a time after the event is not believed", "identify", "", map[string]any{"consent": map[string]any{
			"analytics": map[string]any{"granted": true, "time": "2027-01-01T00:00:00Z"}}}, nil, nil, "analytics=true/identify@2026-12-01"},
		{"bad entries are ignored", "identify", "", map[string]any{"consent": map[string]any{
			"Bad Name": true, "analytics": "yes", "marketing_email": map[string]any{"source": "x"}}}, nil, nil, ""},
		{"consent not an object", "identify", "", map[string]any{"consent": true}, nil, nil, ""},
		{"consent in track properties needs the event", "track", "Something", nil, map[string]any{"consent": map[string]any{"analytics": true}}, nil, ""},
		{"Consent Updated", "track", EventConsentUpdated, nil, map[string]any{"consent": map[string]any{"analytics": true}}, nil,
			"analytics=true/consent_updated_event@2026-12-01"},
		{"Segment consent categories", "track", EventSegmentConsent, nil, nil, map[string]any{"consent": map[string]any{
			"categoryPreferences": map[string]any{"Advertising": true, "Functional Cookies": false, "?": true}}},
			"advertising=true/segment_consent@2026-12-01 functional_cookies=false/segment_consent@2026-12-01"},
		{"unsubscribed from e-mail", "track", EventUnsubscribed, nil, map[string]any{"channel": "EMAIL", "source": "unsubscribe_link"}, nil,
			"marketing_email=false/unsubscribe_link@2026-12-01"},
		{"unsubscribed from a webhook", "track", EventUnsubscribed, nil, map[string]any{"channel": "webhook"}, nil, ""},
		{"LINE unfollow", "track", EventLineUnfollowed, nil, nil, nil, "marketing_line=false/line_unfollow@2026-12-01"},
		{"LINE follow", "track", EventLineFollowed, nil, nil, nil, "marketing_line=true/line_follow@2026-12-01"},
		{"page", "page", EventLineFollowed, nil, nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := render(FromMessage(tt.kind, tt.event, tt.traits, tt.props, tt.contxt, at)); got != tt.want {
				t.Errorf("statements = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStateLatestWins(t *testing.T) {
	s := State{}
	grant := Statement{Purpose: Analytics, Granted: true, Time: at, Source: "a"}
	if !s.Apply([]Statement{grant}) {
		t.Fatal("first statement changed nothing")
	}
	if s.Apply([]Statement{{Purpose: Analytics, Granted: false, Time: at.Add(-time.Hour), Source: "older"}}) {
		t.Error("an older statement changed the state")
	}
	if !s.Apply([]Statement{{Purpose: Analytics, Granted: false, Time: at, Source: "tie"}}) || s[Analytics].Granted {
		t.Errorf("a withdrawal at the same time did not win: %+v", s)
	}
	o := State{Analytics: {Granted: true, Time: at.Add(time.Minute).UnixMicro(), Source: "later"}, MarketingEmail: {Granted: true, Time: 1, Source: "x"}}
	s.Absorb(o)
	if s[Analytics].Source != "later" || !s[MarketingEmail].Granted {
		t.Errorf("absorb = %+v", s)
	}
	enc, err := s.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Decode(enc)
	if err != nil || len(back) != 2 || back[Analytics] != s[Analytics] {
		t.Errorf("round trip = %+v, %v", back, err)
	}
	full := State{}
	for i := range MaxPurposesPerRecord + 5 {
		full.Apply([]Statement{{Purpose: fmt.Sprintf("p%d", i), Granted: true, Time: at}})
	}
	if len(full) != MaxPurposesPerRecord {
		t.Errorf("%d purposes kept, want the limit %d", len(full), MaxPurposesPerRecord)
	}
}
