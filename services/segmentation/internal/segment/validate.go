package segment

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/kizuna/kizuna/services/platform/validation"
)

// Input limits. They bound the work one segment costs on every event
// (MaxRuleNodes, MaxRuleDepth) and keep stored rows small.
const (
	MaxRuleNodes         = 200
	MaxRuleDepth         = 8
	MaxFilters           = 20  // where filters of one event condition
	MaxOperands          = 100 // values of IN and NOT_IN
	MaxStages            = 7
	MaxDisplayNameLen    = 200
	MaxDescriptionLen    = 2000
	MaxKeyLen            = 200 // trait keys, event names, property paths
	MaxTraitValueLen     = 1000
	MaxWithinDays        = 3650
	MaxMinCount          = 1_000_000
	MaxScore             = 5
	MaxSegmentsPerSpace  = 500 // every event is evaluated against all of them
	MaxIDLen             = 512 // workspace, customer, segment, event, merge and unmerge ids
	MaxMergedIDsPerMerge = 1000
	// MaxEventIDsPerUnmerge is the contract's bound on one CustomerUnmerged
	// message; larger restorations come in several messages.
	MaxEventIDsPerUnmerge = 5000
)

// Validate checks a segment to be created and returns a *validation.Error
// naming every bad field (paths start at "segment").
func Validate(s Segment) error {
	v := &validation.Error{}
	validateNames(v, s)
	ValidateRule(v, "segment.rule", s.Rule)
	return v.Err()
}

func validateNames(v *validation.Error, s Segment) {
	name := strings.TrimSpace(s.DisplayName)
	switch {
	case name == "":
		v.Addf("segment.display_name", "required")
	case utf8.RuneCountInString(name) > MaxDisplayNameLen:
		v.Addf("segment.display_name", "at most %d characters", MaxDisplayNameLen)
	}
	if utf8.RuneCountInString(s.Description) > MaxDescriptionLen {
		v.Addf("segment.description", "at most %d characters", MaxDescriptionLen)
	}
}

// ValidateRule records in v what is wrong with the rule tree r at path:
// its size and depth, and each bad node by its path
// ("segment.rule.all[1].not.event.within_days").
func ValidateRule(v *validation.Error, path string, r Rule) {
	nodes := 0
	r.walk(func(*Rule) bool { nodes++; return true })
	if nodes > MaxRuleNodes {
		v.Addf(path, "at most %d nodes, got %d", MaxRuleNodes, nodes)
		return
	}
	validateNode(v, path, r, 1)
}

func validateNode(v *validation.Error, path string, r Rule, depth int) {
	if depth > MaxRuleDepth {
		v.Addf(path, "rules nest at most %d levels deep", MaxRuleDepth)
		return
	}
	set := 0
	for _, isSet := range []bool{len(r.All) > 0, len(r.Any) > 0, r.Not != nil, r.Trait != nil, r.Event != nil,
		r.RFM != nil, r.Segment != nil, r.Lifecycle != nil, r.Predicted != nil, r.Computed != nil} {
		if isSet {
			set++
		}
	}
	if set != 1 {
		v.Addf(path, "exactly one of all, any, not, trait, event, rfm, segment, lifecycle, predicted or computed must be set")
		return
	}
	switch {
	case len(r.All) > 0:
		for i, c := range r.All {
			validateNode(v, fmt.Sprintf("%s.all[%d]", path, i), c, depth+1)
		}
	case len(r.Any) > 0:
		for i, c := range r.Any {
			validateNode(v, fmt.Sprintf("%s.any[%d]", path, i), c, depth+1)
		}
	case r.Not != nil:
		validateNode(v, path+".not", *r.Not, depth+1)
	case r.Trait != nil:
		p := path + ".trait"
		validateName(v, p+".key", r.Trait.Key)
		if r.Trait.Op == "" {
			if utf8.RuneCountInString(r.Trait.Equals) > MaxTraitValueLen {
				v.Addf(p+".equals", "at most %d characters", MaxTraitValueLen)
			}
			return
		}
		if r.Trait.Equals != "" {
			v.Addf(p+".equals", "give either equals or op, not both")
		}
		validateComparison(v, p, r.Trait.Comparison, allOperators)
	case r.Event != nil:
		validateEventCondition(v, path+".event", *r.Event)
	case r.RFM != nil:
		validateRFM(v, path+".rfm", *r.RFM)
	case r.Segment != nil:
		checkID(v, path+".segment.segment_id", r.Segment.SegmentID)
	case r.Computed != nil:
		p := path + ".computed"
		validateName(v, p+".key", r.Computed.Key)
		validateComparison(v, p, r.Computed.Comparison, allOperators)
	case r.Predicted != nil:
		p := path + ".predicted"
		if !validPredictedTrait(r.Predicted.Trait) {
			v.Addf(p+".trait", "must be one of %s", strings.Join(PredictedTraits, ", "))
		}
		validateComparison(v, p, r.Predicted.Comparison, append([]Operator{OpExists, OpNotExists}, numericOperators...))
	case r.Lifecycle != nil:
		p := path + ".lifecycle.stages"
		switch n := len(r.Lifecycle.Stages); {
		case n == 0:
			v.Addf(p, "at least one stage is required")
		case n > MaxStages:
			v.Addf(p, "at most %d stages", MaxStages)
		}
		for i, st := range r.Lifecycle.Stages {
			if !slices.Contains(Stages, st) {
				v.Addf(fmt.Sprintf("%s[%d]", p, i), "not a lifecycle stage")
			}
		}
	}
}

func validateEventCondition(v *validation.Error, p string, e EventCondition) {
	validateName(v, p+".event", e.Event)
	if e.MinCount < 0 || e.MinCount > MaxMinCount {
		v.Addf(p+".min_count", "must be between 0 and %d, got %d", MaxMinCount, e.MinCount)
	}
	if e.MaxCount != nil {
		switch {
		case *e.MaxCount < 0 || *e.MaxCount > MaxMinCount:
			v.Addf(p+".max_count", "must be between 0 and %d, got %d", MaxMinCount, *e.MaxCount)
		case *e.MaxCount < e.MinCount:
			v.Addf(p+".max_count", "must be at least min_count (%d), got %d", e.MinCount, *e.MaxCount)
		}
	}
	if e.WithinDays < 0 || e.WithinDays > MaxWithinDays {
		v.Addf(p+".within_days", "must be between 1 and %d (0: no limit), got %d", MaxWithinDays, e.WithinDays)
	}
	if b := e.Between; b != nil {
		switch {
		case e.WithinDays != 0:
			v.Addf(p+".between", "give either within_days or between, not both")
		case b.Start.IsZero() || b.End.IsZero():
			v.Addf(p+".between", "start_time and end_time are required")
		case !b.End.After(b.Start):
			v.Addf(p+".between.end_time", "must be after start_time")
		}
	}
	if len(e.Where) > MaxFilters {
		v.Addf(p+".where", "at most %d filters", MaxFilters)
	} else {
		for i, w := range e.Where {
			wp := fmt.Sprintf("%s.where[%d]", p, i)
			validatePath(v, wp+".property", w.Property)
			validateComparison(v, wp, w.Comparison, allOperators)
		}
	}
	if a := e.Aggregate; a != nil {
		ap := p + ".aggregate"
		validatePath(v, ap+".property", a.Property)
		if !slices.Contains([]Aggregation{AggSum, AggAvg, AggMin, AggMax}, a.Fn) {
			v.Addf(ap+".fn", "must be SUM, AVG, MIN or MAX")
		}
		validateComparison(v, ap, a.Comparison, numericOperators)
	}
	for _, o := range []struct {
		field string
		b     *OccurrenceBound
	}{{"first_occurrence", e.FirstOccurrence}, {"last_occurrence", e.LastOccurrence}} {
		if o.b == nil {
			continue
		}
		switch {
		case o.b.Before.IsZero() && o.b.After.IsZero():
			v.Addf(p+"."+o.field, "before or after is required")
		case !o.b.Before.IsZero() && !o.b.After.IsZero() && !o.b.Before.After(o.b.After):
			v.Addf(p+"."+o.field+".before", "must be after after")
		}
	}
}

func validateRFM(v *validation.Error, p string, c RFMCondition) {
	for _, f := range []struct {
		field string
		score int32
	}{
		{"min_recency_score", c.MinRecency},
		{"min_frequency_score", c.MinFrequency},
		{"min_monetary_score", c.MinMonetary},
	} {
		if f.score < 0 || f.score > MaxScore {
			v.Addf(p+"."+f.field, "must be between 0 (any) and %d, got %d", MaxScore, f.score)
		}
	}
	for _, f := range []struct {
		field string
		r     *ScoreRange
	}{{"recency", c.Recency}, {"frequency", c.Frequency}, {"monetary", c.Monetary}} {
		if f.r == nil {
			continue
		}
		if f.r.Min < 0 || f.r.Min > MaxScore {
			v.Addf(p+"."+f.field+".min", "must be between 0 (any) and %d, got %d", MaxScore, f.r.Min)
		}
		if f.r.Max < 0 || f.r.Max > MaxScore {
			v.Addf(p+"."+f.field+".max", "must be between 0 (any) and %d, got %d", MaxScore, f.r.Max)
		} else if f.r.Max != 0 && f.r.Max < f.r.Min {
			v.Addf(p+"."+f.field+".max", "must be at least min (%d), got %d", f.r.Min, f.r.Max)
		}
	}
}

var (
	allOperators = []Operator{OpEquals, OpNotEquals, OpIn, OpNotIn, OpContains, OpNotContains, OpStartsWith,
		OpExists, OpNotExists, OpGT, OpGTE, OpLT, OpLTE, OpBetween, OpBefore, OpAfter, OpWithinLastDays}
	numericOperators = []Operator{OpEquals, OpNotEquals, OpGT, OpGTE, OpLT, OpLTE, OpBetween}
)

// validateComparison checks an operator and its operands at path p.
func validateComparison(v *validation.Error, p string, c Comparison, allowed []Operator) {
	if !slices.Contains(allowed, c.Op) {
		if c.Op == "" {
			v.Addf(p+".op", "required")
		} else {
			v.Addf(p+".op", "%s is not allowed here", c.Op)
		}
		return
	}
	for i, val := range c.Values {
		if utf8.RuneCountInString(val) > MaxTraitValueLen {
			v.Addf(fmt.Sprintf("%s.values[%d]", p, i), "at most %d characters", MaxTraitValueLen)
		}
	}
	if utf8.RuneCountInString(c.Value) > MaxTraitValueLen {
		v.Addf(p+".value", "at most %d characters", MaxTraitValueLen)
	}
	single := func() bool {
		if len(c.Values) > 0 {
			v.Addf(p+".values", "%s takes value, not values", c.Op)
			return false
		}
		return true
	}
	switch c.Op {
	case OpExists, OpNotExists:
		if c.Value != "" || len(c.Values) > 0 {
			v.Addf(p+".value", "%s takes no value", c.Op)
		}
	case OpIn, OpNotIn:
		switch n := len(c.Values); {
		case n == 0:
			v.Addf(p+".values", "at least one value is required")
		case n > MaxOperands:
			v.Addf(p+".values", "at most %d values", MaxOperands)
		}
		if c.Value != "" {
			v.Addf(p+".value", "%s takes values, not value", c.Op)
		}
	case OpBetween:
		if len(c.Values) != 2 {
			v.Addf(p+".values", "BETWEEN takes two values, low and high")
			return
		}
		lo, okLo := parseNumber(Fold(c.Values[0]))
		hi, okHi := parseNumber(Fold(c.Values[1]))
		switch {
		case !okLo:
			v.Addf(p+".values[0]", "must be a number")
		case !okHi:
			v.Addf(p+".values[1]", "must be a number")
		case hi < lo:
			v.Addf(p+".values[1]", "must not be less than values[0]")
		}
	case OpGT, OpGTE, OpLT, OpLTE:
		if single() {
			if _, ok := parseNumber(Fold(c.Value)); !ok {
				v.Addf(p+".value", "must be a number")
			}
		}
	case OpBefore, OpAfter:
		if single() {
			if _, ok := parseDate(c.Value); !ok {
				v.Addf(p+".value", "must be a date (YYYY-MM-DD or RFC 3339)")
			}
		}
	case OpWithinLastDays:
		if single() {
			if n, err := strconv.Atoi(Fold(c.Value)); err != nil || n < 1 || n > MaxWithinDays {
				v.Addf(p+".value", "must be a whole number of days from 1 to %d", MaxWithinDays)
			}
		}
	default: // EQUALS, NOT_EQUALS, CONTAINS, NOT_CONTAINS, STARTS_WITH
		if single() && c.Value == "" && c.Op != OpEquals && c.Op != OpNotEquals {
			v.Addf(p+".value", "required")
		}
		if !slices.Contains(allowed, OpContains) { // numeric comparisons only
			if _, ok := parseNumber(Fold(c.Value)); !ok {
				v.Addf(p+".value", "must be a number")
			}
		}
	}
}

func validatePath(v *validation.Error, field, path string) {
	validateName(v, field, path)
	for _, step := range splitPath(path) {
		if step == "" {
			v.Addf(field, "not a property path: empty step in %q", path)
			return
		}
	}
}

func validateName(v *validation.Error, field, name string) {
	switch {
	case strings.TrimSpace(name) == "":
		v.Addf(field, "required")
	case utf8.RuneCountInString(name) > MaxKeyLen:
		v.Addf(field, "at most %d characters", MaxKeyLen)
	}
}

// ValidateID checks a segment or customer id taken from a request.
func ValidateID(field, id string) error {
	v := &validation.Error{}
	checkID(v, field, id)
	return v.Err()
}

// checkID records what is wrong with an id, if anything.
func checkID(e *validation.Error, field, id string) {
	switch {
	case id == "":
		e.Addf(field, "required")
	case len(id) > MaxIDLen:
		e.Addf(field, "at most %d bytes", MaxIDLen)
	case !utf8.ValidString(id):
		e.Addf(field, "must be valid UTF-8")
	}
}
