package api

import (
	"context"
	"math"
	"os"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	metricsv1 "github.com/kizuna/kizuna/gen/kizuna/metrics/v1"
	"github.com/kizuna/kizuna/services/analytics/clv"
	"github.com/kizuna/kizuna/services/analytics/clv/clvtest"
	"github.com/kizuna/kizuna/services/platform/auth"
)

// cdnowSample reads the CDNOW sample transactions (see clvtest.CDNOWPath).
func cdnowSample(t *testing.T) []clv.Transaction {
	t.Helper()
	f, err := os.Open(clvtest.CDNOWPath(t, "CDNOW_sample.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	txs, err := clv.ReadCDNOW(f)
	if err != nil {
		t.Fatal(err)
	}
	return txs
}

// txSource serves transactions from memory, as the store would.
type txSource []clv.Transaction

func (s txSource) Orders(_ context.Context, _ string, end time.Time, fn func(string, time.Time, float64)) error {
	for _, t := range s {
		if t.Time.Before(end) {
			fn(t.CustomerID, t.Time, t.Amount)
		}
	}
	return nil
}

// TestFitClvCDNOW checks the service answer against the published CDNOW
// estimates (Fader, Hardie & Lee 2005).
func TestFitClvCDNOW(t *testing.T) {
	txs := cdnowSample(t)
	s := NewServer(nil, txSource(txs), time.Now)
	ctx := auth.WithWorkspace(context.Background(), "ws")
	end := time.Date(1997, 10, 1, 0, 0, 0, 0, time.UTC) // calibration ends with 1997-09-30
	resp, err := s.FitClv(ctx, &metricsv1.FitClvRequest{CalibrationEndTime: timestamppb.New(end), Period: "week"})
	if err != nil {
		t.Fatal(err)
	}
	near := func(name string, got, want float64) {
		if math.Abs(got-want) > 0.005*math.Abs(want) {
			t.Errorf("%s = %.4f, want %.4f", name, got, want)
		}
	}
	if resp.GetCustomers() != 2357 {
		t.Errorf("customers = %d, want 2357", resp.GetCustomers())
	}
	bg, gg := resp.GetBgnbd(), resp.GetGammaGamma()
	near("r", bg.GetR(), 0.243)
	near("alpha", bg.GetAlpha(), 4.414)
	near("a", bg.GetA(), 0.793)
	near("b", bg.GetB(), 2.426)
	near("log-likelihood", bg.GetLogLikelihood(), -9582.4)
	near("p", gg.GetP(), 6.25)
	near("q", gg.GetQ(), 3.74)
	near("v", gg.GetV(), 15.44)
}

func TestFitClvRejects(t *testing.T) {
	ctx := auth.WithWorkspace(context.Background(), "ws")
	s := NewServer(nil, txSource(nil), time.Now)
	tests := []struct {
		name string
		req  *metricsv1.FitClvRequest
		code codes.Code
	}{
		{"bad period", &metricsv1.FitClvRequest{Period: "fortnight"}, codes.InvalidArgument},
		{"invalid calibration end", &metricsv1.FitClvRequest{CalibrationEndTime: &timestamppb.Timestamp{Nanos: -1}}, codes.InvalidArgument},
		{"no orders", &metricsv1.FitClvRequest{}, codes.FailedPrecondition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.FitClv(ctx, tt.req)
			if status.Code(err) != tt.code {
				t.Errorf("err = %v, want %v", err, tt.code)
			}
		})
	}
}

func TestPredictClvCDNOW(t *testing.T) {
	txs := cdnowSample(t)
	s := NewServer(nil, txSource(txs), time.Now)
	ctx := auth.WithWorkspace(context.Background(), "ws")
	end := time.Date(1997, 10, 1, 0, 0, 0, 0, time.UTC)
	req := func(horizon, discount float64, ids ...string) *metricsv1.PredictClvRequest {
		return &metricsv1.PredictClvRequest{CalibrationEndTime: timestamppb.New(end), CustomerIds: ids, Horizon: horizon, MonthlyDiscountRate: discount}
	}
	resp, err := s.PredictClv(ctx, req(39, 0, "00004", "nobody"))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetPredictions()) != 1 {
		t.Fatalf("predictions = %v, want one (unknown ids left out)", resp.GetPredictions())
	}
	// Customer 00004 is Fader, Hardie & Lee's (2005) worked example:
	// x=2, t_x=30.43, T=38.86, E[Y(39)] = 1.226.
	p := resp.GetPredictions()[0]
	if p.GetCustomerId() != "00004" || math.Abs(p.GetExpectedPurchases()-1.226) > 0.001*1.226 ||
		p.GetClv() <= 0 || p.GetProbabilityAlive() <= 0 || p.GetProbabilityAlive() > 1 {
		t.Errorf("prediction = %+v, want expected purchases 1.226 and positive CLV", p)
	}

	tests := []struct {
		name      string
		req       *metricsv1.PredictClvRequest
		wantField string
	}{
		{"no customer ids", req(39, 0), "customer_ids"},
		{"negative horizon", req(-1, 0, "00004"), "horizon"},
		{"horizon beyond 100 years", req(6000, 0, "00004"), "horizon"},
		{"discount rate of -100%", req(39, -1, "00004"), "monthly_discount_rate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.PredictClv(ctx, tt.req)
			if status.Code(err) != codes.InvalidArgument || !slices.Equal(violatedFields(err), []string{tt.wantField}) {
				t.Errorf("err = %v on %v, want InvalidArgument on %s", err, violatedFields(err), tt.wantField)
			}
		})
	}
}
