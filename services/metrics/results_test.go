package metrics_test

import (
	"context"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	metricsv1 "github.com/kizuna/kizuna/gen/kizuna/metrics/v1"
	segmentationv1 "github.com/kizuna/kizuna/gen/kizuna/segmentation/v1"
	"github.com/kizuna/kizuna/services/analytics/experiment"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/bus/bustest"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// fakeCampaign serves the journeys and campaigns results read, for the
// caller's workspace only.
type fakeCampaign struct {
	campaignv1.UnimplementedJourneyServiceServer
	campaignv1.UnimplementedCampaignServiceServer
	mu        sync.Mutex
	journeys  map[string]*campaignv1.Journey // workspace/journey id →
	campaigns map[string]string              // workspace/campaign id → journey id
}

func (f *fakeCampaign) put(ws string, j *campaignv1.Journey, campaignID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.journeys == nil {
		f.journeys, f.campaigns = map[string]*campaignv1.Journey{}, map[string]string{}
	}
	f.journeys[ws+"/"+j.GetJourneyId()] = j
	if campaignID != "" {
		f.campaigns[ws+"/"+campaignID] = j.GetJourneyId()
	}
}

func (f *fakeCampaign) GetJourney(ctx context.Context, req *campaignv1.GetJourneyRequest) (*campaignv1.GetJourneyResponse, error) {
	ws, _ := auth.WorkspaceID(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.journeys[ws+"/"+req.GetJourneyId()]
	if !ok {
		return nil, status.Error(codes.NotFound, "journey not found")
	}
	return &campaignv1.GetJourneyResponse{Journey: j}, nil
}

func (f *fakeCampaign) GetCampaign(ctx context.Context, req *campaignv1.GetCampaignRequest) (*campaignv1.GetCampaignResponse, error) {
	ws, _ := auth.WorkspaceID(ctx)
	f.mu.Lock()
	defer f.mu.Unlock()
	j, ok := f.campaigns[ws+"/"+req.GetCampaignId()]
	if !ok {
		return nil, status.Error(codes.NotFound, "campaign not found")
	}
	return &campaignv1.GetCampaignResponse{Campaign: &campaignv1.Campaign{CampaignId: req.GetCampaignId(), JourneyId: j}}, nil
}

// ListSegments lists the workspace's fake segments, in one page.
func (f *fakeSegments) ListSegments(ctx context.Context, _ *segmentationv1.ListSegmentsRequest) (*segmentationv1.ListSegmentsResponse, error) {
	ws, _ := auth.WorkspaceID(ctx)
	out := &segmentationv1.ListSegmentsResponse{}
	for id := range f.members[ws] {
		out.Segments = append(out.Segments, &segmentationv1.Segment{SegmentId: id})
	}
	return out, nil
}

// abJourney is a journey with a 20 % holdout and variants A and B.
func abJourney(id string) *campaignv1.Journey {
	return &campaignv1.Journey{
		JourneyId: id, Holdout: &campaignv1.Holdout{Percent: 20},
		Steps: []*campaignv1.Step{{Id: "mail", Kind: &campaignv1.Step_Send{Send: &campaignv1.SendStep{
			ChannelId: "ch", Variants: []*campaignv1.Variant{{Name: "A", Weight: 50}, {Name: "B", Weight: 50}},
		}}}},
	}
}

// simArm is what the test itself counts for one arm, to check the service.
type simArm struct {
	exposed, converted int64
	revenue            experiment.CovariateSample
}

// simulateCampaign publishes, the way campaign and ingestion do, a journey
// of n customers assigned by the GrowthBook hash to holdout (20 %), A and
// B, who buy within the week with probability 8 %, 10 % and 14 %, some of
// whom bought in the month before; a customer exposed in A is merged into
// an unexposed one whose order must count for A. It returns its own
// per-arm counts.
func simulateCampaign(t *testing.T, e *env, ws, journeyID string, n int) map[string]*simArm {
	t.Helper()
	rng := rand.New(rand.NewPCG(42, 7))
	p := map[string]float64{"holdout": 0.08, "A": 0.10, "B": 0.14}
	arms := map[string]*simArm{"holdout": {}, "A": {}, "B": {}}
	names := []string{"holdout", "A", "B"}
	exposedAt := day(40)
	ctx := context.Background()
	for i := range n {
		id := "sim" + strconv.Itoa(i)
		arm := names[experiment.Pick(journeyID, id, []float64{0.2, 0.4, 0.4})]
		at := exposedAt.Add(time.Duration(i) * time.Minute)
		out := &campaignv1.SendOutcome{SendId: "snd_" + journeyID + id, WorkspaceId: ws, JourneyId: journeyID, CustomerId: id,
			StepId: "mail", Variant: arm, PlannedTime: timestamppb.New(at)}
		if arm == "holdout" {
			out.Status, out.Reason = campaignv1.SendStatus_SKIPPED, campaignv1.SkipReason_HOLDOUT
		} else {
			out.Status, out.SendTime = campaignv1.SendStatus_SENT, timestamppb.New(at.Add(time.Second))
			at = at.Add(time.Second)
		}
		if err := e.bus.Publish(ctx, e.bus.Subject(bus.KindDeliveries, ws, journeyID), out.GetSendId(), out); err != nil {
			t.Fatal(err)
		}
		a := arms[arm]
		a.exposed++
		var x, y float64
		if rng.Float64() < 0.3 {
			x = float64(100 * (1 + rng.IntN(20)))
			e.publish(t, ws, "track", "pre"+id, eventMsg(ws, "pre"+id, id, at.Add(-10*24*time.Hour), purchase("pre"+id, x)))
		}
		if rng.Float64() < p[arm] {
			a.converted++
			y = 1000 + x
			e.publish(t, ws, "track", "buy"+id, eventMsg(ws, "buy"+id, id, at.Add(48*time.Hour), purchase("buy"+id, y)))
		}
		a.revenue.N++
		a.revenue.SumY += y
		a.revenue.SumYY += y * y
		a.revenue.SumX += x
		a.revenue.SumXX += x * x
		a.revenue.SumXY += x * y
	}
	// "merged" is exposed in A, then merged into "survivor", never exposed,
	// whose order inside merged's window counts for A.
	at := exposedAt.Add(-time.Hour)
	out := &campaignv1.SendOutcome{SendId: "snd_" + journeyID + "merged", WorkspaceId: ws, JourneyId: journeyID, CustomerId: "merged",
		StepId: "mail", Variant: "A", Status: campaignv1.SendStatus_SENT, SendTime: timestamppb.New(at)}
	if err := e.bus.Publish(ctx, e.bus.Subject(bus.KindDeliveries, ws, journeyID), out.GetSendId(), out); err != nil {
		t.Fatal(err)
	}
	e.publish(t, ws, "track", "srv1", eventMsg(ws, "srv1", "survivor", at.Add(time.Hour), purchase("srv1", 500)))
	e.publish(t, ws, "customer_merged", "mm1", mergeMsg(ws, "mm1", "survivor", "merged"))
	a := arms["A"]
	a.exposed++
	a.converted++
	a.revenue.N++
	a.revenue.SumY += 500
	a.revenue.SumYY += 500 * 500
	return arms
}

func TestResults(t *testing.T) {
	for _, bb := range []struct {
		name string
		bus  busBackend
	}{{"embedded nats", bustest.Embedded}, {"external nats", bustest.External}} {
		t.Run(bb.name, func(t *testing.T) {
			sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
				b := bb.bus(t)
				segs := &fakeSegments{members: map[string]map[string][]string{wsA: {}}}
				e := start(t, db, b, segs)
				testResults(t, db, b, e)
			})
		})
	}
}

func testResults(t *testing.T, db *sqldb.DB, b *bus.Bus, e *env) {
	ctx := auth.WithBearer(context.Background(), keyA)
	const n = 1500
	e.campaign.put(wsA, abJourney("jny_ab"), "cmp_ab")
	want := simulateCampaign(t, e, wsA, "jny_ab", n)
	// Breakdown groups: even-numbered customers, and an RFM segment.
	var even, champions []string
	for i := 0; i < n; i += 2 {
		even = append(even, "sim"+strconv.Itoa(i))
	}
	for i := 0; i < n; i += 3 {
		champions = append(champions, "sim"+strconv.Itoa(i))
	}
	e.segments.members[wsA]["even"] = even
	e.segments.members[wsA]["rfm_champions"] = champions
	e.segments.members[wsA]["rfm_lost"] = nil

	var got *metricsv1.Results
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := e.client.GetJourneyResults(ctx, &metricsv1.GetJourneyResultsRequest{JourneyId: "jny_ab"})
		if err != nil {
			t.Fatal(err)
		}
		got = resp.GetResults()
		if matches(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out: results %v, want counts %v", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got.GetControl() != "holdout" || got.GetGoalEvent() != "Order Completed" || got.GetAttributionWindow().AsDuration() != 7*24*time.Hour {
		t.Errorf("control %q goal %q window %v", got.GetControl(), got.GetGoalEvent(), got.GetAttributionWindow().AsDuration())
	}
	// Every statistic is the analytics package's on the test's own counts.
	ctrl := want["holdout"]
	cp := experiment.Proportion{Conversions: ctrl.converted, Trials: ctrl.exposed}
	for _, v := range got.GetVariants()[1:] {
		w := want[v.GetName()]
		vp := experiment.Proportion{Conversions: w.converted, Trials: w.exposed}
		z, _ := experiment.TwoProportionZTest(cp, vp, 0.05)
		bay, _ := experiment.BayesianBetaBinomial(cp, vp, experiment.BetaPrior{Alpha: 1, Beta: 1})
		l := v.GetLift()
		if l.GetAbsolute() != z.AbsoluteLift || l.GetCiLow() != z.AbsoluteCI.Low || l.GetCiHigh() != z.AbsoluteCI.High ||
			l.GetPValue() != z.PValue || l.GetRelative() != z.RelativeLift || l.GetRelativeCiLow() != z.RelativeCI.Low ||
			l.GetProbabilityToBeatControl() != bay.ProbVariantBeatsControl || l.GetExpectedLoss() != bay.ExpectedLossVariant {
			t.Errorf("%s lift %v, want z %+v bayes %+v", v.GetName(), l, z, bay)
		}
		rs := func(c experiment.CovariateSample) experiment.Sample {
			return experiment.Sample{N: c.N, Sum: c.SumY, SumSq: c.SumYY}
		}
		wt, _ := experiment.WelchTTest(rs(ctrl.revenue), rs(w.revenue), 0.05)
		cu, _ := experiment.CUPED(ctrl.revenue, w.revenue, 0.05)
		r := v.GetRevenueLift()
		if !near(r.GetAbsolute(), wt.Difference) || !near(r.GetPValue(), wt.PValue) || !near(r.GetCupedCiLow(), cu.Test.CI.Low) ||
			!near(r.GetCupedPValue(), cu.Test.PValue) || !near(r.GetCupedVarianceReduction(), cu.VarianceReduction) {
			t.Errorf("%s revenue lift %v, want welch %+v cuped %+v", v.GetName(), r, wt, cu)
		}
	}
	for i, share := range []float64{0.2, 0.4, 0.4} {
		if v := got.GetVariants()[i]; !near(v.GetExpectedShare(), share) {
			t.Errorf("%s expected share %v, want %v", v.GetName(), v.GetExpectedShare(), share)
		}
	}
	srm, _ := experiment.SampleRatioMismatch([]int64{want["holdout"].exposed, want["A"].exposed, want["B"].exposed}, []float64{0.2, 0.4, 0.4})
	if !near(got.GetSrm().GetPValue(), srm.PValue) || got.GetSrm().GetWarning() != srm.Mismatch {
		t.Errorf("srm %v, want %+v", got.GetSrm(), srm)
	}

	// The campaign's results are its journey's.
	cr, err := e.client.GetCampaignResults(ctx, &metricsv1.GetCampaignResultsRequest{CampaignId: "cmp_ab"})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(cr.GetResults(), got) {
		t.Errorf("campaign results differ from the journey's")
	}

	// Breakdown: the even customers' counts, and RFM groups by prefix.
	br, err := e.client.GetJourneyResults(ctx, &metricsv1.GetJourneyResultsRequest{JourneyId: "jny_ab",
		Breakdown: &metricsv1.Breakdown{SegmentIds: []string{"even"}}})
	if err != nil {
		t.Fatal(err)
	}
	g := br.GetResults().GetGroups()
	var total int64
	for _, v := range g[0].GetVariants() {
		total += int64(v.GetExposed())
	}
	if len(g) != 1 || g[0].GetGroup() != "even" || total != int64(len(even)) || len(br.GetResults().GetNotes()) == 0 {
		t.Errorf("breakdown by even: %d groups, %d exposed, notes %q", len(g), total, br.GetResults().GetNotes())
	}
	rfm, err := e.client.GetJourneyResults(ctx, &metricsv1.GetJourneyResultsRequest{JourneyId: "jny_ab", Breakdown: &metricsv1.Breakdown{Rfm: true}})
	if err != nil {
		t.Fatal(err)
	}
	var groups []string
	for _, g := range rfm.GetResults().GetGroups() {
		groups = append(groups, g.GetGroup())
	}
	sort.Strings(groups)
	if len(groups) != 2 || groups[0] != "rfm_champions" || groups[1] != "rfm_lost" {
		t.Errorf("RFM groups %v", groups)
	}
	for _, v := range rfm.GetResults().GetGroups()[1].GetVariants()[1:] {
		if v.GetLift() != nil || v.GetLiftUnavailableReason() == "" {
			t.Errorf("empty group: lift %v without a reason", v.GetLift())
		}
	}

	// A restarted service on the same database answers the same.
	e2 := start(t, db, b, e.segments)
	e2.campaign.put(wsA, abJourney("jny_ab"), "")
	again, err := e2.client.GetJourneyResults(ctx, &metricsv1.GetJourneyResultsRequest{JourneyId: "jny_ab"})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(again.GetResults(), got) {
		t.Errorf("after restart %v, before %v", again.GetResults(), got)
	}

	// Another workspace sees nothing of it; bad input names its field.
	_, err = e.client.GetJourneyResults(auth.WithBearer(context.Background(), keyB), &metricsv1.GetJourneyResultsRequest{JourneyId: "jny_ab"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("other workspace: %v, want NotFound", err)
	}
	_, err = e.client.GetJourneyResults(ctx, &metricsv1.GetJourneyResultsRequest{JourneyId: "jny_ab", Alpha: 2})
	expectInvalid(t, err, "alpha")
	_, err = e.client.GetJourneyResults(ctx, &metricsv1.GetJourneyResultsRequest{})
	expectInvalid(t, err, "journey_id")
	_, err = e.client.GetCampaignResults(ctx, &metricsv1.GetCampaignResultsRequest{CampaignId: "cmp_none"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("unknown campaign: %v, want NotFound", err)
	}
}

// matches reports whether the results' counts are the simulation's.
func matches(r *metricsv1.Results, want map[string]*simArm) bool {
	if len(r.GetVariants()) != 3 {
		return false
	}
	for _, v := range r.GetVariants() {
		w := want[v.GetName()]
		if w == nil || int64(v.GetExposed()) != w.exposed || int64(v.GetConverted()) != w.converted || math.Abs(v.GetRevenue()-w.revenue.SumY) > 1e-6 {
			return false
		}
	}
	return true
}
