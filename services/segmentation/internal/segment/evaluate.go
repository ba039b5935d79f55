package segment

import (
	"iter"
	"maps"
	"math"
	"slices"
	"sync/atomic"
	"time"
)

// WindowStart returns the earliest event time that counts for a window of
// days ending at now. The window is inclusive at its start: an event exactly
// days×24h old still counts. Events stamped after now (client clock skew)
// count too, so a fast client clock cannot delay membership.
func WindowStart(now time.Time, days int32) time.Time {
	return now.Add(-time.Duration(days) * 24 * time.Hour)
}

// Behaviour is one track event or page or screen view of a customer.
type Behaviour struct {
	CustomerID string
	Name       string
	Time       time.Time
	Properties map[string]any
	// propsID identifies Properties within one event cache (0: unknown
	// or none), for filterMemo.
	propsID uint32
}

// Facts is what rules are evaluated on for one customer.
type Facts struct {
	Now    time.Time
	Traits map[string]any
	// Events holds, per event name a rule reads, the customer's events of
	// that name since the earliest time any rule reads, oldest first.
	Events map[string][]Behaviour
	// RFM is nil when the customer has not purchased.
	RFM   *Scores
	Stage Stage
	// Segments holds the segments the customer is a member of, as far as
	// rules refer to them.
	Segments map[string]bool
	// Predicted holds the customer's predicted traits by name; nil without
	// predictions.
	Predicted map[string]float64
	// filters, when set, remembers property filter results of one bulk
	// evaluation (one Now, one event cache).
	filters *filterMemo
	// cached, when its cache is set, stands in for Events in a bulk
	// evaluation: the customer's events read in place from the event
	// cache (locked for the evaluation) instead of copied into Events, which
	// is most of a bulk evaluation's allocation.
	cached cachedFacts
}

// cachedFacts is a customer's events as the event cache holds them.
type cachedFacts struct {
	cache      *eventCache
	customerID string
	events     []cachedEvent // in the cache's order
	since      int64         // events before it are not read (microseconds)
}

// occurrence is one event as event conditions read it.
type occurrence struct {
	at      int64 // nanoseconds since the Unix epoch, clamped (see nanos)
	propsID uint32
	props   map[string]any
}

// nanos is t in nanoseconds since the Unix epoch, clamped to int64's range
// (years 1678 to 2262) so that times beyond it still order correctly
// against times within it.
func nanos(t time.Time) int64 {
	switch {
	case t.Before(minNanosTime):
		return math.MinInt64
	case t.After(maxNanosTime):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// nanosOfMicros is nanos of a time in microseconds since the Unix epoch.
func nanosOfMicros(us int64) int64 {
	switch {
	case us < math.MinInt64/1000:
		return math.MinInt64
	case us > math.MaxInt64/1000:
		return math.MaxInt64
	}
	return us * 1000
}

var minNanosTime, maxNanosTime = time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)

// occurrences yields the customer's events named name, oldest first.
func (f *Facts) occurrences(name string) iter.Seq[occurrence] {
	return func(yield func(occurrence) bool) {
		if c := f.cached.cache; c != nil {
			for _, ev := range c.named(f.cached.events, name) {
				if ev.at >= f.cached.since && !yield(occurrence{nanosOfMicros(ev.at), ev.props, c.props[ev.props]}) {
					return
				}
			}
			return
		}
		for _, b := range f.Events[name] {
			if !yield(occurrence{nanos(b.Time), b.propsID, b.Properties}) {
				return
			}
		}
	}
}

// behaviours returns the customer's events named name, oldest first.
func (f *Facts) behaviours(name string) []Behaviour {
	c := f.cached.cache
	if c == nil {
		return f.Events[name]
	}
	var out []Behaviour
	for _, ev := range c.named(f.cached.events, name) {
		if ev.at >= f.cached.since {
			out = append(out, c.behaviour(f.cached.customerID, ev))
		}
	}
	return out
}

// filterMemo remembers what event conditions found in events'
// properties, by condition and the properties' id in the event cache: in
// a bulk evaluation the same few property sets recur on millions of
// events. It serves one bulk evaluation (one Now, one event cache) and is
// used by one goroutine at a time.
type filterMemo struct {
	props      int // property sets in the cache
	conditions map[uint32]*conditionMemo
}

func newFilterMemo(c *eventCache) *filterMemo {
	return &filterMemo{props: min(len(c.props), maxFilterMemo), conditions: map[uint32]*conditionMemo{}}
}

// maxFilterMemo bounds the property sets a filterMemo remembers per
// condition.
const maxFilterMemo = 1 << 22

// conditionIDs numbers compiled event conditions for filterMemo.
var conditionIDs atomic.Uint32

// conditionMemo is what one condition found per property set id.
type conditionMemo struct {
	found []propsFound
	value []float64 // the one value aggregated, for propsOneValue
}

// propsFound is what a condition found in a property set.
type propsFound uint8

const (
	propsUnknown  propsFound = iota // not looked at yet
	propsFail                       // its filters fail
	propsPass                       // its filters pass; no value to aggregate
	propsOneValue                   // its filters pass; one value to aggregate
	propsValues                     // its filters pass; walk it for the values
)

// condition returns the memo of condition cond, nil when m is nil.
func (m *filterMemo) condition(cond uint32, aggregates bool) *conditionMemo {
	if m == nil {
		return nil
	}
	c := m.conditions[cond]
	if c == nil {
		c = &conditionMemo{found: make([]propsFound, m.props)}
		if aggregates {
			c.value = make([]float64, m.props)
		}
		m.conditions[cond] = c
	}
	return c
}

// find returns what a condition with filters (and aggPath, when it
// aggregates) finds in o's properties at now, remembered in m when m is
// not nil.
func (m *conditionMemo) find(o occurrence, filters []compiledFilter, aggPath []string, now time.Time) propsFound {
	memo := m != nil && o.propsID != 0 && int(o.propsID) < len(m.found)
	if memo && m.found[o.propsID] != propsUnknown {
		return m.found[o.propsID]
	}
	found := propsPass
	switch {
	case !matchesAll(filters, o.props, now):
		found = propsFail
	case aggPath != nil:
		n, one := 0, 0.0
		walkValues(o.props, aggPath, func(v any) bool {
			if x, ok := numberOf(v); ok {
				n, one = n+1, x
			}
			return n < 2
		})
		switch {
		case n == 1 && memo:
			found = propsOneValue
			m.value[o.propsID] = one
		case n > 0:
			found = propsValues
		}
	}
	if memo {
		m.found[o.propsID] = found
	}
	return found
}

// Matcher is a compiled rule.
type Matcher func(*Facts) bool

// Matches reports whether r holds for f. An empty rule never matches:
// Validate rejects it, and matching everyone by accident is the worse
// failure.
func (r Rule) Matches(f Facts) bool { return r.Compile()(&f) }

// Compile turns r into a Matcher, parsing its operands once.
func (r Rule) Compile() Matcher {
	switch {
	case len(r.All) > 0:
		subs := compileAll(r.All)
		return func(f *Facts) bool {
			for _, m := range subs {
				if !m(f) {
					return false
				}
			}
			return true
		}
	case len(r.Any) > 0:
		subs := compileAll(r.Any)
		return func(f *Facts) bool {
			for _, m := range subs {
				if m(f) {
					return true
				}
			}
			return false
		}
	case r.Not != nil:
		sub := r.Not.Compile()
		return func(f *Facts) bool { return !sub(f) }
	case r.Trait != nil:
		key, cmp := r.Trait.Key, compileComparison(r.Trait.comparison())
		return func(f *Facts) bool {
			return cmp.holds(values(f.Traits[key], nil), f.Now)
		}
	case r.Event != nil:
		return r.Event.compile()
	case r.RFM != nil:
		c := *r.RFM
		return func(f *Facts) bool {
			s := f.RFM
			return s != nil && s.Recency >= c.MinRecency && s.Frequency >= c.MinFrequency && s.Monetary >= c.MinMonetary &&
				(c.Recency == nil || c.Recency.holds(s.Recency)) &&
				(c.Frequency == nil || c.Frequency.holds(s.Frequency)) &&
				(c.Monetary == nil || c.Monetary.holds(s.Monetary))
		}
	case r.Segment != nil:
		id := r.Segment.SegmentID
		return func(f *Facts) bool { return f.Segments[id] }
	case r.Computed != nil:
		if r.Computed.Def == nil {
			return func(*Facts) bool { return false }
		}
		trait, cmp := r.Computed.Def.compile(), compileComparison(r.Computed.Comparison)
		return func(f *Facts) bool {
			v, ok := trait.value(f.behaviours(trait.def.Event), f.Now)
			if !ok {
				return cmp.holds(nil, f.Now)
			}
			return cmp.holds(values(v, nil), f.Now)
		}
	case r.Predicted != nil:
		name, cmp := r.Predicted.Trait, compileComparison(r.Predicted.Comparison)
		return func(f *Facts) bool {
			v, ok := f.Predicted[name]
			if !ok {
				return cmp.holds(nil, f.Now)
			}
			return cmp.holds([]any{v}, f.Now)
		}
	case r.Lifecycle != nil:
		stages := slices.Clone(r.Lifecycle.Stages)
		return func(f *Facts) bool { return slices.Contains(stages, f.Stage) }
	default:
		return func(*Facts) bool { return false }
	}
}

func compileAll(rules []Rule) []Matcher {
	out := make([]Matcher, len(rules))
	for i, r := range rules {
		out[i] = r.Compile()
	}
	return out
}

type compiledFilter struct {
	path []string
	cmp  compiledComparison
}

func (c EventCondition) compile() Matcher {
	filters := make([]compiledFilter, len(c.Where))
	for i, w := range c.Where {
		filters[i] = compiledFilter{path: splitPath(w.Property), cmp: compileComparison(w.Comparison)}
	}
	var aggPath []string
	var aggCmp compiledComparison
	if c.Aggregate != nil {
		aggPath, aggCmp = splitPath(c.Aggregate.Property), compileComparison(c.Aggregate.Comparison)
	}
	min := int64(c.MinCount)
	id := conditionIDs.Add(1)
	return func(f *Facts) bool {
		start, end := c.window(f.Now)
		startAt, endAt := int64(math.MinInt64), int64(math.MaxInt64)
		if !start.IsZero() {
			startAt = nanos(start)
		}
		if !end.IsZero() {
			endAt = nanos(end)
		}
		var (
			count       int64
			first, last int64
			seen        bool
			agg         aggregator
		)
		memo := f.filters.condition(id, aggPath != nil)
		for o := range f.occurrences(c.Event) {
			found := memo.find(o, filters, aggPath, f.Now)
			if found == propsFail {
				continue
			}
			if !seen {
				first, seen = o.at, true
			}
			last = o.at
			if o.at < startAt || o.at >= endAt {
				continue
			}
			count++
			switch found {
			case propsOneValue:
				agg.add(memo.value[o.propsID])
			case propsValues:
				walkValues(o.props, aggPath, func(v any) bool {
					if x, ok := numberOf(v); ok {
						agg.add(x)
					}
					return true
				})
			}
		}
		if count < min || (c.MaxCount != nil && count > int64(*c.MaxCount)) {
			return false
		}
		if c.Aggregate != nil {
			x, ok := agg.result(c.Aggregate.Fn)
			if !ok || !aggCmp.holdsNumber(x) {
				return false
			}
		}
		if c.FirstOccurrence != nil && (!seen || !c.FirstOccurrence.holds(time.Unix(0, first))) {
			return false
		}
		if c.LastOccurrence != nil && (!seen || !c.LastOccurrence.holds(time.Unix(0, last))) {
			return false
		}
		return true
	}
}

// window returns the condition's window [start, end); a zero end is
// unbounded, as is a zero start.
func (c EventCondition) window(now time.Time) (start, end time.Time) {
	switch {
	case c.Between != nil:
		return c.Between.Start, c.Between.End
	case c.WithinDays > 0:
		return WindowStart(now, c.WithinDays), time.Time{}
	default:
		return time.Time{}, time.Time{}
	}
}

// earliest returns the earliest event time the condition reads; zero for
// all time.
func (c EventCondition) earliest(now time.Time) time.Time {
	if c.FirstOccurrence != nil || c.LastOccurrence != nil {
		return time.Time{}
	}
	start, _ := c.window(now)
	return start
}

func matchesAll(filters []compiledFilter, props map[string]any, now time.Time) bool {
	for _, fl := range filters {
		if !fl.cmp.holdsAt(props, fl.path, now) {
			return false
		}
	}
	return true
}

type aggregator struct {
	n             int
	sum, min, max float64
}

func (a *aggregator) add(x float64) {
	if a.n == 0 || x < a.min {
		a.min = x
	}
	if a.n == 0 || x > a.max {
		a.max = x
	}
	a.sum += x
	a.n++
}

// result is the aggregate; SUM of nothing is 0, the others have no value.
func (a aggregator) result(fn Aggregation) (float64, bool) {
	if fn == AggSum {
		return a.sum, true
	}
	if a.n == 0 {
		return 0, false
	}
	switch fn {
	case AggAvg:
		return a.sum / float64(a.n), true
	case AggMin:
		return a.min, true
	case AggMax:
		return a.max, true
	}
	return 0, false
}

// needs is what evaluating a set of segments reads beyond traits.
type needs struct {
	// events maps each event name read to the earliest time read (zero:
	// all time).
	events    map[string]time.Time
	rfm       bool
	lifecycle bool
	predicted bool
	// segments are the ids of the segments referred to.
	segments []string
	// props are the top-level event property keys read.
	props map[string]bool
	// traits are the trait keys read.
	traits map[string]bool
}

func needsOf(segs []Segment, now time.Time) needs {
	n := needs{events: map[string]time.Time{}, props: map[string]bool{}, traits: map[string]bool{}}
	for _, s := range segs {
		n.add(s.Rule, now)
	}
	slices.Sort(n.segments)
	n.segments = slices.Compact(n.segments)
	return n
}

func (n *needs) add(r Rule, now time.Time) {
	r.walk(func(x *Rule) bool {
		switch {
		case x.Event != nil:
			n.addEvent(x.Event.Event, x.Event.earliest(now))
			n.addProps(x.Event.Where)
			if x.Event.Aggregate != nil {
				n.addProp(x.Event.Aggregate.Property)
			}
		case x.Computed != nil && x.Computed.Def != nil:
			n.addEvent(x.Computed.Def.Event, x.Computed.Def.since(now))
			n.addProps(x.Computed.Def.Where)
			if x.Computed.Def.Property != "" {
				n.addProp(x.Computed.Def.Property)
			}
		case x.Trait != nil:
			n.traits[x.Trait.Key] = true
		case x.RFM != nil:
			n.rfm = true
		case x.Lifecycle != nil:
			n.lifecycle = true
		case x.Predicted != nil:
			n.predicted = true
		case x.Segment != nil:
			n.segments = append(n.segments, x.Segment.SegmentID)
		}
		return true
	})
}

// addEvent records that events named name are read from since on (zero:
// all time).
func (n *needs) addEvent(name string, since time.Time) {
	if cur, ok := n.events[name]; !ok || since.Before(cur) {
		n.events[name] = since
	}
}

func (n *needs) addProps(filters []PropertyFilter) {
	for _, w := range filters {
		n.addProp(w.Property)
	}
}

// addProp records that the property at path p is read: its top-level key,
// where every property path starts (see walkValues).
func (n *needs) addProp(p string) {
	n.props[splitPath(p)[0]] = true
}

// propKeys returns the top-level property keys read, sorted.
func (n needs) propKeys() []string {
	return slices.Sorted(maps.Keys(n.props))
}

// traitKeys returns the trait keys read, sorted.
func (n needs) traitKeys() []string {
	return slices.Sorted(maps.Keys(n.traits))
}

// eventNames returns the event names read and the earliest time read
// across them (zero: all time).
func (n needs) eventNames() ([]string, time.Time) {
	names := make([]string, 0, len(n.events))
	var since time.Time
	first := true
	for name, t := range n.events {
		names = append(names, name)
		if first || t.Before(since) {
			since = t
		}
		first = false
	}
	slices.Sort(names)
	return names, since
}
