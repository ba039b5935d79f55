package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	metricsv1 "github.com/kizuna/kizuna/gen/kizuna/metrics/v1"
	segmentationv1 "github.com/kizuna/kizuna/gen/kizuna/segmentation/v1"
	"github.com/kizuna/kizuna/services/metrics/internal/results"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpcstatus"
	"github.com/kizuna/kizuna/services/platform/validation"
)

// maxBreakdownGroups bounds the groups of one breakdown.
const maxBreakdownGroups = 20

// maxGroupMembers bounds the members read for each group.
const maxGroupMembers = 1_000_000

// campaignTimeout bounds each call to the campaign service.
const campaignTimeout = 15 * time.Second

// multipleComparisons is the caveat every breakdown carries.
const multipleComparisons = "Breakdown: each group's p-values and intervals are computed as if it were the only comparison. " +
	"With many groups some look significant by chance (at alpha 0.05, about 1 in 20 groups without any real effect); " +
	"treat a group's result as a hypothesis for the next test, or divide alpha by the number of groups (Bonferroni)."

// Experiments reads experiment designs from the campaign service and
// customer groups from segmentation for result read-outs.
type Experiments struct {
	Store     results.Store
	Journeys  campaignv1.JourneyServiceClient
	Campaigns campaignv1.CampaignServiceClient
	Segments  segmentationv1.SegmentServiceClient
	Members   *Segments
}

// NewExperiments returns Experiments calling campaign over campaignConn
// and segmentation over segConn; both must forward the caller's
// authorization (grpcclient.Dial does).
func NewExperiments(st results.Store, campaignConn, segConn grpc.ClientConnInterface) *Experiments {
	return &Experiments{
		Store: st, Journeys: campaignv1.NewJourneyServiceClient(campaignConn), Campaigns: campaignv1.NewCampaignServiceClient(campaignConn),
		Segments: segmentationv1.NewSegmentServiceClient(segConn), Members: NewSegments(segConn),
	}
}

// EnableResults serves GetJourneyResults and GetCampaignResults; without
// it they answer Unimplemented.
func (s *Server) EnableResults(e *Experiments) { s.exp = e }

// GetJourneyResults implements metricsv1.MetricsServiceServer.
func (s *Server) GetJourneyResults(ctx context.Context, req *metricsv1.GetJourneyResultsRequest) (*metricsv1.GetJourneyResultsResponse, error) {
	res, err := s.results(ctx, "journey_id", req.GetJourneyId(), req.GetAlpha(), req.GetBreakdown())
	if err != nil {
		return nil, err
	}
	return &metricsv1.GetJourneyResultsResponse{Results: res}, nil
}

// GetCampaignResults implements metricsv1.MetricsServiceServer.
func (s *Server) GetCampaignResults(ctx context.Context, req *metricsv1.GetCampaignResultsRequest) (*metricsv1.GetCampaignResultsResponse, error) {
	res, err := s.results(ctx, "campaign_id", req.GetCampaignId(), req.GetAlpha(), req.GetBreakdown())
	if err != nil {
		return nil, err
	}
	return &metricsv1.GetCampaignResultsResponse{Results: res}, nil
}

func (s *Server) results(ctx context.Context, field, id string, alpha float64, bd *metricsv1.Breakdown) (*metricsv1.Results, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if s.exp == nil {
		return nil, status.Error(codes.Unimplemented, "results need the campaign service, which this metrics service is not connected to")
	}
	v := &validation.Error{}
	switch {
	case id == "":
		v.Add(field, "required")
	case len(id) > 128:
		v.Add(field, "at most 128 bytes")
	}
	if alpha == 0 {
		alpha = 0.05
	}
	checkLevel(v, "alpha", alpha)
	kinds := 0
	if len(bd.GetSegmentIds()) > 0 {
		kinds++
	}
	if bd.GetRfm() {
		kinds++
	}
	if bd.GetLifecycle() {
		kinds++
	}
	if kinds > 1 {
		v.Add("breakdown", "set one of segment_ids, rfm and lifecycle")
	}
	if n := len(bd.GetSegmentIds()); n > maxBreakdownGroups {
		v.Addf("breakdown.segment_ids", "%d segments, at most %d", n, maxBreakdownGroups)
	}
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	journeyID := id
	if field == "campaign_id" {
		cctx, cancel := context.WithTimeout(ctx, campaignTimeout)
		c, err := s.exp.Campaigns.GetCampaign(cctx, &campaignv1.GetCampaignRequest{CampaignId: id})
		cancel()
		if err != nil {
			return nil, peerStatus(field, "campaign", err)
		}
		journeyID = c.GetCampaign().GetJourneyId()
		if journeyID == "" {
			return nil, grpcstatus.New(codes.FailedPrecondition, "the campaign has not been launched: it has no results yet", nil,
				validation.Violation{Field: field, Description: "not launched"})
		}
	}
	jctx, cancel := context.WithTimeout(ctx, campaignTimeout)
	j, err := s.exp.Journeys.GetJourney(jctx, &campaignv1.GetJourneyRequest{JourneyId: journeyID})
	cancel()
	if err != nil {
		return nil, peerStatus(field, "journey", err)
	}
	design, notes := designOf(j.GetJourney())
	outcomes, err := results.Measure(ctx, s.exp.Store, ws, journeyID, design)
	if err != nil {
		return nil, resultsStatus(err)
	}
	out := &metricsv1.Results{
		GoalEvent: design.GoalEvent, AttributionWindow: durationpb.New(design.Window), Control: design.Control(), Alpha: alpha, Notes: notes,
	}
	arms := results.Aggregate(design, outcomes, nil)
	out.Variants = variantResults(design, arms, alpha)
	if srm, why := results.SRM(design, arms); srm != nil {
		out.Srm = &metricsv1.Srm{PValue: srm.PValue, Warning: srm.Mismatch, ChiSquare: srm.ChiSquare}
	} else {
		out.SrmUnavailableReason = why
	}
	if kinds == 0 {
		return out, nil
	}
	groups, err := s.exp.groups(ctx, bd)
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		members, err := s.exp.Members.Members(ctx, g, maxGroupMembers)
		if err != nil {
			return nil, toStatus(err)
		}
		set := make(map[string]bool, len(members))
		for _, m := range members {
			set[m] = true
		}
		in := results.Aggregate(design, outcomes, func(id string) bool { return set[id] })
		out.Groups = append(out.Groups, &metricsv1.GroupResults{Group: g, Variants: variantResults(design, in, alpha)})
	}
	out.Notes = append(out.Notes, multipleComparisons)
	return out, nil
}

// groups lists the segment ids a breakdown splits by: the ones named, or
// segmentation's built-in RFM (`rfm_*`) or lifecycle (`lifecycle_*`)
// segments.
func (e *Experiments) groups(ctx context.Context, bd *metricsv1.Breakdown) ([]string, error) {
	if ids := bd.GetSegmentIds(); len(ids) > 0 {
		return ids, nil
	}
	prefix := "rfm_"
	if bd.GetLifecycle() {
		prefix = "lifecycle_"
	}
	var (
		ids   []string
		token string
	)
	for range 100 {
		pctx, cancel := context.WithTimeout(ctx, membersPageTimeout)
		resp, err := e.Segments.ListSegments(pctx, &segmentationv1.ListSegmentsRequest{PageSize: 1000, PageToken: token})
		cancel()
		if err != nil {
			return nil, toStatus(fromSegmentation(err))
		}
		for _, sg := range resp.GetSegments() {
			if strings.HasPrefix(sg.GetSegmentId(), prefix) {
				ids = append(ids, sg.GetSegmentId())
			}
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// designOf reads a journey's experiment: holdout, the first A/B send step's
// variants and weights, and the goal.
func designOf(j *campaignv1.Journey) (results.Design, []string) {
	var (
		names   []string
		weights []float64
		notes   []string
		abSteps int
	)
	for _, st := range j.GetSteps() {
		vs := st.GetSend().GetVariants()
		if len(vs) == 0 {
			continue
		}
		if abSteps++; abSteps > 1 {
			continue
		}
		for _, v := range vs {
			names = append(names, v.GetName())
			weights = append(weights, float64(v.GetWeight()))
		}
	}
	if abSteps > 1 {
		notes = append(notes, "The journey has several A/B send steps; customers are counted under the arm of their first exposure "+
			"and the intended split is the first A/B step's.")
	}
	g := j.GetGoal()
	if len(g.GetEvent().GetPropertyFilters()) > 0 {
		notes = append(notes, "The goal's property filters are not applied: every "+g.GetEvent().GetEvent()+" event counts as a conversion.")
	}
	return results.NewDesign(g.GetEvent().GetEvent(), g.GetAttributionWindow().AsDuration(), j.GetHoldout().GetPercent(), names, weights), notes
}

// variantResults renders arms, the first being the control, with the
// share design intends for each (none for an arm no longer in it).
func variantResults(design results.Design, arms []results.Counts, alpha float64) []*metricsv1.VariantResult {
	out := make([]*metricsv1.VariantResult, len(arms))
	shares, _ := design.Shares(arms)
	for i, a := range arms {
		// Exposed fits int32: a read-out has at most results.MaxExposures.
		r := &metricsv1.VariantResult{Name: a.Name, Exposed: int32(a.Exposed), Converted: int32(a.Converted), Revenue: a.Revenue.SumY}
		if shares != nil {
			r.ExpectedShare = shares[i]
		}
		if a.Exposed > 0 {
			r.ConversionRate = a.Proportion().Rate()
			r.RevenuePerExposed = a.Revenue.SumY / float64(a.Exposed)
		}
		out[i] = r
		if i == 0 {
			continue
		}
		c := results.Compare(arms[0], a, alpha)
		if z := c.Conversion; z != nil {
			l := &metricsv1.Lift{
				Absolute: z.AbsoluteLift, CiLow: z.AbsoluteCI.Low, CiHigh: z.AbsoluteCI.High, PValue: z.PValue,
				ProbabilityToBeatControl: c.Bayes.ProbVariantBeatsControl, ExpectedLoss: c.Bayes.ExpectedLossVariant,
			}
			if finite(z.RelativeLift, z.RelativeCI.Low, z.RelativeCI.High) {
				l.Relative, l.RelativeCiLow, l.RelativeCiHigh = &z.RelativeLift, &z.RelativeCI.Low, &z.RelativeCI.High
			} else {
				l.RelativeUnavailableReason = "undefined: a conversion rate of 0 in the control or this arm"
			}
			r.Lift = l
		} else {
			r.LiftUnavailableReason = c.ConversionReason
		}
		if w := c.Revenue; w != nil && finite(w.CI.Low, w.CI.High, w.PValue, c.CUPED.Test.CI.Low, c.CUPED.Test.CI.High) {
			r.RevenueLift = &metricsv1.RevenueLift{
				Absolute: w.Difference, CiLow: w.CI.Low, CiHigh: w.CI.High, PValue: w.PValue,
				CupedAbsolute: c.CUPED.Test.Difference, CupedCiLow: c.CUPED.Test.CI.Low, CupedCiHigh: c.CUPED.Test.CI.High,
				CupedPValue: c.CUPED.Test.PValue, CupedVarianceReduction: c.CUPED.VarianceReduction,
			}
		} else if c.RevenueReason != "" {
			r.RevenueLiftUnavailableReason = c.RevenueReason
		} else {
			r.RevenueLiftUnavailableReason = "undefined: no revenue varies in either arm"
		}
	}
	return out
}

func finite(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// peerStatus maps the campaign service's answer about the named resource.
func peerStatus(field, what string, err error) error {
	switch status.Code(err) {
	case codes.NotFound:
		return grpcstatus.New(codes.NotFound, what+" not found", err, validation.Violation{Field: field, Description: "no such " + what + " in this workspace"})
	case codes.InvalidArgument:
		return grpcstatus.Invalid(field, "rejected by the campaign service: "+status.Convert(err).Message())
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
		return grpcstatus.New(codes.Unavailable, "campaign service unavailable; retry later", err)
	case codes.PermissionDenied, codes.Unauthenticated:
		return status.Error(status.Code(err), status.Convert(err).Message())
	default:
		return toStatus(fmt.Errorf("get %s: %w", what, err))
	}
}

func resultsStatus(err error) error {
	if errors.Is(err, results.ErrTooLarge) {
		return grpcstatus.New(codes.FailedPrecondition, err.Error(), err)
	}
	return toStatus(err)
}
