package clv

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
)

// ParetoNBD is a fitted Pareto/NBD model (Schmittlein, Morrison & Colombo
// 1987): purchases at Poisson rate λ ~ Gamma(R, Alpha) while alive, with an
// exponential lifetime of rate μ ~ Gamma(S, Beta). Unlike BG/NBD, customers
// can die at any time, not only right after a purchase.
type ParetoNBD struct {
	R, Alpha, S, Beta float64
	// LogLikelihood is the maximised log-likelihood over all customers.
	LogLikelihood float64
	// Customers is the number of customers the model was fitted on.
	Customers int
}

// Name returns "pareto/nbd".
func (m ParetoNBD) Name() string { return "pareto/nbd" }

// NumParams returns 4.
func (m ParetoNBD) NumParams() int { return 4 }

// LogLik returns the maximised log-likelihood.
func (m ParetoNBD) LogLik() float64 { return m.LogLikelihood }

func (m ParetoNBD) check() error { return positive("pareto/nbd", m.R, m.Alpha, m.S, m.Beta) }

// FitParetoNBD fits the Pareto/NBD model by maximum likelihood with
// Nelder-Mead (the likelihood's hypergeometric terms make analytic
// gradients unattractive). Requirements are as for FitBGNBD.
func FitParetoNBD(summaries []Summary) (ParetoNBD, error) {
	d, err := compress(summaries)
	if err != nil {
		return ParetoNBD{}, fmt.Errorf("fit pareto/nbd: %w", err)
	}
	if d.n < 2 || d.repeat == 0 {
		return ParetoNBD{}, fmt.Errorf("fit pareto/nbd: %w: %v customers, %v with repeat purchases", ErrNotEnoughData, d.n, d.repeat)
	}
	var meanT float64
	for _, r := range d.rows {
		meanT += r.w * d.T[r.ti]
	}
	meanT /= d.n
	scale := math.Log(math.Max(meanT/4, 1e-3))
	init := []float64{0, scale, 0, scale}
	x, f, err := minimizeLog(d.paretoObjective, init, false)
	if err != nil {
		return ParetoNBD{}, fmt.Errorf("fit pareto/nbd: %w", err)
	}
	return ParetoNBD{
		R: math.Exp(x[0]), Alpha: math.Exp(x[1]), S: math.Exp(x[2]), Beta: math.Exp(x[3]),
		LogLikelihood: -f * d.n,
		Customers:     int(d.n),
	}, nil
}

// paretoTerms returns the two log-terms of the Pareto/NBD likelihood
// (Fader, Hardie & Lee 2005 note, eq. 22), without the
// lnΓ(r+x) - lnΓ(r) + r ln α + s ln β prefix:
//
//	l1 = -(r+x) ln(α+T) - s ln(β+T)       alive throughout (0, T]
//	l2 = ln(s/(r+s+x)) + ln A0            died somewhere in (t_x, T]
func (m ParetoNBD) paretoTerms(x, tx, T float64) (l1, l2 float64) {
	r, alpha, s, beta := m.R, m.Alpha, m.S, m.Beta
	l1 = -(r+x)*math.Log(alpha+T) - s*math.Log(beta+T)
	rsx := r + s + x
	// The 2F1 argument must lie in [0, 1): expand around the larger of α, β.
	rho, b := alpha, s+1
	if alpha < beta {
		rho, b = beta, r+x
	}
	diff := math.Abs(alpha - beta)
	term := func(u float64) float64 {
		return math.Log(mathext.Hypergeo(rsx, b, rsx+1, diff/(rho+u))) - rsx*math.Log(rho+u)
	}
	a1, a2 := term(tx), term(T)
	// A0 = e^a1 - e^a2 with a1 ≥ a2; computed relative to e^a1 to keep
	// precision when the two are close.
	lnA0 := a1 + math.Log(-math.Expm1(a2-a1))
	l2 = math.Log(s/rsx) + lnA0
	return l1, l2
}

// paretoObjective is the negative mean Pareto/NBD log-likelihood at log(r, α, s, β).
func (d *triples) paretoObjective(lp, _ []float64) float64 {
	m := ParetoNBD{R: math.Exp(lp[0]), Alpha: math.Exp(lp[1]), S: math.Exp(lp[2]), Beta: math.Exp(lp[3])}
	lgR, _ := math.Lgamma(m.R)
	prefix := make([]float64, len(d.x))
	var ll float64
	for i, x := range d.x {
		lg, _ := math.Lgamma(m.R + x)
		prefix[i] = lg - lgR + m.R*math.Log(m.Alpha) + m.S*math.Log(m.Beta)
		ll += d.xWeight[i] * prefix[i]
	}
	acc := sumRows(len(d.rows), 1, func(lo, hi int, acc []float64) {
		var s float64
		for _, row := range d.rows[lo:hi] {
			l1, l2 := m.paretoTerms(d.x[row.xi], d.tx[row.txi], d.T[row.ti])
			l, _ := logAddExp(l1, l2)
			s += row.w * l
		}
		acc[0] += s
	})
	ll += acc[0]
	if math.IsNaN(ll) {
		return math.Inf(1)
	}
	return -ll / d.n
}

// ProbabilityAlive returns P(alive at T | x, t_x, T).
func (m ParetoNBD) ProbabilityAlive(x, tx, T float64) (float64, error) {
	if err := m.check(); err != nil {
		return 0, err
	}
	if err := checkCustomer(x, tx, T); err != nil {
		return 0, err
	}
	l1, l2 := m.paretoTerms(x, tx, T)
	p := 1 / (1 + math.Exp(l2-l1))
	if math.IsNaN(p) {
		return 0, fmt.Errorf("%w: probability alive not finite for x=%v t_x=%v T=%v", ErrInvalidModel, x, tx, T)
	}
	return p, nil
}

// ExpectedPurchases returns E[Y(t) | x, t_x, T] under the Pareto/NBD.
func (m ParetoNBD) ExpectedPurchases(t, x, tx, T float64) (float64, error) {
	if !(t >= 0) || math.IsInf(t, 0) {
		return 0, fmt.Errorf("%w: horizon %v", ErrInvalidInput, t)
	}
	pa, err := m.ProbabilityAlive(x, tx, T)
	if err != nil {
		return 0, err
	}
	return (m.R + x) / (m.Alpha + T) * m.expectedLifetimeFraction(t, T) * pa, nil
}

// ExpectedPurchasesNew returns E[X(t)] for a newly acquired customer.
func (m ParetoNBD) ExpectedPurchasesNew(t float64) (float64, error) {
	if err := m.check(); err != nil {
		return 0, err
	}
	if !(t >= 0) || math.IsInf(t, 0) {
		return 0, fmt.Errorf("%w: horizon %v", ErrInvalidInput, t)
	}
	return m.R / m.Alpha * m.expectedLifetimeFraction(t, 0), nil
}

// expectedLifetimeFraction is (β+T)/(s-1)·[1 - ((β+T)/(β+T+t))^(s-1)], the
// expected time alive in the next t periods given alive at T, with its
// limit (β+T)·ln((β+T+t)/(β+T)) at s = 1.
func (m ParetoNBD) expectedLifetimeFraction(t, T float64) float64 {
	bt := m.Beta + T
	l := math.Log1p(t / bt)
	if math.Abs(m.S-1) < 1e-10 {
		return bt * l
	}
	return bt * -math.Expm1(-(m.S-1)*l) / (m.S - 1)
}
