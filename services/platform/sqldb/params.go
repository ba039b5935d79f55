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
