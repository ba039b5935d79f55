package metrics_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	metricsv1 "github.com/kizuna/kizuna/gen/kizuna/metrics/v1"
	"github.com/kizuna/kizuna/services/analytics/experiment"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/bus/bustest"
	"github.com/kizuna/kizuna/services/platform/grpctest"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

func TestInitiatives(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		e := start(t, db, bustest.Embedded(t), &fakeSegments{members: map[string]map[string][]string{wsA: {}}})
		testInitiatives(t, e)
	})
}

func testInitiatives(t *testing.T, e *env) {
	ctx := auth.WithBearer(context.Background(), keyA)
	// 40 purchasers in the last 90 days (now is day 365), 10 of them twice.
	for i := range 40 {
		id := "buyer" + strconv.Itoa(i)
		e.publish(t, wsA, "track", "i1"+id, eventMsg(wsA, "i1"+id, id, day(300+i), purchase("i1"+id, 4000)))
		if i < 10 {
			e.publish(t, wsA, "track", "i2"+id, eventMsg(wsA, "i2"+id, id, day(310+i), purchase("i2"+id, 6000)))
		}
	}
	waitFor(t, e.client, keyA, 40, 50)
	base, err := e.client.ComputeMetric(ctx, &metricsv1.ComputeMetricRequest{Kpi: "repeat_purchase_rate",
		StartTime: timestamppb.New(day(275)), EndTime: timestamppb.New(day(365))})
	if err != nil {
		t.Fatal(err)
	}
	c := metricsv1.NewInitiativeServiceClient(grpctest.Dial(t, e.addr))
	created, err := c.CreateInitiative(ctx, &metricsv1.InitiativeServiceCreateInitiativeRequest{Initiative: &metricsv1.PdcaInitiative{
		Title: "Second-purchase coupon", Hypothesis: "A coupon a week after the first order lifts repeat purchase",
		Kpi: "repeat_purchase_rate", ExpectedEffect: &metricsv1.ExpectedEffect{Absolute: 0.05},
	}})
	if err != nil {
		t.Fatal(err)
	}
	in := created.GetInitiative()
	n, _ := experiment.SampleSizeProportions(base.GetValue(), 0.05, experiment.Absolute, 0.05, 0.8)
	if in.GetState() != metricsv1.InitiativeState_PLAN || in.GetBaseline() != base.GetValue() || base.GetValue() != 0.25 ||
		int64(in.GetPlan().GetSampleSizePerArm()) != n || in.GetPlan().GetEntryRatePerDay() != 40.0/90 ||
		!near(in.GetPlan().GetExpectedDurationDays(), 2*float64(n)/(40.0/90)) ||
		!near(in.GetPlan().GetExpectedIncrementalRevenue(), 0.05*float64(n)*4400) {
		t.Errorf("plan %v, want baseline %v and %d per arm", in, base.GetValue(), n)
	}
	id := in.GetInitiativeId()

	e.campaign.put(wsA, abJourney("jny_coupon"), "")
	advance := func(req *metricsv1.AdvanceInitiativeRequest) (*metricsv1.PdcaInitiative, error) {
		req.InitiativeId = id
		resp, err := c.AdvanceInitiative(ctx, req)
		return resp.GetInitiative(), err
	}
	if _, err := advance(&metricsv1.AdvanceInitiativeRequest{Decision: metricsv1.Decision_ADOPT}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("decision in PLAN: %v, want FailedPrecondition", err)
	}
	if _, err := advance(&metricsv1.AdvanceInitiativeRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("DO without journeys: %v, want InvalidArgument", err)
	}
	for _, req := range []*metricsv1.AdvanceInitiativeRequest{
		{JourneyIds: []string{"jny_coupon"}, Actor: "hanako"},
		{},
		{Review: &metricsv1.Review{Keep: []string{"clear offer"}, Problem: []string{"small sample"}, Try: []string{"LINE instead of e-mail"}},
			Decision: metricsv1.Decision_ITERATE},
		{State: metricsv1.InitiativeState_CLOSED},
	} {
		if in, err = advance(req); err != nil {
			t.Fatalf("advance %v: %v", req, err)
		}
	}
	if in.GetState() != metricsv1.InitiativeState_CLOSED || len(in.GetHistory()) != 4 || in.GetCheck().GetJourneyId() != "jny_coupon" ||
		in.GetCheck().GetNote() == "" {
		t.Errorf("closed: %v", in)
	}
	if _, err := advance(&metricsv1.AdvanceInitiativeRequest{}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("past CLOSED: %v, want FailedPrecondition", err)
	}

	list, err := c.ListInitiatives(ctx, &metricsv1.InitiativeServiceListInitiativesRequest{State: metricsv1.InitiativeState_CLOSED, Kpi: "repeat_purchase_rate"})
	if err != nil || len(list.GetInitiatives()) != 1 {
		t.Errorf("list CLOSED: %v %v", list, err)
	}
	if list, err := c.ListInitiatives(ctx, &metricsv1.InitiativeServiceListInitiativesRequest{State: metricsv1.InitiativeState_PLAN}); err != nil || len(list.GetInitiatives()) != 0 {
		t.Errorf("list PLAN: %v %v", list, err)
	}
	sum, err := c.GetInitiativeSummary(ctx, &metricsv1.GetInitiativeSummaryRequest{InitiativeId: id, Format: "markdown"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sum.GetMarkdown(), "# Second-purchase coupon") || !strings.Contains(sum.GetMarkdown(), "- LINE instead of e-mail") ||
		len(sum.GetChart()) < 2 {
		t.Errorf("summary %v", sum)
	}

	if _, err := c.GetInitiative(auth.WithBearer(context.Background(), keyB), &metricsv1.GetInitiativeRequest{InitiativeId: id}); status.Code(err) != codes.NotFound {
		t.Errorf("other workspace: %v, want NotFound", err)
	}
	_, err = c.CreateInitiative(ctx, &metricsv1.InitiativeServiceCreateInitiativeRequest{Initiative: &metricsv1.PdcaInitiative{
		Title: "x", Kpi: "revenue", ExpectedEffect: &metricsv1.ExpectedEffect{Absolute: 0.05}}})
	expectInvalid(t, err, "initiative.kpi")
}
