package segment

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/kizuna/kizuna/services/platform/validation"
)

// More aggregations, for computed traits.
const (
	AggCount        Aggregation = "COUNT"
	AggFirst        Aggregation = "FIRST"
	AggLast         Aggregation = "LAST"
	AggMostFrequent Aggregation = "MOST_FREQUENT"
)

// ComputedTrait is a per-customer aggregate over events. Its value is
// computed from the stored events whenever it is read, so it is always
// current.
type ComputedTrait struct {
	Key         string           `json:"key"`
	DisplayName string           `json:"display_name,omitempty"`
	Event       string           `json:"event"`
	Property    string           `json:"property,omitempty"`
	Fn          Aggregation      `json:"fn"`
	WithinDays  int32            `json:"within_days,omitempty"`
	Where       []PropertyFilter `json:"where,omitempty"`
	CreateTime  time.Time        `json:"create_time,omitzero"`
}

// ComputedCondition compares a computed trait. Def is the definition as it
// was when the rule was saved, so the rule means the same even if the
// trait is deleted.
type ComputedCondition struct {
	Key string         `json:"key"`
	Def *ComputedTrait `json:"def,omitempty"`
	Comparison
}

// Limits of computed traits.
const (
	MaxComputedTraits = 100
	maxComputedKeyLen = 64
)

var computedKeyPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// ErrExists reports a computed trait key already taken.
var ErrExists = errors.New("already exists")

// Validate checks a definition; paths start at "computed_trait".
func (c ComputedTrait) Validate() error {
	v := &validation.Error{}
	p := "computed_trait"
	switch {
	case !computedKeyPattern.MatchString(c.Key):
		v.Addf(p+".key", "lower-case letters, digits and underscores, starting with a letter")
	case len(c.Key) > maxComputedKeyLen:
		v.Addf(p+".key", "at most %d characters", maxComputedKeyLen)
	}
	if utf8.RuneCountInString(c.DisplayName) > MaxDisplayNameLen {
		v.Addf(p+".display_name", "at most %d characters", MaxDisplayNameLen)
	}
	validateName(v, p+".event", c.Event)
	switch c.Fn {
	case AggCount:
		if c.Property != "" {
			validatePath(v, p+".property", c.Property)
		}
	case AggSum, AggAvg, AggMin, AggMax, AggFirst, AggLast, AggMostFrequent:
		validatePath(v, p+".property", c.Property)
	default:
		v.Addf(p+".fn", "must be COUNT, SUM, AVG, MIN, MAX, FIRST, LAST or MOST_FREQUENT")
	}
	if c.WithinDays < 0 || c.WithinDays > MaxWithinDays {
		v.Addf(p+".within_days", "must be between 1 and %d (0: all time), got %d", MaxWithinDays, c.WithinDays)
	}
	if len(c.Where) > MaxFilters {
		v.Addf(p+".where", "at most %d filters", MaxFilters)
	} else {
		for i, w := range c.Where {
			wp := fmt.Sprintf("%s.where[%d]", p, i)
			validatePath(v, wp+".property", w.Property)
			validateComparison(v, wp, w.Comparison, allOperators)
		}
	}
	return v.Err()
}

// compiledTrait computes a ComputedTrait from a customer's events.
type compiledTrait struct {
	def     ComputedTrait
	path    []string
	filters []compiledFilter
}

func (c ComputedTrait) compile() compiledTrait {
	ct := compiledTrait{def: c, path: splitPath(c.Property)}
	for _, w := range c.Where {
		ct.filters = append(ct.filters, compiledFilter{path: splitPath(w.Property), cmp: compileComparison(w.Comparison)})
	}
	return ct
}

// since is the earliest event time the trait reads; zero for all time.
func (c ComputedTrait) since(now time.Time) time.Time {
	if c.WithinDays == 0 {
		return time.Time{}
	}
	return WindowStart(now, c.WithinDays)
}

// value computes the trait over events (oldest first); ok is false when it
// has no value (no matching event, or none with a usable property).
func (ct compiledTrait) value(events []Behaviour, now time.Time) (any, bool) {
	start := ct.def.since(now)
	var (
		count       int64
		agg         aggregator
		first, last any
		freq        = map[string]int{}
		seen        = map[string]any{}
		best        string
	)
	for _, b := range events {
		if b.Name != ct.def.Event || b.Time.Before(start) || !matchesAll(ct.filters, b.Properties, now) {
			continue
		}
		count++
		if ct.def.Fn == AggCount {
			continue
		}
		for _, v := range PropertyValues(b.Properties, ct.path) {
			switch ct.def.Fn {
			case AggSum, AggAvg, AggMin, AggMax:
				if x, ok := numberOf(v); ok {
					agg.add(x)
				}
			case AggFirst:
				if first == nil {
					first = v
				}
			case AggLast:
				last = v
			case AggMostFrequent:
				text, ok := TraitText(v)
				if !ok {
					continue
				}
				k := Fold(text)
				freq[k]++
				seen[k] = v
				if freq[k] >= freq[best] { // on a tie the latest seen wins
					best = k
				}
			}
		}
	}
	switch ct.def.Fn {
	case AggCount:
		return float64(count), true
	case AggFirst:
		return first, first != nil
	case AggLast:
		return last, last != nil
	case AggMostFrequent:
		v, ok := seen[best]
		return v, ok
	default: // SUM of nothing is 0; the others have no value
		return agg.result(ct.def.Fn)
	}
}

// CreateComputedTrait validates and stores a computed trait.
func (e *Engine) CreateComputedTrait(ctx context.Context, workspaceID string, c ComputedTrait) (ComputedTrait, error) {
	if err := c.Validate(); err != nil {
		return ComputedTrait{}, err
	}
	c.CreateTime = e.now().UTC().Truncate(time.Microsecond)
	existing, err := e.store.ComputedTraits(ctx, workspaceID)
	if err != nil {
		return ComputedTrait{}, fmt.Errorf("create computed trait: %w", err)
	}
	if len(existing) >= MaxComputedTraits {
		return ComputedTrait{}, &LimitError{What: "computed traits per workspace", Max: MaxComputedTraits}
	}
	if err := e.store.CreateComputedTrait(ctx, workspaceID, c); err != nil {
		return ComputedTrait{}, fmt.Errorf("create computed trait %s: %w", c.Key, err)
	}
	return c, nil
}

// ComputedTraits lists the workspace's computed traits by key.
func (e *Engine) ComputedTraits(ctx context.Context, workspaceID string) ([]ComputedTrait, error) {
	out, err := e.store.ComputedTraits(ctx, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("computed traits: %w", err)
	}
	return out, nil
}

// DeleteComputedTrait removes a computed trait.
func (e *Engine) DeleteComputedTrait(ctx context.Context, workspaceID, key string) error {
	if err := e.store.DeleteComputedTrait(ctx, workspaceID, key); err != nil {
		return fmt.Errorf("delete computed trait %s: %w", key, err)
	}
	return nil
}

// resolveComputed fills in the definition of every computed condition of
// r from the workspace's computed traits, recording unknown keys in v.
func (e *Engine) resolveComputed(ctx context.Context, v *validation.Error, path string, workspaceID string, r *Rule) error {
	var refs []struct {
		path string
		c    *ComputedCondition
	}
	collectComputed(path, r, func(p string, c *ComputedCondition) {
		refs = append(refs, struct {
			path string
			c    *ComputedCondition
		}{p, c})
	})
	if len(refs) == 0 {
		return nil
	}
	defs, err := e.store.ComputedTraits(ctx, workspaceID)
	if err != nil {
		return err
	}
	for _, ref := range refs {
		i := slices.IndexFunc(defs, func(d ComputedTrait) bool { return d.Key == ref.c.Key })
		if i < 0 {
			v.Addf(ref.path+".computed.key", "no computed trait %q in this workspace", ref.c.Key)
			continue
		}
		d := defs[i]
		ref.c.Def = &d
	}
	return nil
}

func collectComputed(path string, r *Rule, fn func(string, *ComputedCondition)) {
	switch {
	case len(r.All) > 0:
		for i := range r.All {
			collectComputed(fmt.Sprintf("%s.all[%d]", path, i), &r.All[i], fn)
		}
	case len(r.Any) > 0:
		for i := range r.Any {
			collectComputed(fmt.Sprintf("%s.any[%d]", path, i), &r.Any[i], fn)
		}
	case r.Not != nil:
		collectComputed(path+".not", r.Not, fn)
	case r.Computed != nil:
		fn(path, r.Computed)
	}
}

// computedValues computes every computed trait of the workspace for one
// customer, by key, leaving out those without a value.
func (e *Engine) computedValues(ctx context.Context, workspaceID, customerID string, now time.Time) (map[string]any, error) {
	defs, err := e.store.ComputedTraits(ctx, workspaceID)
	if err != nil || len(defs) == 0 {
		return nil, err
	}
	n := needs{events: map[string]time.Time{}}
	for _, d := range defs {
		n.addEvent(d.Event, d.since(now))
	}
	names, since := n.eventNames()
	evs, err := e.store.CustomerBehaviours(ctx, workspaceID, customerID, names, since)
	if err != nil {
		return nil, err
	}
	out := map[string]any{}
	for _, d := range defs {
		if v, ok := d.compile().value(evs, now); ok {
			out[d.Key] = v
		}
	}
	return out, nil
}
