package experiment

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/kizuna/kizuna/services/analytics/internal/num"
)

// ErrInvalidInput is wrapped by every error caused by impossible inputs:
// negative counts, conversions above trials, alpha outside (0, 1), too few
// observations for a variance.
var ErrInvalidInput = errors.New("experiment: invalid input")

// Interval is a two-sided confidence interval, the same type as
// survey.Interval.
type Interval = num.Interval

var stdNormal = distuv.UnitNormal

func checkAlpha(alpha float64) error {
	if !(alpha > 0 && alpha < 1) {
		return fmt.Errorf("%w: alpha %v, want 0 < alpha < 1", ErrInvalidInput, alpha)
	}
	return nil
}

// Proportion is a conversion count out of a number of trials.
type Proportion struct {
	Conversions, Trials int64
}

// Rate returns Conversions/Trials (0 without trials).
func (p Proportion) Rate() float64 {
	if p.Trials == 0 {
		return 0
	}
	return float64(p.Conversions) / float64(p.Trials)
}

func (p Proportion) validate(name string) error {
	if p.Trials <= 0 || p.Conversions < 0 || p.Conversions > p.Trials {
		return fmt.Errorf("%w: %s has %d conversions out of %d trials", ErrInvalidInput, name, p.Conversions, p.Trials)
	}
	return nil
}

// ProportionTest is the result of TwoProportionZTest. Lifts are variant
// relative to control.
type ProportionTest struct {
	ControlRate, VariantRate float64
	// AbsoluteLift is VariantRate - ControlRate, with a Wald interval using
	// the unpooled standard error, clipped to [-1, 1], the range of a
	// difference of rates.
	AbsoluteLift float64
	AbsoluteCI   Interval
	// RelativeLift is VariantRate/ControlRate - 1. Its interval is the
	// delta-method interval for log(VariantRate/ControlRate),
	// exponentiated, which stays asymmetric and above -100% as it should.
	// GrowthBook's frequentist engine instead applies the delta method to
	// the ratio itself (a symmetric interval around the relative lift,
	// judged with a t-test); both agree for large samples, and the log
	// form cannot report a lower end below -100%. Both are NaN when either
	// rate is 0: callers show them as absent, with the reason.
	RelativeLift float64
	RelativeCI   Interval
	// Z uses the pooled standard error, as the null hypothesis of equal
	// rates implies.
	Z, PValue float64
	// Significant reports PValue < alpha.
	Significant bool
}

// TwoProportionZTest compares the conversion rates of control and variant
// with a two-sided pooled z-test at significance level alpha (e.g. 0.05).
func TwoProportionZTest(control, variant Proportion, alpha float64) (ProportionTest, error) {
	if err := control.validate("control"); err != nil {
		return ProportionTest{}, fmt.Errorf("z-test: %w", err)
	}
	if err := variant.validate("variant"); err != nil {
		return ProportionTest{}, fmt.Errorf("z-test: %w", err)
	}
	if err := checkAlpha(alpha); err != nil {
		return ProportionTest{}, fmt.Errorf("z-test: %w", err)
	}
	pa, pb := control.Rate(), variant.Rate()
	na, nb := float64(control.Trials), float64(variant.Trials)
	res := ProportionTest{ControlRate: pa, VariantRate: pb, AbsoluteLift: pb - pa}
	zc := stdNormal.Quantile(1 - alpha/2)

	se := math.Sqrt(pa*(1-pa)/na + pb*(1-pb)/nb)
	res.AbsoluteCI = Interval{Low: max(res.AbsoluteLift-zc*se, -1), High: min(res.AbsoluteLift+zc*se, 1)}

	pooled := float64(control.Conversions+variant.Conversions) / (na + nb)
	if seP := math.Sqrt(pooled * (1 - pooled) * (1/na + 1/nb)); seP > 0 {
		res.Z = res.AbsoluteLift / seP
		res.PValue = 2 * stdNormal.Survival(math.Abs(res.Z))
	} else {
		// All or nothing converted in both arms: identical, no evidence.
		res.PValue = 1
	}
	res.Significant = res.PValue < alpha

	res.RelativeLift, res.RelativeCI = math.NaN(), Interval{Low: math.NaN(), High: math.NaN()}
	if pa > 0 && pb > 0 {
		res.RelativeLift = pb/pa - 1
		lr := math.Log(pb / pa)
		seL := math.Sqrt((1-pa)/(pa*na) + (1-pb)/(pb*nb))
		res.RelativeCI = Interval{Low: math.Exp(lr-zc*seL) - 1, High: math.Exp(lr+zc*seL) - 1}
	}
	return res, nil
}

// Sample summarises a numeric metric by its aggregates, e.g. revenue per
// user: N observations, their Sum and their sum of squares SumSq.
type Sample struct {
	N, Sum, SumSq float64
}

// Mean returns Sum/N.
func (s Sample) Mean() float64 { return s.Sum / s.N }

// Variance returns the unbiased sample variance. Cancellation in
// SumSq - Sum²/N can make it slightly negative for constant data; it is
// clamped at 0.
func (s Sample) Variance() float64 {
	v := (s.SumSq - s.Sum*s.Sum/s.N) / (s.N - 1)
	return math.Max(v, 0)
}

func (s Sample) validate(name string) error {
	if !num.Finite(s.N, s.Sum, s.SumSq) || s.N < 2 || s.SumSq < 0 {
		return fmt.Errorf("%w: %s sample needs N ≥ 2 and finite sums, got %+v", ErrInvalidInput, name, s)
	}
	return nil
}

// MeanTest is the result of WelchTTest and RatioTest.
type MeanTest struct {
	ControlMean, VariantMean float64
	// Difference is VariantMean - ControlMean, with its confidence interval.
	Difference float64
	CI         Interval
	// StdErr is the standard error of Difference.
	StdErr float64
	// Statistic is the t (Welch) or z (ratio) statistic.
	Statistic float64
	// DF is the Welch-Satterthwaite degrees of freedom (+Inf for z-tests).
	DF          float64
	PValue      float64
	Significant bool
}

// WelchTTest compares two means without assuming equal variances, at
// significance level alpha, with Welch-Satterthwaite degrees of freedom.
func WelchTTest(control, variant Sample, alpha float64) (MeanTest, error) {
	if err := control.validate("control"); err != nil {
		return MeanTest{}, fmt.Errorf("welch t-test: %w", err)
	}
	if err := variant.validate("variant"); err != nil {
		return MeanTest{}, fmt.Errorf("welch t-test: %w", err)
	}
	if err := checkAlpha(alpha); err != nil {
		return MeanTest{}, fmt.Errorf("welch t-test: %w", err)
	}
	va, vb := control.Variance()/control.N, variant.Variance()/variant.N
	res := MeanTest{ControlMean: control.Mean(), VariantMean: variant.Mean()}
	res.Difference = res.VariantMean - res.ControlMean
	res.StdErr = math.Sqrt(va + vb)
	if res.StdErr == 0 {
		// Both samples constant: the means are known exactly.
		res.DF = math.Inf(1)
		res.CI = Interval{Low: res.Difference, High: res.Difference}
		res.PValue = 1
		if res.Difference != 0 {
			res.PValue = 0
			res.Statistic = math.Copysign(math.Inf(1), res.Difference)
		}
		res.Significant = res.PValue < alpha
		return res, nil
	}
	res.DF = (va + vb) * (va + vb) / (va*va/(control.N-1) + vb*vb/(variant.N-1))
	res.Statistic = res.Difference / res.StdErr
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: res.DF}
	res.PValue = 2 * t.Survival(math.Abs(res.Statistic))
	q := t.Quantile(1 - alpha/2)
	res.CI = Interval{Low: res.Difference - q*res.StdErr, High: res.Difference + q*res.StdErr}
	res.Significant = res.PValue < alpha
	return res, nil
}

// RatioSample holds the aggregates of a ratio metric measured per unit of
// randomisation, e.g. per customer Y = revenue and X = orders for average
// order value ΣY/ΣX. Sums run over the N units.
type RatioSample struct {
	N                   float64
	SumX, SumY          float64
	SumXX, SumYY, SumXY float64
}

// Ratio returns ΣY/ΣX.
func (r RatioSample) Ratio() float64 { return r.SumY / r.SumX }

// RatioVariance returns the delta-method variance of ΣY/ΣX:
// (σ²_Y - 2R·σ_XY + R²·σ²_X)/(N·μ²_X), with unbiased (N-1) moments. The
// naive variance over orders would ignore that orders of one customer are
// correlated, and understate it.
func (r RatioSample) RatioVariance() float64 {
	n := r.N
	mx, my := r.SumX/n, r.SumY/n
	vx := (r.SumXX - n*mx*mx) / (n - 1)
	vy := (r.SumYY - n*my*my) / (n - 1)
	cxy := (r.SumXY - n*mx*my) / (n - 1)
	R := my / mx
	return math.Max((vy-2*R*cxy+R*R*vx)/(n*mx*mx), 0)
}

func (r RatioSample) validate(name string) error {
	if !num.Finite(r.N, r.SumX, r.SumY, r.SumXX, r.SumYY, r.SumXY) || r.N < 2 || r.SumX == 0 || r.SumXX < 0 || r.SumYY < 0 {
		return fmt.Errorf("%w: %s ratio sample needs N ≥ 2, ΣX ≠ 0 and finite sums, got %+v", ErrInvalidInput, name, r)
	}
	return nil
}

// RatioTest compares a ratio metric between arms with a z-test on
// delta-method standard errors at significance level alpha. Means in the
// result are the ratios.
func RatioTest(control, variant RatioSample, alpha float64) (MeanTest, error) {
	if err := control.validate("control"); err != nil {
		return MeanTest{}, fmt.Errorf("ratio test: %w", err)
	}
	if err := variant.validate("variant"); err != nil {
		return MeanTest{}, fmt.Errorf("ratio test: %w", err)
	}
	if err := checkAlpha(alpha); err != nil {
		return MeanTest{}, fmt.Errorf("ratio test: %w", err)
	}
	res := MeanTest{ControlMean: control.Ratio(), VariantMean: variant.Ratio(), DF: math.Inf(1)}
	res.Difference = res.VariantMean - res.ControlMean
	res.StdErr = math.Sqrt(control.RatioVariance() + variant.RatioVariance())
	zc := stdNormal.Quantile(1 - alpha/2)
	res.CI = Interval{Low: res.Difference - zc*res.StdErr, High: res.Difference + zc*res.StdErr}
	if res.StdErr > 0 {
		res.Statistic = res.Difference / res.StdErr
		res.PValue = 2 * stdNormal.Survival(math.Abs(res.Statistic))
	} else {
		res.PValue = 1
		if res.Difference != 0 {
			res.PValue = 0
		}
	}
	res.Significant = res.PValue < alpha
	return res, nil
}
