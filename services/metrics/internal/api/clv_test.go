package api

import (
	"context"
	"math"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	metricsv1 "github.com/kizuna/kizuna/gen/kizuna/metrics/v1"
	"github.com/kizuna/kizuna/services/analytics/clv"
	"github.com/kizuna/kizuna/services/platform/auth"
)

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
	f, err := os.Open("../../../../../shared/data/cdnow/CDNOW_sample.txt")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CDNOW data missing on CI: %v", err)
		}
		t.Skipf("CDNOW data not found: %v", err)
	}
	defer f.Close()
	txs, err := clv.ReadCDNOW(f)
	if err != nil {
		t.Fatal(err)
	}
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
	f, err := os.Open("../../../../../shared/data/cdnow/CDNOW_sample.txt")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CDNOW data missing on CI: %v", err)
		}
		t.Skipf("CDNOW data not found: %v", err)
	}
	defer f.Close()
	txs, err := clv.ReadCDNOW(f)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(nil, txSource(txs), time.Now)
	ctx := auth.WithWorkspace(context.Background(), "ws")
	end := time.Date(1997, 10, 1, 0, 0, 0, 0, time.UTC)
	id := txs[0].CustomerID
	resp, err := s.PredictClv(ctx, &metricsv1.PredictClvRequest{CalibrationEndTime: timestamppb.New(end), CustomerIds: []string{id, "nobody"}, Horizon: 39})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetPredictions()) != 1 {
		t.Fatalf("predictions = %v, want one (unknown ids left out)", resp.GetPredictions())
	}
	p := resp.GetPredictions()[0]
	sums, _ := clv.Summarize(txs, end.Add(-time.Nanosecond), clv.Week)
	bg, _ := clv.FitBGNBD(sums)
	var want float64
	for _, sm := range sums {
		if sm.CustomerID == id {
			want, _ = bg.ExpectedPurchases(39, sm.Frequency, sm.Recency, sm.T)
		}
	}
	if p.GetCustomerId() != id || math.Abs(p.GetExpectedPurchases()-want) > 1e-9 || p.GetClv() <= 0 || p.GetProbabilityAlive() <= 0 || p.GetProbabilityAlive() > 1 {
		t.Errorf("prediction = %+v, want expected purchases %v and positive CLV", p, want)
	}
	if _, err := s.PredictClv(ctx, &metricsv1.PredictClvRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("no customer ids: err = %v, want InvalidArgument", err)
	}
}
