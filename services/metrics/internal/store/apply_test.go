package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/metrics/internal/ledger"
	"github.com/kizuna/kizuna/services/metrics/internal/store"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// TestApplyEventsDifferential applies one random stream to two workspaces:
// one message per call, and with the events between merges in batches of
// random size (ApplyEvents). The stream repeats event ids, within a batch
// and across batches, re-sends order keys, names events, answers surveys
// and merges customers, so later events resolve through aliases. Both
// must report the same messages applied and leave the same rows, sequence
// numbers included.
func TestApplyEventsDifferential(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := newStore(t, db)
		for seed := uint64(1); seed <= 4; seed++ {
			stream := randomLedgerOps(seed, 300)
			one, batch := fmt.Sprintf("one%d", seed), fmt.Sprintf("batch%d", seed)
			apply(t, s, inLedgerWorkspace(stream, one))
			ops := inLedgerWorkspace(stream, batch)
			rng := rand.New(rand.NewPCG(seed, 1))
			for i := 0; i < len(ops); {
				n := 1
				for n < 1+rng.IntN(60) && i+n < len(ops) && ops[i].event != nil && ops[i+n].event != nil {
					n++
				}
				applyBatched(t, s, ops[i:i+n])
				i += n
			}
			if a, b := dumpLedger(t, db, one), dumpLedger(t, db, batch); a != b {
				t.Errorf("seed %d: one by one and batched differ:\n%s", seed, sqldbtest.LineDiff(a, b))
			}
		}
	})
}

// TestRedeliveredEventsChangeNothing: named events (a view and a
// purchase) delivered again, alone or in a batch, before and after a
// merge moved their rows, change nothing — not even the ledger seq an
// order takes whether or not its key is new — and a batch of them leaves
// no applied_messages row: their rows in events tell them seen. Unnamed
// events keep their ids recorded: a purchase delivered again takes no seq,
// and a visit delivered again after an undone merge raised its customer's
// first-seen time past it does not lower that time back.
func TestRedeliveredEventsChangeNothing(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		s := newStore(t, db)
		viewed := named(visit("w", "e1", "a", day(3)), "Viewed Product")
		bought := named(order("w", "e2", "a", day(4), "order:o1", 100), "Order Completed")
		applyBatched(t, s, []op{viewed, bought, named(visit("w", "e3", "b", day(5)), "Viewed Product")})
		if n := sqldbtest.Rows(t, db, `SELECT kind, message_id FROM applied_messages`); len(n) != 0 {
			t.Errorf("named events left applied_messages rows %v, want none", n)
		}
		redeliver := func(when string) {
			t.Helper()
			want := dumpLedger(t, db, "w")
			apply(t, s, []op{again(viewed), again(bought)})
			applyBatched(t, s, []op{again(bought), again(viewed), again(bought)})
			if got := dumpLedger(t, db, "w"); got != want {
				t.Errorf("named events delivered again %s changed the ledger:\n%s", when, sqldbtest.LineDiff(want, got))
			}
		}
		redeliver("before a merge")
		apply(t, s, []op{merge("w", "m1", "b", "a")})
		redeliver("after a merge")

		// x1 came for s after r was merged into it; the undo gives it
		// back to r and s's own first-seen time back to s.
		boughtUnnamed := order("w", "x3", "s", day(6), "order:o2", 10)
		apply(t, s, []op{
			visit("w", "x2", "r", day(2)), boughtUnnamed, merge("w", "m2", "s", "r"), visit("w", "x1", "s", day(1)),
			unmerge("w", "u2", "m2", "s", "r", day(6), day(1), "x1", "x2"),
		})
		want := dumpLedger(t, db, "w")
		apply(t, s, []op{again(visit("w", "x1", "s", day(1))), again(boughtUnnamed)})
		applyBatched(t, s, []op{again(boughtUnnamed), again(visit("w", "x1", "s", day(1)))})
		if got := dumpLedger(t, db, "w"); got != want {
			t.Errorf("unnamed events delivered again changed the ledger:\n%s", sqldbtest.LineDiff(want, got))
		}
	})
}

// named makes o's event a named (track) event.
func named(o op, name string) op {
	e := *o.event
	e.Name, e.Properties = name, "{}"
	o.event = &e
	return o
}

func inLedgerWorkspace(ops []op, ws string) []op {
	out := make([]op, len(ops))
	for i, o := range ops {
		switch {
		case o.event != nil:
			e := *o.event
			e.WorkspaceID = ws
			o.event = &e
		case o.merge != nil:
			m := *o.merge
			m.WorkspaceID = ws
			o.merge = &m
		}
		out[i] = o
	}
	return out
}

// dumpLedger renders what applying messages left in a workspace.
func dumpLedger(t *testing.T, db *sqldb.DB, ws string) string {
	t.Helper()
	where := ` WHERE workspace_id = '` + ws + `'`
	dump := sqldbtest.Dump(t, db, nil,
		`SELECT customer_id, first_seen, seq FROM customers`+where,
		`SELECT order_key, customer_id, order_time, revenue, currency, event_id, seq FROM orders`+where,
		`SELECT event_id, customer_id, name, event_time, properties FROM events`+where,
		`SELECT event_id, customer_id, survey, kind, score, comment, answer_time FROM survey_answers`+where,
		`SELECT merged_customer_id, survivor_customer_id FROM customer_aliases`+where,
		`SELECT kind, message_id, applied_at FROM applied_messages`+where,
		`SELECT structure, seq FROM ledger_versions`+where,
	)
	return strings.ReplaceAll(dump, ws, "ws")
}

// randomLedgerOps returns n messages about a few customers: visits,
// orders (order keys re-sent), named events with properties, survey
// answers and, now and then, a merge; about one event in six repeats an
// earlier one, mostly a recent one.
func randomLedgerOps(seed uint64, n int) []op {
	rng := rand.New(rand.NewPCG(seed, 0))
	var out []op
	var events []op
	customer := func() string { return fmt.Sprintf("c%d", rng.IntN(8)) }
	for i := range n {
		switch k := rng.IntN(20); {
		case k == 0:
			survivor := customer()
			merged := slices.DeleteFunc([]string{customer(), customer()}, func(id string) bool { return id == survivor })
			out = append(out, merge("", fmt.Sprintf("m%d", i), survivor, merged...))
			continue
		case k < 4 && len(events) > 0:
			from := max(0, len(events)-10)
			if rng.IntN(4) == 0 {
				from = 0
			}
			out = append(out, again(events[from+rng.IntN(len(events)-from)]))
			continue
		}
		id := fmt.Sprintf("e%d", i)
		e := ledger.Event{EventID: id, CustomerID: customer(), Time: t0.Add(time.Duration(rng.IntN(30*24)) * time.Hour), Properties: "{}"}
		if rng.IntN(3) == 0 {
			key := "event:" + id
			if rng.IntN(2) == 0 {
				key = fmt.Sprintf("order:o%d", rng.IntN(6))
			}
			e.Order = &ledger.Order{Key: key, Revenue: float64(rng.IntN(1000)) / 10, Currency: "JPY"}
		}
		if rng.IntN(2) == 0 {
			e.Name = []string{"Viewed Product", "Added to Cart"}[rng.IntN(2)]
			e.Properties = fmt.Sprintf(`{"n":%d}`, rng.IntN(5))
			if rng.IntN(4) == 0 {
				e.Name = "Survey Answered"
				e.Survey = &ledger.SurveyAnswer{Survey: "s1", Kind: "nps", Score: float64(rng.IntN(11)), Comment: "ok"}
			}
		}
		o := op{event: &e, wantApplied: true}
		events = append(events, o)
		out = append(out, o)
	}
	return out
}

// TestApplyEventsAnalyzesCustomers checks that on PostgreSQL a young
// customers table gets planner statistics once enough customers were
// written, without waiting for autovacuum (turned off here): every batch
// reads its customers' first-seen times by id, which the statistics of a
// table never analyzed had planned as a scan of the whole workspace.
func TestApplyEventsAnalyzesCustomers(t *testing.T) {
	db := sqldbtest.Postgres(t)
	s := newStore(t, db)
	ctx := context.Background()
	sqldbtest.NoAutovacuum(t, db, "customers")
	store.SetAnalyzeMinRows(s, 100)
	events := make([]ledger.Event, 200)
	for i := range events {
		events[i] = ledger.Event{WorkspaceID: "w", EventID: fmt.Sprintf("e%d", i), CustomerID: fmt.Sprintf("c%d", i%150),
			Name: "Viewed", Time: t0.Add(time.Duration(i) * time.Second), Properties: "{}"}
	}
	if sqldbtest.Analyzed(t, db, "customers") {
		t.Fatal("customers analyzed before any event")
	}
	if _, err := s.ApplyEvents(ctx, events); err != nil {
		t.Fatal(err)
	}
	sqldbtest.AwaitAnalyzed(t, db, "customers", "150 customers' events were applied")
}
