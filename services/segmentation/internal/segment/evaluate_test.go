package segment

import (
	"testing"
	"time"
)

func TestRuleMatches(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	viewed := func(ago time.Duration) Behaviour { return Behaviour{Name: "Viewed", Time: now.Add(-ago)} }
	facts := Facts{
		Now: now,
		Traits: map[string]any{
			"plan": "pro", "seats": float64(3), "ratio": 2.5, "beta": true, "nothing": nil,
			"tags": []any{"a", "b"},
		},
		Events: map[string][]Behaviour{"Viewed": {viewed(3 * day), viewed(day)}},
		RFM:    &Scores{Recency: 5, Frequency: 3, Monetary: 1},
	}
	trait := func(k, v string) Rule { return Rule{Trait: &TraitCondition{Key: k, Equals: v}} }
	event := func(name string, min, days int32) Rule {
		return Rule{Event: &EventCondition{Event: name, MinCount: min, WithinDays: days}}
	}
	rfm := func(r, f, m int32) Rule {
		return Rule{RFM: &RFMCondition{MinRecency: r, MinFrequency: f, MinMonetary: m}}
	}
	tests := []struct {
		name  string
		facts Facts
		rule  []Rule
		want  bool
	}{
		{"string trait", facts, []Rule{trait("plan", "pro")}, true},
		{"string trait differs", facts, []Rule{trait("plan", "free")}, false},
		{"number trait as text", facts, []Rule{trait("seats", "3")}, true},
		{"numbers compare as numbers", facts, []Rule{trait("seats", "3.0")}, true},
		{"fraction as text", facts, []Rule{trait("ratio", "2.5")}, true},
		{"bool as text", facts, []Rule{trait("beta", "true")}, true},
		{"a list matches by element", facts, []Rule{trait("tags", "b")}, true},
		{"null matches nothing", facts, []Rule{trait("nothing", "")}, false},
		{"missing trait", facts, []Rule{trait("absent", "")}, false},
		{"event count reaches min", facts, []Rule{event("Viewed", 2, 7)}, true},
		{"event count below min", facts, []Rule{event("Viewed", 3, 7)}, false},
		{"min count 0 means 1", facts, []Rule{event("Viewed", 1, 7)}, true},
		{"a shorter window counts fewer", facts, []Rule{event("Viewed", 2, 2)}, false},
		{"rfm all met", facts, []Rule{rfm(5, 3, 1)}, true},
		{"rfm zero means any", facts, []Rule{rfm(0, 0, 0)}, true},
		{"rfm one short", facts, []Rule{rfm(5, 4, 0)}, false},
		{"rfm without purchase", Facts{}, []Rule{rfm(0, 0, 0)}, false},
		{"all of: one fails", facts, []Rule{trait("plan", "pro"), event("Viewed", 5, 7)}, false},
		{"all of: all hold", facts, []Rule{trait("plan", "pro"), event("Viewed", 1, 7), rfm(1, 1, 1)}, true},
		{"empty rule", facts, nil, false},
		{"empty condition", facts, []Rule{{}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Rule{All: tt.rule}).Matches(tt.facts); got != tt.want {
				t.Errorf("Matches = %v, want %v", got, tt.want)
			}
		})
	}
}

const day = 24 * time.Hour

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
		{"traits only", Rule{All: []Rule{{Trait: &TraitCondition{Key: "a"}}}}, false, false},
		{"with event", Rule{All: []Rule{{Trait: &TraitCondition{Key: "a"}}, {Event: &EventCondition{Event: "x"}}}}, true, false},
		{"with rfm", Rule{All: []Rule{{RFM: &RFMCondition{}}}}, true, true},
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
