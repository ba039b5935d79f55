package journey

import (
	"strconv"
	"strings"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
)

// MatchEvent reports whether a track event named name with properties
// props satisfies m: same name and every property filter holds.
func MatchEvent(m *campaignv1.EventMatch, name string, props map[string]any) bool {
	if m == nil || m.GetEvent() != name {
		return false
	}
	for _, f := range m.GetPropertyFilters() {
		if !matchProperty(f, lookup(props, f.GetProperty())) {
			return false
		}
	}
	return true
}

// lookup follows a dotted path into nested objects; arrays on the way
// fan out, so the result lists every value found.
func lookup(props map[string]any, path string) []any {
	vals := []any{props}
	for _, part := range strings.Split(path, ".") {
		var next []any
		for _, v := range vals {
			obj, ok := v.(map[string]any)
			if !ok {
				continue
			}
			switch x := obj[part].(type) {
			case nil:
			case []any:
				next = append(next, x...)
			default:
				next = append(next, x)
			}
		}
		vals = next
	}
	return vals
}

func matchProperty(f *campaignv1.PropertyFilter, vals []any) bool {
	switch c := f.GetComparison().(type) {
	case *campaignv1.PropertyFilter_Exists:
		return (len(vals) > 0) == c.Exists
	case *campaignv1.PropertyFilter_Equals:
		for _, v := range vals {
			if s, ok := text(v); ok && fold(s) == fold(c.Equals) {
				return true
			}
		}
	case *campaignv1.PropertyFilter_Gte:
		for _, v := range vals {
			if n, ok := number(v); ok && n >= c.Gte {
				return true
			}
		}
	case *campaignv1.PropertyFilter_Lte:
		for _, v := range vals {
			if n, ok := number(v); ok && n <= c.Lte {
				return true
			}
		}
	}
	return false
}

// MatchTrait reports whether traits satisfy c.
func MatchTrait(c *campaignv1.TraitCondition, traits map[string]any) bool {
	v, present := traits[c.GetKey()]
	present = present && v != nil
	switch cmp := c.GetComparison().(type) {
	case *campaignv1.TraitCondition_Exists:
		return present == cmp.Exists
	case *campaignv1.TraitCondition_Equals:
		s, ok := text(v)
		return present && ok && fold(s) == fold(cmp.Equals)
	}
	return false
}

// text renders a JSON scalar as text: numbers in their shortest form.
func text(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case string:
		n, err := strconv.ParseFloat(strings.TrimSpace(norm.NFKC.String(x)), 64)
		return n, err == nil
	}
	return 0, false
}

var folder = cases.Fold()

// fold compares text as a person would: full- and half-width forms alike
// (NFKC), case folded, surrounding spaces ignored.
func fold(s string) string {
	return strings.TrimSpace(folder.String(norm.NFKC.String(s)))
}
