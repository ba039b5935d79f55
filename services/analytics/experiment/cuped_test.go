package experiment

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestCUPEDMatchesUnitLevel checks the aggregate form against adjusting
// every unit and testing the adjusted values, and that a predictive
// covariate narrows the interval without moving the estimate far.
func TestCUPEDMatchesUnitLevel(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	type unit struct{ x, y float64 }
	gen := func(n int, effect float64) []unit {
		us := make([]unit, n)
		for i := range us {
			x := rng.ExpFloat64() * 100
			us[i] = unit{x, 0.8*x + rng.NormFloat64()*20 + effect}
		}
		return us
	}
	control, variant := gen(4000, 0), gen(4000, 5)
	agg := func(us []unit) CovariateSample {
		var c CovariateSample
		for _, u := range us {
			c.N++
			c.SumY += u.y
			c.SumYY += u.y * u.y
			c.SumX += u.x
			c.SumXX += u.x * u.x
			c.SumXY += u.x * u.y
		}
		return c
	}
	got, err := CUPED(agg(control), agg(variant), 0.05)
	if err != nil {
		t.Fatal(err)
	}

	// Unit level: θ from the pooled units, then Welch on adjusted values.
	all := append(append([]unit{}, control...), variant...)
	var mx, my float64
	for _, u := range all {
		mx += u.x
		my += u.y
	}
	mx /= float64(len(all))
	my /= float64(len(all))
	var cov, vx float64
	for _, u := range all {
		cov += (u.x - mx) * (u.y - my)
		vx += (u.x - mx) * (u.x - mx)
	}
	theta := cov / vx
	if math.Abs(got.Theta-theta) > 1e-9*math.Abs(theta) {
		t.Fatalf("theta %v, unit level %v", got.Theta, theta)
	}
	sample := func(us []unit) Sample {
		var s Sample
		for _, u := range us {
			v := u.y - theta*(u.x-mx)
			s.N++
			s.Sum += v
			s.SumSq += v * v
		}
		return s
	}
	want, err := WelchTTest(sample(control), sample(variant), 0.05)
	if err != nil {
		t.Fatal(err)
	}
	for name, pair := range map[string][2]float64{
		"difference": {got.Test.Difference, want.Difference},
		"stderr":     {got.Test.StdErr, want.StdErr},
		"p":          {got.Test.PValue, want.PValue},
		"ci low":     {got.Test.CI.Low, want.CI.Low},
	} {
		if math.Abs(pair[0]-pair[1]) > 1e-6*math.Max(1, math.Abs(pair[1])) {
			t.Errorf("%s: aggregate %v, unit level %v", name, pair[0], pair[1])
		}
	}

	plain, err := WelchTTest(Sample{N: agg(control).N, Sum: agg(control).SumY, SumSq: agg(control).SumYY},
		Sample{N: agg(variant).N, Sum: agg(variant).SumY, SumSq: agg(variant).SumYY}, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	if !(got.Test.StdErr < plain.StdErr/2) {
		t.Errorf("CUPED stderr %v not well below plain %v with a predictive covariate", got.Test.StdErr, plain.StdErr)
	}
	if !(got.VarianceReduction > 0.8 && got.VarianceReduction < 1) {
		t.Errorf("variance reduction %v, want ρ² ≈ 0.96", got.VarianceReduction)
	}
	if !(got.Test.CI.Low < 5 && 5 < got.Test.CI.High) {
		t.Errorf("true effect 5 outside CUPED interval %+v", got.Test.CI)
	}
}

func TestCUPEDInvalid(t *testing.T) {
	ok := CovariateSample{N: 10, SumY: 10, SumYY: 20, SumX: 5, SumXX: 5, SumXY: 6}
	if _, err := CUPED(CovariateSample{N: 1}, ok, 0.05); err == nil {
		t.Error("N = 1 accepted")
	}
	if _, err := CUPED(ok, ok, 1.5); err == nil {
		t.Error("alpha 1.5 accepted")
	}
	// A constant covariate adjusts nothing: the plain Welch test.
	flat := CovariateSample{N: 10, SumY: 10, SumYY: 20, SumX: 10, SumXX: 10, SumXY: 10}
	flatB := CovariateSample{N: 10, SumY: 15, SumYY: 30, SumX: 10, SumXX: 10, SumXY: 15}
	got, err := CUPED(flat, flatB, 0.05)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := WelchTTest(Sample{N: 10, Sum: 10, SumSq: 20}, Sample{N: 10, Sum: 15, SumSq: 30}, 0.05)
	if got.Theta != 0 || got.Test != want {
		t.Errorf("constant covariate: %+v, want θ = 0 and %+v", got, want)
	}
}
