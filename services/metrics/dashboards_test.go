package metrics_test

import (
	"context"
	"math"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	metricsv1 "github.com/kizuna/kizuna/gen/kizuna/metrics/v1"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/bus/bustest"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

var jst = time.FixedZone("JST", 9*3600)

func jstAt(month time.Month, d, h, m int) time.Time {
	return time.Date(2026, month, d, h, m, 0, 0, jst)
}

func trackMsg(ws, id, customer, name string, at time.Time, props map[string]any, order *ingestionv1.Order) *ingestionv1.IngestionBusMessage {
	p, err := structpb.NewStruct(props)
	if err != nil {
		panic(err)
	}
	return &ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_EventRecorded{EventRecorded: &ingestionv1.Event{
		EventId: id, WorkspaceId: ws, CustomerId: customer, Type: ingestionv1.EventType_EVENT_TYPE_TRACK,
		Name: name, Timestamp: timestamppb.New(at), Properties: p, Order: order,
	}}}
}

// publishShop publishes this history of ws_a (times in JST):
//
//	p: views Jan 4 10:00, adds Jan 4 11:00, orders Jan 5 (1000), Jan 20
//	   (2000), Feb 10 (1500); answers NPS 10 "love it" Jan 6, CSAT 5 Feb 11
//	q: views Jan 30; orders Jan 31 23:30 (500) and Feb 1 00:30 (700) — one
//	   UTC day, two JST months; answers NPS 5 Jan 31, CSAT 3 Feb 2
//	r: views shoes Feb 14 10:00, adds Feb 14 12:00, orders Feb 15 USD 20;
//	   answers NPS 9 Feb 16
//	s: orders Feb 20 EUR 10 (no exchange rate)
func publishShop(t *testing.T, e *env) {
	t.Helper()
	order := func(id string, rev float64, cur string) *ingestionv1.Order {
		return &ingestionv1.Order{OrderId: id, Revenue: rev, Currency: cur}
	}
	msgs := []*ingestionv1.IngestionBusMessage{
		trackMsg(wsA, "v1", "p", "Product Viewed", jstAt(1, 4, 10, 0), map[string]any{"category": "bags"}, nil),
		trackMsg(wsA, "v2", "p", "Product Added", jstAt(1, 4, 11, 0), nil, nil),
		trackMsg(wsA, "v3", "q", "Product Viewed", jstAt(1, 30, 9, 0), map[string]any{"category": "bags"}, nil),
		trackMsg(wsA, "v4", "r", "Product Viewed", jstAt(2, 14, 10, 0), map[string]any{"category": "shoes"}, nil),
		trackMsg(wsA, "v5", "r", "Product Added", jstAt(2, 14, 12, 0), nil, nil),
		trackMsg(wsA, "s1", "p", "Survey Answered", jstAt(1, 6, 9, 0), map[string]any{"survey": "nps-2026", "score": 10, "comment": "love it"}, nil),
		trackMsg(wsA, "s2", "q", "Survey Answered", jstAt(1, 31, 9, 0), map[string]any{"survey": "nps-2026", "score": "5"}, nil),
		trackMsg(wsA, "s3", "p", "Survey Answered", jstAt(2, 11, 9, 0), map[string]any{"survey": "csat-support", "score": 5}, nil),
		trackMsg(wsA, "s4", "q", "Survey Answered", jstAt(2, 2, 9, 0), map[string]any{"survey": "support", "type": "csat", "score": 3, "comment": "slow"}, nil),
		trackMsg(wsA, "s5", "r", "Survey Answered", jstAt(2, 16, 9, 0), map[string]any{"survey": "nps-2026", "score": 9}, nil),
		trackMsg(wsA, "s6", "r", "Survey Answered", jstAt(2, 16, 9, 0), map[string]any{"survey": "nps-2026", "score": 11}, nil),
		trackMsg(wsA, "o1", "p", "Order Completed", jstAt(1, 5, 12, 0), map[string]any{"channel": "LINE"}, order("P1", 1000, "JPY")),
		trackMsg(wsA, "o2", "p", "Order Completed", jstAt(1, 20, 12, 0), nil, order("P2", 2000, "JPY")),
		trackMsg(wsA, "o3", "p", "Order Completed", jstAt(2, 10, 12, 0), nil, order("P3", 1500, "JPY")),
		trackMsg(wsA, "o4", "q", "Order Completed", jstAt(1, 31, 23, 30), map[string]any{"channel": "EMAIL"}, order("Q1", 500, "JPY")),
		trackMsg(wsA, "o5", "q", "Order Completed", jstAt(2, 1, 0, 30), nil, order("Q2", 700, "JPY")),
		trackMsg(wsA, "o6", "r", "Order Completed", jstAt(2, 15, 12, 0), nil, order("R1", 20, "USD")),
		trackMsg(wsA, "o7", "s", "Order Completed", jstAt(2, 20, 12, 0), nil, order("S1", 10, "EUR")),
	}
	for _, m := range msgs {
		e.publish(t, wsA, "track", m.GetEventRecorded().GetEventId(), m)
	}
	waitFor(t, e.client, keyA, 4, 7)
}

func TestDashboards(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		e := start(t, db, bustest.Embedded(t), &fakeSegments{members: map[string]map[string][]string{
			wsA: {"pq": {"p", "q"}},
		}})
		publishShop(t, e)
		ctx := auth.WithBearer(context.Background(), keyA)
		_, err := e.client.UpdateMetricsSettings(ctx, &metricsv1.UpdateMetricsSettingsRequest{Settings: &metricsv1.MetricsSettings{
			Currency: "JPY", ExchangeRates: map[string]float64{"USD": 150}, GrossMargin: 0.4,
		}})
		if err != nil {
			t.Fatal(err)
		}
		t.Run("series", func(t *testing.T) { testSeries(t, ctx, e) })
		t.Run("costs", func(t *testing.T) { testCosts(t, ctx, e) })
		t.Run("surveys", func(t *testing.T) { testSurveys(t, ctx, e) })
		t.Run("funnels", func(t *testing.T) { testFunnels(t, ctx, e) })
		t.Run("trees", func(t *testing.T) { testTrees(t, ctx, e) })
		t.Run("workspace time zone", func(t *testing.T) { testWorkspaceZone(t, e) })
		t.Run("cohorts", func(t *testing.T) { testCohorts(t, ctx, e) })
		t.Run("messages", func(t *testing.T) { testMessages(t, ctx, e) })
	})
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// values maps each KPI of resp to its points' values.
func values(resp *metricsv1.QueryMetricsResponse) map[string][]float64 {
	out := map[string][]float64{}
	for _, s := range resp.GetSeries() {
		for _, p := range s.GetPoints() {
			out[s.GetKpi()] = append(out[s.GetKpi()], p.GetValue())
		}
	}
	return out
}

func checkSeries(t *testing.T, got map[string][]float64, want map[string][]float64) {
	t.Helper()
	for k, w := range want {
		g := got[k]
		if len(g) != len(w) {
			t.Errorf("%s: %v, want %v", k, g, w)
			continue
		}
		for i := range w {
			if !near(g[i], w[i]) {
				t.Errorf("%s[%d] = %v, want %v (all %v)", k, i, g[i], w[i], g)
			}
		}
	}
}

func testSeries(t *testing.T, ctx context.Context, e *env) {
	kpis := []string{"revenue", "order_count", "purchasing_customers", "new_customers", "returning_customers", "retention_rate",
		"churn_rate", "f2_conversion_rate", "aov", "historical_ltv", "customer_count", "nps", "csat", "ltv_margin", "ltv_formula"}
	req := &metricsv1.QueryMetricsRequest{
		Kpis: kpis, Granularity: "MONTH", TimeZone: "Asia/Tokyo", ComparePrevious: true,
		StartTime: timestamppb.New(jstAt(1, 1, 0, 0)), EndTime: timestamppb.New(jstAt(3, 1, 0, 0)),
	}
	resp, err := e.client.QueryMetrics(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// January: p 1000 + 2000, q 500; February: p 1500, q 700, r 20 USD ×
	// 150; s's EUR order has no rate and is reported apart.
	checkSeries(t, values(resp), map[string][]float64{
		"revenue":              {3500, 5200},
		"order_count":          {3, 3},
		"purchasing_customers": {2, 3},
		"new_customers":        {2, 1},
		"returning_customers":  {0, 2},
		"retention_rate":       {0, 1},
		"churn_rate":           {0, 0},
		"f2_conversion_rate":   {1, 0},
		"aov":                  {3500.0 / 3, 5200.0 / 3},
		"historical_ltv":       {1750, 5200.0 / 3},
		"customer_count":       {2, 4},
		"nps":                  {0, 100},
		"csat":                 {0, 50},
		"ltv_margin":           {0, 0},
	})
	if got := resp.GetSeries()[0].GetPoints()[0]; !got.GetStartTime().AsTime().Equal(jstAt(1, 1, 0, 0)) || !got.GetEndTime().AsTime().Equal(jstAt(2, 1, 0, 0)) {
		t.Errorf("first bucket [%v, %v), want January in JST", got.GetStartTime().AsTime(), got.GetEndTime().AsTime())
	}
	if p := resp.GetSeries()[0].GetPoints()[1]; p.PreviousValue == nil || p.GetPreviousValue() != 0 ||
		!p.GetPreviousStartTime().AsTime().Equal(time.Date(2025, 12, 1, 0, 0, 0, 0, jst)) {
		t.Errorf("February's previous value %v from %v, want 0 from December 2025", p.PreviousValue, p.GetPreviousStartTime().AsTime())
	}
	if p := resp.GetSeries()[0].GetPoints()[0]; p.PreviousValue == nil || p.GetPreviousValue() != 0 ||
		!p.GetPreviousStartTime().AsTime().Equal(time.Date(2025, 11, 1, 0, 0, 0, 0, jst)) {
		t.Errorf("January's previous point = %v from %v, want 0 from November 2025", p.PreviousValue, p.GetPreviousStartTime().AsTime())
	}
	if u := resp.GetUnconverted(); len(u) != 1 || u[0].GetCurrency() != "EUR" || u[0].GetRevenue() != 10 || u[0].GetOrderCount() != 1 {
		t.Errorf("unconverted = %v, want 10 EUR in 1 order", u)
	}
	if resp.GetCurrency() != "JPY" || resp.GetTimeZone() != "Asia/Tokyo" || resp.GetGranularity() != "MONTH" {
		t.Errorf("response echoes %q %q %q", resp.GetCurrency(), resp.GetTimeZone(), resp.GetGranularity())
	}

	// February alone compares with January.
	resp, err = e.client.QueryMetrics(ctx, &metricsv1.QueryMetricsRequest{Kpis: []string{"revenue"}, TimeZone: "Asia/Tokyo", ComparePrevious: true,
		StartTime: timestamppb.New(jstAt(2, 1, 0, 0)), EndTime: timestamppb.New(jstAt(3, 1, 0, 0))})
	if err != nil {
		t.Fatal(err)
	}
	if p := resp.GetSeries()[0].GetPoints(); len(p) != 1 || p[0].GetValue() != 5200 || p[0].GetPreviousValue() != 3500 {
		t.Errorf("February vs January = %v, want 5200 vs 3500", p)
	}

	// In UTC both of q's orders fall on January 31.
	req.TimeZone, req.Kpis, req.ComparePrevious = "UTC", []string{"revenue"}, false
	req.StartTime, req.EndTime = timestamppb.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), timestamppb.New(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	resp, err = e.client.QueryMetrics(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	checkSeries(t, values(resp), map[string][]float64{"revenue": {4200, 4500}})

	// Weeks start on Monday: Jan 26 – Feb 1 JST holds both of q's orders.
	resp, err = e.client.QueryMetrics(ctx, &metricsv1.QueryMetricsRequest{
		Kpis: []string{"order_count"}, Granularity: "WEEK", TimeZone: "Asia/Tokyo", SegmentId: "pq",
		StartTime: timestamppb.New(jstAt(1, 28, 0, 0)), EndTime: timestamppb.New(jstAt(2, 2, 0, 0)),
	})
	if err != nil {
		t.Fatal(err)
	}
	checkSeries(t, values(resp), map[string][]float64{"order_count": {2}})
	if got := resp.GetSeries()[0].GetPoints()[0].GetStartTime().AsTime(); !got.Equal(jstAt(1, 26, 0, 0)) {
		t.Errorf("week starts %v, want Monday Jan 26 JST", got)
	}

	// Days, per segment: p and q only.
	resp, err = e.client.QueryMetrics(ctx, &metricsv1.QueryMetricsRequest{
		Kpis: []string{"revenue"}, Granularity: "DAY", TimeZone: "Asia/Tokyo", SegmentId: "pq",
		StartTime: timestamppb.New(jstAt(1, 31, 0, 0)), EndTime: timestamppb.New(jstAt(2, 2, 0, 0)),
	})
	if err != nil {
		t.Fatal(err)
	}
	checkSeries(t, values(resp), map[string][]float64{"revenue": {500, 700}})

	for _, bad := range []struct {
		req   *metricsv1.QueryMetricsRequest
		field string
	}{
		{&metricsv1.QueryMetricsRequest{Kpis: []string{"nope"}, StartTime: req.StartTime, EndTime: req.EndTime}, "kpis"},
		{&metricsv1.QueryMetricsRequest{Kpis: []string{"revenue"}, Granularity: "YEAR", StartTime: req.StartTime, EndTime: req.EndTime}, "granularity"},
		{&metricsv1.QueryMetricsRequest{Kpis: []string{"revenue"}, EndTime: req.EndTime}, "start_time"},
		{&metricsv1.QueryMetricsRequest{Kpis: []string{"revenue"}, TimeZone: "Mars/Base", StartTime: req.StartTime, EndTime: req.EndTime}, "time_zone"},
		{&metricsv1.QueryMetricsRequest{Kpis: []string{"revenue"}, Granularity: "DAY", StartTime: req.StartTime,
			EndTime: timestamppb.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))}, "end_time"},
	} {
		_, err := e.client.QueryMetrics(ctx, bad.req)
		expectInvalid(t, err, bad.field)
	}
}

func testCosts(t *testing.T, ctx context.Context, e *env) {
	created, err := e.client.CreateCost(ctx, &metricsv1.CreateCostRequest{Cost: &metricsv1.Cost{
		Amount: 120000, Currency: "JPY", Channel: "LINE",
		StartTime: timestamppb.New(jstAt(2, 1, 0, 0)), EndTime: timestamppb.New(jstAt(3, 1, 0, 0)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if created.GetCost().GetCostId() == "" {
		t.Fatal("no cost id")
	}
	// 300 USD = 45,000 JPY over half of February and half of March.
	_, err = e.client.CreateCost(ctx, &metricsv1.CreateCostRequest{Cost: &metricsv1.Cost{
		Amount: 300, Currency: "USD", Channel: "ADS",
		StartTime: timestamppb.New(jstAt(2, 15, 0, 0)), EndTime: timestamppb.New(jstAt(3, 15, 0, 0)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.client.QueryMetrics(ctx, &metricsv1.QueryMetricsRequest{
		Kpis: []string{"marketing_cost", "cac", "ltv_to_cac", "allowable_cpa"}, Granularity: "MONTH", TimeZone: "Asia/Tokyo",
		StartTime: timestamppb.New(jstAt(1, 1, 0, 0)), EndTime: timestamppb.New(jstAt(3, 1, 0, 0)),
	})
	if err != nil {
		t.Fatal(err)
	}
	// Feb 15 – Mar 1 is 14 of the cost's 28 days.
	febCost := 120000 + 45000*14.0/28
	checkSeries(t, values(resp), map[string][]float64{
		"marketing_cost": {0, febCost},
		"cac":            {0, febCost / 1},
		"ltv_to_cac":     {0, (5200.0 / 3) / febCost},
		"allowable_cpa":  {1750 * 0.4, 5200.0 / 3 * 0.4},
	})
	resp, err = e.client.QueryMetrics(ctx, &metricsv1.QueryMetricsRequest{
		Kpis: []string{"marketing_cost", "cac"}, TimeZone: "Asia/Tokyo", Channel: "ads",
		StartTime: timestamppb.New(jstAt(2, 1, 0, 0)), EndTime: timestamppb.New(jstAt(3, 1, 0, 0)),
	})
	if err != nil {
		t.Fatal(err)
	}
	checkSeries(t, values(resp), map[string][]float64{"marketing_cost": {22500}, "cac": {22500}})
	list, err := e.client.ListCosts(ctx, &metricsv1.ListCostsRequest{Channel: "LINE"})
	if err != nil || len(list.GetCosts()) != 1 || list.GetCosts()[0].GetAmount() != 120000 {
		t.Errorf("ListCosts(LINE) = %v, %v", list, err)
	}
	for _, bad := range []struct {
		cost  *metricsv1.Cost
		field string
	}{
		{&metricsv1.Cost{Amount: -1, Channel: "LINE", StartTime: timestamppb.New(jstAt(2, 1, 0, 0)), EndTime: timestamppb.New(jstAt(3, 1, 0, 0))}, "cost.amount"},
		{&metricsv1.Cost{Amount: 1, Currency: "GBP", Channel: "LINE", StartTime: timestamppb.New(jstAt(2, 1, 0, 0)), EndTime: timestamppb.New(jstAt(3, 1, 0, 0))}, "cost.currency"},
		{&metricsv1.Cost{Amount: 1, StartTime: timestamppb.New(jstAt(2, 1, 0, 0)), EndTime: timestamppb.New(jstAt(3, 1, 0, 0))}, "cost.channel"},
		{&metricsv1.Cost{Amount: 1, Channel: "LINE", StartTime: timestamppb.New(jstAt(3, 1, 0, 0)), EndTime: timestamppb.New(jstAt(2, 1, 0, 0))}, "cost.end_time"},
	} {
		_, err := e.client.CreateCost(ctx, &metricsv1.CreateCostRequest{Cost: bad.cost})
		expectInvalid(t, err, bad.field)
	}
	if _, err := e.client.DeleteCost(ctx, &metricsv1.DeleteCostRequest{CostId: "nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("DeleteCost(nope) = %v, want NotFound", err)
	}
}

func testSurveys(t *testing.T, ctx context.Context, e *env) {
	resp, err := e.client.ListSurveyAnswers(ctx, &metricsv1.ListSurveyAnswersRequest{WithComment: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetAnswers()) != 2 || resp.GetAnswers()[0].GetComment() != "slow" || resp.GetAnswers()[0].GetKind() != "csat" ||
		resp.GetAnswers()[1].GetComment() != "love it" || resp.GetAnswers()[1].GetScore() != 10 {
		t.Errorf("answers with comments = %v", resp.GetAnswers())
	}
	// NPS of segment pq: p 10, q 5 → 50 % − 50 % = 0 in January.
	series, err := e.client.QueryMetrics(ctx, &metricsv1.QueryMetricsRequest{
		Kpis: []string{"nps", "survey_responses"}, TimeZone: "Asia/Tokyo", SegmentId: "pq",
		StartTime: timestamppb.New(jstAt(1, 1, 0, 0)), EndTime: timestamppb.New(jstAt(3, 1, 0, 0)),
	})
	if err != nil {
		t.Fatal(err)
	}
	checkSeries(t, values(series), map[string][]float64{"nps": {0, 0}, "survey_responses": {2, 2}})
}

func testFunnels(t *testing.T, ctx context.Context, e *env) {
	steps := []*metricsv1.FunnelStep{{Event: "Product Viewed"}, {Event: "Product Added"}, {Event: "Order Completed"}}
	resp, err := e.client.ComputeFunnel(ctx, &metricsv1.ComputeFunnelRequest{Steps: steps, Window: durationpb.New(7 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		count          int32
		prev, start    float64
		medianFromPrev time.Duration
	}{{3, 1, 1, 0}, {2, 2.0 / 3, 2.0 / 3, 90 * time.Minute}, {2, 1, 2.0 / 3, (25 + 24) * time.Hour / 2}}
	for i, w := range want {
		got := resp.GetSteps()[i]
		if got.GetCount() != w.count || !near(got.GetConversionFromPrevious(), w.prev) || !near(got.GetConversionFromStart(), w.start) ||
			got.GetMedianTimeFromPrevious().AsDuration() != w.medianFromPrev {
			t.Errorf("step %d = %v, want %+v", i, got, w)
		}
	}
	shoes, err := structpb.NewStruct(map[string]any{"category": "shoes"})
	if err != nil {
		t.Fatal(err)
	}
	steps[0].Filters = shoes
	resp, err = e.client.ComputeFunnel(ctx, &metricsv1.ComputeFunnelRequest{Steps: steps})
	if err != nil {
		t.Fatal(err)
	}
	if c := []int32{resp.GetSteps()[0].GetCount(), resp.GetSteps()[1].GetCount(), resp.GetSteps()[2].GetCount()}; c[0] != 1 || c[1] != 1 || c[2] != 1 {
		t.Errorf("shoes funnel counts %v, want 1 1 1", c)
	}
	_, err = e.client.ComputeFunnel(ctx, &metricsv1.ComputeFunnelRequest{Steps: steps[:1]})
	expectInvalid(t, err, "steps")
}

func nodeValues(resp interface {
	GetNodes() []*metricsv1.NodeValue
}) map[string]*metricsv1.NodeValue {
	out := map[string]*metricsv1.NodeValue{}
	for _, n := range resp.GetNodes() {
		out[n.GetId()] = n
	}
	return out
}

func testTrees(t *testing.T, ctx context.Context, e *env) {
	feb := func() (*timestamppb.Timestamp, *timestamppb.Timestamp) {
		return timestamppb.New(jstAt(2, 1, 0, 0)), timestamppb.New(jstAt(3, 1, 0, 0))
	}
	list, err := e.client.ListKpiTrees(ctx, &metricsv1.ListKpiTreesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetKpiTrees()) != 1 {
		t.Fatalf("starter trees: %v", list.GetKpiTrees())
	}
	starter := list.GetKpiTrees()[0].GetKpiTreeId()
	start, end := feb()
	ev, err := e.client.EvaluateKpiTree(ctx, &metricsv1.EvaluateKpiTreeRequest{KpiTreeId: starter, StartTime: start, EndTime: end})
	if err != nil {
		t.Fatal(err)
	}
	nodes := nodeValues(ev)
	// February: 1 new + 2 returning customers, AOV 5200/3, 1 order each.
	if s := nodes["sales"]; !near(s.GetValue(), 5200) || !near(s.GetMeasuredValue(), 5200) || !s.GetConsistent() || !near(s.GetPreviousValue(), 3500) {
		t.Errorf("sales = %v", s)
	}
	if c := nodes["customers"]; c.GetValue() != 3 || !c.GetConsistent() {
		t.Errorf("customers = %v", c)
	}
	if ev.GetRootId() != "sales" || nodes["win_new"].Value != nil {
		t.Errorf("root %q, KSF value %v", ev.GetRootId(), nodes["win_new"].Value)
	}
	// What if two new customers instead of one: 4 customers × 5200/3.
	wi, err := e.client.WhatIfKpiTree(ctx, &metricsv1.WhatIfKpiTreeRequest{KpiTreeId: starter, StartTime: start, EndTime: end,
		Overrides: map[string]float64{"new_customers": 2}})
	if err != nil {
		t.Fatal(err)
	}
	nodes = nodeValues(wi)
	if s := nodes["sales"]; !near(s.GetValue(), 4*5200.0/3) || !near(s.GetBaselineValue(), 5200) || !s.GetConsistent() {
		t.Errorf("what-if sales = %v", s)
	}
	// +1 % AOV adds 1 % of the what-if sales; +1 % of 2 new customers adds
	// 0.02 customers' spend.
	if s := nodes["aov"].GetSensitivity(); !near(s, 0.01*4*5200.0/3) {
		t.Errorf("aov sensitivity = %v", s)
	}
	if s := nodes["new_customers"].GetSensitivity(); !near(s, 0.02*5200.0/3) || !nodes["new_customers"].GetOverridden() {
		t.Errorf("new_customers = %v", nodes["new_customers"])
	}
	_, err = e.client.WhatIfKpiTree(ctx, &metricsv1.WhatIfKpiTreeRequest{KpiTreeId: starter, StartTime: start, EndTime: end,
		Overrides: map[string]float64{"sales": 1}})
	expectInvalid(t, err, "overrides")

	// The contract's tree: customer_count is everyone seen, not buyers, so
	// the decomposition is shown as it is.
	created, err := e.client.CreateKpiTree(ctx, &metricsv1.CreateKpiTreeRequest{KpiTree: &metricsv1.KpiTree{DisplayName: "Mine", Nodes: []*metricsv1.KpiNode{
		{Id: "sales", Kind: "KGI", Formula: "customers * spend", Target: &metricsv1.KpiTarget{Value: 1e4, DueTime: end}},
		{Id: "customers", Kind: "KPI", Kpi: "customer_count"},
		{Id: "spend", Kind: "KPI", Kpi: "historical_ltv"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	ev, err = e.client.EvaluateKpiTree(ctx, &metricsv1.EvaluateKpiTreeRequest{KpiTreeId: created.GetKpiTree().GetKpiTreeId(), StartTime: start, EndTime: end})
	if err != nil {
		t.Fatal(err)
	}
	nodes = nodeValues(ev)
	if s := nodes["sales"]; !near(s.GetValue(), 4*5200.0/3) || !near(s.GetTargetProgress(), 4*5200.0/3/1e4) || s.Consistent != nil {
		t.Errorf("sales = %v", s)
	}
	wi, err = e.client.WhatIfKpiTree(ctx, &metricsv1.WhatIfKpiTreeRequest{KpiTreeId: created.GetKpiTree().GetKpiTreeId(), StartTime: start, EndTime: end,
		Overrides: map[string]float64{"customers": 1200}})
	if err != nil {
		t.Fatal(err)
	}
	if s := nodeValues(wi)["sales"]; !near(s.GetValue(), 1200*5200.0/3) {
		t.Errorf("what-if sales = %v", s)
	}
	// Without a period, all time: spend is 8,700 over p, q and r.
	wi, err = e.client.WhatIfKpiTree(ctx, &metricsv1.WhatIfKpiTreeRequest{KpiTreeId: created.GetKpiTree().GetKpiTreeId(),
		Overrides: map[string]float64{"customers": 1200}})
	if err != nil {
		t.Fatal(err)
	}
	if s := nodeValues(wi)["sales"]; !near(s.GetValue(), 1200*2900) || s.PreviousValue != nil {
		t.Errorf("all-time what-if sales = %v, want 1200 × 2900 and no previous value", s)
	}

	ini, err := e.client.CreateInitiative(ctx, &metricsv1.CreateInitiativeRequest{KpiTreeId: starter,
		Initiative: &metricsv1.Initiative{NodeId: "returning_customers", Title: "F2 follow-up mail", Stage: "do"}})
	if err != nil || ini.GetInitiative().GetStage() != "DO" {
		t.Errorf("CreateInitiative = %v, %v", ini, err)
	}
	inis, err := e.client.ListInitiatives(ctx, &metricsv1.ListInitiativesRequest{KpiTreeId: starter})
	if err != nil || len(inis.GetInitiatives()) != 1 {
		t.Errorf("ListInitiatives = %v, %v", inis, err)
	}

	for _, bad := range []struct {
		nodes []*metricsv1.KpiNode
		field string
	}{
		{[]*metricsv1.KpiNode{{Id: "a", Kind: "KGI", Formula: "b * 2"}}, "kpi_tree.nodes[0].formula"},
		{[]*metricsv1.KpiNode{{Id: "a", Kind: "KGI", Formula: "b"}, {Id: "b", Kind: "KPI", Formula: "a"}}, "kpi_tree.nodes[0].formula"},
		{[]*metricsv1.KpiNode{{Id: "a", Kind: "KPI", Kpi: "ltv"}}, "kpi_tree.nodes[0].kpi"},
	} {
		_, err := e.client.CreateKpiTree(ctx, &metricsv1.CreateKpiTreeRequest{KpiTree: &metricsv1.KpiTree{DisplayName: "Bad", Nodes: bad.nodes}})
		expectInvalid(t, err, bad.field)
	}
	if _, err := e.client.DeleteKpiTree(ctx, &metricsv1.DeleteKpiTreeRequest{KpiTreeId: starter}); err != nil {
		t.Fatal(err)
	}
	list, err = e.client.ListKpiTrees(ctx, &metricsv1.ListKpiTreesRequest{})
	if err != nil || len(list.GetKpiTrees()) != 1 || list.GetKpiTrees()[0].GetDisplayName() != "Mine" {
		t.Errorf("after deleting the starter tree: %v, %v (it must not come back)", list, err)
	}
	// Another workspace sees none of it.
	if _, err := e.client.GetKpiTree(auth.WithBearer(context.Background(), keyB), &metricsv1.GetKpiTreeRequest{KpiTreeId: created.GetKpiTree().GetKpiTreeId()}); status.Code(err) != codes.NotFound {
		t.Errorf("other workspace GetKpiTree = %v, want NotFound", err)
	}
}

// expectInvalid checks err is InvalidArgument with a violation on field.
func expectInvalid(t *testing.T, err error, field string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Errorf("code = %v (%v), want InvalidArgument on %s", st.Code(), err, field)
		return
	}
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				if v.GetField() == field {
					return
				}
				fields = append(fields, v.GetField())
			}
		}
	}
	t.Errorf("violations on %v (%v), want %s", fields, err, field)
}

// testWorkspaceZone: ws_b's time zone is Asia/Tokyo in ingestion, so a
// query naming none cuts months in JST.
func testWorkspaceZone(t *testing.T, e *env) {
	m := trackMsg(wsB, "z1", "a", "Order Completed", jstAt(2, 1, 0, 30), nil, &ingestionv1.Order{OrderId: "Z1", Revenue: 100})
	e.publish(t, wsB, "track", "z1", m)
	waitFor(t, e.client, keyB, 1, 1)
	resp, err := e.client.QueryMetrics(auth.WithBearer(context.Background(), keyB), &metricsv1.QueryMetricsRequest{
		Kpis: []string{"revenue"}, StartTime: timestamppb.New(jstAt(1, 1, 0, 0)), EndTime: timestamppb.New(jstAt(3, 1, 0, 0)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetTimeZone() != "Asia/Tokyo" {
		t.Errorf("time zone %q, want the workspace's Asia/Tokyo", resp.GetTimeZone())
	}
	checkSeries(t, values(resp), map[string][]float64{"revenue": {0, 100}})
}

// testMessages publishes journey send outcomes the way campaign does (and a
// campaign delivery, which is not a send), plus unsubscribes, and reads the
// message KPIs per channel.
func testMessages(t *testing.T, ctx context.Context, e *env) {
	sends := []*campaignv1.SendOutcome{
		{SendId: "snd_1", CustomerId: "p", ChannelType: ingestionv1.ChannelType_EMAIL, Status: campaignv1.SendStatus_SENT},
		{SendId: "snd_2", CustomerId: "q", ChannelType: ingestionv1.ChannelType_EMAIL, Status: campaignv1.SendStatus_SENT},
		{SendId: "snd_3", CustomerId: "r", ChannelType: ingestionv1.ChannelType_EMAIL, Status: campaignv1.SendStatus_FAILED},
		{SendId: "snd_4", CustomerId: "p", ChannelType: ingestionv1.ChannelType_LINE, Status: campaignv1.SendStatus_SENT},
		{SendId: "snd_5", CustomerId: "q", ChannelType: ingestionv1.ChannelType_LINE, Status: campaignv1.SendStatus_SKIPPED},
	}
	for i, o := range sends {
		o.WorkspaceId, o.JourneyId, o.SendTime = wsA, "jny_1", timestamppb.New(jstAt(2, 3+i, 9, 0))
		if err := e.bus.Publish(context.Background(), e.bus.Subject(bus.KindDeliveries, wsA, "jny_1"), o.GetSendId(), o); err != nil {
			t.Fatal(err)
		}
	}
	dlv, err := structpb.NewStruct(map[string]any{"status": "SENT"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.bus.Publish(context.Background(), e.bus.Subject(bus.KindDeliveries, wsA, "cmp_1"), "dlv_1", dlv); err != nil {
		t.Fatal(err)
	}
	e.publish(t, wsA, "track", "u1", trackMsg(wsA, "u1", "q", "Unsubscribed", jstAt(2, 7, 9, 0), map[string]any{"channel": "email"}, nil))
	e.publish(t, wsA, "track", "u2", trackMsg(wsA, "u2", "r", "LINE Unfollowed", jstAt(2, 8, 9, 0), nil, nil))
	query := func(channel string) map[string][]float64 {
		resp, err := e.client.QueryMetrics(ctx, &metricsv1.QueryMetricsRequest{
			Kpis: []string{"sends", "delivery_rate", "unsubscribe_rate"}, TimeZone: "Asia/Tokyo", Channel: channel,
			StartTime: timestamppb.New(jstAt(2, 1, 0, 0)), EndTime: timestamppb.New(jstAt(3, 1, 0, 0)),
		})
		if err != nil {
			t.Fatal(err)
		}
		return values(resp)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := query("")
		if got["sends"][0] == 3 && got["unsubscribe_rate"][0] == 2.0/3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for sends: %v", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	checkSeries(t, query(""), map[string][]float64{"sends": {3}, "delivery_rate": {0.75}, "unsubscribe_rate": {2.0 / 3}})
	checkSeries(t, query("email"), map[string][]float64{"sends": {2}, "delivery_rate": {2.0 / 3}, "unsubscribe_rate": {0.5}})
	checkSeries(t, query("LINE"), map[string][]float64{"sends": {1}, "delivery_rate": {1}, "unsubscribe_rate": {1}})
}

func testCohorts(t *testing.T, ctx context.Context, e *env) {
	resp, err := e.client.GetCohortRetention(ctx, &metricsv1.GetCohortRetentionRequest{
		AsOfTime: timestamppb.New(jstAt(3, 1, 0, 0)), TimeZone: "Asia/Tokyo", Granularity: "MONTH",
	})
	if err != nil {
		t.Fatal(err)
	}
	// January: p and q (q's first order is 23:30 JST on the 31st), both
	// back in February for 1500 + 700; February: r (20 USD at 150).
	c := resp.GetCohorts()
	if len(c) != 2 || !c[0].GetStartTime().AsTime().Equal(jstAt(1, 1, 0, 0)) || c[0].GetSize() != 2 ||
		len(c[0].GetActive()) != 2 || c[0].GetActive()[1] != 2 || c[0].GetRevenue()[0] != 3500 || c[0].GetRevenue()[1] != 2200 ||
		!near(c[0].GetRevenueRate()[1], 2200.0/3500) || c[1].GetSize() != 1 || c[1].GetRevenue()[0] != 3000 {
		t.Errorf("cohorts = %v", c)
	}
	resp, err = e.client.GetCohortRetention(ctx, &metricsv1.GetCohortRetentionRequest{
		AsOfTime: timestamppb.New(jstAt(3, 1, 0, 0)), TimeZone: "Asia/Tokyo", Granularity: "WEEK", SegmentId: "pq",
	})
	if err != nil {
		t.Fatal(err)
	}
	// Weekly, p and q only: p's week of Monday Jan 5, q's of Monday Jan 26.
	c = resp.GetCohorts()
	if len(c) != 2 || !c[0].GetStartTime().AsTime().Equal(jstAt(1, 5, 0, 0)) || !c[1].GetStartTime().AsTime().Equal(jstAt(1, 26, 0, 0)) || c[1].GetMonth() != nil {
		t.Errorf("weekly cohorts of pq = %v", c)
	}
	// By the channel of the first order: p came by LINE, q by e-mail, r's
	// order names none.
	resp, err = e.client.GetCohortRetention(ctx, &metricsv1.GetCohortRetentionRequest{
		AsOfTime: timestamppb.New(jstAt(3, 1, 0, 0)), TimeZone: "Asia/Tokyo", GroupByProperty: "channel",
	})
	if err != nil {
		t.Fatal(err)
	}
	c = resp.GetCohorts()
	if len(c) != 3 || c[0].GetGroup() != "EMAIL" || c[0].GetRevenue()[0] != 500 || c[1].GetGroup() != "LINE" || c[1].GetRevenue()[1] != 1500 ||
		c[2].GetGroup() != "" || c[2].GetSize() != 1 {
		t.Errorf("cohorts by first-purchase channel = %v", c)
	}
	// Daily columns from January 2026 to 2028 are too many.
	_, err = e.client.GetCohortRetention(ctx, &metricsv1.GetCohortRetentionRequest{Granularity: "DAY",
		AsOfTime: timestamppb.New(time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC))})
	expectInvalid(t, err, "as_of_time")
}
