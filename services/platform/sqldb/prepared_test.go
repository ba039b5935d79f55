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

// TestPreparedOnPool: reads outside a transaction through the pool's
// statement cache see committed writes, report missing rows and bad
// statements, and iterate rows.
func TestPreparedOnPool(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if _, err := db.ExecContext(ctx, `CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		const get = `SELECT v FROM kv WHERE k = $1`
		var v int64
		if err := db.QueryRowPrepared(ctx, get, "a").Scan(&v); !errors.Is(err, sql.ErrNoRows) {
			t.Errorf("missing row: %v, want sql.ErrNoRows", err)
		}
		for i, k := range []string{"a", "b"} {
			if _, err := db.ExecContext(ctx, `INSERT INTO kv (k, v) VALUES ($1, $2)`, k, i+1); err != nil {
				t.Fatal(err)
			}
		}
		// The same text again: the cached statement sees the new rows.
		if err := db.QueryRowPrepared(ctx, get, "b").Scan(&v); err != nil || v != 2 {
			t.Errorf("b = %d, %v; want 2", v, err)
		}
		if err := db.QueryRowPrepared(ctx, `SELECT nope FROM kv`).Scan(&v); err == nil {
			t.Error("a statement that cannot be prepared scanned without error")
		}
		rows, err := db.QueryPrepared(ctx, `SELECT k FROM kv ORDER BY k`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var keys []string
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				t.Fatal(err)
			}
			keys = append(keys, k)
		}
		if err := rows.Err(); err != nil || len(keys) != 2 || keys[0] != "a" || keys[1] != "b" {
			t.Errorf("keys = %v, %v; want [a b]", keys, err)
		}
	})
}

// TestPoolKeepsIdleConnections: connections a burst of concurrent reads
// opened stay open for the next burst, instead of each read opening (and
// preparing statements on) a new one.
func TestPoolKeepsIdleConnections(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		const burst = 8
		var conns []*sql.Conn
		for range burst {
			c, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if s := db.Stats(); s.Idle < burst {
			t.Errorf("after %d connections were returned the pool keeps %d idle (stats %+v)", burst, s.Idle, s)
		}
	})
}
