package segment

import (
	"encoding/json"
	"strconv"
	"time"
)

// EventKey identifies one behaviour counter: events of a name since the
// start of a window of WithinDays days.
type EventKey struct {
	Name       string
	WithinDays int32
}

// WindowStart returns the earliest event time that counts for a window of
// days ending at now. The window is inclusive at its start: an event exactly
// days×24h old still counts. Events stamped after now (client clock skew)
// count too, so a fast client clock cannot delay membership.
func WindowStart(now time.Time, days int32) time.Time {
	return now.Add(-time.Duration(days) * 24 * time.Hour)
}

// Facts is what rules are evaluated on for one customer.
type Facts struct {
	Traits map[string]any
	// EventCounts holds, per counter a rule reads, the number of events in
	// its window; missing counters are zero.
	EventCounts map[EventKey]int64
	// RFM is nil when the customer has not purchased.
	RFM *Scores
}

// Matches reports whether every condition of r holds for f. An empty rule
// never matches: Validate rejects it, and matching everyone by accident is
// the worse failure.
func (r Rule) Matches(f Facts) bool {
	if len(r.All) == 0 {
		return false
	}
	for _, c := range r.All {
		if !c.matches(f) {
			return false
		}
	}
	return true
}

func (c Condition) matches(f Facts) bool {
	switch {
	case c.Trait != nil:
		v, ok := f.Traits[c.Trait.Key]
		if !ok {
			return false
		}
		text, ok := TraitText(v)
		return ok && text == c.Trait.Equals
	case c.Event != nil:
		min := int64(c.Event.MinCount)
		if min < 1 {
			min = 1
		}
		return f.EventCounts[c.Event.Key()] >= min
	case c.RFM != nil:
		if f.RFM == nil {
			return false
		}
		return f.RFM.Recency >= c.RFM.MinRecency &&
			f.RFM.Frequency >= c.RFM.MinFrequency &&
			f.RFM.Monetary >= c.RFM.MinMonetary
	default:
		return false
	}
}

// TraitText renders a JSON-decoded trait value as the text trait conditions
// compare against: strings as they are, numbers in their shortest decimal
// form (3 → "3", 2.5 → "2.5"), booleans as "true"/"false", objects and
// arrays as compact JSON. A null trait has no text and matches nothing.
func TraitText(v any) (string, bool) {
	switch v := v.(type) {
	case nil:
		return "", false
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return "", false
		}
		return string(b), true
	}
}

// eventKeys returns the distinct counters the segments read.
func eventKeys(segs []Segment) []EventKey {
	seen := map[EventKey]bool{}
	var keys []EventKey
	for _, s := range segs {
		for _, c := range s.Rule.All {
			if c.Event == nil {
				continue
			}
			k := c.Event.Key()
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return keys
}

func anyUsesRFM(segs []Segment) bool {
	for _, s := range segs {
		if s.Rule.UsesRFM() {
			return true
		}
	}
	return false
}
