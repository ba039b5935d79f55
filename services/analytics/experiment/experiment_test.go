package experiment

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/integrate/quad"
	"gonum.org/v1/gonum/stat/distuv"
)

func near(got, want, tol float64) bool { return math.Abs(got-want) <= tol }

// Reference figures below were computed independently from the textbook
// formulas with Python's math and statistics modules.
func TestTwoProportionZTest(t *testing.T) {
	tests := []struct {
		name             string
		control, variant Proportion
		wantZ, wantP     float64
		wantAbs, wantRel Interval
		wantSignificant  bool
	}{
		{
			name:    "20% vs 25% of 1000",
			control: Proportion{200, 1000}, variant: Proportion{250, 1000},
			wantZ: 2.677397763008329, wantP: 0.007419649261025693,
			wantAbs:         Interval{Low: 0.013463621687539847, High: 0.08653637831246014},
			wantRel:         Interval{Low: 0.06094625083756311, High: 0.47274190258600335},
			wantSignificant: true,
		},
		{
			name:    "variant worse, not significant",
			control: Proportion{250, 1000}, variant: Proportion{240, 1000},
			wantZ: -0.519910375176314, wantP: 0.6031260437095334,
			wantAbs: Interval{Low: -0.04769556496160732, High: 0.0276955649616073},
			wantRel: Interval{Low: -0.17694668113689205, High: 0.11973304630253545},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := TwoProportionZTest(tc.control, tc.variant, 0.05)
			if err != nil {
				t.Fatal(err)
			}
			const tol = 1e-9
			if !near(r.Z, tc.wantZ, tol) || !near(r.PValue, tc.wantP, tol) ||
				!near(r.AbsoluteCI.Low, tc.wantAbs.Low, tol) || !near(r.AbsoluteCI.High, tc.wantAbs.High, tol) ||
				!near(r.RelativeCI.Low, tc.wantRel.Low, tol) || !near(r.RelativeCI.High, tc.wantRel.High, tol) ||
				r.Significant != tc.wantSignificant {
				t.Errorf("got %+v", r)
			}
			if !r.AbsoluteCI.Contains(r.AbsoluteLift) || !r.RelativeCI.Contains(r.RelativeLift) {
				t.Errorf("lift outside its own interval: %+v", r)
			}
		})
	}
}

func TestTwoProportionEdgeCases(t *testing.T) {
	r, err := TwoProportionZTest(Proportion{0, 100}, Proportion{0, 100}, 0.05)
	if err != nil || r.PValue != 1 || r.Significant || !math.IsNaN(r.RelativeLift) {
		t.Errorf("all-zero arms: %+v, %v", r, err)
	}
	bad := []struct {
		name    string
		c, v    Proportion
		alpha   float64
		wantErr error
	}{
		{"conversions above trials", Proportion{5, 4}, Proportion{1, 4}, 0.05, ErrInvalidInput},
		{"no trials", Proportion{0, 0}, Proportion{1, 4}, 0.05, ErrInvalidInput},
		{"negative", Proportion{-1, 4}, Proportion{1, 4}, 0.05, ErrInvalidInput},
		{"alpha", Proportion{1, 4}, Proportion{1, 4}, 1, ErrInvalidInput},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := TwoProportionZTest(tc.c, tc.v, tc.alpha); !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func sampleOf(xs []float64) Sample {
	var s Sample
	for _, x := range xs {
		s.N++
		s.Sum += x
		s.SumSq += x * x
	}
	return s
}

func TestWelchTTest(t *testing.T) {
	// Wikipedia, "Welch's t-test", example 1: t = 2.46, ν ≈ 25.0, p = 0.021.
	a1 := []float64{27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4}
	a2 := []float64{27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4}
	r, err := WelchTTest(sampleOf(a1), sampleOf(a2), 0.05)
	if err != nil {
		t.Fatal(err)
	}
	if !near(r.Statistic, 2.455356398286006, 1e-9) || !near(r.DF, 24.98852929023142, 1e-9) ||
		!near(r.PValue, 0.021378, 1e-5) || !near(r.Difference, 2.166666666666668, 1e-9) || !r.Significant {
		t.Errorf("got %+v", r)
	}
	// The interval excludes 0 exactly when p < alpha.
	if r.CI.Contains(0) {
		t.Errorf("CI %+v contains 0 although p = %v", r.CI, r.PValue)
	}

	constant, err := WelchTTest(Sample{N: 3, Sum: 3, SumSq: 3}, Sample{N: 3, Sum: 3, SumSq: 3}, 0.05)
	if err != nil || constant.PValue != 1 || math.IsNaN(constant.Statistic) {
		t.Errorf("constant samples: %+v, %v", constant, err)
	}
	for _, s := range []Sample{{N: 1, Sum: 1, SumSq: 1}, {N: 5, Sum: math.NaN(), SumSq: 1}} {
		if _, err := WelchTTest(s, sampleOf(a1), 0.05); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%+v: err = %v, want ErrInvalidInput", s, err)
		}
	}
}

func TestRatioTest(t *testing.T) {
	// With one order per customer the ratio is a plain mean, and the
	// delta-method SE must equal the unpooled SE of the Welch test.
	ys := [][]float64{{10, 12, 9, 14, 11, 13}, {15, 11, 16, 14, 12, 17, 13}}
	var rs [2]RatioSample
	var ss [2]Sample
	for i, y := range ys {
		for _, v := range y {
			rs[i].N++
			rs[i].SumX++
			rs[i].SumXX++
			rs[i].SumY += v
			rs[i].SumYY += v * v
			rs[i].SumXY += v
		}
		ss[i] = sampleOf(y)
	}
	r, err := RatioTest(rs[0], rs[1], 0.05)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := WelchTTest(ss[0], ss[1], 0.05)
	if !near(r.StdErr, w.StdErr, 1e-12) || !near(r.Difference, w.Difference, 1e-12) {
		t.Errorf("ratio %+v vs welch %+v", r, w)
	}

	// AOV by hand: customers (orders, revenue) = (1, 10), (2, 30), (3, 20).
	// R = 60/6 = 10; var(X) = 1, var(Y) = 100, cov = 5, mean X = 2:
	// (100 - 2·10·5 + 100·1)/(3·4) = 100/12.
	aov := RatioSample{N: 3, SumX: 6, SumY: 60, SumXX: 14, SumYY: 1400, SumXY: 130}
	if got := aov.RatioVariance(); !near(got, 100.0/12, 1e-12) || aov.Ratio() != 10 {
		t.Errorf("AOV variance %v, want %v", got, 100.0/12)
	}
	if _, err := RatioTest(RatioSample{N: 3}, aov, 0.05); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("zero ΣX: err = %v", err)
	}
}

func TestBayesianBetaBinomial(t *testing.T) {
	tests := []struct {
		name             string
		control, variant Proportion
		prior            BetaPrior
	}{
		{"small", Proportion{3, 10}, Proportion{6, 12}, BetaPrior{}},
		{"typical", Proportion{200, 1000}, Proportion{250, 1000}, BetaPrior{}},
		{"close", Proportion{1000, 10000}, Proportion{1020, 10000}, BetaPrior{2, 8}},
		{"large", Proportion{40000, 200000}, Proportion{40300, 200000}, BetaPrior{}},
		{"variant worse", Proportion{60, 100}, Proportion{40, 100}, BetaPrior{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := BayesianBetaBinomial(tc.control, tc.variant, tc.prior)
			if err != nil {
				t.Fatal(err)
			}
			prior := tc.prior
			if prior == (BetaPrior{}) {
				prior = BetaPrior{1, 1}
			}
			a := distuv.Beta{Alpha: float64(prior.Alpha + tc.control.Conversions), Beta: float64(prior.Beta + tc.control.Trials - tc.control.Conversions)}
			b := distuv.Beta{Alpha: float64(prior.Alpha + tc.variant.Conversions), Beta: float64(prior.Beta + tc.variant.Trials - tc.variant.Conversions)}
			// Independent check by quadrature over the variant posterior,
			// restricted to where its mass is: P(B > A) = ∫ f_B(x)·F_A(x) dx
			// and E[max(A-B, 0)] = ∫∫_{a>b} (a-b) = ∫ f_B(x)·∫_x^1 (1-F_A) dx.
			lo, hi := math.Max(0, b.Mean()-12*b.StdDev()), math.Min(1, b.Mean()+12*b.StdDev())
			want := quad.Fixed(func(x float64) float64 { return b.Prob(x) * a.CDF(x) }, lo, hi, 2000, nil, 0)
			if !near(r.ProbVariantBeatsControl, want, 1e-7) {
				t.Errorf("P(B > A) = %.10f, quadrature %.10f", r.ProbVariantBeatsControl, want)
			}
			// Expected loss by seeded Monte Carlo: 3.5 standard errors.
			rng := rand.New(rand.NewPCG(1, 2))
			a.Src, b.Src = rng, rng
			const n = 200_000
			var lossV, lossC, sq float64
			for i := 0; i < n; i++ {
				d := a.Rand() - b.Rand()
				lossV += math.Max(d, 0)
				lossC += math.Max(-d, 0)
				sq += d * d
			}
			se := math.Sqrt(sq/n) / math.Sqrt(n)
			if !near(r.ExpectedLossVariant, lossV/n, 3.5*se) || !near(r.ExpectedLossControl, lossC/n, 3.5*se) {
				t.Errorf("losses %v / %v, Monte Carlo %v / %v (se %v)", r.ExpectedLossVariant, r.ExpectedLossControl, lossV/n, lossC/n, se)
			}
			// E[max(A-B,0)] - E[max(B-A,0)] = E[A] - E[B] exactly.
			if !near(r.ExpectedLossVariant-r.ExpectedLossControl, a.Mean()-b.Mean(), 1e-10) {
				t.Errorf("loss difference %v, want %v", r.ExpectedLossVariant-r.ExpectedLossControl, a.Mean()-b.Mean())
			}
		})
	}
	same, _ := BayesianBetaBinomial(Proportion{30, 100}, Proportion{30, 100}, BetaPrior{})
	if !near(same.ProbVariantBeatsControl, 0.5, 1e-12) {
		t.Errorf("identical arms: P = %v, want 0.5", same.ProbVariantBeatsControl)
	}
	if _, err := BayesianBetaBinomial(Proportion{1, 2}, Proportion{1, 2}, BetaPrior{-1, 1}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("bad prior: err = %v", err)
	}
}

func TestSampleRatioMismatch(t *testing.T) {
	tests := []struct {
		name     string
		observed []int64
		shares   []float64
		wantChi  float64
		wantP    float64
		mismatch bool
	}{
		// χ² = 2·500²/50500; with one df, p = erfc(√(χ²/2)).
		{"50/50 mild", []int64{50000, 51000}, nil, 9.900990099009901, 0.0016518987323573646, false},
		{"50/50 broken", []int64{50000, 51500}, nil, 22.167487684729064, math.Erfc(math.Sqrt(22.167487684729064 / 2)), true},
		{"90/10 fine", []int64{9000, 1000}, []float64{90, 10}, 0, 1, false},
		{"three arms", []int64{100, 100, 100}, []float64{1, 1, 1}, 0, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := SampleRatioMismatch(tc.observed, tc.shares)
			if err != nil {
				t.Fatal(err)
			}
			if !near(r.ChiSquare, tc.wantChi, 1e-9) || !near(r.PValue, tc.wantP, 1e-9) || r.Mismatch != tc.mismatch {
				t.Errorf("got %+v, want χ²=%v p=%v mismatch=%v", r, tc.wantChi, tc.wantP, tc.mismatch)
			}
		})
	}
	for _, bad := range []struct {
		obs    []int64
		shares []float64
	}{{[]int64{1}, nil}, {[]int64{1, 2}, []float64{1}}, {[]int64{0, 0}, nil}, {[]int64{-1, 2}, nil}, {[]int64{1, 2}, []float64{1, 0}}} {
		if _, err := SampleRatioMismatch(bad.obs, bad.shares); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%v %v: err = %v", bad.obs, bad.shares, err)
		}
	}
}

func TestSampleSize(t *testing.T) {
	tests := []struct {
		name          string
		baseline, mde float64
		kind          MDEKind
		alpha, power  float64
		want          int64
	}{
		// Evan Miller's calculator shows 1,030 (1030.22 unrounded).
		{"evan miller 20% +5pt", 0.20, 0.05, Absolute, 0.05, 0.8, 1031},
		{"relative 10% of 20%", 0.20, 0.10, Relative, 0.05, 0.8, 6348},
		{"same effect as relative", 0.20, 0.25, Relative, 0.05, 0.8, 1031},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SampleSizeProportions(tc.baseline, tc.mde, tc.kind, tc.alpha, tc.power)
			if err != nil || got != tc.want {
				t.Fatalf("got %d, %v; want %d", got, err, tc.want)
			}
		})
	}
	for _, bad := range []struct {
		b, m, a, p float64
		k          MDEKind
	}{{0, .05, .05, .8, Absolute}, {.2, 0, .05, .8, Absolute}, {.2, .9, .05, .8, Absolute}, {.2, .05, 0, .8, Absolute}, {.2, .05, .05, 1, Absolute}, {.2, .05, .05, .8, 0}} {
		if _, err := SampleSizeProportions(bad.b, bad.m, bad.k, bad.a, bad.p); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%+v: err = %v", bad, err)
		}
	}
	// 2·(1.959964+0.841621)²·10²/2² = 392.4 → 393.
	if n, err := SampleSizeMeans(10, 2, 0.05, 0.8); err != nil || n != 393 {
		t.Errorf("SampleSizeMeans = %d, %v, want 393", n, err)
	}
}

func BenchmarkTwoProportionZTest(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, _ = TwoProportionZTest(Proportion{200, 1000}, Proportion{250, 1000}, 0.05)
	}
}

func BenchmarkBayesianBetaBinomial1k(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, _ = BayesianBetaBinomial(Proportion{200, 1000}, Proportion{250, 1000}, BetaPrior{})
	}
}

func BenchmarkBayesianBetaBinomial200k(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, _ = BayesianBetaBinomial(Proportion{40000, 200000}, Proportion{40300, 200000}, BetaPrior{})
	}
}

func BenchmarkWelchTTest(b *testing.B) {
	c, v := Sample{N: 15, Sum: 313, SumSq: 6610}, Sample{N: 15, Sum: 345, SumSq: 7979}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = WelchTTest(c, v, 0.05)
	}
}

func BenchmarkRatioTest(b *testing.B) {
	aov := RatioSample{N: 3, SumX: 6, SumY: 60, SumXX: 14, SumYY: 1400, SumXY: 130}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = RatioTest(aov, aov, 0.05)
	}
}

func BenchmarkSampleRatioMismatch(b *testing.B) {
	obs := []int64{50000, 51000}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = SampleRatioMismatch(obs, nil)
	}
}

func BenchmarkSampleSizeProportions(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, _ = SampleSizeProportions(0.2, 0.05, Absolute, 0.05, 0.8)
	}
}
