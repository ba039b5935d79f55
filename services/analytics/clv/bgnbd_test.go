package clv

import (
	"errors"
	"os"
	"time"

	"github.com/kizuna/kizuna/services/analytics/clv/clvtest"
	"gonum.org/v1/gonum/mathext"
	"math"
	"testing"
)

// near reports whether got agrees with want to the given number of
// significant figures.
func near(got, want float64, sig int) bool {
	if want == 0 {
		return math.Abs(got) < math.Pow(10, -float64(sig))
	}
	scale := math.Pow(10, math.Floor(math.Log10(math.Abs(want)))-float64(sig)+1)
	return math.Abs(got-want) <= 0.5*scale+1e-12
}

func TestFitBGNBDCDNOW(t *testing.T) {
	tests := []struct {
		name string
		data func(testing.TB) []Summary
	}{
		{"summary file", func(tb testing.TB) []Summary { return cdnowSummaryFile(tb, false) }},
		{"own summarize", cdnowSampleSummaries},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := FitBGNBD(tc.data(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("r=%.4f alpha=%.4f a=%.4f b=%.4f LL=%.3f", m.R, m.Alpha, m.A, m.B, m.LogLikelihood)
			for _, c := range []struct {
				name      string
				got, want float64
			}{
				{"r", m.R, 0.243}, {"alpha", m.Alpha, 4.414}, {"a", m.A, 0.793}, {"b", m.B, 2.426},
				{"LL", m.LogLikelihood, -9582.4},
			} {
				if !near(c.got, c.want, 3) {
					t.Errorf("%s = %.5g, want %.5g to 3 significant figures", c.name, c.got, c.want)
				}
			}
		})
	}
}

// Measuring time in days instead of weeks must only rescale alpha (a rate
// scale) by 7 and leave the shape parameters alone.
func TestFitBGNBDTimeUnitInvariance(t *testing.T) {
	f, err := os.Open(clvtest.CDNOWPath(t, "CDNOW_sample.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	txs, err := ReadCDNOW(f)
	if err != nil {
		t.Fatal(err)
	}
	days, err := Summarize(txs, cdnowCalibrationEnd, Day)
	if err != nil {
		t.Fatal(err)
	}
	d, err := FitBGNBD(days)
	if err != nil {
		t.Fatal(err)
	}
	w, err := FitBGNBD(cdnowSampleSummaries(t))
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(d.R/w.R-1) > 1e-4 || math.Abs(d.Alpha/(7*w.Alpha)-1) > 1e-4 || math.Abs(d.A/w.A-1) > 1e-4 || math.Abs(d.B/w.B-1) > 1e-4 {
		t.Errorf("days %+v vs weeks %+v", d, w)
	}
}

// cdnowBGNBD is the published CDNOW fit (FHL 2005).
var cdnowBGNBD = BGNBD{R: 0.242593, Alpha: 4.413597, A: 0.792920, B: 2.425891}

func TestBGNBDPredictions(t *testing.T) {
	m := cdnowBGNBD
	// FHL (2005) section 5: a customer with x=2, t_x=30.43, T=38.86 is
	// expected to make 1.226 purchases in the next 39 weeks.
	got, err := m.ExpectedPurchases(39, 2, 30.43, 38.86)
	if err != nil {
		t.Fatal(err)
	}
	if !near(got, 1.226, 4) {
		t.Errorf("E[Y(39)|2,30.43,38.86] = %.5f, want 1.226", got)
	}

	tests := []struct {
		t, x, tx, T float64
	}{
		{39, 0, 0, 38.86}, {39, 2, 30.43, 38.86}, {10, 7, 35, 38}, {52, 1, 1, 30}, {5, 20, 38, 39}, {100, 40, 2, 39},
	}
	for _, tc := range tests {
		// The untransformed closed form (FHL eq. 10) is fine for moderate x
		// and cross-checks the Euler-transformed implementation.
		z := tc.t / (m.Alpha + tc.T + tc.t)
		num := (m.A + m.B + tc.x - 1) / (m.A - 1) * (1 - math.Pow((m.Alpha+tc.T)/(m.Alpha+tc.T+tc.t), m.R+tc.x)*
			mathext.Hypergeo(m.R+tc.x, m.B+tc.x, m.A+m.B+tc.x-1, z))
		den := 1.0
		if tc.x > 0 {
			den += m.A / (m.B + tc.x - 1) * math.Pow((m.Alpha+tc.T)/(m.Alpha+tc.tx), m.R+tc.x)
		}
		got, err := m.ExpectedPurchases(tc.t, tc.x, tc.tx, tc.T)
		if err != nil {
			t.Fatal(err)
		}
		if want := num / den; math.Abs(got-want) > 1e-9*math.Max(1, want) {
			t.Errorf("ExpectedPurchases%v = %.12g, want %.12g", tc, got, want)
		}
		pa, err := m.ProbabilityAlive(tc.x, tc.tx, tc.T)
		if err != nil || pa <= 0 || pa > 1 || math.Abs(pa-1/den) > 1e-12 {
			t.Errorf("ProbabilityAlive%v = %v, %v, want %v", tc, pa, err, 1/den)
		}
	}

	// E[X(t)] must equal the mean of the P(X(t)=n) distribution, which in
	// turn must sum to one.
	for _, h := range []float64{1, 10, 39, 78} {
		var total, mean float64
		for n := 0; n < 2000; n++ {
			p, err := m.ProbabilityOfNPurchases(h, n)
			if err != nil || p < 0 || math.IsNaN(p) {
				t.Fatalf("P(X(%v)=%d) = %v, %v", h, n, p, err)
			}
			total += p
			mean += float64(n) * p
		}
		e, err := m.ExpectedPurchasesNew(h)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(total-1) > 1e-6 || math.Abs(mean-e) > 1e-4 {
			t.Errorf("t=%v: ΣP = %.8f (want 1), Σ n·P = %.6f vs E[X(t)] = %.6f", h, total, mean, e)
		}
	}
}

func TestBGNBDBadInput(t *testing.T) {
	m := cdnowBGNBD
	tests := []struct {
		name string
		call func() (float64, error)
		want error
	}{
		{"zero model", func() (float64, error) { return BGNBD{}.ProbabilityAlive(1, 1, 2) }, ErrInvalidModel},
		{"recency beyond T", func() (float64, error) { return m.ProbabilityAlive(1, 3, 2) }, ErrInvalidInput},
		{"negative horizon", func() (float64, error) { return m.ExpectedPurchases(-1, 1, 1, 2) }, ErrInvalidInput},
		{"nan", func() (float64, error) { return m.ExpectedPurchases(1, math.NaN(), 1, 2) }, ErrInvalidInput},
		{"negative n", func() (float64, error) { return m.ProbabilityOfNPurchases(1, -1) }, ErrInvalidInput},
		{"inf horizon", func() (float64, error) { return m.ExpectedPurchasesNew(math.Inf(1)) }, ErrInvalidInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.call(); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestFitDegenerate(t *testing.T) {
	oneTime := make([]Summary, 100)
	for i := range oneTime {
		oneTime[i] = Summary{T: float64(i%30 + 1)}
	}
	sameSpend := make([]Summary, 50)
	for i := range sameSpend {
		sameSpend[i] = Summary{Frequency: float64(i%5 + 1), Recency: 3, T: 10, MonetaryValue: 20}
	}
	type fitter func([]Summary) error
	fits := map[string]fitter{
		"bg/nbd":      func(s []Summary) error { _, err := FitBGNBD(s); return err },
		"pareto/nbd":  func(s []Summary) error { _, err := FitParetoNBD(s); return err },
		"gamma-gamma": func(s []Summary) error { _, err := FitGammaGamma(s); return err },
	}
	tests := []struct {
		name    string
		data    []Summary
		wantErr map[string]error
	}{
		{"empty", nil, map[string]error{"bg/nbd": ErrNotEnoughData, "pareto/nbd": ErrNotEnoughData, "gamma-gamma": ErrNotEnoughData}},
		{"all one-time buyers", oneTime, map[string]error{"bg/nbd": ErrNotEnoughData, "pareto/nbd": ErrNotEnoughData, "gamma-gamma": ErrNotEnoughData}},
		{"single customer", []Summary{{Frequency: 3, Recency: 5, T: 10, MonetaryValue: 4}}, map[string]error{"bg/nbd": ErrNotEnoughData, "pareto/nbd": ErrNotEnoughData, "gamma-gamma": ErrNotEnoughData}},
		{"invalid", []Summary{{Frequency: 1, Recency: 5, T: math.Inf(1)}}, map[string]error{"bg/nbd": ErrInvalidInput, "pareto/nbd": ErrInvalidInput, "gamma-gamma": ErrInvalidInput}},
		{"two identical repeaters", []Summary{{Frequency: 3, Recency: 5, T: 10, MonetaryValue: 4}, {Frequency: 3, Recency: 5, T: 10, MonetaryValue: 4}},
			map[string]error{"bg/nbd": ErrNotConverged, "pareto/nbd": ErrNotConverged, "gamma-gamma": ErrNotEnoughData}},
		{"zero T", []Summary{{Frequency: 0, T: 0}, {Frequency: 1, Recency: 0, T: 0}}, map[string]error{"bg/nbd": ErrNotConverged, "pareto/nbd": ErrNotConverged, "gamma-gamma": ErrNotEnoughData}},
		// Identical spend has no between-customer variance for the Gamma
		// mixing distribution to fit.
		{"identical spend", sameSpend, map[string]error{"gamma-gamma": ErrNotConverged}},
	}
	for _, tc := range tests {
		for name, want := range tc.wantErr {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				done := make(chan error, 1)
				go func() { done <- fits[name](tc.data) }()
				select {
				case err := <-done:
					if !errors.Is(err, want) {
						t.Fatalf("err = %v, want %v", err, want)
					}
				case <-time.After(20 * time.Second):
					t.Fatal("fit hung")
				}
			})
		}
	}
}
