package sqldbtest

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// WaitBlockedBy waits until a session of the PostgreSQL database db waits
// on a lock that the session with process id holder holds (see
// BackendPID), and returns the waiting session's process id. Tests of lock
// order use it to stop a transaction at a known point.
func WaitBlockedBy(t testing.TB, db *sqldb.DB, holder int) int {
	t.Helper()
	for range 300 {
		var pid int
		err := db.QueryRowContext(context.Background(), `SELECT pid FROM pg_stat_activity
WHERE $1 = ANY(pg_blocking_pids(pid)) LIMIT 1`, holder).Scan(&pid)
		switch {
		case err == nil:
			return pid
		case !errors.Is(err, sql.ErrNoRows):
			t.Fatalf("sqldbtest: sessions blocked by %d: %v", holder, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("sqldbtest: no session waited on session %d", holder)
	return 0
}

// BackendPID returns the process id of tx's PostgreSQL session.
func BackendPID(t testing.TB, tx *sql.Tx) int {
	t.Helper()
	var pid int
	if err := tx.QueryRowContext(context.Background(), `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatalf("sqldbtest: backend pid: %v", err)
	}
	return pid
}

// Await waits for the error a goroutine running a transaction sends on
// done, failing the test on an error or after 30 seconds.
func Await(t testing.TB, done <-chan error, what string) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not return", what)
	}
}

// LockNext runs query (one that takes a lock) in holder, on which another
// session waits, then ends holder: committed, or rolled back when query
// failed. It returns query's error. Its lock timeout is shorter than
// deadlock_timeout, so a wait on the waiting session ends here rather
// than in that session's deadlock error and retry: tests of lock order
// take the rows a writer in order would take next, which the writer
// under test must not hold yet.
func LockNext(t testing.TB, holder *sql.Tx, query string, args ...any) error {
	t.Helper()
	ctx := context.Background()
	if _, err := holder.ExecContext(ctx, `SET LOCAL lock_timeout = '200ms'`); err != nil {
		t.Fatalf("sqldbtest: lock timeout: %v", err)
	}
	if _, err := holder.ExecContext(ctx, query, args...); err != nil {
		_ = holder.Rollback()
		return err
	}
	if err := holder.Commit(); err != nil {
		t.Fatalf("sqldbtest: commit: %v", err)
	}
	return nil
}

// LockOrder checks the order a writer takes locks in: holder holds a
// lock, write runs in a goroutine until it waits on it, then holder takes
// next (LockNext), a lock a writer in order takes after holder's, and
// write is awaited (Await, named what). It returns next's error: nil when
// write, while it waited, did not hold what next locks.
func LockOrder(t testing.TB, db *sqldb.DB, holder *sql.Tx, what string, write func() error, next string, args ...any) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- write() }()
	WaitBlockedBy(t, db, BackendPID(t, holder))
	err := LockNext(t, holder, next, args...)
	Await(t, done, what)
	return err
}

// Hold begins a transaction on db and runs query (one that takes a lock)
// in it, for tests that stop another transaction on that lock; the
// transaction is rolled back when the test ends unless ended before.
func Hold(t testing.TB, db *sqldb.DB, query string, args ...any) *sql.Tx {
	t.Helper()
	ctx := context.Background()
	holder, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("sqldbtest: begin: %v", err)
	}
	t.Cleanup(func() { _ = holder.Rollback() })
	if _, err := holder.ExecContext(ctx, query, args...); err != nil {
		t.Fatalf("sqldbtest: hold: %v", err)
	}
	return holder
}
