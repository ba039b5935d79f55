package store

import (
	"context"
	"strings"
	"testing"

	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// TestCustomerUpdatesByKey checks SQLite's plan for the write set's
// UPDATE customers … FROM VALUES statements at every chunk size: each
// customer is searched by key. SQLite, without statistics, otherwise
// scanned the whole customers table per statement from 256 rows on.
func TestCustomerUpdatesByKey(t *testing.T) {
	db := sqldbtest.SQLite(t)
	ctx := context.Background()
	if _, err := Open(ctx, db); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		query string
		types []string
	}{
		{"touches", touchesUpdate(sqldb.SQLite), touchesTypes},
		{"customers", customersUpdate(sqldb.SQLite), customersTypes},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, k := range sqldb.ChunkRows(2*sqldb.MaxRowsPerStatement-1, sqldb.MaxRowsPerStatement) {
				args := make([]any, k*len(c.types))
				for i := range args {
					args[i] = "x"
				}
				plan := explain(t, db, valuesQuery(sqldb.SQLite, c.query, c.types, k), args)
				if !strings.Contains(strings.Join(plan, "\n"), "SEARCH customers USING ") || strings.Contains(strings.Join(plan, "\n"), "SCAN customers") {
					t.Errorf("%d rows: plan\n%s", k, strings.Join(plan, "\n"))
				}
			}
		})
	}
}

// explain returns the details of SQLite's query plan for query.
func explain(t *testing.T, db *sqldb.DB, query string, args []any) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), `EXPLAIN QUERY PLAN `+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}
