package sqldb_test

import (
	"context"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

func TestAnalyzer(t *testing.T) {
	if a := sqldb.NewAnalyzer(sqldbtest.SQLite(t), "t"); a != nil {
		t.Fatal("SQLite needs no analyzer")
	}
	db := sqldbtest.Postgres(t)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE grows (id BIGINT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	a := sqldb.NewAnalyzer(db, "grows")
	a.MinRows = 1000
	reltuples := func() float64 {
		var n float64
		if err := db.QueryRowContext(ctx, `SELECT reltuples FROM pg_class WHERE oid = 'grows'::regclass`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	insert := func(from, to int) {
		if _, err := db.ExecContext(ctx, `INSERT INTO grows SELECT generate_series($1::BIGINT, $2::BIGINT)`, from, to-1); err != nil {
			t.Fatal(err)
		}
		a.Wrote(to - from)
	}
	waitRuns := func(want int) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			n, err := a.Runs()
			if err != nil {
				t.Fatal(err)
			}
			if n == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("runs = %d, want %d", n, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	// After each insert: the runs that must have finished, and the row
	// count the planner must know then (0: not checked).
	steps := []struct {
		from, to, runs int
		tuples         float64
	}{
		{0, 999, 0, 0},        // under MinRows
		{999, 1500, 1, 1500},  // 1,500 rows: the first run
		{1500, 2500, 1, 0},    // 1,000 more: under the 1,500 the last run saw
		{2500, 3000, 2, 3000}, // 1,500 since: the second run
	}
	for _, st := range steps {
		insert(st.from, st.to)
		if st.tuples == 0 {
			time.Sleep(50 * time.Millisecond)
			if n, _ := a.Runs(); n != st.runs {
				t.Fatalf("after row %d: runs = %d, want %d", st.to, n, st.runs)
			}
			continue
		}
		waitRuns(st.runs)
		if got := reltuples(); got != st.tuples {
			t.Fatalf("after row %d: reltuples = %v, want %v", st.to, got, st.tuples)
		}
	}
}

// TestAnalyzerSkipsKnownTables checks that a run analyzes only the tables
// whose statistics count fewer rows than were written: an old table
// analyzed at 10,000 rows is left alone after 1,000 more, a young one in
// the same Analyzer is analyzed.
func TestAnalyzerSkipsKnownTables(t *testing.T) {
	db := sqldbtest.Postgres(t)
	ctx := context.Background()
	for _, q := range []string{
		`CREATE TABLE old (id BIGINT PRIMARY KEY) WITH (autovacuum_enabled = off)`,
		`CREATE TABLE young (id BIGINT PRIMARY KEY) WITH (autovacuum_enabled = off)`,
		`INSERT INTO old SELECT generate_series(1, 10000)`,
		`ANALYZE old`,
		`INSERT INTO old SELECT generate_series(10001, 10500)`,
		`INSERT INTO young SELECT generate_series(1, 500)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	a := sqldb.NewAnalyzer(db, "old", "young")
	a.MinRows = 1000
	a.Wrote(1000)
	deadline := time.Now().Add(10 * time.Second)
	for n, err := a.Runs(); n != 1; n, err = a.Runs() {
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("no run 10 s after 1,000 rows were written")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := a.Runs(); err != nil {
		t.Fatal(err)
	}
	for table, want := range map[string]float64{"old": 10000, "young": 500} {
		var got float64
		if err := db.QueryRowContext(ctx, `SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)`, table).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("reltuples of %s = %v, want %v", table, got, want)
		}
	}
}
