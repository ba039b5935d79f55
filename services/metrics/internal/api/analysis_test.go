package api

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	metricsv1 "github.com/kizuna/kizuna/gen/kizuna/metrics/v1"
	"github.com/kizuna/kizuna/services/platform/auth"
)

func TestAnalyzeConversion(t *testing.T) {
	s := NewServer(nil, txSource(nil), time.Now)
	ctx := auth.WithWorkspace(context.Background(), "ws")
	resp, err := s.AnalyzeConversion(ctx, &metricsv1.AnalyzeConversionRequest{
		Control: &metricsv1.ConversionCounts{Conversions: 200, Trials: 1000},
		Variant: &metricsv1.ConversionCounts{Conversions: 250, Trials: 1000},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Pooled z = 0.05 / sqrt(0.225·0.775·2/1000) = 2.677, two-sided p = 0.0074.
	if math.Abs(resp.GetZ()-2.677) > 0.001 || math.Abs(resp.GetPValue()-0.0074) > 0.0002 || !resp.GetSignificant() {
		t.Errorf("z = %v, p = %v, significant = %v", resp.GetZ(), resp.GetPValue(), resp.GetSignificant())
	}
	if p := resp.GetProbabilityVariantBetter(); p < 0.99 || p > 1 {
		t.Errorf("P(variant better) = %v, want above 0.99", p)
	}
	_, err = s.AnalyzeConversion(ctx, &metricsv1.AnalyzeConversionRequest{
		Control: &metricsv1.ConversionCounts{Conversions: 20, Trials: 10},
		Variant: &metricsv1.ConversionCounts{Conversions: 1, Trials: 10},
	})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("more conversions than trials: err = %v, want InvalidArgument", err)
	}
	_, err = s.AnalyzeConversion(ctx, &metricsv1.AnalyzeConversionRequest{
		Control: &metricsv1.ConversionCounts{Conversions: 1, Trials: maxConversionTrials},
		Variant: &metricsv1.ConversionCounts{Conversions: 1, Trials: maxConversionTrials + 1},
	})
	if status.Code(err) != codes.InvalidArgument || !slices.Equal(violatedFields(err), []string{"variant.trials"}) {
		t.Errorf("trials over the limit: err = %v on %v, want InvalidArgument on variant.trials", err, violatedFields(err))
	}
	_, err = s.AnalyzeConversion(ctx, &metricsv1.AnalyzeConversionRequest{
		Control: &metricsv1.ConversionCounts{Conversions: 1, Trials: 10},
		Variant: &metricsv1.ConversionCounts{Conversions: 1, Trials: 10}, Alpha: 1.5,
	})
	if !slices.Equal(violatedFields(err), []string{"alpha"}) {
		t.Errorf("alpha 1.5: err = %v on %v, want InvalidArgument on alpha", err, violatedFields(err))
	}
	// A zero control rate leaves the relative lift undefined: absent with
	// the reason, never NaN.
	resp, err = s.AnalyzeConversion(ctx, &metricsv1.AnalyzeConversionRequest{
		Control: &metricsv1.ConversionCounts{Conversions: 0, Trials: 100},
		Variant: &metricsv1.ConversionCounts{Conversions: 5, Trials: 100},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.RelativeLift != nil || resp.GetRelativeLiftInterval() != nil || resp.GetRelativeLiftUnavailableReason() == "" {
		t.Errorf("zero control rate: relative %v %v, reason %q", resp.RelativeLift, resp.GetRelativeLiftInterval(), resp.GetRelativeLiftUnavailableReason())
	}
	if lo := resp.GetAbsoluteLiftInterval().GetLow(); lo < -1 || math.IsNaN(lo) {
		t.Errorf("absolute interval %v", resp.GetAbsoluteLiftInterval())
	}
}

// BenchmarkAnalyzeConversionAtLimit is the worst case maxConversionTrials
// allows: every trial converting, so the exact Bayesian sums are longest.
func BenchmarkAnalyzeConversionAtLimit(b *testing.B) {
	s := NewServer(nil, txSource(nil), time.Now)
	ctx := auth.WithWorkspace(context.Background(), "ws")
	req := &metricsv1.AnalyzeConversionRequest{
		Control: &metricsv1.ConversionCounts{Conversions: maxConversionTrials, Trials: maxConversionTrials},
		Variant: &metricsv1.ConversionCounts{Conversions: maxConversionTrials - 1000, Trials: maxConversionTrials},
	}
	for b.Loop() {
		if _, err := s.AnalyzeConversion(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

// violatedFields lists the fields of err's google.rpc.BadRequest details.
func violatedFields(err error) []string {
	var fields []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	return fields
}

func TestComputeNps(t *testing.T) {
	s := NewServer(nil, txSource(nil), time.Now)
	ctx := auth.WithWorkspace(context.Background(), "ws")
	resp, err := s.ComputeNps(ctx, &metricsv1.ComputeNpsRequest{Answers: []int32{10, 9, 8, 7, 0}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetScore() != 20 || resp.GetPromoters() != 2 || resp.GetDetractors() != 1 {
		t.Errorf("NPS = %+v, want 20 with 2 promoters and 1 detractor", resp)
	}
	for _, answers := range [][]int32{{11}, {-1}, nil} {
		if _, err := s.ComputeNps(ctx, &metricsv1.ComputeNpsRequest{Answers: answers}); status.Code(err) != codes.InvalidArgument {
			t.Errorf("answers %v: err = %v, want InvalidArgument", answers, err)
		}
	}
}

func TestGetCohortRetention(t *testing.T) {
	jan := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	feb := jan.AddDate(0, 1, 0)
	s := NewServer(nil, txSource{
		{CustomerID: "a", Time: jan}, {CustomerID: "b", Time: jan}, {CustomerID: "a", Time: feb}, {CustomerID: "c", Time: feb},
	}, time.Now)
	ctx := auth.WithWorkspace(context.Background(), "ws")
	resp, err := s.GetCohortRetention(ctx, &metricsv1.GetCohortRetentionRequest{AsOfTime: timestamppb.New(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))})
	if err != nil {
		t.Fatal(err)
	}
	c := resp.GetCohorts()
	if len(c) != 2 || c[0].GetSize() != 2 || len(c[0].GetActive()) != 2 || c[0].GetActive()[1] != 1 || c[0].GetRate()[1] != 0.5 || c[1].GetSize() != 1 {
		t.Errorf("cohorts = %v", c)
	}
}

func TestGetCohortRetentionRejects(t *testing.T) {
	jan := time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
	s := NewServer(nil, txSource{{CustomerID: "a", Time: jan}}, time.Now)
	ctx := auth.WithWorkspace(context.Background(), "ws")
	tests := []struct {
		name string
		req  *metricsv1.GetCohortRetentionRequest
		code codes.Code
	}{
		// No orders before the as-of time: the caller's data, not a fault.
		{"no customers yet", &metricsv1.GetCohortRetentionRequest{AsOfTime: timestamppb.New(jan.AddDate(0, 0, -1))}, codes.FailedPrecondition},
		{"invalid as-of time", &metricsv1.GetCohortRetentionRequest{AsOfTime: &timestamppb.Timestamp{Seconds: math.MaxInt64}}, codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.GetCohortRetention(ctx, tt.req); status.Code(err) != tt.code {
				t.Errorf("err = %v, want %v", err, tt.code)
			}
		})
	}
}

func TestPlanSampleSize(t *testing.T) {
	s := NewServer(nil, txSource(nil), time.Now)
	ctx := auth.WithWorkspace(context.Background(), "ws")
	// Evan Miller's calculator: 20% baseline, +5 points, α 0.05, power 0.8 → 1,030.2.
	resp, err := s.PlanSampleSize(ctx, &metricsv1.PlanSampleSizeRequest{BaselineRate: 0.2, MinimumDetectableEffect: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetCustomersPerArm() != 1031 {
		t.Errorf("per arm = %d, want 1031", resp.GetCustomersPerArm())
	}
	if _, err := s.PlanSampleSize(ctx, &metricsv1.PlanSampleSizeRequest{BaselineRate: 1.5, MinimumDetectableEffect: 0.05}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("baseline 1.5: err = %v, want InvalidArgument", err)
	}
	_, err = s.PlanSampleSize(ctx, &metricsv1.PlanSampleSizeRequest{BaselineRate: 0.2, MinimumDetectableEffect: 0.05, Alpha: 2, Power: 1})
	if !slices.Equal(violatedFields(err), []string{"alpha", "power"}) {
		t.Errorf("alpha 2, power 1: err = %v on %v", err, violatedFields(err))
	}
	// An effect too small to detect is refused with the reason, never an
	// overflowed count.
	_, err = s.PlanSampleSize(ctx, &metricsv1.PlanSampleSizeRequest{BaselineRate: 0.2, MinimumDetectableEffect: 1e-9})
	if !slices.Equal(violatedFields(err), []string{"minimum_detectable_effect"}) {
		t.Errorf("tiny effect: err = %v on %v", err, violatedFields(err))
	}
}
