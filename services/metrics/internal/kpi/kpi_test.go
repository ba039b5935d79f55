package kpi_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/metrics/internal/kpi"
	"github.com/kizuna/kizuna/services/metrics/internal/ledger"
	"github.com/kizuna/kizuna/services/metrics/internal/store"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"

	"github.com/kizuna/kizuna/services/platform/validation"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func day(n int) time.Time { return t0.AddDate(0, 0, n) }

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestDefinitions(t *testing.T) {
	busy := kpi.Totals{Customers: 10, PurchasingCustomers: 4, RepeatCustomers: 1, Orders: 8, Revenue: 200}
	tests := []struct {
		kpi    string
		totals kpi.Totals
		want   float64
	}{
		{kpi: "customer_count", totals: busy, want: 10},
		{kpi: "revenue", totals: busy, want: 200},
		{kpi: "order_count", totals: busy, want: 8},
		{kpi: "aov", totals: busy, want: 25},
		{kpi: "purchase_frequency", totals: busy, want: 2},
		{kpi: "repeat_purchase_rate", totals: busy, want: 0.25},
		{kpi: "historical_ltv", totals: busy, want: 50},
		// Zero denominators are defined as 0, not NaN.
		{kpi: "aov", totals: kpi.Totals{Customers: 3}, want: 0},
		{kpi: "purchase_frequency", totals: kpi.Totals{Customers: 3}, want: 0},
		{kpi: "repeat_purchase_rate", totals: kpi.Totals{Customers: 3}, want: 0},
		{kpi: "historical_ltv", totals: kpi.Totals{}, want: 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %+v", tt.kpi, tt.totals), func(t *testing.T) {
			d, ok := kpi.Lookup(tt.kpi)
			if !ok {
				t.Fatalf("Lookup(%q) failed", tt.kpi)
			}
			if got := d.Value(tt.totals); !near(got, tt.want) {
				t.Errorf("%s = %v, want %v", tt.kpi, got, tt.want)
			}
		})
	}
}

func TestDefinitionsTable(t *testing.T) {
	want := []string{"customer_count", "revenue", "order_count", "aov", "purchase_frequency", "repeat_purchase_rate", "historical_ltv",
		"purchasing_customers", "new_customers", "returning_customers", "new_customer_revenue", "returning_customer_revenue",
		"retention_rate", "churn_rate", "f2_conversion_rate", "ltv_formula", "ltv_margin", "predicted_clv", "nps", "csat",
		"survey_responses", "marketing_cost", "cac", "ltv_to_cac", "sends", "delivery_rate", "unsubscribe_rate", "allowable_cpa"}
	if got := kpi.Names(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	for _, d := range kpi.Definitions() {
		if d.Description == "" || !strings.HasSuffix(d.Description, ".") {
			t.Errorf("%s: description %q is not a sentence", d.Name, d.Description)
		}
	}
	if _, ok := kpi.Lookup("ltv"); ok {
		t.Error(`Lookup("ltv") succeeded`)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name       string
		req        kpi.Request
		wantFields []string
	}{
		{name: "valid", req: kpi.Request{KPI: "aov", Range: kpi.Range{Start: day(0), End: day(1)}}},
		{name: "empty range is valid", req: kpi.Request{KPI: "aov", Range: kpi.Range{Start: day(1), End: day(1)}}},
		{name: "open start", req: kpi.Request{KPI: "aov", Range: kpi.Range{End: day(1)}}},
		{name: "unknown kpi", req: kpi.Request{KPI: "ltv"}, wantFields: []string{"kpi"}},
		{name: "missing kpi", req: kpi.Request{}, wantFields: []string{"kpi"}},
		{name: "start after end", req: kpi.Request{KPI: "aov", Range: kpi.Range{Start: day(2), End: day(1)}}, wantFields: []string{"start_time"}},
		{
			name:       "everything wrong at once",
			req:        kpi.Request{KPI: "x", SegmentID: strings.Repeat("s", kpi.MaxSegmentIDLen+1), Range: kpi.Range{Start: day(2), End: day(1)}},
			wantFields: []string{"kpi", "segment_id", "start_time"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := kpi.Validate(tt.req)
			var ve *validation.Error
			if !errors.As(err, &ve) {
				if tt.wantFields != nil {
					t.Fatalf("Validate = %v, want fields %v", err, tt.wantFields)
				}
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var fields []string
			for _, v := range ve.Violations {
				fields = append(fields, v.Field)
			}
			if strings.Join(fields, ",") != strings.Join(tt.wantFields, ",") {
				t.Errorf("violations on %v, want %v (%v)", fields, tt.wantFields, err)
			}
		})
	}
}

func TestUnknownKPIListsValidNames(t *testing.T) {
	err := kpi.Validate(kpi.Request{KPI: "ltv"})
	for _, name := range kpi.Names() {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not list %q", err, name)
		}
	}
}

// segments is an in-memory kpi.Segments.
type segments map[string][]string

func (s segments) Members(_ context.Context, id string, limit int) ([]string, error) {
	m, ok := s[id]
	if !ok {
		return nil, kpi.ErrSegmentNotFound
	}
	if len(m) > limit {
		return nil, kpi.ErrScopeTooLarge
	}
	return m, nil
}

func event(id, customer string, at time.Time, order *ingestionv1.Order) *ingestionv1.IngestionBusMessage {
	return eventIn("w", id, customer, at, order)
}

func eventIn(ws, id, customer string, at time.Time, order *ingestionv1.Order) *ingestionv1.IngestionBusMessage {
	return &ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_EventRecorded{EventRecorded: &ingestionv1.Event{
		EventId: id, WorkspaceId: ws, CustomerId: customer, Type: ingestionv1.EventType_EVENT_TYPE_TRACK,
		Name: "Order Completed", Timestamp: timestamppb.New(at), Order: order,
	}}}
}

func purchase(orderID string, revenue float64) *ingestionv1.Order {
	return &ingestionv1.Order{OrderId: orderID, Revenue: revenue, Currency: "JPY"}
}

// history is the hand-computed scenario below. In workspace "w":
//
//	a: visit day 0; orders o1 day 1 (100), o2 day 10 (50)
//	b: order o3 day 5 (30), resent under a new event id (counts once)
//	c: visit day 2 only
//	d: order without order id day 3 (20); order o4 day 20 (200)
//	e: order o5 day 7 (80); then merged into b
//
// and in workspace "x" a big order for a customer also called "a".
var history = []*ingestionv1.IngestionBusMessage{
	event("ev1", "a", day(0), nil),
	event("ev2", "a", day(1), purchase("o1", 100)),
	event("ev3", "a", day(10), purchase("o2", 50)),
	event("ev4", "b", day(5), purchase("o3", 30)),
	event("ev5", "b", day(5), purchase("o3", 30)),
	event("ev6", "c", day(2), nil),
	event("ev7", "d", day(3), &ingestionv1.Order{Revenue: 20}),
	event("ev8", "d", day(20), purchase("o4", 200)),
	event("ev9", "e", day(7), purchase("o5", 80)),
	event("ev4", "b", day(5), purchase("o3", 30)), // redelivery
	{Payload: &ingestionv1.IngestionBusMessage_CustomerMerged{CustomerMerged: &ingestionv1.CustomerMerged{
		MergeId: "m1", WorkspaceId: "w", SurvivorCustomerId: "b", MergedCustomerIds: []string{"e"},
	}}},
	eventIn("x", "ev1", "a", day(1), purchase("o1", 1000)),
}

func TestCompute(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		st, err := store.New(ctx, db, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range history {
			if err := ledger.Apply(ctx, st, slog.New(slog.DiscardHandler), m); err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
		}
		segs := segments{"vip": {"a", "c", "e"}, "empty": {}}
		computeTime := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
		calc := kpi.NewCalculator(st, segs, func() time.Time { return computeTime })

		first15 := kpi.Range{Start: day(0), End: day(15)}
		tests := []struct {
			name       string
			req        kpi.Request
			want       float64
			wantTotals kpi.Totals
		}{
			// Days 0–14: a 2 orders (150), b 2 (30 + e's 80 after the merge), d 1 (20).
			{name: "customers", req: kpi.Request{KPI: "customer_count", Range: first15}, want: 4,
				wantTotals: kpi.Totals{Customers: 4, PurchasingCustomers: 3, RepeatCustomers: 2, Orders: 5, Revenue: 280}},
			{name: "revenue", req: kpi.Request{KPI: "revenue", Range: first15}, want: 280},
			{name: "orders", req: kpi.Request{KPI: "order_count", Range: first15}, want: 5},
			{name: "aov", req: kpi.Request{KPI: "aov", Range: first15}, want: 56},
			{name: "frequency", req: kpi.Request{KPI: "purchase_frequency", Range: first15}, want: 5.0 / 3},
			{name: "repeat rate", req: kpi.Request{KPI: "repeat_purchase_rate", Range: first15}, want: 2.0 / 3},
			{name: "ltv", req: kpi.Request{KPI: "historical_ltv", Range: first15}, want: 280.0 / 3},
			// All time adds d's 200 order, making d a repeat buyer.
			{name: "all time revenue", req: kpi.Request{KPI: "revenue"}, want: 480,
				wantTotals: kpi.Totals{Customers: 4, PurchasingCustomers: 3, RepeatCustomers: 3, Orders: 6, Revenue: 480}},
			{name: "all time aov", req: kpi.Request{KPI: "aov"}, want: 80},
			{name: "all time repeat rate", req: kpi.Request{KPI: "repeat_purchase_rate"}, want: 1},
			// [day 10, day 20): o2 at day 10 counts, o4 at day 20 does not.
			{name: "range edges", req: kpi.Request{KPI: "revenue", Range: kpi.Range{Start: day(10), End: day(20)}}, want: 50,
				wantTotals: kpi.Totals{Customers: 4, PurchasingCustomers: 1, Orders: 1, Revenue: 50}},
			{name: "no orders in range", req: kpi.Request{KPI: "aov", Range: kpi.Range{Start: day(100)}}, want: 0,
				wantTotals: kpi.Totals{Customers: 4}},
			// Segment a, c, e (= b after the merge): a 150 in 2, b 110 in 2.
			{name: "segment revenue", req: kpi.Request{KPI: "revenue", SegmentID: "vip", Range: first15}, want: 260,
				wantTotals: kpi.Totals{Customers: 3, PurchasingCustomers: 2, RepeatCustomers: 2, Orders: 4, Revenue: 260}},
			{name: "segment aov", req: kpi.Request{KPI: "aov", SegmentID: "vip", Range: first15}, want: 65},
			{name: "segment ltv", req: kpi.Request{KPI: "historical_ltv", SegmentID: "vip", Range: first15}, want: 130},
			{name: "segment repeat rate", req: kpi.Request{KPI: "repeat_purchase_rate", SegmentID: "vip", Range: first15}, want: 1},
			{name: "empty segment", req: kpi.Request{KPI: "purchase_frequency", SegmentID: "empty"}, want: 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tt.req.WorkspaceID = "w"
				got, err := calc.Compute(ctx, tt.req)
				if err != nil {
					t.Fatal(err)
				}
				if !near(got.Value, tt.want) {
					t.Errorf("value = %v, want %v", got.Value, tt.want)
				}
				if tt.wantTotals != (kpi.Totals{}) && base(got.Totals) != tt.wantTotals {
					t.Errorf("totals = %+v, want %+v", got.Totals, tt.wantTotals)
				}
				if got.KPI != tt.req.KPI || got.SegmentID != tt.req.SegmentID || got.Range != tt.req.Range || !got.ComputeTime.Equal(computeTime) {
					t.Errorf("result echoes %q %q %+v %v; want the request's and %v", got.KPI, got.SegmentID, got.Range, got.ComputeTime, computeTime)
				}
			})
		}

		errTests := []struct {
			name    string
			req     kpi.Request
			wantErr error
		}{
			{name: "unknown segment", req: kpi.Request{WorkspaceID: "w", KPI: "revenue", SegmentID: "nope"}, wantErr: kpi.ErrSegmentNotFound},
			{name: "no workspace", req: kpi.Request{KPI: "revenue"}},
		}
		for _, tt := range errTests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := calc.Compute(ctx, tt.req)
				if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
					t.Errorf("Compute = %v, want %v", err, tt.wantErr)
				}
			})
		}

		// The other workspace sees only its own order.
		got, err := calc.Compute(ctx, kpi.Request{WorkspaceID: "x", KPI: "revenue"})
		if err != nil {
			t.Fatal(err)
		}
		if want := (kpi.Totals{Customers: 1, PurchasingCustomers: 1, Orders: 1, Revenue: 1000}); base(got.Totals) != want {
			t.Errorf("workspace x totals = %+v, want %+v", got.Totals, want)
		}
	})
}

// base keeps the totals the original KPIs are computed from.
func base(t kpi.Totals) kpi.Totals {
	return kpi.Totals{Customers: t.Customers, PurchasingCustomers: t.PurchasingCustomers, RepeatCustomers: t.RepeatCustomers, Orders: t.Orders, Revenue: t.Revenue}
}
