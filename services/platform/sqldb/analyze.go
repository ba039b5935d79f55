package sqldb

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Analyzer keeps PostgreSQL's planner statistics of fast-growing tables
// current while they are young. A table created empty keeps the planner's
// empty-table guesses until autovacuum first analyzes it (up to a minute
// later, and longer under load): meanwhile a look-up of a batch of keys by
// primary key can be planned as a scan of the whole workspace, which makes
// each batch slower than the last. Analyzer runs ANALYZE on the tables,
// in the background, whenever the rows written since the last run reach
// the count the last run saw (at least MinRows): a few runs while a table
// grows from nothing, then as rarely as autovacuum would. A run analyzes
// only the tables whose statistics count fewer rows than this Analyzer
// has seen written: a process started on old, large tables (a restart, a
// seeded benchmark) would otherwise analyze each of them again after its
// first few thousand rows, at up to 0.4 s of server CPU a run (a quarter
// of segmentation's server time in BenchmarkSegmentation's LiveBatch; see
// docs/BENCHMARKS.md, helper branch pg-live). Statistics counting at
// least as many rows as were written since are off by at most half.
// SQLite needs none of it.
type Analyzer struct {
	db     *DB
	tables []string
	// MinRows is the fewest new rows that start a run.
	MinRows int64

	mu       sync.Mutex
	pending  int64 // rows written since the last run started
	base     int64 // rows the last run saw
	running  bool
	lastErr  error
	finished int // runs done, for tests
}

// NewAnalyzer returns an Analyzer of tables in db (nil on SQLite: its
// methods are then no-ops).
func NewAnalyzer(db *DB, tables ...string) *Analyzer {
	if db.Dialect != Postgres {
		return nil
	}
	return &Analyzer{db: db, tables: tables, MinRows: 5000}
}

// Wrote counts n new rows and starts a run when they are enough.
func (a *Analyzer) Wrote(n int) {
	if a == nil || n <= 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pending += int64(n)
	if a.running || a.pending < max(a.MinRows, a.base) {
		return
	}
	a.running = true
	a.base += a.pending
	a.pending = 0
	go a.run(a.base)
}

// run analyzes the tables whose statistics count fewer rows than written,
// the rows this Analyzer was told of.
func (a *Analyzer) run(written int64) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Errors (a pool closed by shutdown, a schema dropped by a test) only
	// mean the statistics wait for autovacuum.
	stale, err := a.stale(ctx, written)
	if err == nil && len(stale) > 0 {
		_, err = a.db.ExecContext(ctx, "ANALYZE "+strings.Join(stale, ", "))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.running, a.lastErr = false, err
	a.finished++
}

// stale returns the tables whose planner statistics count fewer rows
// than written (pg_class.reltuples: -1 for a table never analyzed), or
// that do not exist.
func (a *Analyzer) stale(ctx context.Context, written int64) ([]string, error) {
	var stale []string
	for _, table := range a.tables {
		var tuples float64
		err := a.db.QueryRowContext(ctx, `SELECT COALESCE((SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)), -1)`, table).Scan(&tuples)
		if err != nil {
			return nil, fmt.Errorf("statistics of %s: %w", table, err)
		}
		if tuples < float64(written) {
			stale = append(stale, table)
		}
	}
	return stale, nil
}

// runs reports how many runs finished and the last one's error.
func (a *Analyzer) runs() (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.finished, a.lastErr
}
