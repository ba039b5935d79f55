// Package sqldb is Kizuna's one portable SQL layer: stores are written once
// against database/sql and run on SQLite (the zero-setup default, pure Go,
// WAL) or PostgreSQL (production, through pgx's database/sql driver).
//
// Queries use PostgreSQL-style placeholders ($1, $2, …) on both backends:
// the SQLite driver binds $N to the N-th argument, so no rewriting happens.
// Long generated lists (multi-row VALUES, big IN lists) use
// Dialect.Placeholders, whose bare "?" SQLite binds in linear time.
// Keep SQL to the common subset (TEXT, BIGINT, BOOLEAN, TIMESTAMP,
// ON CONFLICT … DO …, RETURNING); where the dialects differ, branch on
// DB.Dialect or ship a dialect-specific migration.
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Dialect names the SQL backend behind a DB.
type Dialect int

// The supported dialects.
const (
	SQLite Dialect = iota + 1
	Postgres
)

// String returns the lower-case dialect name, as used in migration file
// names ("sqlite", "postgres").
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	default:
		return fmt.Sprintf("Dialect(%d)", int(d))
	}
}

// DB is a connection pool plus the dialect it speaks. The embedded *sql.DB
// is used directly by stores.
type DB struct {
	*sql.DB
	Dialect Dialect
	// writer serialises InTx on SQLite, which allows one writer at a time:
	// writers waiting on a Go mutex run the moment the lock is free, where
	// writers waiting in SQLite's busy handler sleep for growing intervals.
	writer *sync.Mutex
	// oneWriter (SQLite files) runs every InTx on writeConn, one
	// connection held for the purpose and opened on first use, guarded
	// by writer (see DB.begin).
	oneWriter bool
	writeConn *sql.Conn
	// stmts caches statements prepared on the pool, by text (see
	// Tx.Prepared).
	stmts sync.Map

	unobserve func() error // stops the pool metrics; see Close
	// stopCheckpoints stops checkpointLoop (SQLite files); see Close.
	stopCheckpoints func()
}

// Options configures Open.
type Options struct {
	// URL selects the backend:
	//   sqlite:///abs/path/app.db   absolute file path
	//   sqlite:rel/path/app.db      path relative to the working directory
	//   sqlite::memory:             private in-memory database (one connection)
	//   postgres://… or postgresql://…  a pgx connection string
	URL string
	// Schema, for PostgreSQL only, is created if missing and set as the
	// search_path of every pooled connection, so each service (or test) owns
	// its tables in a shared database. Ignored for SQLite, where every
	// service has its own file.
	Schema string
	// Durability chooses when a commit is on disk; the zero value is
	// DurabilityFast.
	Durability Durability
}

// Durability says what an acknowledged write survives.
type Durability string

// The durability settings.
const (
	// DurabilityFast survives a crash of the process: SQLite in WAL mode
	// with synchronous=NORMAL syncs at checkpoints, not at every commit, so
	// an operating-system crash or power loss can lose the last commits.
	// PostgreSQL commits as configured (synchronous_commit, on by default).
	DurabilityFast Durability = "fast"
	// DurabilityStrict survives an operating-system crash too: SQLite
	// syncs the WAL at every commit (synchronous=FULL).
	DurabilityStrict Durability = "strict"
)

// ParseDurability reads a durability setting; "" is DurabilityFast.
func ParseDurability(s string) (Durability, error) {
	switch d := Durability(s); d {
	case "", DurabilityFast:
		return DurabilityFast, nil
	case DurabilityStrict:
		return d, nil
	default:
		return "", fmt.Errorf("durability %q: want %q or %q", s, DurabilityFast, DurabilityStrict)
	}
}

// maxIdleConns is how many connections a pool keeps open while idle: about
// the concurrency a loaded service reads with on SQLite, fewer on
// PostgreSQL, whose connections count against the server's
// max_connections (100 by default) across every service and replica.
var maxIdleConns = map[Dialect]int{SQLite: 32, Postgres: 8}

// sqliteBusyTimeoutMS is how long a SQLite connection waits for the write
// lock before returning SQLITE_BUSY; long enough that queued writers in one
// process do not fail under normal load. A variable for tests only.
var sqliteBusyTimeoutMS = 10000

var schemaRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// Open connects to the database named by opts.URL and checks it is reachable.
func Open(ctx context.Context, opts Options) (*DB, error) {
	var (
		db   *DB
		err  error
		pool = opts.Schema
	)
	switch {
	case strings.HasPrefix(opts.URL, "sqlite:"):
		db, err = openSQLite(ctx, strings.TrimPrefix(opts.URL, "sqlite:"), opts.Durability)
		if pool == "" {
			pool = strings.TrimSuffix(filepath.Base(opts.URL), ".db")
		}
	case strings.HasPrefix(opts.URL, "postgres://"), strings.HasPrefix(opts.URL, "postgresql://"):
		db, err = openPostgres(ctx, opts.URL, opts.Schema)
	default:
		return nil, fmt.Errorf("open database: unsupported URL scheme in %q (want sqlite: or postgres://)", redact(opts.URL))
	}
	if err != nil {
		return nil, err
	}
	if db.Stats().MaxOpenConnections != 1 {
		// database/sql keeps 2 idle connections by default: under
		// concurrent requests it opened a connection for nearly every
		// read and closed it after, and a new connection runs its setup
		// (pragmas, or PostgreSQL's start-up) and prepares every statement
		// again — a seventh of the CPU of single tracking calls.
		db.SetMaxIdleConns(maxIdleConns[db.Dialect])
		db.SetConnMaxIdleTime(2 * time.Minute)
	}
	if err := db.observePool(pool); err != nil {
		_ = db.DB.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	return db, nil
}

func openSQLite(ctx context.Context, path string, durability Durability) (*DB, error) {
	memory := path == ":memory:"
	if !memory {
		// sqlite:///abs → /abs; sqlite://rel → rel (a "host" makes no sense here).
		if strings.HasPrefix(path, "//") {
			path = path[2:]
		}
		if path == "" || strings.ContainsAny(path, "?#") {
			return nil, fmt.Errorf("open sqlite: invalid path %q", path)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("open sqlite: create directory: %w", err)
		}
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeoutMS))
	q.Add("_pragma", "foreign_keys(1)")
	// A multi-row INSERT keeps a statement journal so it can undo itself
	// alone; past 64 KiB SQLite spills it to a temporary file, and those
	// writes were most of the group writer's system calls.
	q.Add("_pragma", "temp_store(MEMORY)")
	if !memory {
		q.Add("_pragma", "journal_mode(WAL)")
		// WAL makes NORMAL durable across application crashes; only an OS
		// crash can lose the last transactions, which is fine for the
		// one-machine default. FULL syncs the WAL at every commit.
		if durability == DurabilityStrict {
			q.Add("_pragma", "synchronous(FULL)")
		} else {
			q.Add("_pragma", "synchronous(NORMAL)")
		}
		// Checkpoints run in the background (checkpointLoop); a writer
		// checkpoints itself only if they fall this far behind.
		q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", walAutocheckpointPages))
	}
	// Writers take the lock at BEGIN so concurrent writers queue on
	// busy_timeout instead of failing when a read lock must be upgraded.
	q.Set("_txlock", "immediate")
	dsn := "file:" + path + "?" + q.Encode()
	sqlDB, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	if memory {
		// Every connection to :memory: is a different database.
		sqlDB.SetMaxOpenConns(1)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("open sqlite %q: %w", path, err)
	}
	db := &DB{DB: sqlDB, Dialect: SQLite, writer: &sync.Mutex{}, oneWriter: !memory}
	if !memory {
		db.startCheckpoints(checkpointEvery)
	}
	return db, nil
}

// postgresRandomPageCost is the random_page_cost of every pooled
// connection unless the URL sets one (…?random_page_cost=4). PostgreSQL's
// default, 4, prices a page read out of key order as a disk seek; the
// stores' working sets are in memory, and with that price the planner
// read a batch's rows by scanning the whole table (a workspace's
// identities, or events for the duplicate check: every row compared with
// the batch's keys) rather than seeking each key, until the table was
// large: about 8 % of the server's time under the suite's live load
// (docs/BENCHMARKS.md, helper branch pg-live). 1.1 is the usual setting
// for SSDs and cached data.
const postgresRandomPageCost = "1.1"

func openPostgres(ctx context.Context, rawURL, schema string) (*DB, error) {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("open postgres: parse URL: %w", err)
	}
	if schema != "" {
		if !schemaRE.MatchString(schema) {
			return nil, fmt.Errorf("open postgres: invalid schema name %q", schema)
		}
		// Create the schema on a one-off connection before the pool sets
		// search_path to it.
		conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		_, err = conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize())
		closeErr := conn.Close(ctx)
		if err != nil {
			return nil, fmt.Errorf("open postgres: create schema %q: %w", schema, err)
		}
		if closeErr != nil {
			return nil, fmt.Errorf("open postgres: close setup connection: %w", closeErr)
		}
		cfg.RuntimeParams["search_path"] = schema
	}
	if _, ok := cfg.RuntimeParams["random_page_cost"]; !ok {
		cfg.RuntimeParams["random_page_cost"] = postgresRandomPageCost
	}
	sqlDB := stdlib.OpenDB(*cfg)
	if err := sqlDB.PingContext(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	return &DB{DB: sqlDB, Dialect: Postgres}, nil
}

// redact hides a password in a URL so errors can be logged safely.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparseable URL>"
	}
	return u.Redacted()
}

// errorsAs is errors.As with a type parameter, to keep the classifiers short.
func errorsAs[T error](err error) (T, bool) {
	var target T
	ok := errors.As(err, &target)
	return target, ok
}
