package kpi_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/analytics/retention"
	"github.com/kizuna/kizuna/services/metrics/internal/kpi"
	"github.com/kizuna/kizuna/services/metrics/internal/ledger"
	"github.com/kizuna/kizuna/services/metrics/internal/store"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// TestRepeatRateAgreesWithAnalytics pins repeat_purchase_rate to the shared
// analytics definition. The KPI is aggregated in SQL rather than by calling
// retention.RepeatPurchaseRate, which needs every order in memory; this test
// keeps the two from drifting apart.
func TestRepeatRateAgreesWithAnalytics(t *testing.T) {
	ctx := context.Background()
	st, err := store.New(ctx, sqldbtest.SQLite(t), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range history {
		if err := ledger.Apply(ctx, st, slog.New(slog.DiscardHandler), m); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	// The distinct orders of workspace "w" after the merge of e into b.
	orders := []retention.Order{
		{CustomerID: "a", Time: day(1)}, {CustomerID: "a", Time: day(10)},
		{CustomerID: "b", Time: day(5)}, {CustomerID: "b", Time: day(7)},
		{CustomerID: "d", Time: day(3)}, {CustomerID: "d", Time: day(20)},
	}
	calc := kpi.NewCalculator(st, segments{}, time.Now)
	tests := []struct {
		name string
		r    kpi.Range
	}{
		{name: "all time"},
		{name: "first 15 days", r: kpi.Range{Start: day(0), End: day(15)}},
		{name: "days 5 to 10", r: kpi.Range{Start: day(5), End: day(11)}},
		{name: "day 20 onwards", r: kpi.Range{Start: day(20)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var in []retention.Order
			for _, o := range orders {
				if (tt.r.Start.IsZero() || !o.Time.Before(tt.r.Start)) && (tt.r.End.IsZero() || o.Time.Before(tt.r.End)) {
					in = append(in, o)
				}
			}
			want, err := retention.RepeatPurchaseRate(in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := calc.Compute(ctx, kpi.Request{WorkspaceID: "w", KPI: "repeat_purchase_rate", Range: tt.r})
			if err != nil {
				t.Fatal(err)
			}
			if !near(got.Value, want.Rate) || got.Totals.PurchasingCustomers != int64(want.Of) || got.Totals.RepeatCustomers != int64(want.Count) {
				t.Errorf("repeat_purchase_rate = %v (%d of %d), analytics says %v (%d of %d)",
					got.Value, got.Totals.RepeatCustomers, got.Totals.PurchasingCustomers, want.Rate, want.Count, want.Of)
			}
		})
	}
}
