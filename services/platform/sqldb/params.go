package sqldb

import (
	"strconv"
	"strings"
)

// Placeholders returns "$first, $first+1, …" for n parameters, the list of
// an IN (…) clause. Both dialects take $N placeholders.
func Placeholders(first, n int) string {
	return string(appendPlaceholders(make([]byte, 0, n*6), Postgres, first, n))
}

// appendPlaceholders appends the placeholders of n parameters numbered
// from first to b, in d's form (see Dialect.Placeholders). Consumers build
// multi-row statements of thousands of them for every batch: formatting
// each with fmt was a sixth of segmentation's CPU applying a batch on
// PostgreSQL.
func appendPlaceholders(b []byte, d Dialect, first, n int) []byte {
	for i := range n {
		if i > 0 {
			b = append(b, ", "...)
		}
		if d == SQLite {
			b = append(b, '?')
			continue
		}
		b = strconv.AppendInt(append(b, '$'), int64(first+i), 10)
	}
	return b
}

// InList returns the placeholders for values, numbered from first, and the
// values as arguments.
func InList(first int, values []string) (string, []any) {
	return Postgres.InList(first, values)
}

// Placeholders is the package function Placeholders in the dialect's
// cheapest form: on SQLite bare "?" (numbered by position), because the
// driver looks every named parameter up in a list, which makes a statement
// with thousands of "$N" quadratic. The placeholders must come after every
// parameter they follow in number ($1 … $first-1), as they do at the end of
// a VALUES or IN list.
func (d Dialect) Placeholders(first, n int) string {
	return string(appendPlaceholders(make([]byte, 0, n*6), d, first, n))
}

// InList is the package function InList with the dialect's placeholders.
func (d Dialect) InList(first int, values []string) (string, []any) {
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	return d.Placeholders(first, len(values)), args
}

// Rows returns the placeholders of a multi-row VALUES list, "($1, $2),
// ($3, $4)" for 2 rows of 2, in the dialect's form; the rows are the
// statement's only parameters.
func (d Dialect) Rows(rows, cols int) string {
	b := make([]byte, 0, rows*(cols*6+4))
	for i := range rows {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = append(appendPlaceholders(append(b, '('), d, i*cols+1, cols), ')')
	}
	return string(b)
}

// ByteOrder returns text columns as an ORDER BY list in byte order, the order
// Go sorts strings in, on PostgreSQL too (whose default is the database's
// collation, e.g. en_US, which orders "a_b" and "ab" otherwise). Rows
// locked with FOR UPDATE in this order are locked in the order a writer
// that sorted its ids in Go inserts or locks them, so the two cannot
// deadlock; the event cache likewise needs SQL and Go to agree.
func (d Dialect) ByteOrder(columns ...string) string {
	out := make([]string, len(columns))
	for i, c := range columns {
		out[i] = c
		if d == Postgres {
			out[i] += ` COLLATE "C"`
		}
	}
	return strings.Join(out, ", ")
}

// OrFail returns the conflict clause that spares a multi-row write its
// statement journal: " OR FAIL" on SQLite (as in "INSERT OR FAIL INTO",
// "UPDATE OR FAIL"), "" on PostgreSQL. Inside a transaction SQLite copies
// every existing page a multi-row statement changes into a statement
// journal, so that a constraint error can undo that one statement alone
// (the default, ABORT). Writing and freeing that journal was a fifth of
// the suite's CPU during a bulk import: a 500-row insert into a table with
// four indexes touches a page per row and index. With FAIL the statement
// stops at the error keeping its earlier rows, which changes nothing here:
// every caller fails its whole transaction on an error (PostgreSQL aborts
// it anyway), and InTx rolls it back. An ON CONFLICT … DO UPDATE clause
// still keeps the journal (SQLite aborts its update part).
func (d Dialect) OrFail() string {
	if d == SQLite {
		return " OR FAIL"
	}
	return ""
}

// multiRowHead returns head, a multi-row statement up to VALUES, with
// OrFail after its INSERT.
func (d Dialect) multiRowHead(head string) string {
	if rest, ok := strings.CutPrefix(head, "INSERT INTO "); ok && d == SQLite {
		return "INSERT" + d.OrFail() + " INTO " + rest
	}
	return head
}
