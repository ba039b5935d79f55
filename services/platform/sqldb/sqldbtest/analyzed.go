package sqldbtest

import (
	"context"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// NoAutovacuum turns autovacuum off on the PostgreSQL tables, so that
// only the code under test analyzes them.
func NoAutovacuum(t testing.TB, db *sqldb.DB, tables ...string) {
	t.Helper()
	for _, table := range tables {
		if _, err := db.ExecContext(context.Background(), `ALTER TABLE `+table+` SET (autovacuum_enabled = off)`); err != nil {
			t.Fatalf("autovacuum off on %s: %v", table, err)
		}
	}
}

// Analyzed reports whether the PostgreSQL table of the current schema has
// planner statistics: a table never analyzed has reltuples -1. Tests of
// sqldb.Analyzer users turn autovacuum off on the table first
// (NoAutovacuum).
func Analyzed(t testing.TB, db *sqldb.DB, table string) bool {
	t.Helper()
	var tuples float64
	if err := db.QueryRowContext(context.Background(), `SELECT reltuples FROM pg_class
WHERE relnamespace = current_schema()::regnamespace AND relname = $1`, table).Scan(&tuples); err != nil {
		t.Fatalf("statistics of %s: %v", table, err)
	}
	return tuples >= 0
}

// AwaitAnalyzed fails the test unless table is analyzed (see Analyzed)
// within 10 s of what was done.
func AwaitAnalyzed(t testing.TB, db *sqldb.DB, table, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !Analyzed(t, db, table) {
		if time.Now().After(deadline) {
			t.Fatalf("%s not analyzed 10 s after %s", table, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
