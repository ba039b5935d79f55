// Package imports loads files into a workspace: CSV exports of customers
// and orders, and NDJSON files of Segment calls. Each row becomes a
// tracking message (an identify call per customer, an Order Completed
// track call per order) validated as a live call is, and goes through the
// ingester's set-based write path in batches, with the same normalisation,
// identity resolution and suppression as live events. Jobs run in the
// background with their progress stored after every batch, on one replica
// at a time (a lease), and resume after a crash; message ids derive from
// each row's content, so a re-run stores nothing twice.
package imports

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kizuna/kizuna/services/platform/validation"
)

// Kinds of file.
const (
	Customers = "customers"
	Orders    = "orders"
	Events    = "events"
)

// Kinds lists them.
var Kinds = []string{Customers, Orders, Events}

// Encodings of files, by the names a client may use.
const (
	UTF8     = "utf-8"
	ShiftJIS = "shift_jis"
)

// encodingAliases maps accepted spellings to the canonical names.
var encodingAliases = map[string]string{
	"": UTF8, "utf-8": UTF8, "utf8": UTF8, "utf-8-sig": UTF8,
	"shift_jis": ShiftJIS, "shift-jis": ShiftJIS, "sjis": ShiftJIS, "cp932": ShiftJIS, "windows-31j": ShiftJIS, "ms932": ShiftJIS,
}

// Encoding returns the canonical name of an encoding, or false.
func Encoding(name string) (string, bool) {
	e, ok := encodingAliases[strings.ToLower(strings.TrimSpace(name))]
	return e, ok
}

// Targets of columns, as the contract names them.
const (
	targetUserID      = "user_id"
	targetAnonymousID = "anonymous_id"
	targetTimestamp   = "timestamp"
	targetOrderID     = "order_id"
	targetRevenue     = "revenue"
	targetCurrency    = "currency"
	targetEmail       = "email"
	targetPhone       = "phone"
	// Drop drops a column.
	Drop = "-"
	// TraitPrefix and PropertyPrefix rename a column into a trait or an
	// order property.
	TraitPrefix    = "trait."
	PropertyPrefix = "property."
)

// customerTraits are the customer columns that map to the trait of the
// same name without a mapping.
var customerTraits = []string{"email", "phone", "name", "name_kana", "company", "postal_code", "address", "timezone", "line_user_id"}

// targets lists, per kind, the targets a column may name besides the
// prefixes and Drop.
var targets = map[string][]string{
	Customers: append([]string{targetUserID, targetAnonymousID, targetTimestamp}, customerTraits...),
	Orders:    {targetUserID, targetAnonymousID, targetOrderID, targetTimestamp, targetRevenue, targetCurrency, "category", targetEmail, targetPhone},
}

// Limits of a mapping.
const (
	maxColumns     = 500
	maxNameLength  = 200
	maxDateFormats = 20
)

// Mapping says how a CSV file's columns become customers or orders.
type Mapping struct {
	// Columns maps a column header to a target; columns not named keep
	// their default (a contract name maps to itself, any other becomes a
	// trait or an order property).
	Columns map[string]string `json:"columns,omitempty"`
	// DateFormats are strftime layouts tried before the built-in ones.
	DateFormats []string `json:"date_formats,omitempty"`
	// Timezone is the IANA zone of times without one; empty: the
	// workspace's.
	Timezone string `json:"timezone,omitempty"`
	// DefaultCurrency is the currency of orders without one.
	DefaultCurrency string `json:"default_currency,omitempty"`
}

// Validate checks a mapping for kind, adding violations under field.
func (m Mapping) Validate(kind, field string, v *validation.Error) {
	if kind == Events {
		if len(m.Columns) > 0 || len(m.DateFormats) > 0 || m.Timezone != "" || m.DefaultCurrency != "" {
			v.Addf(field, "events files are Segment calls and take no mapping")
		}
		return
	}
	if len(m.Columns) > maxColumns {
		v.Addf(field+".columns", "names %d columns, over the limit of %d", len(m.Columns), maxColumns)
		return
	}
	for _, col := range slices.Sorted(maps.Keys(m.Columns)) {
		to := m.Columns[col]
		f := fmt.Sprintf("%s.columns[%q]", field, col)
		if strings.TrimSpace(col) == "" || len(col) > maxNameLength || !utf8.ValidString(col) {
			v.Addf(f, "a column name must be 1 to %d bytes of UTF-8", maxNameLength)
			continue
		}
		if _, err := target(kind, to); err != nil {
			v.Addf(f, "%v", err)
		}
	}
	if len(m.DateFormats) > maxDateFormats {
		v.Addf(field+".date_formats", "holds %d formats, over the limit of %d", len(m.DateFormats), maxDateFormats)
	}
	for i, f := range m.DateFormats {
		if _, err := goLayout(f); err != nil {
			v.Addf(fmt.Sprintf("%s.date_formats[%d]", field, i), "%v", err)
		}
	}
	if m.Timezone != "" {
		if _, err := time.LoadLocation(m.Timezone); err != nil || m.Timezone == "Local" {
			v.Addf(field+".timezone", "%q is not an IANA time zone such as Asia/Tokyo", m.Timezone)
		}
	}
	if c := m.DefaultCurrency; c != "" && (len(c) != 3 || strings.ToUpper(c) != c || strings.ToLower(c) == c) {
		v.Addf(field+".default_currency", "must be an ISO 4217 code in capitals such as JPY")
	}
	if kind == Customers && m.DefaultCurrency != "" {
		v.Addf(field+".default_currency", "is for orders only")
	}
}

// column is where one column's values go.
type column struct {
	// field is a contract name (user_id, revenue...), or "" for a trait or
	// property named by key.
	field string
	key   string
	drop  bool
}

// target parses a mapping target for kind.
func target(kind, to string) (column, error) {
	to = strings.TrimSpace(to)
	switch {
	case to == Drop:
		return column{drop: true}, nil
	case strings.HasPrefix(to, TraitPrefix) && kind == Customers, strings.HasPrefix(to, PropertyPrefix) && kind == Orders:
		_, key, _ := strings.Cut(to, ".")
		if key == "" || len(key) > maxNameLength {
			return column{}, fmt.Errorf("%q names no trait or property", to)
		}
		return column{key: key}, nil
	case slices.Contains(targets[kind], to):
		return column{field: to}, nil
	}
	prefix := TraitPrefix
	if kind == Orders {
		prefix = PropertyPrefix
	}
	return column{}, fmt.Errorf("unknown target %q: one of %s, %s<name> or %s", to, strings.Join(targets[kind], ", "), prefix, Drop)
}

// columnsOf resolves a header: each column's target under the mapping.
func columnsOf(kind string, header []string, m Mapping) ([]column, error) {
	cols := make([]column, len(header))
	seen := make(map[string]bool, len(header))
	for i, h := range header {
		if seen[h] {
			return nil, fmt.Errorf("the header names column %q twice", h)
		}
		seen[h] = true
		if to, ok := m.Columns[h]; ok {
			c, err := target(kind, to)
			if err != nil {
				return nil, fmt.Errorf("column %q: %w", h, err)
			}
			cols[i] = c
			continue
		}
		if slices.Contains(targets[kind], h) {
			cols[i] = column{field: h}
		} else {
			cols[i] = column{key: h}
		}
	}
	return cols, nil
}

// strftime maps the conversion specifiers a date format may use to Go's
// layout elements.
var strftime = map[byte]string{
	'Y': "2006", 'y': "06", 'm': "01", 'd': "02", 'H': "15", 'M': "04", 'S': "05",
	'z': "-0700", 'Z': "MST", 'b': "Jan", 'B': "January", 'f': "999999999", 'p': "PM", 'I': "03", '%': "%",
}

// goLayout converts a strftime format ("%Y/%m/%d %H:%M") to a Go layout.
func goLayout(f string) (string, error) {
	if f == "" || len(f) > 100 {
		return "", fmt.Errorf("must be 1 to 100 characters")
	}
	var b strings.Builder
	directives := 0
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			b.WriteByte(f[i])
			continue
		}
		if i+1 == len(f) {
			return "", fmt.Errorf("%q ends in a lone %%", f)
		}
		i++
		el, ok := strftime[f[i]]
		if !ok {
			return "", fmt.Errorf("%q uses %%%c, which is not one of %%Y %%y %%m %%d %%H %%I %%M %%S %%f %%p %%z %%Z %%b %%B", f, f[i])
		}
		if f[i] == 'f' {
			// Fractional seconds follow a dot in Go layouts.
			s := b.String()
			if !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, ",") {
				return "", fmt.Errorf("%q: %%f must follow a dot", f)
			}
		}
		directives++
		b.WriteString(el)
	}
	if directives == 0 {
		return "", fmt.Errorf("%q has no %% directive", f)
	}
	return b.String(), nil
}
