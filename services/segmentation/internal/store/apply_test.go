package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
	"github.com/kizuna/kizuna/services/segmentation/internal/store"
)

// TestApplyEventsDifferential applies one random stream to two workspaces:
// one event per ApplyEvent call, and in batches of random size
// (ApplyEvents). The stream repeats event ids, within a batch and across
// batches, sets traits out of time order, re-sends order ids and starts
// after some events were applied already. Both must report the same events
// applied and leave the same customers, behaviours, orders and applied
// ids; a batch's behaviour rows share the version it took, one per batch.
func TestApplyEventsDifferential(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s, err := store.New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		for seed := uint64(1); seed <= 4; seed++ {
			stream := randomEvents(seed, 300)
			one, batch := fmt.Sprintf("one%d", seed), fmt.Sprintf("batch%d", seed)
			const before = 40 // applied one by one in both, before the run
			var wantApplied, gotApplied []bool
			for i, e := range stream {
				if i < before {
					mustApply(t, s, inWorkspace(e, batch))
				}
				wantApplied = append(wantApplied, mustApply(t, s, inWorkspace(e, one)))
			}
			rng := rand.New(rand.NewPCG(seed, 1))
			var wantSeq []int64 // the version each behaviour row of batch must carry, by event
			version, err := s.BehavioursVersion(ctx, batch)
			if err != nil {
				t.Fatal(err)
			}
			for i := before; i < len(stream); {
				n := min(1+rng.IntN(60), len(stream)-i)
				evs := make([]segment.Event, n)
				for j := range evs {
					evs[j] = inWorkspace(stream[i+j], batch)
				}
				applied, err := s.ApplyEvents(ctx, evs, t0)
				if err != nil {
					t.Fatalf("seed %d: ApplyEvents: %v", seed, err)
				}
				gotApplied = append(gotApplied, applied...)
				stamped := false
				for j, e := range evs {
					if applied[j] && e.BehaviourName() != "" {
						stamped = true
					}
				}
				if stamped {
					version++
				}
				for range evs {
					wantSeq = append(wantSeq, version)
				}
				i += n
			}
			if !slices.Equal(gotApplied, wantApplied[before:]) {
				t.Errorf("seed %d: batches applied %v,\none by one %v", seed, gotApplied, wantApplied[before:])
			}
			if a, b := dumpWorkspace(t, db, one), dumpWorkspace(t, db, batch); a != b {
				t.Errorf("seed %d: one by one and batched differ:\n%s", seed, sqldbtest.LineDiff(a, b))
			}
			checkBatchSeqs(t, db, batch, stream[before:], gotApplied, wantSeq)
		}
	})
}

// checkBatchSeqs checks that each behaviour row the batches stored carries
// the version of the batch that stored it.
func checkBatchSeqs(t *testing.T, db *sqldb.DB, ws string, events []segment.Event, applied []bool, wantSeq []int64) {
	t.Helper()
	want := map[string]string{}
	for i, e := range events {
		if applied[i] && e.BehaviourName() != "" {
			want[e.EventID] = strconv.FormatInt(wantSeq[i], 10)
		}
	}
	for _, r := range sqldbtest.Rows(t, db, `SELECT event_id, seq FROM behaviours WHERE workspace_id = '`+ws+`'`) {
		if w, ok := want[r[0]]; ok && r[1] != w {
			t.Errorf("%s: behaviour %s has seq %s, want %s", ws, r[0], r[1], w)
		}
	}
}

func inWorkspace(e segment.Event, ws string) segment.Event {
	e.WorkspaceID = ws
	return e
}

// dumpWorkspace renders what applying events left in a workspace, but the
// behaviour versions, which depend on how the events were grouped.
func dumpWorkspace(t *testing.T, db *sqldb.DB, ws string) string {
	t.Helper()
	where := ` WHERE workspace_id = '` + ws + `'`
	dump := sqldbtest.Dump(t, db, nil,
		`SELECT customer_id, traits, trait_times, first_seen, last_seen, event_count FROM customers`+where,
		`SELECT event_id, customer_id, name, occurred_at, properties, seq > 0 FROM behaviours`+where,
		`SELECT order_id, customer_id, revenue, occurred_at, event_id FROM orders`+where,
		`SELECT version FROM orders_versions`+where,
		`SELECT kind, message_id, applied_at FROM applied_messages`+where,
	)
	return strings.ReplaceAll(dump, ws, "ws")
}

// randomEvents returns n events of a few customers: views with
// properties, orders (order ids re-sent), pages, identify and group calls
// setting traits at times out of order, and other calls; about one in six
// repeats an earlier event, mostly a recent one.
func randomEvents(seed uint64, n int) []segment.Event {
	rng := rand.New(rand.NewPCG(seed, 0))
	var out []segment.Event
	for i := range n {
		if len(out) > 0 && rng.IntN(6) == 0 {
			from := max(0, len(out)-10)
			if rng.IntN(4) == 0 {
				from = 0
			}
			out = append(out, out[from+rng.IntN(len(out)-from)])
			continue
		}
		e := segment.Event{
			EventID:    fmt.Sprintf("e%d", i),
			CustomerID: fmt.Sprintf("c%d", rng.IntN(6)),
			// Sub-microsecond parts: stored times are microseconds.
			Time: t0.Add(time.Duration(rng.IntN(96*3600)-48*3600)*time.Second + time.Duration(rng.IntN(1000))),
		}
		switch k := rng.IntN(10); {
		case k < 4:
			e.Type, e.Name = segment.EventTrack, "Viewed Product"
			e.Properties = map[string]any{"category": []string{"A", "B"}[rng.IntN(2)], "price": float64(rng.IntN(100))}
		case k < 5:
			e.Type, e.Name = segment.EventTrack, "Order Completed"
			e.Order = &segment.Order{ID: fmt.Sprintf("o%d", rng.IntN(6)), Revenue: float64(rng.IntN(1000)) / 10}
		case k < 6:
			e.Type, e.Name = segment.EventPage, "Home"
		case k < 8:
			e.Type = segment.EventIdentify
			e.Traits = map[string]any{fmt.Sprintf("k%d", rng.IntN(4)): float64(rng.IntN(10)), "plan": []string{"free", "pro"}[rng.IntN(2)]}
		case k < 9:
			e.Type = segment.EventGroup
			e.Traits = map[string]any{"company": map[string]any{"size": float64(rng.IntN(50))}}
		default:
			e.Type = segment.EventAlias
		}
		out = append(out, e)
	}
	return out
}

// TestApplyEventsTraitCustomerDeletedConcurrently: a customer a batch sets
// traits of, deleted (merged away, erased) by a transaction committing
// while the batch waits for another customer's row, is created again by
// the batch's events, as applying them after the deletion would.
// PostgreSQL only: SQLite's writers are serial.
func TestApplyEventsTraitCustomerDeletedConcurrently(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		if db.Dialect != sqldb.Postgres {
			t.Skip("SQLite runs one writer at a time: no transaction commits inside a batch")
		}
		ctx := context.Background()
		// The batch waits on a's row (it locks a, then b) while b is
		// deleted.
		s, w, holder, holderPID := holdCustomerRow(t, db, "a", "a", "b")
		at := t0.Add(time.Hour)
		batch := []segment.Event{
			{WorkspaceID: w, EventID: "e2", CustomerID: "a", Type: segment.EventIdentify, Time: at, Traits: map[string]any{"plan": "pro"}},
			{WorkspaceID: w, EventID: "e3", CustomerID: "b", Type: segment.EventIdentify, Time: at, Traits: map[string]any{"plan": "free"}},
		}
		done := make(chan error, 1)
		go func() {
			defer func() {
				if p := recover(); p != nil {
					done <- fmt.Errorf("panic: %v", p)
				}
			}()
			_, err := s.ApplyEvents(ctx, batch, t0)
			done <- err
		}()
		sqldbtest.WaitBlockedBy(t, db, holderPID)
		if _, err := db.ExecContext(ctx, `DELETE FROM customers WHERE workspace_id = $1 AND customer_id = 'b'`, w); err != nil {
			t.Fatal(err)
		}
		if err := holder.Commit(); err != nil {
			t.Fatal(err)
		}
		sqldbtest.Await(t, done, "ApplyEvents")
		c, err := s.Customer(ctx, w, "b")
		if err != nil {
			t.Fatalf("customer b: %v", err)
		}
		if c.Traits["plan"] != "free" || c.EventCount != 1 || !c.FirstSeen.Equal(at) || !c.LastSeen.Equal(at) {
			t.Errorf("customer b = traits %v, %d events, seen %v to %v; want plan free, 1 event, seen at %v", c.Traits, c.EventCount, c.FirstSeen, c.LastSeen, at)
		}
	})
}

// holdCustomerRow returns a store with customers created in workspace w,
// in that order, and an open transaction (rolled back at cleanup) holding
// the row of customer held, with its server process id.
func holdCustomerRow(t *testing.T, db *sqldb.DB, held string, created ...string) (*store.Store, string, *sql.Tx, int) {
	t.Helper()
	ctx := context.Background()
	s, err := store.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	w := ws(t)
	for i, id := range created {
		mustApply(t, s, track(w, "seen-"+strconv.Itoa(i), id, "Seen", t0))
	}
	holder, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = holder.Rollback() })
	var pid int
	if err := holder.QueryRowContext(ctx, `SELECT pg_backend_pid() FROM customers WHERE workspace_id = $1 AND customer_id = $2 FOR UPDATE`, w, held).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	return s, w, holder, pid
}

// TestApplyEventsLocksCustomersInIDOrder: a batch locks its customers' rows
// in id order whether or not their events set traits, as a merge
// (lockCustomers) does, so the two cannot deadlock. Here the batch sets a
// trait of a and counts an event of b: while it waits for b's row it must
// already hold a's. PostgreSQL only: SQLite has no row locks.
func TestApplyEventsLocksCustomersInIDOrder(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		if db.Dialect != sqldb.Postgres {
			t.Skip("SQLite has no row locks: its writers are serial")
		}
		ctx := context.Background()
		s, w, holder, holderPID := holdCustomerRow(t, db, "b", "a", "b")
		at := t0.Add(time.Hour)
		batch := []segment.Event{
			{WorkspaceID: w, EventID: "e2", CustomerID: "a", Type: segment.EventIdentify, Time: at, Traits: map[string]any{"plan": "pro"}},
			track(w, "e3", "b", "Seen", at),
		}
		done := make(chan error, 1)
		go func() {
			_, err := s.ApplyEvents(ctx, batch, t0)
			done <- err
		}()
		sqldbtest.WaitBlockedBy(t, db, holderPID)
		probe, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, lockErr := probe.ExecContext(ctx, `SELECT 1 FROM customers WHERE workspace_id = $1 AND customer_id = 'a' FOR UPDATE NOWAIT`, w)
		if err := probe.Rollback(); err != nil {
			t.Fatal(err)
		}
		if err := holder.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("ApplyEvents: %v", err)
		}
		if lockErr == nil {
			t.Error("waiting for b's row, the batch did not hold a's: it locks customers out of id order")
		}
	})
}

// TestApplyEventsAnalyzesYoungTables checks that on PostgreSQL the tables
// every batch of events writes get planner statistics once enough rows
// were written, without waiting for autovacuum (turned off here): a table
// never analyzed has reltuples -1.
func TestApplyEventsAnalyzesYoungTables(t *testing.T) {
	db := sqldbtest.Postgres(t)
	ctx := context.Background()
	s, err := store.New(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	tables := []string{"customers", "behaviours", "applied_messages"}
	sqldbtest.NoAutovacuum(t, db, tables...)
	store.SetAnalyzeMinRows(s, 100)
	for _, table := range tables {
		if sqldbtest.Analyzed(t, db, table) {
			t.Fatalf("%s analyzed before any event", table)
		}
	}
	evs := make([]segment.Event, 200)
	for i := range evs {
		evs[i] = track(ws(t), fmt.Sprintf("e%d", i), fmt.Sprintf("c%d", i%150), "Viewed", t0)
	}
	if _, err := s.ApplyEvents(ctx, evs, t0); err != nil {
		t.Fatal(err)
	}
	for _, table := range tables {
		sqldbtest.AwaitAnalyzed(t, db, table, "200 events were applied")
	}
}

// TestApplyChangesAnalyzesMemberships checks that on PostgreSQL a young
// memberships table gets planner statistics once enough membership changes
// were written, without waiting for autovacuum (turned off here): every
// evaluation reads the memberships of its batch's customers, which the
// statistics of a table never analyzed had planned as a scan of the
// workspace's memberships.
func TestApplyChangesAnalyzesMemberships(t *testing.T) {
	db, s, w := postgresStore(t)
	sqldbtest.NoAutovacuum(t, db, "memberships")
	store.SetAnalyzeMinRows(s, 100)
	seg := createSegment(t, s, w)
	ids := make([]string, 150)
	for i := range ids {
		ids[i] = fmt.Sprintf("c%03d", i)
	}
	if sqldbtest.Analyzed(t, db, "memberships") {
		t.Fatal("memberships analyzed before any change")
	}
	joinAll(t, s, w, seg.ID, ids...)
	sqldbtest.AwaitAnalyzed(t, db, "memberships", "150 joins were applied")
}
