package sqldb_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// TestByteOrder: ORDER BY Dialect.ByteOrder gives Go's string order even
// when the column's collation orders otherwise (on PostgreSQL, an ICU
// collation puts "B" after "a_b" and "ab").
func TestByteOrder(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		column := `v TEXT`
		if db.Dialect == sqldb.Postgres {
			column += ` COLLATE "und-x-icu"`
		}
		if _, err := db.ExecContext(ctx, `CREATE TABLE words (`+column+`, n TEXT)`); err != nil {
			t.Fatal(err)
		}
		words := []string{"ab", "a_b", "B", "a", "cus_01", "cus01", "Ａ"}
		for i, w := range words {
			if _, err := db.ExecContext(ctx, `INSERT INTO words (v, n) VALUES ($1, $2)`, w, fmt.Sprint(i%2)); err != nil {
				t.Fatal(err)
			}
		}
		got, err := sqldb.Strings(db.QueryContext(ctx, `SELECT v FROM words ORDER BY `+db.Dialect.ByteOrder("n", "v")))
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, n := range []int{0, 1} {
			var part []string
			for i, w := range words {
				if i%2 == n {
					part = append(part, w)
				}
			}
			want = append(want, slices.Sorted(slices.Values(part))...)
		}
		if !slices.Equal(got, want) {
			t.Errorf("ORDER BY ByteOrder gave %q, want Go's order %q", got, want)
		}
	})
}
