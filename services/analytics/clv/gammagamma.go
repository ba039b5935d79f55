package clv

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
	"gonum.org/v1/gonum/stat"

	"github.com/kizuna/kizuna/services/analytics/internal/num"
)

// MaxFrequencyMonetaryCorrelation is the largest absolute Pearson
// correlation between frequency and monetary value (over repeat customers)
// that FitGammaGamma accepts. The model assumes spend per transaction is
// independent of the number of transactions; above 0.3 (a moderate
// correlation by the usual rule of thumb) its CLV figures would be biased.
const MaxFrequencyMonetaryCorrelation = 0.3

// GammaGamma is a fitted Gamma-Gamma spend model (Fader & Hardie 2013):
// transaction values are Gamma(P, ν) with ν ~ Gamma(Q, V) across customers.
type GammaGamma struct {
	P, Q, V float64
	// LogLikelihood is the maximised log-likelihood over the customers used.
	LogLikelihood float64
	// Customers is the number of repeat customers the model was fitted on.
	Customers int
	// Correlation is the Pearson correlation between frequency and monetary
	// value over those customers.
	Correlation float64
}

func (g GammaGamma) check() error { return positive("gamma-gamma", g.P, g.Q, g.V) }

// FitGammaGamma fits the Gamma-Gamma model on the customers with at least
// one repeat purchase and a positive mean repeat spend (non-positive spend,
// e.g. refunds, has no Gamma likelihood, so those customers are left out).
// It returns an error wrapping ErrDependentSpend, with the correlation in
// the message, when |ρ(frequency, monetary)| > MaxFrequencyMonetaryCorrelation.
func FitGammaGamma(summaries []Summary) (GammaGamma, error) {
	var xs, ms []float64
	for _, s := range summaries {
		if err := s.validate(); err != nil {
			return GammaGamma{}, fmt.Errorf("fit gamma-gamma: %w", err)
		}
		if s.Frequency > 0 && s.MonetaryValue > 0 {
			xs = append(xs, s.Frequency)
			ms = append(ms, s.MonetaryValue)
		}
	}
	if len(xs) < 3 {
		return GammaGamma{}, fmt.Errorf("fit gamma-gamma: %w: %d repeat customers with positive spend, need 3", ErrNotEnoughData, len(xs))
	}
	rho := stat.Correlation(xs, ms, nil)
	if math.IsNaN(rho) {
		// Zero variance in frequency or spend: no evidence of dependence.
		rho = 0
	}
	if math.Abs(rho) > MaxFrequencyMonetaryCorrelation {
		return GammaGamma{}, fmt.Errorf("fit gamma-gamma: %w: ρ = %.3f, limit ±%.1f", ErrDependentSpend, rho, MaxFrequencyMonetaryCorrelation)
	}
	d := newSpendData(xs, ms)
	var meanM float64
	for _, m := range ms {
		meanM += m
	}
	meanM /= float64(len(ms))
	// Start with E[spend] = p·v/(q-1) equal to the sample mean.
	init := []float64{0, math.Log(2), math.Log(meanM)}
	x, f, err := minimizeLog(d.objective, init, true)
	if err != nil {
		return GammaGamma{}, fmt.Errorf("fit gamma-gamma: %w", err)
	}
	return GammaGamma{
		P: math.Exp(x[0]), Q: math.Exp(x[1]), V: math.Exp(x[2]),
		LogLikelihood: -f * d.n,
		Customers:     len(xs),
		Correlation:   rho,
	}, nil
}

// spendData holds distinct (x, m) pairs with multiplicities.
type spendData struct {
	x, m, w []float64
	n       float64
}

func newSpendData(xs, ms []float64) *spendData {
	d := &spendData{n: float64(len(xs))}
	idx := make(map[[2]float64]int, len(xs))
	for i := range xs {
		k := [2]float64{xs[i], ms[i]}
		if j, ok := idx[k]; ok {
			d.w[j]++
			continue
		}
		idx[k] = len(d.x)
		d.x = append(d.x, xs[i])
		d.m = append(d.m, ms[i])
		d.w = append(d.w, 1)
	}
	return d
}

// objective is the negative mean Gamma-Gamma log-likelihood at log(p, q, v):
//
//	ℓ = lnΓ(px+q) - lnΓ(px) - lnΓ(q) + q ln v + (px-1) ln m + px ln x - (px+q) ln(xm+v)
func (d *spendData) objective(lp, grad []float64) float64 {
	p, q, v := math.Exp(lp[0]), math.Exp(lp[1]), math.Exp(lp[2])
	lgQ, _ := math.Lgamma(q)
	psiQ := mathext.Digamma(q)
	lnV := math.Log(v)
	var ll, gp, gq, gv float64
	for i, x := range d.x {
		m, w := d.m[i], d.w[i]
		px := p * x
		lg1, _ := math.Lgamma(px + q)
		lg2, _ := math.Lgamma(px)
		lnM, lnX, lnXMV := math.Log(m), math.Log(x), math.Log(x*m+v)
		ll += w * (lg1 - lg2 - lgQ + q*lnV + (px-1)*lnM + px*lnX - (px+q)*lnXMV)
		if grad != nil {
			psi1 := mathext.Digamma(px + q)
			gp += w * x * (psi1 - mathext.Digamma(px) + lnM + lnX - lnXMV)
			gq += w * (psi1 - psiQ + lnV - lnXMV)
			gv += w * (q/v - (px+q)/(x*m+v))
		}
	}
	if grad != nil {
		grad[0] = -gp * p / d.n
		grad[1] = -gq * q / d.n
		grad[2] = -gv * v / d.n
	}
	return -ll / d.n
}

// ConditionalExpectedSpend returns E[M | x, m̄], the expected mean
// transaction value of a customer with x repeat purchases averaging m̄: a
// credibility-weighted blend of the population mean p·v/(q-1) and m̄. For
// x = 0 it is the population mean. It needs q > 1 for a finite mean.
func (g GammaGamma) ConditionalExpectedSpend(x, m float64) (float64, error) {
	if err := g.check(); err != nil {
		return 0, err
	}
	if !num.Finite(x, m) || x < 0 {
		return 0, fmt.Errorf("%w: x=%v m=%v", ErrInvalidInput, x, m)
	}
	if g.Q <= 1 {
		return 0, fmt.Errorf("%w: q = %v ≤ 1, mean spend is infinite", ErrInvalidModel, g.Q)
	}
	return g.expectedSpend(x, m), nil
}

// expectedSpend is ConditionalExpectedSpend without validation, for callers
// that have checked the model and the customer already.
func (g GammaGamma) expectedSpend(x, m float64) float64 {
	if x == 0 {
		m = 0
	}
	return g.P * (g.V + x*m) / (g.P*x + g.Q - 1)
}

// PopulationMeanSpend returns p·v/(q-1), the expected transaction value of
// a customer about whom nothing is known.
func (g GammaGamma) PopulationMeanSpend() (float64, error) {
	return g.ConditionalExpectedSpend(0, 0)
}
