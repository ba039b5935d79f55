package sqldb_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/platform/testenv"
)

func TestOpenRejectsBadURLs(t *testing.T) {
	tests := []struct {
		name    string
		opts    sqldb.Options
		wantErr string
	}{
		{name: "unknown scheme", opts: sqldb.Options{URL: "mysql://x"}, wantErr: "unsupported URL scheme"},
		{name: "empty", opts: sqldb.Options{}, wantErr: "unsupported URL scheme"},
		{name: "sqlite without path", opts: sqldb.Options{URL: "sqlite://"}, wantErr: "invalid path"},
		{name: "sqlite with query", opts: sqldb.Options{URL: "sqlite:///tmp/x.db?mode=ro"}, wantErr: "invalid path"},
		// Rejected before any connection, so the unreachable server is
		// never the reason.
		{name: "bad schema", opts: sqldb.Options{URL: "postgres://127.0.0.1:1/x", Schema: "a;drop"}, wantErr: `invalid schema name "a;drop"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := sqldb.Open(context.Background(), tt.opts)
			if err == nil {
				db.Close()
				t.Fatalf("Open(%+v) succeeded, want error", tt.opts)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Open(%+v) error = %q, want it to contain %q", tt.opts, err, tt.wantErr)
			}
		})
	}
}

func TestOpenSQLiteForms(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		url  string
	}{
		{name: "absolute with nested dir", url: "sqlite://" + filepath.Join(dir, "a", "b", "x.db")},
		{name: "single slash form", url: "sqlite:" + filepath.Join(dir, "y.db")},
		{name: "memory", url: "sqlite::memory:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			db, err := sqldb.Open(ctx, sqldb.Options{URL: tt.url})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if db.Dialect != sqldb.SQLite {
				t.Errorf("Dialect = %v, want sqlite", db.Dialect)
			}
			var fk int
			if err := db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
				t.Errorf("foreign_keys = %d, %v; want 1", fk, err)
			}
		})
	}
}

func TestSQLitePragmas(t *testing.T) {
	db := sqldbtest.SQLite(t)
	ctx := context.Background()
	tests := []struct {
		pragma string
		want   string
	}{
		{pragma: "journal_mode", want: "wal"},
		{pragma: "foreign_keys", want: "1"},
		{pragma: "busy_timeout", want: "10000"},
		{pragma: "temp_store", want: "2"}, // MEMORY
		{pragma: "wal_autocheckpoint", want: "16384"},
	}
	for _, tt := range tests {
		t.Run(tt.pragma, func(t *testing.T) {
			var got string
			if err := db.QueryRowContext(ctx, "PRAGMA "+tt.pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("PRAGMA %s = %q, want %q", tt.pragma, got, tt.want)
			}
		})
	}
}

// TestPostgresRandomPageCost checks the planner's price of a page read
// out of order on every pooled connection: the stores' default, or the
// URL's.
func TestPostgresRandomPageCost(t *testing.T) {
	base := testenv.URL(t, sqldbtest.PostgresURLVar)
	tests := []struct {
		name, param, want string
	}{
		{name: "default", want: "1.1"},
		{name: "from the URL", param: "3", want: "3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(base)
			if err != nil {
				t.Fatal(err)
			}
			if tt.param != "" {
				q := u.Query()
				q.Set("random_page_cost", tt.param)
				u.RawQuery = q.Encode()
			}
			if got := openedSetting(t, sqldb.Options{URL: u.String()}, "SHOW random_page_cost"); got != tt.want {
				t.Errorf("random_page_cost = %q, want %q", got, tt.want)
			}
		})
	}
}

// openedSetting opens a database with opts and returns what query (a
// SHOW or PRAGMA) answers on it.
func openedSetting(t *testing.T, opts sqldb.Options, query string) string {
	t.Helper()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got string
	if err := db.QueryRowContext(ctx, query).Scan(&got); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestPlaceholders(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		mustExec(t, db, `CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL, n BIGINT NOT NULL)`)
		tests := []struct {
			name  string
			query string
			args  []any
			want  string
		}{
			{name: "in order", query: `INSERT INTO kv (k, v, n) VALUES ($1, $2, $3)`, args: []any{"a", "x", int64(1)}, want: "x"},
			{name: "out of order", query: `INSERT INTO kv (v, k, n) VALUES ($2, $1, $3)`, args: []any{"b", "y", int64(2)}, want: "y"},
			{name: "reused", query: `INSERT INTO kv (k, v, n) VALUES ($1, $1 || $2, $3)`, args: []any{"c", "z", int64(3)}, want: "cz"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if _, err := db.ExecContext(ctx, tt.query, tt.args...); err != nil {
					t.Fatal(err)
				}
				var got string
				if err := db.QueryRowContext(ctx, `SELECT v FROM kv WHERE k = $1`, tt.args[0]).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != tt.want {
					t.Errorf("v = %q, want %q", got, tt.want)
				}
			})
		}
	})
}

func TestErrorClassifiers(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		mustExec(t, db, `CREATE TABLE parent (id TEXT PRIMARY KEY, email TEXT UNIQUE)`)
		mustExec(t, db, `CREATE TABLE child (id TEXT PRIMARY KEY, parent_id TEXT NOT NULL REFERENCES parent(id))`)
		mustExec(t, db, `INSERT INTO parent (id, email) VALUES ('p1', 'a@example.com')`)
		tests := []struct {
			name       string
			query      string
			wantUnique bool
		}{
			{name: "duplicate primary key", query: `INSERT INTO parent (id) VALUES ('p1')`, wantUnique: true},
			{name: "duplicate unique column", query: `INSERT INTO parent (id, email) VALUES ('p2', 'a@example.com')`, wantUnique: true},
			{name: "missing foreign key", query: `INSERT INTO child (id, parent_id) VALUES ('c1', 'nope')`},
			{name: "syntax error", query: `INSERT INTO nowhere VALUES (1)`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := db.ExecContext(ctx, tt.query)
				if err == nil {
					t.Fatal("want error")
				}
				wrapped := fmt.Errorf("store: %w", err)
				if got := sqldb.IsUniqueViolation(wrapped); got != tt.wantUnique {
					t.Errorf("IsUniqueViolation(%v) = %v, want %v", err, got, tt.wantUnique)
				}
				if sqldb.IsRetryable(wrapped) {
					t.Errorf("IsRetryable(%v) = true", err)
				}
			})
		}
	})
}

func TestInTx(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		mustExec(t, db, `CREATE TABLE counter (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)`)
		mustExec(t, db, `INSERT INTO counter (id, n) VALUES (1, 0)`)
		errBoom := errors.New("boom")
		tests := []struct {
			name    string
			fn      func(tx *sqldb.Tx) error
			wantErr error
			wantN   int64
		}{
			{
				name:  "commit",
				fn:    func(tx *sqldb.Tx) error { return incr(ctx, tx) },
				wantN: 1,
			},
			{
				name: "rollback on error",
				fn: func(tx *sqldb.Tx) error {
					if err := incr(ctx, tx); err != nil {
						return err
					}
					return errBoom
				},
				wantErr: errBoom,
				wantN:   1,
			},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if err := db.InTx(ctx, tt.fn); !errors.Is(err, tt.wantErr) {
					t.Fatalf("InTx = %v, want %v", err, tt.wantErr)
				}
				if got := readCounter(t, db); got != tt.wantN {
					t.Errorf("n = %d, want %d", got, tt.wantN)
				}
			})
		}
	})
}

// TestInTxConcurrentWriters checks that concurrent read-modify-write
// transactions neither fail nor lose updates: SQLite queues them on the
// IMMEDIATE lock; on PostgreSQL, SERIALIZABLE isolation makes conflicting
// transactions fail with 40001, which InTx retries.
func TestInTxConcurrentWriters(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		mustExec(t, db, `CREATE TABLE counter (id INTEGER PRIMARY KEY, n BIGINT NOT NULL)`)
		mustExec(t, db, `INSERT INTO counter (id, n) VALUES (1, 0)`)
		const writers, each = 4, 10
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for range writers {
			wg.Go(func() {
				for range each {
					errs <- db.InTx(ctx, func(tx *sqldb.Tx) error {
						if tx.Dialect == sqldb.Postgres {
							if _, err := tx.ExecContext(ctx, `SET TRANSACTION ISOLATION LEVEL SERIALIZABLE`); err != nil {
								return err
							}
						}
						return incr(ctx, tx)
					})
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := readCounter(t, db); got != writers*each {
			t.Errorf("n = %d, want %d", got, writers*each)
		}
	})
}

func TestMigrate(t *testing.T) {
	migrations := fstest.MapFS{
		"0001_init.sql":             {Data: []byte(`CREATE TABLE a (id TEXT PRIMARY KEY); CREATE TABLE b (id TEXT PRIMARY KEY);`)},
		"0002_dialect.sqlite.sql":   {Data: []byte(`CREATE TABLE c (id INTEGER PRIMARY KEY AUTOINCREMENT, d TEXT NOT NULL DEFAULT 'sqlite');`)},
		"0002_dialect.postgres.sql": {Data: []byte(`CREATE TABLE c (id BIGSERIAL PRIMARY KEY, d TEXT NOT NULL DEFAULT 'postgres');`)},
		"0002_dialect.sql":          {Data: []byte(`this generic file is shadowed on both dialects`)},
		"0010_later.sql":            {Data: []byte(`INSERT INTO a (id) VALUES ('seed');`)},
	}
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		for run := range 2 { // the second run must be a no-op
			if err := sqldb.Migrate(ctx, db, migrations); err != nil {
				t.Fatalf("run %d: %v", run, err)
			}
		}
		// Nor does it read the files of applied migrations.
		if err := sqldb.Migrate(ctx, db, unreadable{migrations}); err != nil {
			t.Fatalf("run with unreadable files: %v", err)
		}
		mustExec(t, db, `INSERT INTO c DEFAULT VALUES`)
		var d string
		if err := db.QueryRowContext(ctx, `SELECT d FROM c`).Scan(&d); err != nil || d != db.Dialect.String() {
			t.Errorf("dialect file: d = %q, %v; want %q", d, err, db.Dialect)
		}
		var seeds int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM a`).Scan(&seeds); err != nil || seeds != 1 {
			t.Errorf("seed rows = %d, %v; want 1", seeds, err)
		}
		rows, err := db.QueryContext(ctx, `SELECT version, name FROM schema_migrations ORDER BY version`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []string
		for rows.Next() {
			var v int64
			var name string
			if err := rows.Scan(&v, &name); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%d_%s", v, name))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if want := "[1_init 2_dialect 10_later]"; fmt.Sprint(got) != want {
			t.Errorf("schema_migrations = %v, want %s", got, want)
		}
	})
}

func TestMigrateConcurrent(t *testing.T) {
	migrations := fstest.MapFS{
		"0001_init.sql": {Data: []byte(`CREATE TABLE a (id TEXT PRIMARY KEY);`)},
		"0002_seed.sql": {Data: []byte(`INSERT INTO a (id) VALUES ('x');`)},
	}
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() { errs <- sqldb.Migrate(ctx, db, migrations) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestMigrateRejectsBadSets(t *testing.T) {
	tests := []struct {
		name string
		fs   fstest.MapFS
	}{
		{name: "bad file name", fs: fstest.MapFS{"init.sql": {Data: []byte(`SELECT 1`)}}},
		{name: "unknown dialect", fs: fstest.MapFS{"0001_a.mysql.sql": {Data: []byte(`SELECT 1`)}}},
		{name: "one version two names", fs: fstest.MapFS{"0001_a.sql": {}, "0001_b.sql": {}}},
		{name: "no file for this dialect", fs: fstest.MapFS{"0001_a.postgres.sql": {Data: []byte(`SELECT 1`)}}},
		{name: "failing SQL", fs: fstest.MapFS{"0001_a.sql": {Data: []byte(`CREATE TABLE (`)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := sqldbtest.SQLite(t)
			if err := sqldb.Migrate(context.Background(), db, tt.fs); err == nil {
				t.Fatal("Migrate succeeded, want error")
			}
		})
	}
}

// unreadable lists its files but fails to read any of them.
type unreadable struct{ fstest.MapFS }

func (u unreadable) Open(name string) (fs.File, error) {
	if name == "." {
		return u.MapFS.Open(name)
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
}

func (u unreadable) ReadFile(name string) ([]byte, error) {
	return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrPermission}
}

func mustExec(t *testing.T, db *sqldb.DB, query string) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), query); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

func incr(ctx context.Context, tx *sqldb.Tx) error {
	var n int64
	if err := tx.QueryRowContext(ctx, `SELECT n FROM counter WHERE id = 1`).Scan(&n); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE counter SET n = $1 WHERE id = 1`, n+1)
	return err
}

func readCounter(t *testing.T, db *sqldb.DB) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRowContext(context.Background(), `SELECT n FROM counter WHERE id = 1`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSQLiteDurability checks that each durability setting opens SQLite
// with its synchronous mode (1 NORMAL, 2 FULL).
func TestSQLiteDurability(t *testing.T) {
	tests := []struct {
		setting string
		want    string
	}{
		{setting: "", want: "1"},
		{setting: "fast", want: "1"},
		{setting: "strict", want: "2"},
	}
	for _, tt := range tests {
		t.Run("durability "+tt.setting, func(t *testing.T) {
			d, err := sqldb.ParseDurability(tt.setting)
			if err != nil {
				t.Fatal(err)
			}
			opts := sqldb.Options{URL: "sqlite://" + filepath.Join(t.TempDir(), "d.db"), Durability: d}
			if got := openedSetting(t, opts, "PRAGMA synchronous"); got != tt.want {
				t.Errorf("PRAGMA synchronous = %s, want %s", got, tt.want)
			}
		})
	}
	if _, err := sqldb.ParseDurability("paranoid"); err == nil {
		t.Error(`ParseDurability("paranoid") succeeded, want an error`)
	}
}

// TestPreparedInTx: a statement prepared through the cache works in
// transactions after the first, and on a one-connection database (where
// preparing on the pool inside a transaction would wait forever).
func TestPreparedInTx(t *testing.T) {
	for _, path := range []string{":memory:", filepath.Join(t.TempDir(), "p.db")} {
		db, err := sqldb.Open(context.Background(), sqldb.Options{URL: "sqlite:" + path})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(`CREATE TABLE t (v INTEGER)`); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			err := db.InTx(context.Background(), func(tx *sqldb.Tx) error {
				st, err := tx.Prepared(context.Background(), `INSERT INTO t (v) VALUES ($1)`)
				if err != nil {
					return err
				}
				_, err = st.Exec(i)
				return err
			})
			if err != nil {
				t.Fatalf("%s: insert %d: %v", path, i, err)
			}
		}
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM t`).Scan(&n); err != nil || n != 3 {
			t.Errorf("%s: %d rows, %v; want 3", path, n, err)
		}
	}
}

// TestSQLiteWritesOnOneConnection: every write transaction on a SQLite
// file runs on the one connection held for writes, whose page cache then
// survives from one transaction to the next.
func TestSQLiteWritesOnOneConnection(t *testing.T) {
	ctx := context.Background()
	db, err := sqldb.Open(ctx, sqldb.Options{URL: "sqlite://" + filepath.Join(t.TempDir(), "w.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var conns []int64
	for range 3 {
		// Hold the pool's idle connection, as a concurrent read would:
		// a transaction from the pool would get another one.
		held, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer held.Close()
		err = db.InTx(ctx, func(tx *sqldb.Tx) error {
			var id int64
			// A temporary table lives on one connection only.
			if _, err := tx.ExecContext(ctx, "CREATE TEMP TABLE IF NOT EXISTS conn_mark (id INTEGER)"); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "INSERT INTO conn_mark VALUES (1)"); err != nil {
				return err
			}
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM conn_mark").Scan(&id); err != nil {
				return err
			}
			conns = append(conns, id)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(conns, []int64{1, 2, 3}) {
		t.Errorf("rows of the connection's temporary table after each transaction: %v, want 1 2 3 (one connection)", conns)
	}
}

// TestSQLiteCheckpointsInTheBackground: the log is copied into the
// database file by the background checkpoints, not by a writer: 2 MiB of
// rows, well under the writers' 64 MiB backstop, reach the file within a
// few seconds with no further write.
func TestSQLiteCheckpointsInTheBackground(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	db, err := sqldb.Open(ctx, sqldb.Options{URL: "sqlite://" + path})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.InTx(ctx, func(tx *sqldb.Tx) error {
		if _, err := tx.ExecContext(ctx, "CREATE TABLE rows (v TEXT)"); err != nil {
			return err
		}
		for range 2048 {
			if _, err := tx.ExecContext(ctx, "INSERT INTO rows VALUES (?)", strings.Repeat("x", 1024)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() >= 2<<20 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the database file holds %d bytes 5 s after 2 MiB were written: not checkpointed", fi.Size())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
