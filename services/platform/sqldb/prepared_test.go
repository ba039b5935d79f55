package sqldb_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

func TestPreparedInTransaction(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if _, err := db.ExecContext(ctx, `CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		err := db.InTx(ctx, func(tx *sqldb.Tx) error {
			for i, k := range []string{"a", "b", "a"} {
				res, err := tx.ExecPrepared(ctx, `INSERT INTO kv (k, v) VALUES ($1, $2) ON CONFLICT DO NOTHING`, k, i)
				if err != nil {
					return err
				}
				n, err := res.RowsAffected()
				if want := int64(map[bool]int{true: 1, false: 0}[i < 2]); err != nil || n != want {
					t.Errorf("insert %d (%s): %d rows, %v; want %d", i, k, n, err, want)
				}
			}
			var v int64
			if err := tx.QueryRowPrepared(ctx, `SELECT v FROM kv WHERE k = $1`, "b").Scan(&v); err != nil || v != 1 {
				t.Errorf("b = %d, %v; want 1", v, err)
			}
			if err := tx.QueryRowPrepared(ctx, `SELECT v FROM kv WHERE k = $1`, "zz").Scan(&v); !errors.Is(err, sql.ErrNoRows) {
				t.Errorf("missing row: %v, want sql.ErrNoRows", err)
			}
			if err := tx.QueryRowPrepared(ctx, `SELECT nope FROM kv`).Scan(&v); err == nil {
				t.Error("a statement that cannot be prepared scanned without error")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
