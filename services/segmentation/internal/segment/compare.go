package segment

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Fold normalises text for comparison the way ingestion normalises
// customer data, plus case: NFKC (full-width letters and digits become
// ASCII, half-width katakana full-width), white space trimmed and runs of
// it (the ideographic space too) collapsed to one space, lower case. So
// "東京都 ", "東京都" and "ＴＯＫＹＯ１" compare as a person reads them.
func Fold(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if !isASCII(s) {
		s = norm.NFKC.String(s)
	}
	if strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		s = strings.Join(strings.Fields(s), " ")
	}
	return strings.ToLower(s)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// TraitText renders a JSON-decoded trait value as text: strings as they
// are, numbers in their shortest decimal form (3 → "3", 2.5 → "2.5"),
// booleans as "true"/"false", objects and arrays as compact JSON. A null
// value has no text.
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

// parseNumber reads a number from folded text, accepting thousands
// separators ("10,000").
func parseNumber(s string) (float64, bool) {
	s = strings.ReplaceAll(s, ",", "")
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// numberOf reads a JSON-decoded value as a number: numbers as they are,
// text when it is a number once folded.
func numberOf(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case string:
		return parseNumber(Fold(v))
	default:
		return 0, false
	}
}

// dateLayouts are the date forms dates are read in; forms without a zone
// are UTC.
var dateLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02", "2006/01/02"}

// parseDate reads a date or a time.
func parseDate(s string) (time.Time, bool) {
	s = Fold(s)
	for _, layout := range dateLayouts {
		if t, err := time.Parse(layout, strings.ToUpper(s)); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func dateOf(v any) (time.Time, bool) {
	if s, ok := v.(string); ok {
		return parseDate(s)
	}
	return time.Time{}, false
}

// values lists what a comparison looks at in a JSON-decoded value: the
// elements of a list, nothing for null, else the value itself.
func values(v any, out []any) []any {
	switch v := v.(type) {
	case nil:
		return out
	case []any:
		for _, e := range v {
			if e != nil {
				out = append(out, e)
			}
		}
		return out
	default:
		return append(out, v)
	}
}

// PropertyValues returns the values at path in an event's properties.
// The path is dot-separated, optionally starting with "properties."; a
// step through a list visits every element, which "[]" after a step name
// makes explicit ("products[].sku").
func PropertyValues(props map[string]any, path []string) []any {
	cur := []any{props}
	for _, step := range path {
		var next []any
		for _, c := range cur {
			m, ok := c.(map[string]any)
			if !ok {
				continue
			}
			v, ok := m[step]
			if !ok {
				continue
			}
			if list, ok := v.([]any); ok {
				next = append(next, list...)
			} else {
				next = append(next, v)
			}
		}
		if len(next) == 0 {
			return nil
		}
		cur = next
	}
	return values(cur, nil)
}

// walkValues calls fn with each value at path below v, as PropertyValues
// lists them, until fn returns false; it reports whether it went through.
// It allocates nothing itself: rules walk every event's properties.
func walkValues(v any, path []string, fn func(any) bool) bool {
	if len(path) == 0 {
		switch x := v.(type) {
		case nil:
			return true
		case []any:
			for _, e := range x {
				if e != nil && !fn(e) {
					return false
				}
			}
			return true
		default:
			return fn(v)
		}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return true
	}
	next, ok := m[path[0]]
	if !ok {
		return true
	}
	if list, ok := next.([]any); ok {
		for _, e := range list {
			if !walkValues(e, path[1:], fn) {
				return false
			}
		}
		return true
	}
	return walkValues(next, path[1:], fn)
}

// splitPath turns a property path into its steps.
func splitPath(p string) []string {
	p = strings.TrimPrefix(strings.TrimSpace(p), "properties.")
	steps := strings.Split(p, ".")
	for i, s := range steps {
		steps[i] = strings.TrimSuffix(s, "[]")
	}
	return steps
}

// compiledComparison is a Comparison with its operands parsed once.
type compiledComparison struct {
	op    Operator
	texts []string  // folded operands
	nums  []float64 // operands as numbers, where they are
	isNum []bool
	times []time.Time
	days  int
}

func compileComparison(c Comparison) compiledComparison {
	ops := c.Values
	if len(ops) == 0 {
		ops = []string{c.Value}
	}
	cc := compiledComparison{op: c.Op, texts: make([]string, len(ops)), nums: make([]float64, len(ops)),
		isNum: make([]bool, len(ops)), times: make([]time.Time, len(ops))}
	for i, o := range ops {
		cc.texts[i] = Fold(o)
		cc.nums[i], cc.isNum[i] = parseNumber(cc.texts[i])
		cc.times[i], _ = parseDate(o)
	}
	if c.Op == OpWithinLastDays && len(cc.nums) > 0 {
		cc.days = int(cc.nums[0])
	}
	return cc
}

// holds applies the comparison to the values found (see values); now is
// the clock WITHIN_LAST_DAYS reads.
func (c compiledComparison) holds(vals []any, now time.Time) bool {
	switch c.op {
	case OpExists:
		return len(vals) > 0
	case OpNotExists:
		return len(vals) == 0
	case OpNotEquals, OpNotIn, OpNotContains:
		if len(vals) == 0 {
			return false
		}
		pos := c.positive()
		for _, v := range vals {
			if pos.holdsOne(v, now) {
				return false
			}
		}
		return true
	}
	for _, v := range vals {
		if c.holdsOne(v, now) {
			return true
		}
	}
	return false
}

// holdsAt applies the comparison to the values at path in props, as holds
// does to PropertyValues(props, path), without building the list.
func (c compiledComparison) holdsAt(props map[string]any, path []string, now time.Time) bool {
	var found, hit bool
	switch c.op {
	case OpExists, OpNotExists:
		walkValues(props, path, func(any) bool { found = true; return false })
		return found == (c.op == OpExists)
	case OpNotEquals, OpNotIn, OpNotContains:
		pos := c.positive()
		walkValues(props, path, func(v any) bool {
			found = true
			hit = pos.holdsOne(v, now)
			return !hit
		})
		return found && !hit
	}
	walkValues(props, path, func(v any) bool {
		hit = c.holdsOne(v, now)
		return !hit
	})
	return hit
}

// positive returns the comparison a NOT_ operator negates.
func (c compiledComparison) positive() compiledComparison {
	switch c.op {
	case OpNotEquals:
		c.op = OpEquals
	case OpNotIn:
		c.op = OpIn
	case OpNotContains:
		c.op = OpContains
	}
	return c
}

func (c compiledComparison) holdsOne(v any, now time.Time) bool {
	switch c.op {
	case OpEquals, OpIn:
		for i := range c.texts {
			if equalValue(v, c.texts[i], c.nums[i], c.isNum[i]) {
				return true
			}
		}
		return false
	case OpContains, OpStartsWith:
		text, ok := TraitText(v)
		if !ok || len(c.texts) == 0 {
			return false
		}
		if c.op == OpContains {
			return strings.Contains(Fold(text), c.texts[0])
		}
		return strings.HasPrefix(Fold(text), c.texts[0])
	case OpGT, OpGTE, OpLT, OpLTE, OpBetween:
		x, ok := numberOf(v)
		if !ok {
			return false
		}
		return c.holdsNumber(x)
	case OpBefore, OpAfter, OpWithinLastDays:
		t, ok := dateOf(v)
		if !ok {
			return false
		}
		switch c.op {
		case OpBefore:
			return t.Before(c.times[0])
		case OpAfter:
			return !t.Before(c.times[0])
		default:
			return !t.After(now) && !t.Before(now.AddDate(0, 0, -c.days))
		}
	}
	return false
}

// holdsNumber applies a numeric operator (or EQUALS, NOT_EQUALS) to x.
func (c compiledComparison) holdsNumber(x float64) bool {
	if len(c.nums) == 0 {
		return false
	}
	switch c.op {
	case OpGT:
		return x > c.nums[0]
	case OpGTE:
		return x >= c.nums[0]
	case OpLT:
		return x < c.nums[0]
	case OpLTE:
		return x <= c.nums[0]
	case OpBetween:
		return len(c.nums) == 2 && x >= c.nums[0] && x <= c.nums[1]
	case OpEquals:
		return x == c.nums[0]
	case OpNotEquals:
		return x != c.nums[0]
	}
	return false
}

// equalValue compares a value with a folded operand: as numbers when both
// are numbers ("40" = 40 = "４０.0"), else as folded text.
func equalValue(v any, text string, num float64, isNum bool) bool {
	if isNum {
		if x, ok := numberOf(v); ok {
			return x == num
		}
	}
	t, ok := TraitText(v)
	return ok && Fold(t) == text
}
