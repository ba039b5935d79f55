package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	metricsv1 "github.com/kizuna/kizuna/gen/kizuna/metrics/v1"
	"github.com/kizuna/kizuna/services/analytics/calendar"
	"github.com/kizuna/kizuna/services/analytics/experiment"
	"github.com/kizuna/kizuna/services/analytics/retention"
	"github.com/kizuna/kizuna/services/analytics/survey"
	"github.com/kizuna/kizuna/services/metrics/internal/kpi"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpcstatus"
	"github.com/kizuna/kizuna/services/platform/validation"
)

// maxNPSAnswers bounds one ComputeNps request.
const maxNPSAnswers = 1_000_000

// maxConversionTrials bounds the trials of each arm of one
// AnalyzeConversion request. The exact Bayesian comparison costs time
// linear in the conversions of the smaller arm (five sums of up to that many
// terms each); at this limit its worst case, every trial converting, takes
// about 90 ms on one core (BenchmarkAnalyzeConversionAtLimit).
const maxConversionTrials = 5_000_000

// AnalyzeConversion runs the conversion tests a campaign's A/B result needs:
// a two-proportion z-test and an exact Bayesian beta-binomial comparison.
// Each arm may have at most maxConversionTrials (5,000,000) trials; more is
// InvalidArgument on control.trials or variant.trials.
func (s *Server) AnalyzeConversion(ctx context.Context, req *metricsv1.AnalyzeConversionRequest) (*metricsv1.AnalyzeConversionResponse, error) {
	if _, err := auth.RequireWorkspace(ctx); err != nil {
		return nil, err
	}
	v := &validation.Error{}
	for _, arm := range []struct {
		field  string
		counts *metricsv1.ConversionCounts
	}{{"control.trials", req.GetControl()}, {"variant.trials", req.GetVariant()}} {
		if n := arm.counts.GetTrials(); n > maxConversionTrials {
			v.Addf(arm.field, "%d is over the limit of %d per arm", n, maxConversionTrials)
		}
	}
	alpha := req.GetAlpha()
	if alpha == 0 {
		alpha = 0.05
	}
	checkLevel(v, "alpha", alpha)
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	control := experiment.Proportion{Conversions: req.GetControl().GetConversions(), Trials: req.GetControl().GetTrials()}
	variant := experiment.Proportion{Conversions: req.GetVariant().GetConversions(), Trials: req.GetVariant().GetTrials()}
	z, err := experiment.TwoProportionZTest(control, variant, alpha)
	if err != nil {
		return nil, analysisStatus("control", err)
	}
	b, err := experiment.BayesianBetaBinomial(control, variant, experiment.BetaPrior{Alpha: 1, Beta: 1})
	if err != nil {
		return nil, analysisStatus("control", err)
	}
	out := &metricsv1.AnalyzeConversionResponse{
		ControlRate: z.ControlRate, VariantRate: z.VariantRate,
		AbsoluteLift: z.AbsoluteLift, AbsoluteLiftInterval: &metricsv1.Interval{Low: z.AbsoluteCI.Low, High: z.AbsoluteCI.High},
		Z: z.Z, PValue: z.PValue, Significant: z.Significant,
		ProbabilityVariantBetter: b.ProbVariantBeatsControl, ExpectedLossVariant: b.ExpectedLossVariant, ExpectedLossControl: b.ExpectedLossControl,
	}
	// Undefined values are left out with the reason: JSON has no NaN, and
	// "NaN" in a field the OpenAPI calls a number breaks clients.
	if finite(z.RelativeLift, z.RelativeCI.Low, z.RelativeCI.High) {
		out.RelativeLift = &z.RelativeLift
		out.RelativeLiftInterval = &metricsv1.Interval{Low: z.RelativeCI.Low, High: z.RelativeCI.High}
	} else {
		out.RelativeLiftUnavailableReason = "undefined: a conversion rate of 0 in the control or the variant"
	}
	return out, nil
}

// PlanSampleSize sizes a conversion test before it runs.
func (s *Server) PlanSampleSize(ctx context.Context, req *metricsv1.PlanSampleSizeRequest) (*metricsv1.PlanSampleSizeResponse, error) {
	if _, err := auth.RequireWorkspace(ctx); err != nil {
		return nil, err
	}
	alpha, power := req.GetAlpha(), req.GetPower()
	if alpha == 0 {
		alpha = 0.05
	}
	if power == 0 {
		power = 0.8
	}
	v := &validation.Error{}
	checkLevel(v, "alpha", alpha)
	checkLevel(v, "power", power)
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	kind := experiment.Absolute
	if req.GetRelative() {
		kind = experiment.Relative
	}
	n, err := experiment.SampleSizeProportions(req.GetBaselineRate(), req.GetMinimumDetectableEffect(), kind, alpha, power)
	if err != nil {
		return nil, analysisStatus("minimum_detectable_effect", err)
	}
	return &metricsv1.PlanSampleSizeResponse{CustomersPerArm: n}, nil
}

// checkLevel adds a violation on field unless 0 < x < 1, so a bad alpha
// or power is reported under its own name rather than the first arm's.
func checkLevel(v *validation.Error, field string, x float64) {
	if !(x > 0 && x < 1) {
		v.Addf(field, "%v, want above 0 and below 1", x)
	}
}

// ComputeNps scores survey answers.
func (s *Server) ComputeNps(ctx context.Context, req *metricsv1.ComputeNpsRequest) (*metricsv1.ComputeNpsResponse, error) {
	if _, err := auth.RequireWorkspace(ctx); err != nil {
		return nil, err
	}
	if n := len(req.GetAnswers()); n > maxNPSAnswers {
		return nil, grpcstatus.New(codes.InvalidArgument, fmt.Sprintf("answers: %d is over the limit of %d", n, maxNPSAnswers), nil,
			validation.Violation{Field: "answers", Description: "too many answers"})
	}
	answers := make([]int, len(req.GetAnswers()))
	for i, a := range req.GetAnswers() {
		answers[i] = int(a)
	}
	conf := req.GetConfidence()
	if conf == 0 {
		conf = 0.95
	}
	r, err := survey.NPS(answers, conf)
	if err != nil {
		return nil, analysisStatus("answers", err)
	}
	return &metricsv1.ComputeNpsResponse{
		Responses: int64(r.Responses), Promoters: int64(r.Promoters), Passives: int64(r.Passives), Detractors: int64(r.Detractors),
		Score: r.Score, Interval: &metricsv1.Interval{Low: r.CI.Low, High: r.CI.High},
	}, nil
}

// maxCohortBuckets bounds the columns of a cohort table.
const maxCohortBuckets = 400

// GetCohortRetention builds the cohort table from the workspace's orders.
func (s *Server) GetCohortRetention(ctx context.Context, req *metricsv1.GetCohortRetentionRequest) (*metricsv1.GetCohortRetentionResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	v := &validation.Error{}
	asOf := optionalTime(req.GetAsOfTime(), "as_of_time", s.now(), acceptZero, v)
	from := optionalTime(req.GetStartTime(), "start_time", time.Time{}, rejectZero, v)
	gran := granularity(req.GetGranularity(), v)
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	loc, err := s.location(ctx, ws, req.GetTimeZone(), "time_zone")
	if err != nil {
		return nil, err
	}
	var members map[string]struct{}
	if req.GetSegmentId() != "" {
		if s.dash == nil {
			return nil, grpcstatus.Invalid("segment_id", "segments are not available in this server")
		}
		if members, err = s.members(ctx, ws, req.GetSegmentId()); err != nil {
			return nil, toStatus(err)
		}
	}
	purchases, err := s.cohortPurchases(ctx, ws, asOf, members)
	if errors.Is(err, kpi.ErrTooManyOrders) {
		return nil, grpcstatus.New(codes.FailedPrecondition, "the workspace has too many orders for an online cohort table", err)
	}
	if err != nil {
		return nil, toStatus(err)
	}
	opts := retention.CohortOptions{Granularity: gran, Location: loc, AsOf: asOf.Add(-time.Nanosecond), From: from, MaxBuckets: maxCohortBuckets}
	if key := req.GetGroupByProperty(); key != "" {
		if s.dash == nil || len(key) > maxLabelLen {
			return nil, grpcstatus.Invalid("group_by_property", "cannot group by this property")
		}
		groups, err := s.dash.Store.FirstOrderProperty(ctx, ws, key)
		if err != nil {
			return nil, toStatus(err)
		}
		opts.Group = func(id string) string { return groups[id] }
	}
	cohorts, err := retention.BucketCohortTable(purchases, opts)
	if err != nil {
		return nil, analysisStatus("as_of_time", err)
	}
	resp := &metricsv1.GetCohortRetentionResponse{}
	for _, c := range cohorts {
		pc := &metricsv1.Cohort{Group: c.Group, StartTime: timestamppb.New(c.Start), Size: int64(c.Size), Rate: c.Rate, Revenue: c.Revenue, RevenueRate: c.RevenueRate}
		if gran == calendar.Month {
			pc.Month = pc.StartTime
		}
		for _, a := range c.Active {
			pc.Active = append(pc.Active, int64(a))
		}
		resp.Cohorts = append(resp.Cohorts, pc)
	}
	return resp, nil
}

// cohortPurchases reads the orders before asOf of members (everyone when
// nil), revenue in the workspace currency: orders without an exchange rate
// are left out, as from every KPI.
func (s *Server) cohortPurchases(ctx context.Context, ws string, asOf time.Time, members map[string]struct{}) ([]retention.Purchase, error) {
	var out []retention.Purchase
	if s.dash == nil {
		err := s.orders.Orders(ctx, ws, asOf, func(id string, at time.Time, revenue float64) {
			out = append(out, retention.Purchase{CustomerID: id, Time: at, Revenue: revenue})
		})
		return out, err
	}
	settings, err := s.dash.Store.Settings(ctx, ws)
	if err != nil {
		return nil, err
	}
	err = s.dash.Store.ScanOrders(ctx, ws, func(id string, at time.Time, revenue float64, currency string) {
		if !at.Before(asOf) || !inScope(members, id) {
			return
		}
		if v, ok := settings.Convert(revenue, currency); ok {
			out = append(out, retention.Purchase{CustomerID: id, Time: at, Revenue: v})
		}
	})
	return out, err
}

// analysisStatus maps the statistics packages' input errors to
// InvalidArgument on field, and having no customers to compute over (like
// too little data for a CLV fit, see clvStatus) to FailedPrecondition;
// anything else goes to toStatus.
func analysisStatus(field string, err error) error {
	switch {
	case errors.Is(err, experiment.ErrInvalidInput), errors.Is(err, survey.ErrOutOfRange), errors.Is(err, survey.ErrNoResponses),
		errors.Is(err, survey.ErrInvalidConfidence), errors.Is(err, retention.ErrInvalidInput):
		return grpcstatus.Invalid(field, err.Error())
	case errors.Is(err, retention.ErrNoCustomers):
		return grpcstatus.New(codes.FailedPrecondition, err.Error(), nil)
	default:
		return toStatus(err)
	}
}
