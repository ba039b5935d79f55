package sqldb_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// TestMultiRowStatements writes more rows than one statement holds, with
// an ON CONFLICT tail, reads back which were new through RETURNING and
// reads them by an IN list longer than one chunk.
func TestMultiRowStatements(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if _, err := db.ExecContext(ctx, `CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		key := func(i int) string { return fmt.Sprintf("k%04d", i) }
		const n = 1203 // 500 + 500 + 128 + 64 + 8 + 2 + 1 rows
		err := db.InTx(ctx, func(tx *sqldb.Tx) error {
			// Every third key first, then all: the second statement finds
			// those taken.
			if err := tx.InsertRows(ctx, `INSERT INTO kv (k, v)`, "", 2, n/3, func(args []any, i int) ([]any, error) {
				return append(args, key(3*i), 3*i), nil
			}); err != nil {
				return err
			}
			var fresh []string
			err := tx.QueryRows(ctx, `INSERT INTO kv (k, v)`, `ON CONFLICT DO NOTHING RETURNING k`, 2, n,
				func(args []any, i int) ([]any, error) { return append(args, key(i), -1), nil },
				func(row sqldb.RowScanner) error {
					var k string
					err := row.Scan(&k)
					fresh = append(fresh, k)
					return err
				})
			if err != nil {
				return err
			}
			if want := n - n/3; len(fresh) != want {
				t.Errorf("RETURNING gave %d new rows, want %d", len(fresh), want)
			}
			var wanted []string
			for i := 0; i < n; i += 3 {
				wanted = append(wanted, key(i))
			}
			var got []string
			err = tx.QueryIn(ctx, `SELECT k FROM kv WHERE v >= $1 AND k IN (%s)`, []any{0}, wanted, func(row sqldb.RowScanner) error {
				var k string
				err := row.Scan(&k)
				got = append(got, k)
				return err
			})
			if err != nil {
				return err
			}
			if slices.Sort(got); !slices.Equal(got, wanted) {
				t.Errorf("QueryIn found %d rows, want the %d inserted first", len(got), len(wanted))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// The same outside the transaction, on the pool.
		var wanted, got []string
		for i := 0; i < n; i += 3 {
			wanted = append(wanted, key(i))
		}
		err = db.QueryIn(ctx, `SELECT k FROM kv WHERE v >= $1 AND k IN (%s)`, []any{0}, append(wanted, "missing"), func(row sqldb.RowScanner) error {
			var k string
			err := row.Scan(&k)
			got = append(got, k)
			return err
		})
		if slices.Sort(got); err != nil || !slices.Equal(got, wanted) {
			t.Errorf("DB.QueryIn found %d rows, %v; want the %d inserted first", len(got), err, len(wanted))
		}
	})
}

func TestPadIn(t *testing.T) {
	for _, tt := range []struct {
		in, want []string
	}{
		{[]string{"a"}, []string{"a"}},
		{[]string{"a", "b", "c"}, []string{"a", "b", "c", "c"}},
		{[]string{"a", "b", "c", "d", "e"}, []string{"a", "b", "c", "d", "e", "e", "e", "e"}},
	} {
		if got := sqldb.PadIn(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("PadIn(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestInsertNew reports a key new once: not when stored before, nor when
// it repeats an earlier key of the same call.
func TestInsertNew(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if _, err := db.ExecContext(ctx, `CREATE TABLE applied (ws TEXT NOT NULL, id TEXT NOT NULL, at BIGINT NOT NULL, PRIMARY KEY (ws, id))`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO applied (ws, id, at) VALUES ('w1', 'a', 0)`); err != nil {
			t.Fatal(err)
		}
		keys := []sqldb.WorkspaceKey{{"w1", "b"}, {"w1", "a"}, {"w2", "a"}, {"w1", "b"}, {"w1", "c"}, {"w2", "a"}}
		var got []bool
		err := db.InTx(ctx, func(tx *sqldb.Tx) error {
			var err error
			got, err = tx.InsertNew(ctx, `INSERT INTO applied (ws, id, at)`, `ON CONFLICT DO NOTHING RETURNING ws, id`, keys, 7)
			return err
		})
		if want := []bool{true, false, true, false, true, false}; err != nil || !slices.Equal(got, want) {
			t.Errorf("InsertNew = %v, %v; want %v", got, err, want)
		}
	})
}

// TestMultiRowFailure checks what a failed multi-row write leaves: on
// SQLite it runs without a statement journal (Dialect.OrFail), so the rows
// it wrote before the failing one stay until the transaction ends; InTx
// then rolls them back with the rest, on both backends, and nothing is
// stored.
func TestMultiRowFailure(t *testing.T) {
	cases := []struct {
		name  string
		write func(ctx context.Context, tx *sqldb.Tx) error
		// inTx is what SQLite holds after the failed statement; statement
		// rollback would leave nothing (insert) or k0 … k3 (update).
		inTx []string
	}{
		{"insert", func(ctx context.Context, tx *sqldb.Tx) error {
			return tx.InsertRows(ctx, `INSERT INTO kv (k, v)`, "", 2, 4, func(args []any, i int) ([]any, error) {
				if i == 2 {
					return append(args, "k2", nil), nil // NOT NULL violated
				}
				return append(args, fmt.Sprintf("k%d", i), i), nil
			})
		}, []string{"k0", "k1"}},
		{"update", func(ctx context.Context, tx *sqldb.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES ('k0', 0), ('k1', 1), ('k2', 2), ('k3', 3)`); err != nil {
				return err
			}
			// k3 would take k0's new key.
			_, err := tx.ExecContext(ctx, `UPDATE`+tx.Dialect.OrFail()+` kv SET k = 'x' || (v % 3)`)
			return err
		}, []string{"k3", "x0", "x1", "x2"}},
	}
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if _, err := db.ExecContext(ctx, `CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				err := db.InTx(ctx, func(tx *sqldb.Tx) error {
					err := c.write(ctx, tx)
					if err == nil || tx.Dialect != sqldb.SQLite {
						return err
					}
					got, qerr := sqldb.Strings(tx.QueryContext(ctx, `SELECT k FROM kv ORDER BY k`))
					if qerr != nil {
						t.Fatal(qerr)
					}
					if !slices.Equal(got, c.inTx) {
						t.Errorf("after the failed statement the transaction holds %v, want %v", got, c.inTx)
					}
					return err
				})
				if err == nil {
					t.Fatal("the write succeeded")
				}
				if got := sqldbtest.Rows(t, db, `SELECT k FROM kv`); len(got) != 0 {
					t.Errorf("stored after the failed transaction: %v", got)
				}
			})
		}
	})
}
