package segment

import (
	"slices"
	"strings"
	"time"
)

// Rule is one node of a rule tree: exactly one field is set. The root of a
// segment's rule is a Rule too, so that `{"all": [...]}` rules stored
// before nesting existed decode unchanged.
type Rule struct {
	All       []Rule              `json:"all,omitempty"`
	Any       []Rule              `json:"any,omitempty"`
	Not       *Rule               `json:"not,omitempty"`
	Trait     *TraitCondition     `json:"trait,omitempty"`
	Event     *EventCondition     `json:"event,omitempty"`
	RFM       *RFMCondition       `json:"rfm,omitempty"`
	Segment   *SegmentCondition   `json:"segment,omitempty"`
	Lifecycle *LifecycleCondition `json:"lifecycle,omitempty"`
	Predicted *PredictedCondition `json:"predicted,omitempty"`
	Computed  *ComputedCondition  `json:"computed,omitempty"`
}

// Operator names a comparison; the names are the REST API's.
type Operator string

// The operators.
const (
	OpEquals         Operator = "EQUALS"
	OpNotEquals      Operator = "NOT_EQUALS"
	OpIn             Operator = "IN"
	OpNotIn          Operator = "NOT_IN"
	OpContains       Operator = "CONTAINS"
	OpNotContains    Operator = "NOT_CONTAINS"
	OpStartsWith     Operator = "STARTS_WITH"
	OpExists         Operator = "EXISTS"
	OpNotExists      Operator = "NOT_EXISTS"
	OpGT             Operator = "GT"
	OpGTE            Operator = "GTE"
	OpLT             Operator = "LT"
	OpLTE            Operator = "LTE"
	OpBetween        Operator = "BETWEEN"
	OpBefore         Operator = "BEFORE"
	OpAfter          Operator = "AFTER"
	OpWithinLastDays Operator = "WITHIN_LAST_DAYS"
)

// Comparison is an operator with its operands.
type Comparison struct {
	Op     Operator `json:"op,omitempty"`
	Value  string   `json:"value,omitempty"`
	Values []string `json:"values,omitempty"`
}

// TraitCondition compares a customer trait. Equals is the shorthand of
// rules written before operators existed: with no Op it means EQUALS.
type TraitCondition struct {
	Key    string `json:"key"`
	Equals string `json:"equals,omitempty"`
	Comparison
}

// comparison returns the condition's comparison, resolving the shorthand.
func (c TraitCondition) comparison() Comparison {
	if c.Op == "" {
		return Comparison{Op: OpEquals, Value: c.Equals}
	}
	return c.Comparison
}

// PropertyFilter compares a property of an event (see PropertyValues for
// the path syntax).
type PropertyFilter struct {
	Property string `json:"property"`
	Comparison
}

// Aggregation combines numeric property values.
type Aggregation string

// The aggregations.
const (
	AggSum Aggregation = "SUM"
	AggAvg Aggregation = "AVG"
	AggMin Aggregation = "MIN"
	AggMax Aggregation = "MAX"
)

// Aggregate compares an aggregate of a numeric property over the events an
// EventCondition selects.
type Aggregate struct {
	Property string      `json:"property"`
	Fn       Aggregation `json:"fn"`
	Comparison
}

// TimeRange is [Start, End).
type TimeRange struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// OccurrenceBound bounds an occurrence: before Before, at or after After;
// zero times are unbounded.
type OccurrenceBound struct {
	Before time.Time `json:"before,omitzero"`
	After  time.Time `json:"after,omitzero"`
}

func (b OccurrenceBound) holds(t time.Time) bool {
	return (b.Before.IsZero() || t.Before(b.Before)) && (b.After.IsZero() || !t.Before(b.After))
}

// EventCondition holds when the customer performed the named track event,
// or viewed the named page or screen, with properties matching Where,
// between MinCount and MaxCount times in the window (the last WithinDays
// days, Between, or all time), and Aggregate, FirstOccurrence and
// LastOccurrence hold when set.
type EventCondition struct {
	Event           string           `json:"event"`
	MinCount        int32            `json:"min_count"`
	WithinDays      int32            `json:"within_days,omitempty"`
	MaxCount        *int32           `json:"max_count,omitempty"`
	Between         *TimeRange       `json:"between,omitempty"`
	Where           []PropertyFilter `json:"where,omitempty"`
	Aggregate       *Aggregate       `json:"aggregate,omitempty"`
	FirstOccurrence *OccurrenceBound `json:"first_occurrence,omitempty"`
	LastOccurrence  *OccurrenceBound `json:"last_occurrence,omitempty"`
}

// ScoreRange bounds a score, 0 meaning unbounded.
type ScoreRange struct {
	Min int32 `json:"min,omitempty"`
	Max int32 `json:"max,omitempty"`
}

func (r ScoreRange) holds(score int32) bool {
	return (r.Min == 0 || score >= r.Min) && (r.Max == 0 || score <= r.Max)
}

// RFMCondition holds when each RFM score is at least its minimum (0: any)
// and within its range. Customers without a purchase have no scores and
// never match.
type RFMCondition struct {
	MinRecency   int32       `json:"min_recency,omitempty"`
	MinFrequency int32       `json:"min_frequency,omitempty"`
	MinMonetary  int32       `json:"min_monetary,omitempty"`
	Recency      *ScoreRange `json:"recency,omitempty"`
	Frequency    *ScoreRange `json:"frequency,omitempty"`
	Monetary     *ScoreRange `json:"monetary,omitempty"`
}

// SegmentCondition holds for the members of another segment.
type SegmentCondition struct {
	SegmentID string `json:"segment_id"`
}

// LifecycleCondition holds when the customer's stage is one of Stages.
type LifecycleCondition struct {
	Stages []Stage `json:"stages"`
}

// walk calls fn for r and every node below it, depth first, until fn
// returns false.
func (r *Rule) walk(fn func(*Rule) bool) bool {
	if !fn(r) {
		return false
	}
	for i := range r.All {
		if !r.All[i].walk(fn) {
			return false
		}
	}
	for i := range r.Any {
		if !r.Any[i].walk(fn) {
			return false
		}
	}
	if r.Not != nil {
		return r.Not.walk(fn)
	}
	return true
}

func (r Rule) some(pred func(*Rule) bool) bool {
	found := false
	r.walk(func(n *Rule) bool {
		found = pred(n)
		return !found
	})
	return found
}

// Dynamic reports whether membership can change without any new event for
// the customer: event windows slide, RFM quintiles shift with other
// customers' orders, lifecycle stages age, and a referenced segment may be
// dynamic itself, so such rules need the periodic sweep.
func (r Rule) Dynamic() bool {
	return r.some(func(n *Rule) bool {
		return n.Event != nil || n.RFM != nil || n.Lifecycle != nil || n.Segment != nil ||
			n.Computed != nil && n.Computed.Def != nil && n.Computed.Def.WithinDays > 0
	})
}

// UsesRFM reports whether any node reads RFM scores.
func (r Rule) UsesRFM() bool { return r.some(func(n *Rule) bool { return n.RFM != nil }) }

// UsesLifecycle reports whether any node reads the lifecycle stage.
func (r Rule) UsesLifecycle() bool { return r.some(func(n *Rule) bool { return n.Lifecycle != nil }) }

// SegmentRefs returns the ids of the segments the rule refers to, sorted
// and without duplicates.
func (r Rule) SegmentRefs() []string {
	var ids []string
	r.walk(func(n *Rule) bool {
		if n.Segment != nil {
			ids = append(ids, n.Segment.SegmentID)
		}
		return true
	})
	slices.Sort(ids)
	return slices.Compact(ids)
}

// normalize applies documented defaults and trims names, so stored rules
// are canonical.
func (s *Segment) normalize() {
	s.DisplayName = strings.TrimSpace(s.DisplayName)
	s.Rule.normalize()
}

func (r *Rule) normalize() {
	r.walk(func(n *Rule) bool {
		if e := n.Event; e != nil {
			if e.MinCount == 0 && e.MaxCount == nil {
				e.MinCount = 1
			}
			if e.Between != nil {
				e.Between.Start, e.Between.End = e.Between.Start.UTC(), e.Between.End.UTC()
			}
		}
		if t := n.Trait; t != nil && t.Op == "" {
			t.Comparison = t.comparison()
			t.Equals = ""
		}
		return true
	})
}
