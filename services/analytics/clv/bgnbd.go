package clv

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"

	"github.com/kizuna/kizuna/services/analytics/internal/num"
)

// BGNBD is a fitted beta-geometric/negative-binomial model (Fader, Hardie &
// Lee 2005): while alive a customer buys at Poisson rate λ ~ Gamma(R, Alpha),
// and after each purchase drops out with probability p ~ Beta(A, B). Alpha is
// in the time unit of the summaries it was fitted on.
type BGNBD struct {
	R, Alpha, A, B float64
	// LogLikelihood is the maximised log-likelihood over all customers.
	LogLikelihood float64
	// Customers is the number of customers the model was fitted on.
	Customers int
}

// Name returns "bg/nbd".
func (m BGNBD) Name() string { return "bg/nbd" }

// NumParams returns 4.
func (m BGNBD) NumParams() int { return 4 }

// LogLik returns the maximised log-likelihood.
func (m BGNBD) LogLik() float64 { return m.LogLikelihood }

func (m BGNBD) check() error { return positive("bg/nbd", m.R, m.Alpha, m.A, m.B) }

// FitBGNBD fits the BG/NBD model by maximum likelihood. It needs at least
// two customers and at least one repeat purchase; otherwise the likelihood
// has no interior maximum and ErrNotEnoughData is returned.
func FitBGNBD(summaries []Summary) (BGNBD, error) {
	d, err := compress(summaries)
	if err != nil {
		return BGNBD{}, fmt.Errorf("fit bg/nbd: %w", err)
	}
	if d.n < 2 || d.repeat == 0 {
		return BGNBD{}, fmt.Errorf("fit bg/nbd: %w: %v customers, %v with repeat purchases", ErrNotEnoughData, d.n, d.repeat)
	}
	// Start α at the scale of the observation window so the same start works
	// for day- and week-based summaries.
	var meanT, meanX float64
	for _, r := range d.rows {
		meanT += r.w * d.T[r.ti]
		meanX += r.w * d.x[r.xi]
	}
	meanT /= d.n
	meanX /= d.n
	alpha0 := math.Max(meanT/(meanX+1), 1e-3)
	init := []float64{0, math.Log(alpha0), 0, 0}
	x, f, err := minimizeLog(d.bgnbdObjective, init, true)
	if err != nil {
		return BGNBD{}, fmt.Errorf("fit bg/nbd: %w", err)
	}
	return BGNBD{
		R: math.Exp(x[0]), Alpha: math.Exp(x[1]), A: math.Exp(x[2]), B: math.Exp(x[3]),
		LogLikelihood: -f * d.n,
		Customers:     int(d.n),
	}, nil
}

// bgnbdObjective is the negative mean BG/NBD log-likelihood at
// log-parameters lp = log(r, α, a, b), with its gradient in grad.
//
// Per customer, with A3 = -(r+x)·log(α+T) and
// A4 = log a - log(b+x-1) - (r+x)·log(α+t_x) for x > 0:
//
//	ℓ = lnΓ(r+x) - lnΓ(r) + r·ln α + lnB(a, b+x) - lnB(a, b) + logsumexp(A3, A4)
func (d *triples) bgnbdObjective(lp, grad []float64) float64 {
	r, alpha, a, b := math.Exp(lp[0]), math.Exp(lp[1]), math.Exp(lp[2]), math.Exp(lp[3])
	lnAlpha, lnA := math.Log(alpha), math.Log(a)
	lgR, _ := math.Lgamma(r)
	lgB, _ := math.Lgamma(b)
	lgAB, _ := math.Lgamma(a + b)
	psiR, psiB, psiAB := mathext.Digamma(r), mathext.Digamma(b), mathext.Digamma(a+b)

	// Terms that depend on x only, weighted by how many customers share x.
	var ll, gr, gal, ga, gb float64
	a4 := make([]float64, len(d.x))
	invB := make([]float64, len(d.x))
	for i, x := range d.x {
		lg1, _ := math.Lgamma(r + x)
		lg2, _ := math.Lgamma(b + x)
		lg3, _ := math.Lgamma(a + b + x)
		w := d.xWeight[i]
		ll += w * (lg1 - lgR + r*lnAlpha + lgAB + lg2 - lgB - lg3)
		if grad != nil {
			gr += w * (mathext.Digamma(r+x) - psiR + lnAlpha)
			gal += w * r / alpha
			psiABX := mathext.Digamma(a + b + x)
			ga += w * (psiAB - psiABX)
			gb += w * (psiAB + mathext.Digamma(b+x) - psiB - psiABX)
		}
		if x > 0 {
			a4[i] = lnA - math.Log(b+x-1)
			invB[i] = 1 / (b + x - 1)
		}
	}
	lnT, invT := logsAndInverses(d.T, alpha)
	lnTx, invTx := logsAndInverses(d.tx, alpha)

	acc := sumRows(len(d.rows), 5, func(lo, hi int, acc []float64) {
		var sll, sr, sal, sa, sb float64
		for _, row := range d.rows[lo:hi] {
			x := d.x[row.xi]
			rx := r + x
			A3 := -rx * lnT[row.ti]
			if x == 0 {
				sll += row.w * A3
				sr -= row.w * lnT[row.ti]
				sal -= row.w * rx * invT[row.ti]
				continue
			}
			A4 := a4[row.xi] - rx*lnTx[row.txi]
			l, w4 := logAddExp(A3, A4)
			w3 := 1 - w4
			sll += row.w * l
			sr -= row.w * (w3*lnT[row.ti] + w4*lnTx[row.txi])
			sal -= row.w * rx * (w3*invT[row.ti] + w4*invTx[row.txi])
			sa += row.w * w4 / a
			sb -= row.w * w4 * invB[row.xi]
		}
		acc[0] += sll
		acc[1] += sr
		acc[2] += sal
		acc[3] += sa
		acc[4] += sb
	})
	ll += acc[0]
	if grad != nil {
		// Chain rule to log-parameters, sign flip and mean, to match the value.
		grad[0] = -(gr + acc[1]) * r / d.n
		grad[1] = -(gal + acc[2]) * alpha / d.n
		grad[2] = -(ga + acc[3]) * a / d.n
		grad[3] = -(gb + acc[4]) * b / d.n
	}
	return -ll / d.n
}

// logsAndInverses returns log(alpha+v) and 1/(alpha+v) for each v.
func logsAndInverses(vals []float64, alpha float64) ([]float64, []float64) {
	ln := make([]float64, len(vals))
	inv := make([]float64, len(vals))
	for i, v := range vals {
		ln[i] = math.Log(alpha + v)
		inv[i] = 1 / (alpha + v)
	}
	return ln, inv
}

// LogLikelihoodOf returns the model's log-likelihood of the given
// summaries, e.g. to score a holdout set.
func (m BGNBD) LogLikelihoodOf(summaries []Summary) (float64, error) {
	if err := m.check(); err != nil {
		return 0, err
	}
	d, err := compress(summaries)
	if err != nil {
		return 0, fmt.Errorf("bg/nbd log-likelihood: %w", err)
	}
	lp := []float64{math.Log(m.R), math.Log(m.Alpha), math.Log(m.A), math.Log(m.B)}
	return -d.bgnbdObjective(lp, nil) * d.n, nil
}

func checkCustomer(x, tx, T float64) error {
	s := Summary{Frequency: x, Recency: tx, T: T}
	return s.validate()
}

// logOddsDead returns log(a/(b+x-1)·((α+T)/(α+t_x))^(r+x)), the log odds
// that a customer with x > 0 repeats has dropped out.
func (m BGNBD) logOddsDead(x, tx, T float64) float64 {
	return math.Log(m.A) - math.Log(m.B+x-1) + (m.R+x)*(math.Log(m.Alpha+T)-math.Log(m.Alpha+tx))
}

// ProbabilityAlive returns P(alive | x, t_x, T). Customers without repeat
// purchases are alive with probability 1 under BG/NBD, since dropout can
// only happen right after a purchase.
func (m BGNBD) ProbabilityAlive(x, tx, T float64) (float64, error) {
	if err := m.check(); err != nil {
		return 0, err
	}
	if err := checkCustomer(x, tx, T); err != nil {
		return 0, err
	}
	return m.aliveUnchecked(x, tx, T), nil
}

// ExpectedPurchases returns E[Y(t) | x, t_x, T], the expected number of
// purchases in the next t periods for a customer with the given history.
func (m BGNBD) ExpectedPurchases(t, x, tx, T float64) (float64, error) {
	if err := m.check(); err != nil {
		return 0, err
	}
	if err := checkCustomer(x, tx, T); err != nil {
		return 0, err
	}
	if !(t >= 0) || math.IsInf(t, 0) {
		return 0, fmt.Errorf("%w: horizon %v", ErrInvalidInput, t)
	}
	v := m.aliveUnchecked(x, tx, T) * m.purchasesIfAlive(t, x, T)
	if !num.Finite(v) {
		return 0, fmt.Errorf("%w: expected purchases not finite for x=%v t_x=%v T=%v", ErrInvalidModel, x, tx, T)
	}
	return v, nil
}

// aliveUnchecked is ProbabilityAlive without validation.
func (m BGNBD) aliveUnchecked(x, tx, T float64) float64 {
	if x == 0 {
		return 1
	}
	return 1 / (1 + math.Exp(m.logOddsDead(x, tx, T)))
}

// purchasesIfAlive is the numerator of FHL eq. (10), the expected purchases
// in (T, T+t] of a customer known to be alive at T:
// (a+b+x-1)/(a-1)·[1 - ((α+T)/(α+T+t))^(r+x)·2F1(r+x, b+x; a+b+x-1; z)].
// Euler's transformation 2F1(r+x, b+x; c; z) = (1-z)^(a-1-r-x)·
// 2F1(a+b-1-r, a-1; c; z) cancels the power factor and keeps the
// hypergeometric arguments small for heavy buyers, where the original form
// overflows.
func (m BGNBD) purchasesIfAlive(t, x, T float64) float64 {
	if t == 0 {
		return 0
	}
	a := m.avoidUnitA()
	z := t / (m.Alpha + T + t)
	c := a + m.B + x - 1
	f := mathext.Hypergeo(a+m.B-1-m.R, a-1, c, z)
	return c / (a - 1) * -math.Expm1((a-1)*math.Log1p(-z)+math.Log(f))
}

// avoidUnitA nudges a away from 1, where the closed forms have a removable
// singularity (0/0); the expectations are continuous in a.
func (m BGNBD) avoidUnitA() float64 {
	if math.Abs(m.A-1) < 1e-7 {
		return 1 + 1e-7
	}
	return m.A
}

// ExpectedPurchasesNew returns E[X(t)], the expected number of repeat
// purchases in the first t periods for a newly acquired customer.
func (m BGNBD) ExpectedPurchasesNew(t float64) (float64, error) {
	if err := m.check(); err != nil {
		return 0, err
	}
	if !(t >= 0) || math.IsInf(t, 0) {
		return 0, fmt.Errorf("%w: horizon %v", ErrInvalidInput, t)
	}
	if t == 0 {
		return 0, nil
	}
	a := m.avoidUnitA()
	z := t / (m.Alpha + t)
	c := a + m.B - 1
	f := mathext.Hypergeo(c-m.R, a-1, c, z)
	return c / (a - 1) * -math.Expm1((a-1)*math.Log1p(-z)+math.Log(f)), nil
}

// ProbabilityOfNPurchases returns P(X(t) = n) for a new customer (FHL
// eq. 8). The tail sum of the negative binomial is evaluated as a
// regularised incomplete beta function.
func (m BGNBD) ProbabilityOfNPurchases(t float64, n int) (float64, error) {
	if err := m.check(); err != nil {
		return 0, err
	}
	if !(t >= 0) || math.IsInf(t, 0) || n < 0 {
		return 0, fmt.Errorf("%w: t=%v n=%d", ErrInvalidInput, t, n)
	}
	if t == 0 {
		if n == 0 {
			return 1, nil
		}
		return 0, nil
	}
	nf := float64(n)
	lbAB := mathext.Lbeta(m.A, m.B)
	lgRN, _ := math.Lgamma(m.R + nf)
	lgR, _ := math.Lgamma(m.R)
	lgN1, _ := math.Lgamma(nf + 1)
	p := m.Alpha / (m.Alpha + t)
	q := t / (m.Alpha + t)
	p1 := math.Exp(mathext.Lbeta(m.A, m.B+nf) - lbAB + lgRN - lgR - lgN1 + m.R*math.Log(p) + nf*math.Log(q))
	if n == 0 {
		return p1, nil
	}
	tail := mathext.RegIncBeta(nf, m.R, q)
	return p1 + math.Exp(mathext.Lbeta(m.A+1, m.B+nf-1)-lbAB)*tail, nil
}
