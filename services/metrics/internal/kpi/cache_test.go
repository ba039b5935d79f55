package kpi_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/metrics/internal/kpi"
	"github.com/kizuna/kizuna/services/metrics/internal/ledger"
	"github.com/kizuna/kizuna/services/metrics/internal/store"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// TestCachedOrdersStayCurrent: a calculator that keeps orders in memory
// between calls answers like a fresh one after new orders (in and out of
// time order), a merge and an undone merge.
func TestCachedOrdersStayCurrent(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		st, err := store.New(ctx, db, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		applyAll := func(msgs ...*ingestionv1.IngestionBusMessage) {
			t.Helper()
			for i, m := range msgs {
				if err := ledger.Apply(ctx, st, slog.New(slog.DiscardHandler), m); err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
			}
		}
		var periods []kpi.Period
		for w := 0; w < 4; w++ {
			periods = append(periods, kpi.Period{Start: day(7 * w), End: day(7*w + 7), PrevStart: day(7*w - 7)})
		}
		req := kpi.SeriesRequest{WorkspaceID: "w", Periods: periods,
			KPIs: []string{"revenue", "order_count", "purchasing_customers", "new_customers", "retention_rate", "f2_conversion_rate", "repeat_purchase_rate", "customer_count"}}
		cached := kpi.NewCalculator(st, segments{}, time.Now)
		check := func(step string) {
			t.Helper()
			got, err := cached.Series(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			want, err := kpi.NewCalculator(st, segments{}, time.Now).Series(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			for k := range req.KPIs {
				for p := range periods {
					if !near(got.Values[k][p], want.Values[k][p]) {
						t.Errorf("%s: %s week %d = %v cached, %v fresh", step, req.KPIs[k], p, got.Values[k][p], want.Values[k][p])
					}
				}
			}
		}
		applyAll(event("a1", "a", day(1), purchase("o1", 100)), event("b1", "b", day(8), purchase("o2", 50)))
		check("start")
		// A later order, then one dated before everything: b's first order
		// moves to day 0.
		applyAll(event("a2", "a", day(9), purchase("o3", 30)), event("b0", "b", day(0), purchase("o4", 20)))
		check("late order")
		// A visitor who never orders, then seen earlier than first thought.
		applyAll(event("d1", "d", day(20), nil))
		check("visitor")
		applyAll(event("d0", "d", day(2), nil))
		check("visitor seen earlier")
		applyAll(&ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_CustomerMerged{CustomerMerged: &ingestionv1.CustomerMerged{
			MergeId: "m1", WorkspaceId: "w", SurvivorCustomerId: "a", MergedCustomerIds: []string{"b"},
		}}})
		check("merge")
		applyAll(&ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_CustomerUnmerged{CustomerUnmerged: &ingestionv1.CustomerUnmerged{
			UnmergeId: "u1", WorkspaceId: "w", MergeId: "m1", SurvivorCustomerId: "a", RestoredCustomerId: "b", EventIds: []string{"b1", "b0"},
			RestoredFirstSeenTime: timestampAt(day(0)), SurvivorFirstSeenTime: timestampAt(day(1)),
		}}}, event("c1", "c", day(15), purchase("o5", 70)))
		check("unmerge and a new customer")
		// Every order counts once, whoever holds it.
		got, err := cached.Series(ctx, kpi.SeriesRequest{WorkspaceID: "w", KPIs: []string{"order_count"}, Periods: []kpi.Period{{}}})
		if err != nil || got.Values[0][0] != 5 {
			t.Errorf("all orders = %v, %v; want 5", got.Values, err)
		}
	})
}

func timestampAt(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// TestCachedOrdersConcurrently reads one calculator from several
// goroutines while orders and a merge arrive (run with -race).
func TestCachedOrdersConcurrently(t *testing.T) {
	ctx := context.Background()
	st, err := store.New(ctx, sqldbtest.SQLite(t), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	calc := kpi.NewCalculator(st, segments{"s": {"a", "c"}}, time.Now)
	req := kpi.SeriesRequest{WorkspaceID: "w", KPIs: []string{"order_count", "customer_count"}, Periods: []kpi.Period{{}, {End: day(5)}}}
	done := make(chan struct{})
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			r := req
			if g%2 == 1 {
				r.SegmentID = "s"
			}
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				if _, err := calc.Series(ctx, r); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range 40 {
		m := event(fmt.Sprintf("e%d", i), fmt.Sprintf("c%d", i%7), day(i%10), purchase(fmt.Sprintf("o%d", i), 10))
		if i == 20 {
			m = &ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_CustomerMerged{CustomerMerged: &ingestionv1.CustomerMerged{
				MergeId: "m", WorkspaceId: "w", SurvivorCustomerId: "c0", MergedCustomerIds: []string{"c1"},
			}}}
		}
		if err := ledger.Apply(ctx, st, slog.New(slog.DiscardHandler), m); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	got, err := calc.Series(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if got.Values[0][0] != 39 || got.Values[1][0] != 6 {
		t.Errorf("orders %v, customers %v; want 39 and 6", got.Values[0][0], got.Values[1][0])
	}
}
