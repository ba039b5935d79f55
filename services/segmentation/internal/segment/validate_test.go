package segment

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/kizuna/kizuna/services/platform/validation"
)

func TestValidate(t *testing.T) {
	trait := Rule{Trait: &TraitCondition{Key: "plan", Equals: "pro"}}
	event := func(name string, min, days int32) Rule {
		return Rule{Event: &EventCondition{Event: name, MinCount: min, WithinDays: days}}
	}
	rfm := func(r, f, m int32) Rule {
		return Rule{RFM: &RFMCondition{MinRecency: r, MinFrequency: f, MinMonetary: m}}
	}
	many := make([]Rule, MaxRuleNodes) // with the root, one node too many
	for i := range many {
		many[i] = trait
	}
	tests := []struct {
		name       string
		seg        Segment
		wantFields []string
	}{
		{name: "valid", seg: Segment{DisplayName: "VIP", Rule: Rule{All: []Rule{trait, event("Viewed", 0, 1), rfm(0, 5, 3)}}}},
		{name: "valid at limits", seg: Segment{DisplayName: strings.Repeat("あ", MaxDisplayNameLen), Rule: Rule{All: many[:MaxRuleNodes-1]}}},
		{name: "missing name and rule", seg: Segment{DisplayName: "  "}, wantFields: []string{"segment.display_name", "segment.rule"}},
		{name: "name too long", seg: Segment{DisplayName: strings.Repeat("x", MaxDisplayNameLen+1), Rule: Rule{All: []Rule{trait}}},
			wantFields: []string{"segment.display_name"}},
		{name: "too many nodes", seg: Segment{DisplayName: "x", Rule: Rule{All: many}}, wantFields: []string{"segment.rule"}},
		{name: "too deep", seg: Segment{DisplayName: "x", Rule: nest(MaxRuleDepth, trait)}, wantFields: []string{"segment.rule" + strings.Repeat(".not", MaxRuleDepth)}},
		{name: "deep enough", seg: Segment{DisplayName: "x", Rule: nest(MaxRuleDepth-1, trait)}},
		{name: "nested bad nodes by path", seg: Segment{DisplayName: "x", Rule: Rule{All: []Rule{
			{Any: []Rule{trait, {Trait: &TraitCondition{Key: "age", Comparison: Comparison{Op: OpGTE, Value: "forty"}}}}},
			{Not: &Rule{Event: &EventCondition{Event: "Order Completed", Where: []PropertyFilter{{Property: "category", Comparison: Comparison{Op: OpIn}}}}}},
			{Event: &EventCondition{Event: "Order Completed", Aggregate: &Aggregate{Property: "revenue", Fn: "MEDIAN", Comparison: Comparison{Op: OpContains, Value: "1"}}}},
			{Lifecycle: &LifecycleCondition{Stages: []Stage{StageDormant, "sleepy"}}},
			{RFM: &RFMCondition{Recency: &ScoreRange{Min: 4, Max: 2}}},
		}}}, wantFields: []string{
			"segment.rule.all[0].any[1].trait.value",
			"segment.rule.all[1].not.event.where[0].values",
			"segment.rule.all[2].event.aggregate.fn",
			"segment.rule.all[2].event.aggregate.op",
			"segment.rule.all[3].lifecycle.stages[1]",
			"segment.rule.all[4].rfm.recency.max",
		}},
		{name: "max below min", seg: Segment{DisplayName: "x", Rule: Rule{Event: &EventCondition{Event: "x", MinCount: 2, MaxCount: ptr(int32(1))}}},
			wantFields: []string{"segment.rule.event.max_count"}},
		{name: "empty condition", seg: Segment{DisplayName: "x", Rule: Rule{All: []Rule{trait, {}}}}, wantFields: []string{"segment.rule.all[1]"}},
		{name: "two kinds in one condition", seg: Segment{DisplayName: "x", Rule: Rule{All: []Rule{{Trait: trait.Trait, RFM: &RFMCondition{}}}}},
			wantFields: []string{"segment.rule.all[0]"}},
		{name: "empty trait key", seg: Segment{DisplayName: "x", Rule: Rule{All: []Rule{{Trait: &TraitCondition{Equals: "x"}}}}},
			wantFields: []string{"segment.rule.all[0].trait.key"}},
		{name: "event bounds", seg: Segment{DisplayName: "x", Rule: Rule{All: []Rule{trait, event("", -1, 0), event("ok", 1, MaxWithinDays+1)}}},
			wantFields: []string{"segment.rule.all[1].event.event", "segment.rule.all[1].event.min_count", "segment.rule.all[2].event.within_days"}},
		{name: "rfm scores out of range", seg: Segment{DisplayName: "x", Rule: Rule{All: []Rule{rfm(6, -1, 5)}}},
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

func nest(depth int, leaf Rule) Rule {
	r := leaf
	for range depth {
		inner := r
		r = Rule{Not: &inner}
	}
	return r
}

func ptr[T any](v T) *T { return &v }

func TestNormalizeDefaultsMinCount(t *testing.T) {
	s := Segment{DisplayName: " VIP ", Rule: Rule{All: []Rule{{Event: &EventCondition{Event: "x", WithinDays: 3}}}}}
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
