package clv

import (
	"errors"
	"math"
	"testing"
)

// highEnd is the "High End" cohort of Fader & Hardie (2007): customers
// surviving per 1,000 after years 1-7.
var highEnd = []float64{1000, 869, 743, 653, 593, 551, 517, 491}

func TestFitShiftedBetaGeometric(t *testing.T) {
	m, err := FitShiftedBetaGeometric(highEnd)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("alpha=%.4f beta=%.4f LL=%.3f", m.Alpha, m.Beta, m.LogLikelihood)
	if !near(m.Alpha, 0.668, 3) || !near(m.Beta, 3.806, 3) {
		t.Errorf("alpha=%.4f beta=%.4f, want 0.668, 3.806", m.Alpha, m.Beta)
	}
	// The fitted survival curve must track the observed one to within two
	// percentage points (the largest gap, year 1, is 1.8 points).
	for yr := 1; yr < len(highEnd); yr++ {
		s, _ := m.Survival(yr)
		if math.Abs(s*1000-highEnd[yr]) > 20 {
			t.Errorf("S(%d) = %.1f per 1000, observed %v", yr, s*1000, highEnd[yr])
		}
	}
	// Retention rates rise over time for a heterogeneous cohort.
	prev := 0.0
	for yr := 1; yr <= 12; yr++ {
		r, _ := m.RetentionRate(yr)
		if r <= prev || r >= 1 {
			t.Errorf("r(%d) = %v after %v, want increasing below 1", yr, r, prev)
		}
		prev = r
	}
}

func TestShiftedBetaGeometricLifetime(t *testing.T) {
	m := ShiftedBetaGeometric{Alpha: 0.668, Beta: 3.806}
	for _, d := range []float64{0.1, 0.2} {
		got, err := m.DiscountedExpectedLifetime(d)
		if err != nil {
			t.Fatal(err)
		}
		var want float64
		for k := 0; k < 5000; k++ {
			s, _ := m.Survival(k)
			want += s / math.Pow(1+d, float64(k))
		}
		if math.Abs(got-want) > 1e-6 {
			t.Errorf("DEL(%v) = %v, brute force %v", d, got, want)
		}
		const n = 2
		derl, err := m.DiscountedExpectedResidualLifetime(d, n)
		if err != nil {
			t.Fatal(err)
		}
		sn, _ := m.Survival(n)
		var brute float64
		for k := 0; k < 5000; k++ {
			s, _ := m.Survival(n + 1 + k)
			brute += s / sn / math.Pow(1+d, float64(k))
		}
		if math.Abs(derl-brute) > 1e-6 {
			t.Errorf("DERL(%v, %d) = %v, brute force %v", d, n, derl, brute)
		}
	}
	if _, err := m.DiscountedExpectedLifetime(0); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("undiscounted lifetime with alpha<1: err = %v, want ErrInvalidInput", err)
	}
	if v, err := (ShiftedBetaGeometric{Alpha: 3, Beta: 2}).DiscountedExpectedLifetime(0); err != nil || math.Abs(v-2) > 1e-12 {
		t.Errorf("mean lifetime alpha=3 beta=2 = %v, %v, want (3+2-1)/(3-1) = 2", v, err)
	}
}

func TestFitShiftedBetaGeometricErrors(t *testing.T) {
	tests := []struct {
		name string
		data []float64
		want error
	}{
		{"too short", []float64{100, 80}, ErrNotEnoughData},
		{"increasing", []float64{100, 80, 90}, ErrInvalidInput},
		{"empty cohort", []float64{0, 0, 0}, ErrInvalidInput},
		{"nan", []float64{100, math.NaN(), 50}, ErrInvalidInput},
		{"no churn", []float64{100, 100, 100}, ErrNotEnoughData},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := FitShiftedBetaGeometric(tc.data); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}
