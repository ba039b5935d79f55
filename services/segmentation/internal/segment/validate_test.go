package segment

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/kizuna/kizuna/services/platform/validation"
)

func TestValidate(t *testing.T) {
	trait := Condition{Trait: &TraitCondition{Key: "plan", Equals: "pro"}}
	event := func(name string, min, days int32) Condition {
		return Condition{Event: &EventCondition{Event: name, MinCount: min, WithinDays: days}}
	}
	rfm := func(r, f, m int32) Condition {
		return Condition{RFM: &RFMCondition{MinRecency: r, MinFrequency: f, MinMonetary: m}}
	}
	many := make([]Condition, MaxConditions+1)
	for i := range many {
		many[i] = trait
	}
	tests := []struct {
		name       string
		seg        Segment
		wantFields []string
	}{
		{name: "valid", seg: Segment{DisplayName: "VIP", Rule: Rule{All: []Condition{trait, event("Viewed", 0, 1), rfm(0, 5, 3)}}}},
		{name: "valid at limits", seg: Segment{DisplayName: strings.Repeat("あ", MaxDisplayNameLen), Rule: Rule{All: many[:MaxConditions]}}},
		{name: "missing name and rule", seg: Segment{DisplayName: "  "}, wantFields: []string{"segment.display_name", "segment.rule.all"}},
		{name: "name too long", seg: Segment{DisplayName: strings.Repeat("x", MaxDisplayNameLen+1), Rule: Rule{All: []Condition{trait}}},
			wantFields: []string{"segment.display_name"}},
		{name: "too many conditions", seg: Segment{DisplayName: "x", Rule: Rule{All: many}}, wantFields: []string{"segment.rule.all"}},
		{name: "empty condition", seg: Segment{DisplayName: "x", Rule: Rule{All: []Condition{trait, {}}}}, wantFields: []string{"segment.rule.all[1]"}},
		{name: "two kinds in one condition", seg: Segment{DisplayName: "x", Rule: Rule{All: []Condition{{Trait: trait.Trait, RFM: &RFMCondition{}}}}},
			wantFields: []string{"segment.rule.all[0]"}},
		{name: "empty trait key", seg: Segment{DisplayName: "x", Rule: Rule{All: []Condition{{Trait: &TraitCondition{Equals: "x"}}}}},
			wantFields: []string{"segment.rule.all[0].trait.key"}},
		{name: "event bounds", seg: Segment{DisplayName: "x", Rule: Rule{All: []Condition{trait, event("", -1, 0), event("ok", 1, MaxWithinDays+1)}}},
			wantFields: []string{"segment.rule.all[1].event.event", "segment.rule.all[1].event.min_count", "segment.rule.all[1].event.within_days", "segment.rule.all[2].event.within_days"}},
		{name: "rfm scores out of range", seg: Segment{DisplayName: "x", Rule: Rule{All: []Condition{rfm(6, -1, 5)}}},
			wantFields: []string{"segment.rule.all[0].rfm.min_recency_score", "segment.rule.all[0].rfm.min_frequency_score"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.seg)
			var got []string
			var v *validation.Error
			if errors.As(err, &v) {
				for _, fv := range v.Violations {
					got = append(got, fv.Field)
				}
			} else if err != nil {
				t.Fatalf("Validate = %v, want a *validation.Error or nil", err)
			}
			if !reflect.DeepEqual(got, tt.wantFields) {
				t.Errorf("violations = %v, want %v", got, tt.wantFields)
			}
		})
	}
}

func TestNormalizeDefaultsMinCount(t *testing.T) {
	s := Segment{DisplayName: " VIP ", Rule: Rule{All: []Condition{{Event: &EventCondition{Event: "x", WithinDays: 3}}}}}
	s.normalize()
	if s.DisplayName != "VIP" || s.Rule.All[0].Event.MinCount != 1 {
		t.Errorf("normalized = %q, min_count %d; want \"VIP\", 1", s.DisplayName, s.Rule.All[0].Event.MinCount)
	}
}

func TestValidateID(t *testing.T) {
	tests := []struct {
		name    string
		id      string
		wantErr bool
	}{
		{"ok", "cus_123", false},
		{"empty", "", true},
		{"too long", strings.Repeat("x", MaxIDLen+1), true},
		{"invalid utf-8", "\xff", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ValidateID("customer_id", tt.id); (err != nil) != tt.wantErr {
				t.Errorf("ValidateID(%q) = %v, wantErr %v", tt.id, err, tt.wantErr)
			}
		})
	}
}
