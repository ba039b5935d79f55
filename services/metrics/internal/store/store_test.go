package store_test

import (
	"context"
	"fmt"
	"maps"
	"math"
	"os"
	"testing"
	"testing/fstest"
	"time"

	"github.com/kizuna/kizuna/services/metrics/internal/kpi"
	"github.com/kizuna/kizuna/services/metrics/internal/ledger"
	"github.com/kizuna/kizuna/services/metrics/internal/store"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func day(n int) time.Time { return t0.AddDate(0, 0, n) }

// op is one write to the store and whether it should take effect.
type op struct {
	event       *ledger.Event
	merge       *ledger.Merge
	unmerge     *ledger.Unmerge
	wantApplied bool
}

func visit(ws, eventID, customer string, at time.Time) op {
	return op{event: &ledger.Event{WorkspaceID: ws, EventID: eventID, CustomerID: customer, Time: at}, wantApplied: true}
}

func order(ws, eventID, customer string, at time.Time, key string, revenue float64) op {
	return op{event: &ledger.Event{
		WorkspaceID: ws, EventID: eventID, CustomerID: customer, Time: at,
		Order: &ledger.Order{Key: key, Revenue: revenue, Currency: "JPY"},
	}, wantApplied: true}
}

func merge(ws, mergeID, survivor string, merged ...string) op {
	return op{merge: &ledger.Merge{WorkspaceID: ws, MergeID: mergeID, SurvivorID: survivor, MergedIDs: merged}, wantApplied: true}
}

// unmerge restores restored from survivor with the orders of events, both
// first seen on the given days.
func unmerge(ws, unmergeID, mergeID, survivor, restored string, survivorFirst, restoredFirst time.Time, events ...string) op {
	return op{unmerge: &ledger.Unmerge{
		WorkspaceID: ws, UnmergeID: unmergeID, MergeID: mergeID, SurvivorID: survivor, RestoredID: restored,
		EventIDs: events, SurvivorFirstSeen: survivorFirst, RestoredFirstSeen: restoredFirst,
	}, wantApplied: true}
}

// again marks o as a redelivery that must change nothing.
func again(o op) op {
	o.wantApplied = false
	return o
}

func newStore(t testing.TB, db *sqldb.DB) *store.Store {
	t.Helper()
	s, err := store.New(context.Background(), db, func() time.Time { return t0 })
	if err != nil {
		t.Fatalf("store.New: %v", err)
	}
	return s
}

func apply(t testing.TB, s *store.Store, ops []op) {
	t.Helper()
	ctx := context.Background()
	for i, o := range ops {
		var (
			applied bool
			err     error
		)
		switch {
		case o.event != nil:
			applied, err = s.ApplyEvent(ctx, *o.event)
		case o.merge != nil:
			applied, err = s.ApplyMerge(ctx, *o.merge)
		default:
			applied, err = s.ApplyUnmerge(ctx, *o.unmerge)
		}
		if err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
		if applied != o.wantApplied {
			t.Fatalf("op %d: applied = %v, want %v", i, applied, o.wantApplied)
		}
	}
}

// applyBatched is apply with each run of events applied by one
// ApplyEvents call, as the consumer applies a pulled batch.
func applyBatched(t testing.TB, s *store.Store, ops []op) {
	t.Helper()
	for i := 0; i < len(ops); {
		if ops[i].event == nil {
			apply(t, s, ops[i:i+1])
			i++
			continue
		}
		j := i
		var evs []ledger.Event
		for ; j < len(ops) && ops[j].event != nil; j++ {
			evs = append(evs, *ops[j].event)
		}
		applied, err := s.ApplyEvents(context.Background(), evs)
		if err != nil {
			t.Fatalf("ops %d–%d: %v", i, j-1, err)
		}
		for k, a := range applied {
			if a != ops[i+k].wantApplied {
				t.Fatalf("op %d in a batch: applied = %v, want %v", i+k, a, ops[i+k].wantApplied)
			}
		}
		i = j
	}
}

// openDB opens a new, empty database on one backend: sqldbtest.SQLite or
// sqldbtest.Postgres.
type openDB func(testing.TB) *sqldb.DB

// TestStore is the conformance suite: every case runs on SQLite and, when
// configured, PostgreSQL, each on a database of its own, so cases cannot
// see each other's rows.
func TestStore(t *testing.T) {
	for _, backend := range []struct {
		name string
		open openDB
	}{{"sqlite", sqldbtest.SQLite}, {"postgres", sqldbtest.Postgres}} {
		t.Run(backend.name, func(t *testing.T) {
			if backend.name == "postgres" && os.Getenv(sqldbtest.PostgresURLVar) == "" {
				// Without the URL, Postgres skips (or fails under
				// KIZUNA_REQUIRE_EXTERNAL=1) before opening anything: once
				// here rather than once per case.
				backend.open(t)
			}
			open := backend.open
			t.Run("totals", func(t *testing.T) { testTotals(t, open) })
			t.Run("first seen", func(t *testing.T) { testFirstSeen(t, open(t)) })
			t.Run("unmerge restores kpis", func(t *testing.T) { testUnmergeRestoresKPIs(t, open(t)) })
			t.Run("unmerge of many events", func(t *testing.T) { testUnmergeManyEvents(t, open(t)) })
			t.Run("orders stored before event ids", func(t *testing.T) { testLegacyOrders(t, open(t)) })
			t.Run("migrate twice", func(t *testing.T) { testMigrateTwice(t, open(t)) })
			t.Run("exposures", func(t *testing.T) { testExposures(t, open(t)) })
		})
	}
}

func testTotals(t *testing.T, open openDB) {
	tests := []struct {
		name        string
		ops         []op
		ws          string
		r           kpi.Range
		members     []string
		want        kpi.Totals
		wantMembers kpi.Totals
	}{
		{
			name: "empty workspace",
			ws:   "w",
			want: kpi.Totals{},
		},
		{
			name: "orders and visits",
			ops: []op{
				visit("w", "e1", "a", day(0)),
				order("w", "e2", "a", day(1), "order:1", 100),
				order("w", "e3", "a", day(2), "order:2", 50),
				order("w", "e4", "b", day(3), "order:3", 25.5),
				visit("w", "e5", "c", day(4)),
			},
			ws:          "w",
			members:     []string{"a", "c", "nobody"},
			want:        kpi.Totals{Customers: 3, PurchasingCustomers: 2, RepeatCustomers: 1, Orders: 3, Revenue: 175.5},
			wantMembers: kpi.Totals{Customers: 3, PurchasingCustomers: 1, RepeatCustomers: 1, Orders: 2, Revenue: 150},
		},
		{
			name: "redelivered event counts once",
			ops: []op{
				order("w", "e1", "a", day(1), "order:1", 10),
				again(order("w", "e1", "a", day(1), "order:1", 10)),
			},
			ws:          "w",
			members:     []string{"a"},
			want:        kpi.Totals{Customers: 1, PurchasingCustomers: 1, Orders: 1, Revenue: 10},
			wantMembers: kpi.Totals{Customers: 1, PurchasingCustomers: 1, Orders: 1, Revenue: 10},
		},
		{
			name: "order resent under a new event id counts once, first wins",
			ops: []op{
				order("w", "e1", "a", day(1), "order:1", 10),
				order("w", "e2", "a", day(1), "order:1", 99),
			},
			ws:   "w",
			want: kpi.Totals{Customers: 1, PurchasingCustomers: 1, Orders: 1, Revenue: 10},
		},
		{
			name: "orders without order id are keyed by event",
			ops: []op{
				order("w", "e1", "a", day(1), "event:e1", 10),
				order("w", "e2", "a", day(1), "event:e2", 10),
			},
			ws:   "w",
			want: kpi.Totals{Customers: 1, PurchasingCustomers: 1, RepeatCustomers: 1, Orders: 2, Revenue: 20},
		},
		{
			name: "range includes start and excludes end",
			ops: []op{
				order("w", "e1", "a", day(1).Add(-time.Microsecond), "order:before", 1),
				order("w", "e2", "a", day(1), "order:start", 2),
				order("w", "e3", "b", day(2).Add(-time.Microsecond), "order:last", 4),
				order("w", "e4", "b", day(2), "order:end", 8),
			},
			ws:          "w",
			r:           kpi.Range{Start: day(1), End: day(2)},
			members:     []string{"a", "b"},
			want:        kpi.Totals{Customers: 2, PurchasingCustomers: 2, Orders: 2, Revenue: 6},
			wantMembers: kpi.Totals{Customers: 2, PurchasingCustomers: 2, Orders: 2, Revenue: 6},
		},
		{
			name: "open start",
			ops: []op{
				order("w", "e1", "a", day(-1000), "order:old", 1),
				order("w", "e2", "a", day(5), "order:late", 2),
			},
			ws:   "w",
			r:    kpi.Range{End: day(1)},
			want: kpi.Totals{Customers: 1, PurchasingCustomers: 1, Orders: 1, Revenue: 1},
		},
		{
			name: "merge moves orders and customers to the survivor",
			ops: []op{
				order("w", "e1", "a", day(1), "order:1", 10),
				order("w", "e2", "b", day(2), "order:2", 20),
				order("w", "e3", "c", day(3), "order:3", 40),
				merge("w", "m1", "a", "b"),
				again(merge("w", "m1", "a", "b")),
			},
			ws:          "w",
			members:     []string{"a"},
			want:        kpi.Totals{Customers: 2, PurchasingCustomers: 2, RepeatCustomers: 1, Orders: 3, Revenue: 70},
			wantMembers: kpi.Totals{Customers: 1, PurchasingCustomers: 1, RepeatCustomers: 1, Orders: 2, Revenue: 30},
		},
		{
			name: "late event for a merged id lands on the survivor",
			ops: []op{
				order("w", "e1", "a", day(1), "order:1", 10),
				merge("w", "m1", "a", "b"),
				order("w", "e2", "b", day(2), "order:2", 20),
			},
			ws:          "w",
			members:     []string{"a"},
			want:        kpi.Totals{Customers: 1, PurchasingCustomers: 1, RepeatCustomers: 1, Orders: 2, Revenue: 30},
			wantMembers: kpi.Totals{Customers: 1, PurchasingCustomers: 1, RepeatCustomers: 1, Orders: 2, Revenue: 30},
		},
		{
			name: "chained merges and a segment still listing a merged id",
			ops: []op{
				order("w", "e1", "a", day(1), "order:1", 1),
				order("w", "e2", "b", day(1), "order:2", 2),
				order("w", "e3", "c", day(1), "order:3", 4),
				merge("w", "m1", "b", "a"),
				merge("w", "m2", "c", "b", "c"),
				order("w", "e4", "a", day(2), "order:4", 8),
			},
			ws:          "w",
			members:     []string{"a", "c"},
			want:        kpi.Totals{Customers: 1, PurchasingCustomers: 1, RepeatCustomers: 1, Orders: 4, Revenue: 15},
			wantMembers: kpi.Totals{Customers: 1, PurchasingCustomers: 1, RepeatCustomers: 1, Orders: 4, Revenue: 15},
		},
		{
			name: "unmerge gives the restored customer back its events' orders, late ones included",
			ops: []op{
				order("w", "e1", "a", day(1), "order:1", 10),
				order("w", "e2", "b", day(2), "event:e2", 20),
				order("w", "e3", "b", day(3), "order:3", 40),
				merge("w", "m1", "a", "b"),
				order("w", "e4", "b", day(4), "order:4", 80), // lands on a through the alias
				order("w", "e5", "a", day(5), "order:5", 160),
				unmerge("w", "u1", "m1", "a", "b", day(1), day(2), "e2", "e3", "e4"),
				again(unmerge("w", "u1", "m1", "a", "b", day(1), day(2), "e2", "e3", "e4")),
			},
			ws:          "w",
			members:     []string{"b"},
			want:        kpi.Totals{Customers: 2, PurchasingCustomers: 2, RepeatCustomers: 2, Orders: 5, Revenue: 310},
			wantMembers: kpi.Totals{Customers: 1, PurchasingCustomers: 1, RepeatCustomers: 1, Orders: 3, Revenue: 140},
		},
		{
			name: "unlisted events stay with the survivor",
			ops: []op{
				order("w", "e1", "a", day(1), "order:1", 10),
				order("w", "e2", "b", day(2), "order:2", 20),
				order("w", "e3", "b", day(3), "order:3", 40),
				merge("w", "m1", "a", "b"),
				unmerge("w", "u1", "m1", "a", "b", day(1), day(2), "e2"),
			},
			ws:          "w",
			members:     []string{"a"},
			want:        kpi.Totals{Customers: 2, PurchasingCustomers: 2, RepeatCustomers: 1, Orders: 3, Revenue: 70},
			wantMembers: kpi.Totals{Customers: 1, PurchasingCustomers: 1, RepeatCustomers: 1, Orders: 2, Revenue: 50},
		},
		{
			name: "restored customer in several messages, each applied on its own",
			ops: []op{
				order("w", "e1", "a", day(1), "order:1", 10),
				order("w", "e2", "b", day(2), "order:2", 20),
				order("w", "e3", "b", day(3), "order:3", 40),
				merge("w", "m1", "a", "b"),
				unmerge("w", "u2", "m1", "a", "b", day(1), day(2), "e3"),
				unmerge("w", "u1", "m1", "a", "b", day(1), day(2), "e2"),
				again(unmerge("w", "u2", "m1", "a", "b", day(1), day(2), "e3")),
			},
			ws:          "w",
			members:     []string{"b"},
			want:        kpi.Totals{Customers: 2, PurchasingCustomers: 2, RepeatCustomers: 1, Orders: 3, Revenue: 70},
			wantMembers: kpi.Totals{Customers: 1, PurchasingCustomers: 1, RepeatCustomers: 1, Orders: 2, Revenue: 60},
		},
		{
			name: "later events for the restored customer land on it",
			ops: []op{
				order("w", "e1", "a", day(1), "order:1", 10),
				order("w", "e2", "b", day(2), "order:2", 20),
				merge("w", "m1", "a", "b"),
				unmerge("w", "u1", "m1", "a", "b", day(1), day(2), "e2"),
				order("w", "e3", "b", day(3), "order:3", 40),
			},
			ws:          "w",
			members:     []string{"a"},
			want:        kpi.Totals{Customers: 2, PurchasingCustomers: 2, RepeatCustomers: 1, Orders: 3, Revenue: 70},
			wantMembers: kpi.Totals{Customers: 1, PurchasingCustomers: 1, Orders: 1, Revenue: 10},
		},
		{
			name: "merge redelivered after its undo changes nothing",
			ops: []op{
				order("w", "e1", "a", day(1), "order:1", 10),
				order("w", "e2", "b", day(2), "order:2", 20),
				unmerge("w", "u1", "m1", "a", "b", day(1), day(2), "e2"),
				again(merge("w", "m1", "a", "b")),
				order("w", "e3", "b", day(3), "order:3", 40),
			},
			ws:          "w",
			members:     []string{"b"},
			want:        kpi.Totals{Customers: 2, PurchasingCustomers: 2, RepeatCustomers: 1, Orders: 3, Revenue: 70},
			wantMembers: kpi.Totals{Customers: 1, PurchasingCustomers: 1, RepeatCustomers: 1, Orders: 2, Revenue: 60},
		},
		{
			name: "survivor's own merge not undone here yet: orders come back from its survivor",
			ops: []op{
				order("w", "e1", "a", day(1), "order:1", 10),
				order("w", "e2", "b", day(2), "order:2", 20),
				order("w", "e3", "c", day(3), "order:3", 40),
				merge("w", "m1", "a", "b"),
				merge("w", "m2", "c", "a"),
				unmerge("w", "u1", "m1", "a", "b", day(1), day(2), "e2"),
			},
			ws:          "w",
			members:     []string{"a", "b"},
			want:        kpi.Totals{Customers: 2, PurchasingCustomers: 2, RepeatCustomers: 1, Orders: 3, Revenue: 70},
			wantMembers: kpi.Totals{Customers: 2, PurchasingCustomers: 2, RepeatCustomers: 1, Orders: 3, Revenue: 70},
		},
		{
			name: "unmerge in another workspace changes nothing here",
			ops: []op{
				order("w", "e1", "a", day(1), "order:1", 10),
				order("w", "e2", "b", day(2), "order:2", 20),
				merge("w", "m1", "a", "b"),
				order("other", "e1", "a", day(1), "order:1", 10),
				order("other", "e2", "b", day(2), "order:2", 20),
				merge("other", "m1", "a", "b"),
				unmerge("other", "u1", "m1", "a", "b", day(1), day(2), "e2"),
			},
			ws:          "w",
			members:     []string{"b"},
			want:        kpi.Totals{Customers: 1, PurchasingCustomers: 1, RepeatCustomers: 1, Orders: 2, Revenue: 30},
			wantMembers: kpi.Totals{Customers: 1, PurchasingCustomers: 1, RepeatCustomers: 1, Orders: 2, Revenue: 30},
		},
		{
			name: "workspaces are isolated",
			ops: []op{
				order("w", "e1", "a", day(1), "order:1", 10),
				order("other", "e1", "a", day(1), "order:1", 1000),
				order("other", "e2", "b", day(1), "order:2", 1000),
				merge("other", "m1", "b", "a"),
				visit("other", "e3", "x", day(1)),
			},
			ws:          "w",
			members:     []string{"a", "b", "x"},
			want:        kpi.Totals{Customers: 1, PurchasingCustomers: 1, Orders: 1, Revenue: 10},
			wantMembers: kpi.Totals{Customers: 3, PurchasingCustomers: 1, Orders: 1, Revenue: 10},
		},
		{
			name: "empty member list",
			ops: []op{
				order("w", "e1", "a", day(1), "order:1", 10),
			},
			ws:          "w",
			members:     []string{},
			want:        kpi.Totals{Customers: 1, PurchasingCustomers: 1, Orders: 1, Revenue: 10},
			wantMembers: kpi.Totals{},
		},
	}
	for _, tt := range tests {
		for _, mode := range []struct {
			name  string
			apply func(testing.TB, *store.Store, []op)
		}{{"one by one", apply}, {"in batches", applyBatched}} {
			t.Run(tt.name+"/"+mode.name, func(t *testing.T) {
				ctx := context.Background()
				s := newStore(t, open(t))
				mode.apply(t, s, tt.ops)
				got, err := s.WorkspaceTotals(ctx, tt.ws, tt.r)
				if err != nil {
					t.Fatal(err)
				}
				if got != tt.want {
					t.Errorf("WorkspaceTotals = %+v, want %+v", got, tt.want)
				}
				if tt.members == nil {
					return
				}
				got, err = s.MemberTotals(ctx, tt.ws, tt.members, tt.r)
				if err != nil {
					t.Fatal(err)
				}
				if got != tt.wantMembers {
					t.Errorf("MemberTotals(%v) = %+v, want %+v", tt.members, got, tt.wantMembers)
				}
			})
		}
	}
}

func testFirstSeen(t *testing.T, db *sqldb.DB) {
	s := newStore(t, db)
	apply(t, s, []op{
		visit("w", "e1", "a", day(5)),
		visit("w", "e2", "a", day(3)), // earlier event delivered later
		visit("w", "e3", "b", day(1)),
		visit("w", "e4", "a", day(9)),
		merge("w", "m1", "a", "b"),
		visit("other", "e1", "a", day(0)),
		// The merge lowered a's first-seen time to b's; the undo gives it
		// back. An event for b, earlier than ingestion knew at the undo,
		// arrives between the two parts of the unmerge and is kept.
		visit("u", "e1", "a", day(5)),
		visit("u", "e2", "b", day(1)),
		merge("u", "m1", "a", "b"),
		unmerge("u", "u1", "m1", "a", "b", day(5), day(1), "e2"),
		visit("u", "e3", "b", day(0)),
		unmerge("u", "u2", "m1", "a", "b", day(5), day(1)),
	})
	tests := []struct {
		ws, customer string
		want         time.Time
	}{
		{ws: "w", customer: "a", want: day(1)},
		{ws: "other", customer: "a", want: day(0)},
		{ws: "u", customer: "a", want: day(5)},
		{ws: "u", customer: "b", want: day(0)},
	}
	for _, tt := range tests {
		var got int64
		err := db.QueryRowContext(context.Background(),
			`SELECT first_seen FROM customers WHERE workspace_id = $1 AND customer_id = $2`, tt.ws, tt.customer).Scan(&got)
		if err != nil {
			t.Fatalf("%s/%s: %v", tt.ws, tt.customer, err)
		}
		if !time.UnixMicro(got).Equal(tt.want) {
			t.Errorf("%s/%s first_seen = %v, want %v", tt.ws, tt.customer, time.UnixMicro(got).UTC(), tt.want)
		}
	}
	var merged int
	if err := db.QueryRowContext(context.Background(),
		`SELECT COUNT(*) FROM customers WHERE workspace_id = 'w' AND customer_id = 'b'`).Scan(&merged); err != nil || merged != 0 {
		t.Errorf("merged customer rows = %d, %v; want 0", merged, err)
	}
}

// snapshot is everything metrics reports that a merge changes: every KPI
// for the workspace and for segments, each customer's revenue as the CLV
// fit sees it, and first-seen times.
type snapshot struct {
	kpis      map[string]float64
	revenue   map[string]float64
	firstSeen map[string]int64
}

func takeSnapshot(t *testing.T, db *sqldb.DB, s *store.Store, ws string) snapshot {
	t.Helper()
	ctx := context.Background()
	snap := snapshot{kpis: map[string]float64{}, revenue: map[string]float64{}, firstSeen: map[string]int64{}}
	scopes := []struct {
		name    string
		members []string
	}{
		{name: "workspace"},
		{name: "segment a", members: []string{"a"}},
		{name: "segment b", members: []string{"b"}},
		{name: "segment b c", members: []string{"b", "c"}},
	}
	for _, sc := range scopes {
		for _, r := range []kpi.Range{{}, {Start: day(2), End: day(9)}} {
			var (
				tot kpi.Totals
				err error
			)
			if sc.members == nil {
				tot, err = s.WorkspaceTotals(ctx, ws, r)
			} else {
				tot, err = s.MemberTotals(ctx, ws, sc.members, r)
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range kpi.Definitions() {
				snap.kpis[fmt.Sprintf("%s %s %v", sc.name, d.Name, r)] = d.Value(tot)
			}
		}
	}
	err := s.Orders(ctx, ws, day(365), func(id string, _ time.Time, revenue float64) { snap.revenue[id] += revenue })
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, `SELECT customer_id, first_seen FROM customers WHERE workspace_id = $1`, ws)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var at int64
		if err := rows.Scan(&id, &at); err != nil {
			t.Fatal(err)
		}
		snap.firstSeen[id] = at
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return snap
}

func testUnmergeRestoresKPIs(t *testing.T, db *sqldb.DB) {
	s := newStore(t, db)
	apply(t, s, []op{
		visit("w", "e1", "a", day(0)),
		order("w", "e2", "a", day(1), "order:1", 100),
		order("w", "e3", "a", day(10), "order:2", 50),
		visit("w", "e4", "b", day(-2)), // before a: the merge lowers a's first-seen time
		order("w", "e5", "b", day(5), "event:e5", 30),
		order("w", "e6", "c", day(7), "order:6", 80),
		order("w", "e7", "c", day(8), "order:7", 20),
	})
	before := takeSnapshot(t, db, s, "w")

	apply(t, s, []op{merge("w", "m1", "a", "b", "c")})
	merged := takeSnapshot(t, db, s, "w")
	if maps.Equal(merged.kpis, before.kpis) {
		t.Fatal("the merge changed no KPI; the test proves nothing")
	}

	// c comes back in two messages, as a customer with many events does.
	apply(t, s, []op{
		unmerge("w", "u1", "m1", "a", "b", day(0), day(-2), "e4", "e5"),
		unmerge("w", "u2", "m1", "a", "c", day(0), day(7), "e6"),
		unmerge("w", "u3", "m1", "a", "c", day(0), day(7), "e7"),
		again(unmerge("w", "u2", "m1", "a", "c", day(0), day(7), "e6")),
		again(merge("w", "m1", "a", "b", "c")),
	})
	after := takeSnapshot(t, db, s, "w")
	for _, c := range []struct {
		name      string
		got, want map[string]float64
	}{
		{"kpis", after.kpis, before.kpis},
		{"revenue per customer", after.revenue, before.revenue},
	} {
		for k, want := range c.want {
			if got, ok := c.got[k]; !ok || math.Abs(got-want) > 1e-9 {
				t.Errorf("%s: %s = %v, want %v as before the merge", c.name, k, got, want)
			}
		}
		if len(c.got) != len(c.want) {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}
	if !maps.Equal(after.firstSeen, before.firstSeen) {
		t.Errorf("first seen = %v, want %v as before the merge", after.firstSeen, before.firstSeen)
	}
}

// testUnmergeManyEvents restores a customer with more events than one
// statement binds.
func testUnmergeManyEvents(t *testing.T, db *sqldb.DB) {
	const n = 1001
	s := newStore(t, db)
	ops := []op{order("w", "a1", "a", day(1), "order:a1", 1)}
	events := make([]string, 0, n)
	for i := range n {
		id := fmt.Sprintf("b%d", i)
		events = append(events, id)
		ops = append(ops, order("w", id, "b", day(2), "event:"+id, 1))
	}
	ops = append(ops,
		merge("w", "m1", "a", "b"),
		unmerge("w", "u1", "m1", "a", "b", day(1), day(2), events...),
	)
	apply(t, s, ops)
	got, err := s.MemberTotals(context.Background(), "w", []string{"b"}, kpi.Range{})
	if err != nil {
		t.Fatal(err)
	}
	if want := (kpi.Totals{Customers: 1, PurchasingCustomers: 1, RepeatCustomers: 1, Orders: n, Revenue: n}); got != want {
		t.Errorf("restored customer's totals = %+v, want %+v", got, want)
	}
}

// testLegacyOrders stores orders as the first schema did, without their
// event, then migrates: orders keyed by event id get it back and move on an
// unmerge; orders keyed by order id cannot and stay with the survivor.
func testLegacyOrders(t *testing.T, db *sqldb.DB) {
	ctx := context.Background()
	first, err := os.ReadFile("migrations/0001_ledger.sql")
	if err != nil {
		t.Fatal(err)
	}
	if err := sqldb.Migrate(ctx, db, fstest.MapFS{"0001_ledger.sql": {Data: first}}); err != nil {
		t.Fatal(err)
	}
	for _, o := range []struct {
		key, customer string
		revenue       float64
	}{
		{"order:1", "a", 1},
		{"event:e2", "a", 2}, // b's, moved to a by a merge
		{"order:3", "a", 4},  // b's, from event e3
	} {
		if _, err := db.ExecContext(ctx, `INSERT INTO orders (workspace_id, order_key, customer_id, order_time, revenue, currency)
VALUES ('w', $1, $2, $3, $4, 'JPY')`, o.key, o.customer, day(1).UnixMicro(), o.revenue); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO customers (workspace_id, customer_id, first_seen) VALUES ('w', 'a', $1)`, day(1).UnixMicro()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO customer_aliases (workspace_id, merged_customer_id, survivor_customer_id) VALUES ('w', 'b', 'a')`); err != nil {
		t.Fatal(err)
	}
	s := newStore(t, db)

	eventIDs := map[string]string{}
	rows, err := db.QueryContext(ctx, `SELECT order_key, event_id FROM orders WHERE workspace_id = 'w'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var key, eventID string
		if err := rows.Scan(&key, &eventID); err != nil {
			t.Fatal(err)
		}
		eventIDs[key] = eventID
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"order:1": "", "event:e2": "e2", "order:3": ""}; !maps.Equal(eventIDs, want) {
		t.Errorf("backfilled event ids = %v, want %v", eventIDs, want)
	}

	apply(t, s, []op{unmerge("w", "u1", "m1", "a", "b", day(1), day(1), "e2", "e3")})
	got, err := s.MemberTotals(ctx, "w", []string{"b"}, kpi.Range{})
	if err != nil {
		t.Fatal(err)
	}
	if want := (kpi.Totals{Customers: 1, PurchasingCustomers: 1, Orders: 1, Revenue: 2}); got != want {
		t.Errorf("restored customer's totals = %+v, want %+v (only the event-keyed order)", got, want)
	}
}

func testMigrateTwice(t *testing.T, db *sqldb.DB) {
	newStore(t, db)
	newStore(t, db)
}
