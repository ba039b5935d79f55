package sqldb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Tx is a transaction plus the dialect it speaks, handed to InTx callbacks.
type Tx struct {
	*sql.Tx
	Dialect Dialect
	db      *DB
	// stmts are the statements ExecPrepared, QueryPrepared and
	// QueryRowPrepared prepared, by text.
	stmts map[string]*sql.Stmt
}

// Prepared returns query prepared for this transaction. The statement is
// prepared once per database (database/sql then keeps one per connection),
// so a hot statement is parsed once, not in every transaction: parsing was
// a sixth of ingestion's CPU. Callers keep the number of distinct texts
// small (a multi-row insert uses a few fixed row counts, see ChunkRows).
func (tx *Tx) Prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if tx.db == nil || tx.db.Stats().MaxOpenConnections == 1 {
		// Preparing on the pool would wait for the one connection, which
		// this transaction holds.
		return tx.PrepareContext(ctx, query)
	}
	st, err := tx.db.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return tx.StmtContext(ctx, st), nil
}

// prepared returns query prepared on the pool, once per database.
func (db *DB) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := db.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	prepared, err := db.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	st, loaded := db.stmts.LoadOrStore(query, prepared)
	if loaded {
		_ = prepared.Close() // another caller won the race
	}
	return st.(*sql.Stmt), nil
}

// QueryRowPrepared is QueryRowContext outside a transaction with the
// statement prepared once per database (see Tx.Prepared): for reads every
// request makes, such as an API key's look-up, whose parsing cost as much
// as running them.
func (db *DB) QueryRowPrepared(ctx context.Context, query string, args ...any) RowScanner {
	st, err := db.prepared(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// QueryPrepared is QueryContext outside a transaction with the statement
// prepared once per database (see QueryRowPrepared).
func (db *DB) QueryPrepared(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := db.prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// ExecPrepared is ExecContext with the statement prepared once per
// transaction (see Prepared): a statement a transaction runs for every
// message of a batch is then parsed once, not once per message.
func (tx *Tx) ExecPrepared(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := tx.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// QueryRowPrepared is QueryRowContext with the statement prepared once per
// transaction (see ExecPrepared).
func (tx *Tx) QueryRowPrepared(ctx context.Context, query string, args ...any) RowScanner {
	st, err := tx.stmt(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

// QueryPrepared is QueryContext with the statement prepared once per
// transaction (see ExecPrepared).
func (tx *Tx) QueryPrepared(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := tx.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

// RowScanner is what *sql.Row offers.
type RowScanner interface{ Scan(dest ...any) error }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

func (tx *Tx) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := tx.stmts[query]; ok {
		return st, nil
	}
	st, err := tx.Prepared(ctx, query)
	if err != nil {
		return nil, err
	}
	if tx.stmts == nil {
		tx.stmts = map[string]*sql.Stmt{}
	}
	tx.stmts[query] = st
	return st, nil
}

// ChunkRows splits n rows into chunks of at most limit rows whose sizes are
// powers of two (largest first), so that multi-row statements come in a few
// sizes Prepared can keep.
func ChunkRows(n, limit int) []int {
	var out []int
	for n > 0 {
		k := 1
		for k*2 <= min(n, limit) {
			k *= 2
		}
		out = append(out, k)
		n -= k
	}
	return out
}

// maxTxAttempts bounds InTx retries: contention that outlasts a few short
// backoffs is a real problem to surface, not to hide.
const maxTxAttempts = 10

// InTx runs fn in a transaction, committing when fn returns nil and rolling
// back otherwise. When the transaction fails with a transient conflict
// (SQLite BUSY/LOCKED, PostgreSQL serialization failure or deadlock) it is
// retried from the start, so fn must have no effects outside tx. Inside fn
// use only tx: on SQLite a second connection would wait for the lock fn holds.
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = db.inTxOnce(ctx, fn)
		if err == nil || !IsRetryable(err) || attempt == maxTxAttempts {
			return err
		}
		// Jittered, growing sleep so retrying writers do not collide again.
		d := time.Duration(attempt) * (5*time.Millisecond + rand.N(20*time.Millisecond))
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (retry abandoned: %w)", err, ctx.Err())
		case <-time.After(d):
		}
	}
}

func (db *DB) inTxOnce(ctx context.Context, fn func(tx *Tx) error) (err error) {
	if db.writer != nil {
		db.writer.Lock()
		defer db.writer.Unlock()
	}
	sqlTx, err := db.begin(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = sqlTx.Rollback()
			panic(p)
		}
	}()
	if err := fn(&Tx{Tx: sqlTx, Dialect: db.Dialect, db: db}); err != nil {
		if rbErr := sqlTx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("rollback: %w", rbErr))
		}
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// begin starts an InTx transaction. On a SQLite file it runs on the one
// connection every write transaction uses (the caller holds writer):
// SQLite drops a connection's whole page cache when another connection
// has committed since its last transaction, so writers taking turns over
// the pool read back from the OS every page they touched (pread was about
// 3 % of the suite's CPU under sustained load, nearly all of it inside
// write transactions). One connection writing keeps its cache. (A larger
// cache for it, 32 MiB, cost more system time than it saved.)
func (db *DB) begin(ctx context.Context) (*sql.Tx, error) {
	if !db.oneWriter {
		return db.BeginTx(ctx, nil)
	}
	if db.writeConn == nil {
		c, err := db.Conn(ctx)
		if err != nil {
			return nil, err
		}
		db.writeConn = c
	}
	tx, err := db.writeConn.BeginTx(ctx, nil)
	if errors.Is(err, sql.ErrConnDone) || errors.Is(err, driver.ErrBadConn) {
		_ = db.writeConn.Close() // the next transaction takes another
		db.writeConn = nil
	}
	return tx, err
}

// ExecWrite runs one write statement outside any transaction of the
// caller's, in a transaction of its own (InTx), and returns its result.
// A bare db.ExecContext would autocommit: on SQLite it then waits for the
// write lock in SQLite's busy handler, outside the writer mutex InTx
// queues on, sleeping ever longer while a busy writer takes the lock
// again and again, and fails with SQLITE_BUSY after busy_timeout; here it
// waits its turn with the other writers, and a transient conflict is
// retried as InTx retries it. Never call it inside an InTx callback (use
// the callback's tx): the writer mutex is not reentrant.
func (db *DB) ExecWrite(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := db.InTx(ctx, func(tx *Tx) error {
		var err error
		res, err = tx.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

// IsRetryable reports whether err is a transient conflict after which the
// whole transaction may be retried.
func IsRetryable(err error) bool {
	if e, ok := errorsAs[*sqlite.Error](err); ok {
		switch e.Code() & 0xff { // primary result code
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
		return false
	}
	if e, ok := errorsAs[*pgconn.PgError](err); ok {
		return e.Code == "40001" || e.Code == "40P01"
	}
	return false
}

// IsUniqueViolation reports whether err comes from a UNIQUE or PRIMARY KEY
// constraint, so stores can turn it into their domain's ErrAlreadyExists.
func IsUniqueViolation(err error) bool {
	if e, ok := errorsAs[*sqlite.Error](err); ok {
		c := e.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	if e, ok := errorsAs[*pgconn.PgError](err); ok {
		return e.Code == "23505"
	}
	return false
}

// Strings reads a one-column result of text into a slice and closes rows.
func Strings(rows *sql.Rows, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
