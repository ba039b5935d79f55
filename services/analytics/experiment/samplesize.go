package experiment

import (
	"fmt"
	"math"

	"github.com/kizuna/kizuna/services/analytics/internal/num"
)

// MaxSampleSize bounds a sample size per arm: an effect so small that it
// needs more is refused with the reason rather than answered with a number
// no experiment could reach (or one that overflows).
const MaxSampleSize = 1_000_000_000_000

// perArm rounds a sample size up, refusing one above MaxSampleSize.
func perArm(n float64) (int64, error) {
	if !(n <= MaxSampleSize) {
		return 0, fmt.Errorf("sample size: %w: the effect is too small to detect: it needs more than %d units per arm", ErrInvalidInput, int64(MaxSampleSize))
	}
	return int64(math.Ceil(n)), nil
}

// MDEKind says how a minimum detectable effect is expressed.
type MDEKind int

const (
	// Absolute MDEs are in rate points: baseline 0.20 with MDE 0.05 means
	// detecting 20% → 25%.
	Absolute MDEKind = iota + 1
	// Relative MDEs are fractions of the baseline: baseline 0.20 with MDE
	// 0.10 means detecting 20% → 22%.
	Relative
)

// SampleSizeProportions returns the number of units needed per arm to
// detect a change of mde from the baseline conversion rate with a two-sided
// test at level alpha and the given power, rounded up. It uses the formula
// of Evan Miller's calculator:
//
//	n = (z_{1-α/2}·√(2p(1-p)) + z_{power}·√(p(1-p) + p'(1-p')))² / (p'-p)²
//
// with the null variance at the baseline p and the alternative variance at
// p and p'. Baseline 20%, absolute MDE 5%, α = 0.05, power 0.8 gives
// 1030.2, so 1031 (the calculator displays the rounded 1,030).
func SampleSizeProportions(baseline, mde float64, kind MDEKind, alpha, power float64) (int64, error) {
	if !(baseline > 0 && baseline < 1) {
		return 0, fmt.Errorf("sample size: %w: baseline %v, want 0 < p < 1", ErrInvalidInput, baseline)
	}
	if err := checkAlpha(alpha); err != nil {
		return 0, fmt.Errorf("sample size: %w", err)
	}
	if !(power > 0 && power < 1) {
		return 0, fmt.Errorf("sample size: %w: power %v, want 0 < power < 1", ErrInvalidInput, power)
	}
	var target float64
	switch kind {
	case Absolute:
		target = baseline + mde
	case Relative:
		target = baseline * (1 + mde)
	default:
		return 0, fmt.Errorf("sample size: %w: unknown MDE kind %d", ErrInvalidInput, int(kind))
	}
	delta := target - baseline
	if !(target > 0 && target < 1) || delta == 0 || !num.Finite(delta) {
		return 0, fmt.Errorf("sample size: %w: MDE %v moves the rate from %v to %v, want a non-zero change within (0, 1)", ErrInvalidInput, mde, baseline, target)
	}
	za, zb := stdNormal.Quantile(1-alpha/2), stdNormal.Quantile(power)
	sd1 := math.Sqrt(2 * baseline * (1 - baseline))
	sd2 := math.Sqrt(baseline*(1-baseline) + target*(1-target))
	return perArm((za*sd1 + zb*sd2) * (za*sd1 + zb*sd2) / (delta * delta))
}

// SampleSizeMeans returns the units per arm needed to detect an absolute
// difference mde in a mean with standard deviation sd (assumed equal in
// both arms), two-sided at level alpha with the given power:
// n = 2·(z_{1-α/2} + z_{power})²·sd²/mde², rounded up.
func SampleSizeMeans(sd, mde, alpha, power float64) (int64, error) {
	if !(sd > 0) || mde == 0 || !num.Finite(sd, mde) {
		return 0, fmt.Errorf("sample size: %w: sd %v, mde %v", ErrInvalidInput, sd, mde)
	}
	if err := checkAlpha(alpha); err != nil {
		return 0, fmt.Errorf("sample size: %w", err)
	}
	if !(power > 0 && power < 1) {
		return 0, fmt.Errorf("sample size: %w: power %v, want 0 < power < 1", ErrInvalidInput, power)
	}
	z := stdNormal.Quantile(1-alpha/2) + stdNormal.Quantile(power)
	return perArm(2 * z * z * sd * sd / (mde * mde))
}
