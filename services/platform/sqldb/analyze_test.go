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

	insert(0, 999)
	time.Sleep(50 * time.Millisecond)
	if n, _ := a.Runs(); n != 0 {
		t.Fatalf("%d runs below MinRows", n)
	}
	insert(999, 1500) // 1,500 rows: the first run
	waitRuns(1)
	if got := reltuples(); got != 1500 {
		t.Fatalf("reltuples = %v after the first run, want 1500", got)
	}
	insert(1500, 2500) // 1,000 more: under the 1,500 the last run saw
	time.Sleep(50 * time.Millisecond)
	if n, _ := a.Runs(); n != 1 {
		t.Fatalf("runs = %d before the table doubled", n)
	}
	insert(2500, 3000) // 1,500 since: the second run
	waitRuns(2)
	if got := reltuples(); got != 3000 {
		t.Fatalf("reltuples = %v after the second run, want 3000", got)
	}
}
