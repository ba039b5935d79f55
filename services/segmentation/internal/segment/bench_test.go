package segment_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
	"github.com/kizuna/kizuna/services/segmentation/internal/store"
)

// benchCustomers is the scale of the segmentation benchmarks:
// KIZUNA_BENCH_CUSTOMERS customers (100,000 by default) with 20 events
// each, a fifth of them orders.
func benchCustomers() int {
	if n, err := strconv.Atoi(os.Getenv("KIZUNA_BENCH_CUSTOMERS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

const benchEventsPerCustomer = 20

// benchRules is a realistic mix of 20 segments: nested rules, event
// windows with property filters and aggregates, RFM and lifecycle.
var benchRules = []string{
	`{"all":[{"event":{"event":"Order Completed","min_count":1}},{"not":{"event":{"event":"Order Completed","min_count":1,"within_days":90}}}]}`,
	`{"event":{"event":"Order Completed","min_count":1,"within_days":30,"where":[{"property":"category","op":"EQUALS","value":"A"}]}}`,
	`{"event":{"event":"Order Completed","min_count":1,"within_days":90,"where":[{"property":"properties.products[].sku","op":"IN","values":["SKU-1","SKU-2"]}]}}`,
	`{"any":[{"trait":{"key":"plan","op":"IN","values":["pro","team"]}},{"trait":{"key":"age","op":"GTE","value":"40"}}]}`,
	`{"rfm":{"recency":{"max":2},"frequency":{"min":4}}}`,
	`{"lifecycle":{"stages":["dormant"]}}`,
	`{"lifecycle":{"stages":["f2"]}}`,
	`{"event":{"event":"Order Completed","min_count":1,"within_days":365,"aggregate":{"property":"revenue","fn":"SUM","op":"GTE","value":"20000"}}}`,
	`{"all":[{"trait":{"key":"city","op":"EQUALS","value":"東京都"}},{"event":{"event":"Viewed Product","min_count":3,"within_days":14}}]}`,
	`{"all":[{"event":{"event":"Viewed Product","min_count":5,"within_days":30,"where":[{"property":"category","op":"EQUALS","value":"B"}]}},{"event":{"event":"Order Completed","min_count":0,"max_count":0,"within_days":30}}]}`,
	`{"any":[{"rfm":{"recency":{"min":4},"frequency":{"min":4}}},{"lifecycle":{"stages":["loyal"]}}]}`,
	`{"not":{"any":[{"trait":{"key":"plan","op":"EXISTS"}},{"event":{"event":"Order Completed","min_count":1}}]}}`,
	`{"event":{"event":"Viewed Product","min_count":10,"within_days":60}}`,
	`{"all":[{"rfm":{"monetary":{"min":4}}},{"not":{"event":{"event":"Order Completed","min_count":1,"within_days":60}}}]}`,
	`{"trait":{"key":"city","op":"STARTS_WITH","value":"大阪"}}`,
	`{"event":{"event":"Order Completed","min_count":2,"within_days":180,"where":[{"property":"revenue","op":"GT","value":"5000"}]}}`,
	`{"all":[{"lifecycle":{"stages":["new","f2"]}},{"event":{"event":"Viewed Product","min_count":1,"within_days":7,"where":[{"property":"category","op":"IN","values":["A","C"]}]}}]}`,
	`{"any":[{"all":[{"trait":{"key":"age","op":"BETWEEN","values":["20","29"]}},{"event":{"event":"Viewed Product","min_count":1,"within_days":30}}]},{"rfm":{"recency":{"min":5}}}]}`,
	`{"event":{"event":"Order Completed","min_count":1,"within_days":90,"aggregate":{"property":"revenue","fn":"AVG","op":"GTE","value":"8000"}}}`,
	`{"all":[{"lifecycle":{"stages":["churned","dormant"]}},{"rfm":{"frequency":{"min":3}}}]}`,
}

type benchEnv struct {
	engine *segment.Engine
	db     *sqldb.DB
	clock  *clock
	ws     string
}

// benchSetup seeds a workspace with the
// benchmark's customers, events and orders by bulk SQL, and creates the 20
// segments.
func benchSetup(b *testing.B, backend string) *benchEnv {
	var db *sqldb.DB
	if backend == "sqlite" {
		db = sqldbtest.SQLite(b)
	} else {
		db = sqldbtest.Postgres(b)
	}
	ctx := context.Background()
	st, err := store.New(ctx, db)
	if err != nil {
		b.Fatal(err)
	}
	n := benchCustomers()
	started := time.Now()
	seed(b, db, "bench", n)
	b.Logf("%s: seeded %d customers, %d events in %v", backend, n, n*benchEventsPerCustomer, time.Since(started).Round(time.Second))
	env := &benchEnv{db: db, clock: &clock{t: t0}, ws: "bench"}
	if env.engine, err = segment.NewEngine(segment.Config{Store: st, Now: env.clock.Now}); err != nil {
		b.Fatal(err)
	}
	// The 20 segments are stored without their backfill, and one
	// recompute (creating and filling the built-ins too) runs before any
	// timing, so that what is measured is a recompute of existing
	// memberships.
	for i, r := range benchRules {
		var rule segment.Rule
		if err := json.Unmarshal([]byte(r), &rule); err != nil {
			b.Fatalf("rule %d: %v", i, err)
		}
		id, err := segment.NewID()
		if err != nil {
			b.Fatal(err)
		}
		if err := st.CreateSegment(ctx, segment.Segment{WorkspaceID: env.ws, ID: id, DisplayName: fmt.Sprint("bench ", i), Rule: rule, CreateTime: t0}); err != nil {
			b.Fatalf("rule %d: %v", i, err)
		}
	}
	if err := env.engine.Recompute(ctx, env.ws); err != nil {
		b.Fatal(err)
	}
	b.Logf("%s: seeded and computed 20 segments and the built-ins in %v", backend, time.Since(started).Round(time.Second))
	logMembers(b, db, env.ws)
	return env
}

// seed bulk-inserts n customers with benchEventsPerCustomer events each,
// 10,000 customers per transaction, through multi-row INSERTs
// (Tx.InsertRows): a statement per row took 35 minutes for a million
// customers on PostgreSQL. A chunk's rows are drawn before its transaction
// so that a retried transaction writes the same ones.
func seed(b *testing.B, db *sqldb.DB, ws string, n int) {
	ctx := context.Background()
	r := rand.New(rand.NewPCG(7, 7))
	plans := []string{`"pro"`, `"team"`, `"free"`, `null`}
	cities := []string{"東京都", "大阪府", "京都府", "東京都 "}
	cats := []string{"A", "B", "C", "Ａ"}
	const chunk = 10_000
	restore := dropIndexes(b, db, "customers", "orders", "behaviours")
	var customers, behaviours, orders [][]any
	for start := 0; start < n; start += chunk {
		customers, behaviours, orders = customers[:0], behaviours[:0], orders[:0]
		for i := start; i < min(n, start+chunk); i++ {
			id := fmt.Sprintf("c%08d", i)
			traits := fmt.Sprintf(`{"plan":%s,"age":%d,"city":%q}`, plans[r.IntN(len(plans))], 18+r.IntN(60), cities[r.IntN(len(cities))])
			customers = append(customers, []any{ws, id, traits, "{}", micros(t0.Add(-400 * day)), micros(t0), benchEventsPerCustomer})
			for j := range benchEventsPerCustomer {
				at := micros(t0.Add(-time.Duration(r.IntN(400*24)) * time.Hour))
				evID := fmt.Sprintf("%s-%d", id, j)
				revenue := 1000 * (1 + r.IntN(15))
				props := fmt.Sprintf(`{"category":%q,"revenue":%d,"products":[{"sku":"SKU-%d"}]}`, cats[r.IntN(len(cats))], revenue, r.IntN(50))
				name := "Viewed Product"
				if r.IntN(5) == 0 {
					name = "Order Completed"
					orders = append(orders, []any{ws, evID, id, float64(revenue), at, evID})
				}
				behaviours = append(behaviours, []any{ws, evID, id, name, at, props})
			}
		}
		tables := []benchTable{
			{"customers", []string{"workspace_id", "customer_id", "traits", "trait_times", "first_seen", "last_seen", "event_count"}, customers},
			{"orders", []string{"workspace_id", "order_id", "customer_id", "revenue", "occurred_at", "event_id"}, orders},
			{"behaviours", []string{"workspace_id", "event_id", "customer_id", "name", "occurred_at", "properties"}, behaviours},
		}
		var err error
		if db.Dialect == sqldb.Postgres {
			err = copyRows(ctx, db, tables)
		} else {
			err = insertRows(ctx, db, tables)
		}
		if err != nil {
			b.Fatalf("seed: %v", err)
		}
	}
	restore()
	if _, err := db.ExecContext(ctx, `INSERT INTO orders_versions (workspace_id, version) VALUES ($1, 1)`, ws); err != nil {
		b.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
}

// dropIndexes drops the secondary indexes of tables and returns a function
// that creates them again: building an index once after a bulk load is
// several times faster than keeping it up to date row by row.
func dropIndexes(b *testing.B, db *sqldb.DB, tables ...string) (restore func()) {
	ctx := context.Background()
	query := `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ('` + strings.Join(tables, "', '") + `')`
	if db.Dialect == sqldb.Postgres {
		query = `SELECT i.indexname, i.indexdef FROM pg_indexes i
WHERE i.schemaname = current_schema() AND i.tablename IN ('` + strings.Join(tables, "', '") + `')
AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname AND c.connamespace = current_schema()::regnamespace)`
	}
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		b.Fatal(err)
	}
	var names, defs []string
	for rows.Next() {
		var name, def string
		if err := rows.Scan(&name, &def); err != nil {
			b.Fatal(err)
		}
		names, defs = append(names, name), append(defs, def)
	}
	if err := rows.Close(); err != nil {
		b.Fatal(err)
	}
	for _, name := range names {
		if _, err := db.ExecContext(ctx, `DROP INDEX `+name); err != nil {
			b.Fatal(err)
		}
	}
	return func() {
		for _, def := range defs {
			if _, err := db.ExecContext(ctx, def); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// benchTable is rows to seed into a table.
type benchTable struct {
	name    string
	columns []string
	rows    [][]any
}

// insertRows writes tables in one transaction with multi-row INSERTs.
func insertRows(ctx context.Context, db *sqldb.DB, tables []benchTable) error {
	return db.InTx(ctx, func(tx *sqldb.Tx) error {
		for _, t := range tables {
			head := "INSERT INTO " + t.name + " (" + strings.Join(t.columns, ", ") + ")"
			err := tx.InsertRows(ctx, head, "", len(t.columns), len(t.rows), func(args []any, i int) ([]any, error) {
				return append(args, t.rows[i]...), nil
			})
			if err != nil {
				return fmt.Errorf("insert %s: %w", t.name, err)
			}
		}
		return nil
	})
}

// copyRows writes tables in one transaction with PostgreSQL's COPY,
// through the pgx connection under database/sql: several times faster
// than multi-row INSERTs there.
func copyRows(ctx context.Context, db *sqldb.DB, tables []benchTable) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(driverConn any) error {
		tx, err := driverConn.(*stdlib.Conn).Conn().Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
		for _, t := range tables {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.columns, pgx.CopyFromRows(t.rows)); err != nil {
				return fmt.Errorf("copy %s: %w", t.name, err)
			}
		}
		return tx.Commit(ctx)
	})
}

// logMembers logs the members of each segment, so that runs (and changes
// to seed) can be compared.
func logMembers(b *testing.B, db *sqldb.DB, ws string) {
	rows, err := db.QueryContext(context.Background(), `SELECT s.display_name, COUNT(m.customer_id)
FROM segments s LEFT JOIN memberships m ON m.workspace_id = s.workspace_id AND m.segment_id = s.segment_id
WHERE s.workspace_id = $1 GROUP BY s.display_name ORDER BY s.display_name`, ws)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var counts []string
	for rows.Next() {
		var name string
		var n int
		if err := rows.Scan(&name, &n); err != nil {
			b.Fatal(err)
		}
		counts = append(counts, fmt.Sprintf("%s=%d", name, n))
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	b.Logf("members: %s", strings.Join(counts, ", "))
}

func micros(t time.Time) int64 { return t.UTC().UnixMicro() }

// BenchmarkSegmentation seeds a workspace per backend (outside the
// timings) and measures a full recompute, a preview and the live path on
// it.
func BenchmarkSegmentation(b *testing.B) {
	for _, backend := range []string{"sqlite", "postgres"} {
		b.Run(backend, func(b *testing.B) {
			if backend == "postgres" && os.Getenv(sqldbtest.PostgresURLVar) == "" {
				b.Skip("no " + sqldbtest.PostgresURLVar)
			}
			env := benchSetup(b, backend)
			b.Run("FullRecompute", env.fullRecompute)
			b.Run("ColdRecompute", env.coldRecompute)
			b.Run("Preview", env.preview)
			b.Run("LiveEvent", env.liveEvent)
			b.Run("LiveBatch", env.liveBatch)
		})
	}
}

// fullRecompute re-evaluates every segment of the workspace (the 20 and
// the 18 built-ins) for every customer, as the sweep does in a running
// service (its event cache warm); the clock moves a day per run so that
// memberships change.
func (env *benchEnv) fullRecompute(b *testing.B) {
	ctx := context.Background()
	resetPeakRSS()
	b.StopTimer()
	changes := env.changes(b)
	b.StartTimer()
	stop := startCPUProfile(b, "fullrecompute")
	defer stop()
	for range b.N {
		env.clock.Set(env.clock.Now().Add(day))
		if err := env.engine.Recompute(ctx, env.ws); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(benchCustomers()), "customers")
	b.ReportMetric(float64(env.changes(b)-changes)/float64(b.N), "changes/op")
	reportPeakRSS(b)
}

// changes counts the membership changes recorded in the workspace's
// history.
func (env *benchEnv) changes(b *testing.B) int64 {
	var n int64
	if err := env.db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM membership_history WHERE workspace_id = $1`, env.ws).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

// coldRecompute is fullRecompute as the first bulk evaluation after a
// start: it reads every event into the event cache first, and every
// membership from the database (building the membership cache).
func (env *benchEnv) coldRecompute(b *testing.B) {
	ctx := context.Background()
	resetPeakRSS()
	stop := startCPUProfile(b, "coldrecompute")
	defer stop()
	for range b.N {
		b.StopTimer()
		env.engine.DropCaches()
		env.clock.Set(env.clock.Now().Add(day))
		b.StartTimer()
		if err := env.engine.Recompute(ctx, env.ws); err != nil {
			b.Fatal(err)
		}
	}
	reportPeakRSS(b)
}

// preview previews a nested rule with a property filter over the whole
// workspace.
func (env *benchEnv) preview(b *testing.B) {
	rule := segment.Rule{All: []segment.Rule{
		{Event: &segment.EventCondition{Event: "Order Completed", MinCount: 1, WithinDays: 30,
			Where: []segment.PropertyFilter{{Property: "category", Comparison: segment.Comparison{Op: segment.OpEquals, Value: "A"}}}}},
		{Not: &segment.Rule{Trait: &segment.TraitCondition{Key: "plan", Comparison: segment.Comparison{Op: segment.OpEquals, Value: "free"}}}},
	}}
	ctx := context.Background()
	for range b.N {
		if _, err := env.engine.Preview(ctx, env.ws, rule, 10); err != nil {
			b.Fatal(err)
		}
	}
}

// liveEvent applies liveSamples events (product views with properties)
// per op, each to a random customer re-evaluated against every segment,
// in-process: the per-event cost of keeping membership live.
func (env *benchEnv) liveEvent(b *testing.B) {
	const liveSamples = 500
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	lat := make([]time.Duration, 0, b.N*liveSamples)
	for i := range b.N * liveSamples {
		c := fmt.Sprintf("c%08d", r.IntN(benchCustomers()))
		ev := segment.Event{WorkspaceID: env.ws, EventID: fmt.Sprintf("live-%d-%d", time.Now().UnixNano(), i), CustomerID: c,
			Type: segment.EventTrack, Name: "Viewed Product", Time: env.clock.Now(),
			Properties: map[string]any{"category": "A", "products": []any{map[string]any{"sku": "SKU-1"}}}}
		started := time.Now()
		if err := env.engine.ApplyEvent(ctx, ev); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(started))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
}

// liveBatch applies a batch of 200 events (product views with properties,
// as the REST latency benchmark sends) of 100 random customers per op through
// Engine.ApplyEvents, as the consumer does: the facts in one transaction,
// then each customer re-evaluated against every segment.
func (env *benchEnv) liveBatch(b *testing.B) {
	const batchSize, batchCustomers = 200, 100
	ctx := context.Background()
	r := rand.New(rand.NewPCG(2, uint64(time.Now().UnixNano())))
	stop := startCPUProfile(b, "livebatch")
	defer stop()
	cpu0 := processCPU(b)
	n := 0
	for range b.N {
		b.StopTimer()
		customers := make([]string, batchCustomers)
		for i := range customers {
			customers[i] = fmt.Sprintf("c%08d", r.IntN(benchCustomers()))
		}
		evs := make([]segment.Event, batchSize)
		for i := range evs {
			n++
			evs[i] = segment.Event{WorkspaceID: env.ws, EventID: fmt.Sprintf("batch-%d-%d", time.Now().UnixNano(), n),
				CustomerID: customers[i%batchCustomers], Type: segment.EventTrack, Name: "Viewed Product",
				Time:       env.clock.Now().Add(time.Duration(n-1_000_000) * time.Microsecond), // distinct, as real events' are
				Properties: map[string]any{"category": "A", "revenue": 1200, "products": []any{map[string]any{"sku": "SKU-1"}}}}
		}
		b.StartTimer()
		if err := env.engine.ApplyEvents(ctx, evs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batchSize), "ns/event")
	// CPU time rather than wall time: the machine benchmarks run on is
	// shared. It includes drawing the events (outside the timer).
	b.ReportMetric(float64((processCPU(b)-cpu0).Nanoseconds())/float64(b.N*batchSize), "cpu-ns/event")
}

// processCPU is the user and system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startCPUProfile writes a CPU profile of what follows, until the
// returned stop, to $KIZUNA_BENCH_CPUPROFILE-name.pprof when that variable
// is set: go test's -cpuprofile would include the minutes of seeding.
func startCPUProfile(b *testing.B, name string) (stop func()) {
	prefix := os.Getenv("KIZUNA_BENCH_CPUPROFILE")
	if prefix == "" {
		return func() {}
	}
	f, err := os.Create(prefix + "-" + name + ".pprof")
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}

// reportPeakRSS reports the process's peak resident set (VmHWM) since
// resetPeakRSS, or since it started.
func reportPeakRSS(b *testing.B) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			if kb, err := strconv.Atoi(f[1]); err == nil {
				b.ReportMetric(float64(kb)/1024, "peak-RSS-MB")
			}
		}
	}
}

// resetPeakRSS returns freed memory to the system and restarts the peak
// resident set count (Linux's clear_refs), so that a benchmark reports the
// peak of its own runs rather than of the seeding before them.
func resetPeakRSS() {
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}
