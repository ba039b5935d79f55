package sqldb

import (
	"fmt"
	"strings"
)

// Placeholders returns "$first, $first+1, …" for n parameters, the list of
// an IN (…) clause. Both dialects take $N placeholders.
func Placeholders(first, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", first+i)
	}
	return b.String()
}

// InList returns the placeholders for values, numbered from first, and the
// values as arguments.
func InList(first int, values []string) (string, []any) {
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	return Placeholders(first, len(values)), args
}

// Placeholders is the package function Placeholders in the dialect's
// cheapest form: on SQLite bare "?" (numbered by position), because the
// driver looks every named parameter up in a list, which makes a statement
// with thousands of "$N" quadratic. The placeholders must come after every
// parameter they follow in number ($1 … $first-1), as they do at the end of
// a VALUES or IN list.
func (d Dialect) Placeholders(first, n int) string {
	if d != SQLite {
		return Placeholders(first, n)
	}
	if n == 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// InList is the package function InList with the dialect's placeholders.
func (d Dialect) InList(first int, values []string) (string, []any) {
	in, args := InList(first, values)
	if d == SQLite {
		in = d.Placeholders(first, len(values))
	}
	return in, args
}

// Rows returns the placeholders of a multi-row VALUES list, "($1, $2),
// ($3, $4)" for 2 rows of 2, in the dialect's form; the rows are the
// statement's only parameters.
func (d Dialect) Rows(rows, cols int) string {
	var b strings.Builder
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(" + d.Placeholders(i*cols+1, cols) + ")")
	}
	return b.String()
}
