package sqldbtest

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// Rows returns the rows of query as text, NULL as "".
func Rows(t testing.TB, db *sqldb.DB, query string) [][]string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = v.String
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// Dump renders the rows of queries as text to compare two databases by:
// a heading per query, then a line per row, sorted unless the query has
// an ORDER BY. rename, when not nil, rewrites each line (ids one database
// generated to what names them in both).
func Dump(t testing.TB, db *sqldb.DB, rename func(string) string, queries ...string) string {
	t.Helper()
	var b strings.Builder
	for _, q := range queries {
		rows := Rows(t, db, q)
		lines := make([]string, len(rows))
		for i, r := range rows {
			lines[i] = strings.Join(r, " | ")
			if rename != nil {
				lines[i] = rename(lines[i])
			}
		}
		if !strings.Contains(q, "ORDER BY") {
			slices.Sort(lines)
		}
		fmt.Fprintf(&b, "## %s\n%s\n", q, strings.Join(lines, "\n"))
	}
	return b.String()
}

// LineDiff shows the first lines where a and b differ.
func LineDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < max(len(al), len(bl)) && len(out) < 20; i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			out = append(out, "- "+x, "+ "+y)
		}
	}
	return strings.Join(out, "\n")
}
