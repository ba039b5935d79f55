package store_test

import (
	"context"
	"testing"
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
		if o.event != nil {
			applied, err = s.ApplyEvent(ctx, *o.event)
		} else {
			applied, err = s.ApplyMerge(ctx, *o.merge)
		}
		if err != nil {
			t.Fatalf("op %d: %v", i, err)
		}
		if applied != o.wantApplied {
			t.Fatalf("op %d: applied = %v, want %v", i, applied, o.wantApplied)
		}
	}
}

// TestStore is the conformance suite: every case runs on SQLite and, when
// configured, PostgreSQL.
func TestStore(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		t.Run("totals", func(t *testing.T) { testTotals(t, db) })
		t.Run("first seen", func(t *testing.T) { testFirstSeen(t, db) })
		t.Run("migrate twice", func(t *testing.T) { testMigrateTwice(t, db) })
	})
}

func testTotals(t *testing.T, db *sqldb.DB) {
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
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			s := newStore(t, freshDB(t, db))
			apply(t, s, tt.ops)
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

func testFirstSeen(t *testing.T, db *sqldb.DB) {
	db = freshDB(t, db)
	s := newStore(t, db)
	apply(t, s, []op{
		visit("w", "e1", "a", day(5)),
		visit("w", "e2", "a", day(3)), // earlier event delivered later
		visit("w", "e3", "b", day(1)),
		visit("w", "e4", "a", day(9)),
		merge("w", "m1", "a", "b"),
		visit("other", "e1", "a", day(0)),
	})
	tests := []struct {
		ws, customer string
		want         time.Time
	}{
		{ws: "w", customer: "a", want: day(1)},
		{ws: "other", customer: "a", want: day(0)},
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

func testMigrateTwice(t *testing.T, db *sqldb.DB) {
	db = freshDB(t, db)
	newStore(t, db)
	newStore(t, db)
}

// freshDB returns a new, empty database on like's backend, so table cases
// cannot see each other's rows.
func freshDB(t testing.TB, like *sqldb.DB) *sqldb.DB {
	t.Helper()
	if like.Dialect == sqldb.Postgres {
		return sqldbtest.Postgres(t)
	}
	return sqldbtest.SQLite(t)
}
