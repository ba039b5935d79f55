package sqldb_test

import (
	"context"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// TestExecWriteQueuesWithWriters: on SQLite a write outside InTx must wait
// for a writer holding the lock longer than the busy timeout, as InTx
// writers do, not fail with SQLITE_BUSY as an autocommit statement
// (db.ExecContext) does: that one sleeps in SQLite's busy handler, outside
// the writer mutex.
func TestExecWriteQueuesWithWriters(t *testing.T) {
	sqldb.SetSQLiteBusyTimeout(t, 50)
	db := sqldbtest.SQLite(t)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE kv (k TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	// hold runs a writer that keeps the lock for 300 ms, well over the
	// busy timeout, and returns once it has the lock.
	hold := func(key string) <-chan error {
		locked, done := make(chan struct{}), make(chan error, 1)
		go func() {
			done <- db.InTx(ctx, func(tx *sqldb.Tx) error {
				if _, err := tx.ExecContext(ctx, `INSERT INTO kv (k) VALUES ($1)`, key); err != nil {
					return err
				}
				close(locked)
				time.Sleep(300 * time.Millisecond)
				return nil
			})
		}()
		<-locked
		return done
	}

	done := hold("held-1")
	_, err := db.ExecContext(ctx, `INSERT INTO kv (k) VALUES ('autocommit')`)
	if !sqldb.IsRetryable(err) {
		t.Fatalf("autocommit insert while a writer held the lock: %v; want SQLITE_BUSY (the hazard ExecWrite avoids)", err)
	}
	sqldbtest.Await(t, done, "writer 1")

	done = hold("held-2")
	if _, err := db.ExecWrite(ctx, `INSERT INTO kv (k) VALUES ('queued')`); err != nil {
		t.Fatalf("ExecWrite while a writer held the lock: %v", err)
	}
	sqldbtest.Await(t, done, "writer 2")
	if got := sqldbtest.Rows(t, db, `SELECT k FROM kv ORDER BY k`); len(got) != 3 {
		t.Errorf("rows %v; want held-1, held-2, queued", got)
	}
}
