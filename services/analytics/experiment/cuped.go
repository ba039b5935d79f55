package experiment

import (
	"fmt"

	"github.com/kizuna/kizuna/services/analytics/internal/num"
)

// CovariateSample summarises a metric Y together with a pre-experiment
// covariate X of the same units (e.g. revenue after exposure and revenue
// in the 30 days before it): N units and the sums CUPED needs.
type CovariateSample struct {
	N                  float64
	SumY, SumYY        float64
	SumX, SumXX, SumXY float64
}

func (c CovariateSample) validate(name string) error {
	if !num.Finite(c.N, c.SumY, c.SumYY, c.SumX, c.SumXX, c.SumXY) || c.N < 2 || c.SumYY < 0 || c.SumXX < 0 {
		return fmt.Errorf("%w: %s sample needs N ≥ 2 and finite sums, got %+v", ErrInvalidInput, name, c)
	}
	return nil
}

// CUPEDResult is the result of CUPED.
type CUPEDResult struct {
	// Theta is the adjustment coefficient cov(X, Y)/var(X), pooled over
	// both arms (0 when X does not vary).
	Theta float64
	// VarianceReduction is 1 - var(Y - θX)/var(Y) over both arms: the
	// share of the metric's variance the covariate explains (ρ²).
	VarianceReduction float64
	// Test is WelchTTest on the adjusted metric Y - θ(X - mean X); its
	// Difference estimates the same effect as the unadjusted test.
	Test MeanTest
}

// CUPED is Deng et al.'s variance reduction with a pre-experiment
// covariate (Controlled-experiment Using Pre-Experiment Data): each unit's
// metric is adjusted to Y - θ(X - X̄) with θ = cov(X, Y)/var(X) pooled over
// both arms and X̄ the pooled mean, and the adjusted means are compared
// with WelchTTest at level alpha. Randomisation makes X independent of the
// arm, so the adjustment removes variance without biasing the difference.
func CUPED(control, variant CovariateSample, alpha float64) (CUPEDResult, error) {
	if err := control.validate("control"); err != nil {
		return CUPEDResult{}, fmt.Errorf("cuped: %w", err)
	}
	if err := variant.validate("variant"); err != nil {
		return CUPEDResult{}, fmt.Errorf("cuped: %w", err)
	}
	all := CovariateSample{
		N: control.N + variant.N, SumY: control.SumY + variant.SumY, SumYY: control.SumYY + variant.SumYY,
		SumX: control.SumX + variant.SumX, SumXX: control.SumXX + variant.SumXX, SumXY: control.SumXY + variant.SumXY,
	}
	n := all.N
	varX := (all.SumXX - all.SumX*all.SumX/n) / (n - 1)
	covXY := (all.SumXY - all.SumX*all.SumY/n) / (n - 1)
	var res CUPEDResult
	if varX > 0 {
		res.Theta = covXY / varX
	}
	meanX := all.SumX / n
	adjust := func(c CovariateSample) Sample {
		// Σ(Y - θX + θX̄) and Σ(Y - θX + θX̄)², expanded into the sums.
		t, m := res.Theta, res.Theta*meanX
		sum := c.SumY - t*c.SumX + c.N*m
		sumSqDiff := c.SumYY - 2*t*c.SumXY + t*t*c.SumXX
		return Sample{N: c.N, Sum: sum, SumSq: sumSqDiff + 2*m*(c.SumY-t*c.SumX) + c.N*m*m}
	}
	if vy := (Sample{N: n, Sum: all.SumY, SumSq: all.SumYY}).Variance(); vy > 0 {
		res.VarianceReduction = min(max(1-adjust(all).Variance()/vy, 0), 1)
	}
	test, err := WelchTTest(adjust(control), adjust(variant), alpha)
	if err != nil {
		return CUPEDResult{}, fmt.Errorf("cuped: %w", err)
	}
	res.Test = test
	return res, nil
}
