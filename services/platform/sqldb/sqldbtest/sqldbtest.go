// Package sqldbtest gives tests a fresh, isolated sqldb.DB on each backend,
// so one store conformance suite runs against SQLite always and PostgreSQL
// when KIZUNA_TEST_POSTGRES_URL is set.
package sqldbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/testenv"
)

// PostgresURLVar names the environment variable holding the PostgreSQL URL
// for tests; tests skip without it unless KIZUNA_REQUIRE_EXTERNAL=1.
const PostgresURLVar = "KIZUNA_TEST_POSTGRES_URL"

// SQLite returns a DB on a new file in t.TempDir (a file, not :memory:, so
// the pool's connections share one database), closed on cleanup.
func SQLite(t testing.TB) *sqldb.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.db")
	return open(t, sqldb.Options{URL: "sqlite://" + path})
}

// Postgres returns a DB whose search_path is a new, uniquely named schema in
// the database at KIZUNA_TEST_POSTGRES_URL; the schema is dropped with
// CASCADE on cleanup. It skips (or fails, see testenv) without the URL.
func Postgres(t testing.TB) *sqldb.DB {
	t.Helper()
	url := testenv.URL(t, PostgresURLVar)
	schema := "kizuna_test_" + randomHex(t, 8)
	t.Cleanup(func() { dropSchema(t, url, schema) })
	return open(t, sqldb.Options{URL: url, Schema: schema})
}

// ForEachBackend runs fn as subtests "sqlite" and "postgres", each with a
// fresh DB. Store conformance suites call it in one line.
func ForEachBackend(t *testing.T, fn func(t *testing.T, db *sqldb.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}

// ForEachBackendB is ForEachBackend for benchmarks.
func ForEachBackendB(b *testing.B, fn func(b *testing.B, db *sqldb.DB)) {
	b.Helper()
	b.Run("sqlite", func(b *testing.B) { fn(b, SQLite(b)) })
	b.Run("postgres", func(b *testing.B) { fn(b, Postgres(b)) })
}

func open(t testing.TB, opts sqldb.Options) *sqldb.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sqldb.Open(ctx, opts)
	if err != nil {
		t.Fatalf("sqldbtest: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("sqldbtest: close: %v", err)
		}
	})
	return db
}

func dropSchema(t testing.TB, url, schema string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Errorf("sqldbtest: drop schema %s: %v", schema, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
		t.Errorf("sqldbtest: drop schema %s: %v", schema, err)
	}
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("sqldbtest: random: %v", err)
	}
	return hex.EncodeToString(b)
}
