package clv

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"

	"github.com/kizuna/kizuna/services/analytics/internal/num"
)

// ShiftedBetaGeometric is a fitted sBG retention model for contractual
// settings (Fader & Hardie 2007): each customer churns at the end of every
// period with a constant probability θ ~ Beta(Alpha, Beta). Heterogeneity in
// θ is why observed retention rates rise over a cohort's life.
type ShiftedBetaGeometric struct {
	Alpha, Beta float64
	// LogLikelihood is the maximised log-likelihood of the cohort.
	LogLikelihood float64
}

func (m ShiftedBetaGeometric) check() error { return positive("sbg", m.Alpha, m.Beta) }

// FitShiftedBetaGeometric fits the sBG model to one cohort's survivor
// counts: survivors[0] is the cohort size at acquisition and survivors[t]
// the number still active after t periods. Counts must be non-increasing
// and at least two periods must be observed; they need not be integers, so
// survivors per 1,000 work too.
func FitShiftedBetaGeometric(survivors []float64) (ShiftedBetaGeometric, error) {
	if len(survivors) < 3 {
		return ShiftedBetaGeometric{}, fmt.Errorf("fit sbg: %w: %d survivor counts, need the cohort size and at least two periods", ErrNotEnoughData, len(survivors))
	}
	if !(survivors[0] > 0) || !num.Finite(survivors[0]) {
		return ShiftedBetaGeometric{}, fmt.Errorf("fit sbg: %w: cohort size %v", ErrInvalidInput, survivors[0])
	}
	for t := 1; t < len(survivors); t++ {
		if !num.Finite(survivors[t]) || survivors[t] < 0 || survivors[t] > survivors[t-1] {
			return ShiftedBetaGeometric{}, fmt.Errorf("fit sbg: %w: survivors[%d] = %v after %v; counts must be non-negative and non-increasing", ErrInvalidInput, t, survivors[t], survivors[t-1])
		}
	}
	if survivors[len(survivors)-1] == survivors[0] {
		return ShiftedBetaGeometric{}, fmt.Errorf("fit sbg: %w: nobody churned, so churn cannot be estimated", ErrNotEnoughData)
	}
	n := survivors[0]
	f := func(lp, _ []float64) float64 {
		m := ShiftedBetaGeometric{Alpha: math.Exp(lp[0]), Beta: math.Exp(lp[1])}
		return -m.logLik(survivors) / n
	}
	x, v, err := minimizeLog(f, []float64{0, 0}, false)
	if err != nil {
		return ShiftedBetaGeometric{}, fmt.Errorf("fit sbg: %w", err)
	}
	return ShiftedBetaGeometric{Alpha: math.Exp(x[0]), Beta: math.Exp(x[1]), LogLikelihood: -v * n}, nil
}

// logLik is Σ_t lost_t·ln P(T=t) + survivors_n·ln S(n), using the
// recursions P(T=1) = α/(α+β), P(T=t) = P(T=t-1)·(β+t-2)/(α+β+t-1) and
// S(t) = S(t-1) - P(T=t).
func (m ShiftedBetaGeometric) logLik(survivors []float64) float64 {
	a, b := m.Alpha, m.Beta
	var ll float64
	p := a / (a + b)
	s := 1.0
	for t := 1; t < len(survivors); t++ {
		if t > 1 {
			p *= (b + float64(t) - 2) / (a + b + float64(t) - 1)
		}
		s -= p
		if lost := survivors[t-1] - survivors[t]; lost > 0 {
			ll += lost * math.Log(p)
		}
	}
	if last := survivors[len(survivors)-1]; last > 0 {
		ll += last * math.Log(s)
	}
	return ll
}

// Survival returns S(t), the expected share of a cohort still active after
// t periods: B(α, β+t)/B(α, β).
func (m ShiftedBetaGeometric) Survival(t int) (float64, error) {
	if err := m.check(); err != nil {
		return 0, err
	}
	if t < 0 {
		return 0, fmt.Errorf("%w: period %d", ErrInvalidInput, t)
	}
	return math.Exp(mathext.Lbeta(m.Alpha, m.Beta+float64(t)) - mathext.Lbeta(m.Alpha, m.Beta)), nil
}

// RetentionRate returns r(t) = S(t)/S(t-1) = (β+t-1)/(α+β+t-1), the
// expected share of customers active after period t-1 who renew for period
// t (t ≥ 1).
func (m ShiftedBetaGeometric) RetentionRate(t int) (float64, error) {
	if err := m.check(); err != nil {
		return 0, err
	}
	if t < 1 {
		return 0, fmt.Errorf("%w: period %d, want ≥ 1", ErrInvalidInput, t)
	}
	tf := float64(t)
	return (m.Beta + tf - 1) / (m.Alpha + m.Beta + tf - 1), nil
}

// DiscountedExpectedLifetime returns DEL = Σ_{t≥0} S(t)/(1+d)^t, the
// expected number of periods a new customer pays for, discounted at rate d
// per period with payment at the start of each period (so the first period
// counts fully). Multiply by the per-period margin for a new customer's
// CLV. It equals 2F1(1, β; α+β; 1/(1+d)). With d = 0 it is the
// undiscounted mean lifetime (α+β-1)/(α-1), which is infinite for α ≤ 1.
func (m ShiftedBetaGeometric) DiscountedExpectedLifetime(d float64) (float64, error) {
	return m.discountedLifetime(d, 0)
}

// DiscountedExpectedResidualLifetime returns DERL, the discounted expected
// number of further payments from a customer who has made renewals
// renewals and is now up for the next one (Fader & Hardie 2010):
// Σ_{k≥0} S(n+1+k)/S(n)/(1+d)^k = (β+n)/(α+β+n)·2F1(1, β+n+1; α+β+n+1; 1/(1+d)).
// The next renewal's payment is undiscounted. Multiply by the per-period
// margin for the customer's residual value.
func (m ShiftedBetaGeometric) DiscountedExpectedResidualLifetime(d float64, renewals int) (float64, error) {
	if renewals < 0 {
		return 0, fmt.Errorf("%w: renewals %d", ErrInvalidInput, renewals)
	}
	n := float64(renewals)
	v, err := m.discountedLifetime(d, n+1)
	if err != nil {
		return 0, err
	}
	return (m.Beta + n) / (m.Alpha + m.Beta + n) * v, nil
}

// discountedLifetime is 2F1(1, β+k; α+β+k; 1/(1+d)).
func (m ShiftedBetaGeometric) discountedLifetime(d, k float64) (float64, error) {
	if err := m.check(); err != nil {
		return 0, err
	}
	if !(d >= 0) || math.IsInf(d, 0) {
		return 0, fmt.Errorf("%w: discount rate %v", ErrInvalidInput, d)
	}
	if d == 0 {
		if m.Alpha <= 1 {
			return 0, fmt.Errorf("%w: undiscounted lifetime is infinite for alpha %v ≤ 1", ErrInvalidInput, m.Alpha)
		}
		return (m.Alpha + m.Beta + k - 1) / (m.Alpha - 1), nil
	}
	v := mathext.Hypergeo(1, m.Beta+k, m.Alpha+m.Beta+k, 1/(1+d))
	if !num.Finite(v) {
		return 0, fmt.Errorf("%w: discounted lifetime not finite for d=%v", ErrInvalidModel, d)
	}
	return v, nil
}
