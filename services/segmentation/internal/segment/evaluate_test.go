package segment

import (
	"testing"
	"time"
)

func TestRuleMatches(t *testing.T) {
	viewed7 := EventKey{Name: "Viewed", WithinDays: 7}
	facts := Facts{
		Traits: map[string]any{
			"plan": "pro", "seats": float64(3), "ratio": 2.5, "beta": true, "nothing": nil,
			"tags": []any{"a", "b"},
		},
		EventCounts: map[EventKey]int64{viewed7: 2},
		RFM:         &Scores{Recency: 5, Frequency: 3, Monetary: 1},
	}
	trait := func(k, v string) Condition { return Condition{Trait: &TraitCondition{Key: k, Equals: v}} }
	event := func(name string, min, days int32) Condition {
		return Condition{Event: &EventCondition{Event: name, MinCount: min, WithinDays: days}}
	}
	rfm := func(r, f, m int32) Condition {
		return Condition{RFM: &RFMCondition{MinRecency: r, MinFrequency: f, MinMonetary: m}}
	}
	tests := []struct {
		name  string
		facts Facts
		rule  []Condition
		want  bool
	}{
		{"string trait", facts, []Condition{trait("plan", "pro")}, true},
		{"string trait differs", facts, []Condition{trait("plan", "free")}, false},
		{"number trait as text", facts, []Condition{trait("seats", "3")}, true},
		{"number is not 3.0", facts, []Condition{trait("seats", "3.0")}, false},
		{"fraction as text", facts, []Condition{trait("ratio", "2.5")}, true},
		{"bool as text", facts, []Condition{trait("beta", "true")}, true},
		{"array as JSON", facts, []Condition{trait("tags", `["a","b"]`)}, true},
		{"null matches nothing", facts, []Condition{trait("nothing", "")}, false},
		{"missing trait", facts, []Condition{trait("absent", "")}, false},
		{"event count reaches min", facts, []Condition{event("Viewed", 2, 7)}, true},
		{"event count below min", facts, []Condition{event("Viewed", 3, 7)}, false},
		{"min count 0 means 1", facts, []Condition{event("Viewed", 0, 7)}, true},
		{"other window is another counter", facts, []Condition{event("Viewed", 1, 30)}, false},
		{"rfm all met", facts, []Condition{rfm(5, 3, 1)}, true},
		{"rfm zero means any", facts, []Condition{rfm(0, 0, 0)}, true},
		{"rfm one short", facts, []Condition{rfm(5, 4, 0)}, false},
		{"rfm without purchase", Facts{}, []Condition{rfm(0, 0, 0)}, false},
		{"all of: one fails", facts, []Condition{trait("plan", "pro"), event("Viewed", 5, 7)}, false},
		{"all of: all hold", facts, []Condition{trait("plan", "pro"), event("Viewed", 1, 7), rfm(1, 1, 1)}, true},
		{"empty rule", facts, nil, false},
		{"empty condition", facts, []Condition{{}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Rule{All: tt.rule}).Matches(tt.facts); got != tt.want {
				t.Errorf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWindowStart(t *testing.T) {
	now := time.Date(2026, 3, 10, 15, 30, 0, 0, time.UTC)
	tests := []struct {
		name    string
		days    int32
		eventAt time.Time
		counts  bool
	}{
		{"exactly at the window start", 7, now.Add(-7 * 24 * time.Hour), true},
		{"a microsecond before the start", 7, now.Add(-7*24*time.Hour - time.Microsecond), false},
		{"a microsecond after the start", 7, now.Add(-7*24*time.Hour + time.Microsecond), true},
		{"now", 1, now, true},
		{"in the future (clock skew)", 1, now.Add(time.Minute), true},
		{"one day window, 25 hours ago", 1, now.Add(-25 * time.Hour), false},
		{"max window", MaxWithinDays, now.Add(-time.Duration(MaxWithinDays) * 24 * time.Hour), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := WindowStart(now, tt.days)
			if got := !tt.eventAt.Before(start); got != tt.counts {
				t.Errorf("event at %v counts = %v (window start %v), want %v", tt.eventAt, got, start, tt.counts)
			}
		})
	}
}

func TestRuleDynamic(t *testing.T) {
	tests := []struct {
		name        string
		rule        Rule
		dynamic, rf bool
	}{
		{"traits only", Rule{All: []Condition{{Trait: &TraitCondition{Key: "a"}}}}, false, false},
		{"with event", Rule{All: []Condition{{Trait: &TraitCondition{Key: "a"}}, {Event: &EventCondition{Event: "x"}}}}, true, false},
		{"with rfm", Rule{All: []Condition{{RFM: &RFMCondition{}}}}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.rule.Dynamic(); got != tt.dynamic {
				t.Errorf("Dynamic = %v, want %v", got, tt.dynamic)
			}
			if got := tt.rule.UsesRFM(); got != tt.rf {
				t.Errorf("UsesRFM = %v, want %v", got, tt.rf)
			}
		})
	}
}
