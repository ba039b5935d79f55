package experiment

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
)

// BetaPrior is a Beta(Alpha, Beta) prior on a conversion rate. Integer
// parameters keep P(variant beats control) an exact finite sum; Beta(1, 1),
// the uniform prior, is the usual choice and is used for the zero value.
type BetaPrior struct {
	Alpha, Beta int64
}

// BayesResult is the result of BayesianBetaBinomial.
type BayesResult struct {
	// ProbVariantBeatsControl is P(p_variant > p_control | data).
	ProbVariantBeatsControl float64
	// ExpectedLossVariant is E[max(p_control - p_variant, 0)]: the
	// conversion rate expected to be lost by shipping the variant. A common
	// decision rule ships when it falls below a "threshold of caring".
	ExpectedLossVariant float64
	// ExpectedLossControl is E[max(p_variant - p_control, 0)].
	ExpectedLossControl float64
}

// BayesianBetaBinomial computes, under independent Beta posteriors, the
// probability that the variant's conversion rate exceeds the control's and
// the expected loss of choosing each arm. Both are exact (Evan Miller's
// closed form for P(X > Y) with integer Beta parameters, and Chris
// Stucchio's expected-loss identity), at a cost linear in the smaller
// posterior alpha, i.e. in the smaller conversion count.
func BayesianBetaBinomial(control, variant Proportion, prior BetaPrior) (BayesResult, error) {
	if err := control.validate("control"); err != nil {
		return BayesResult{}, fmt.Errorf("bayesian test: %w", err)
	}
	if err := variant.validate("variant"); err != nil {
		return BayesResult{}, fmt.Errorf("bayesian test: %w", err)
	}
	if prior == (BetaPrior{}) {
		prior = BetaPrior{1, 1}
	}
	if prior.Alpha <= 0 || prior.Beta <= 0 {
		return BayesResult{}, fmt.Errorf("bayesian test: %w: prior Beta(%d, %d), want positive integers", ErrInvalidInput, prior.Alpha, prior.Beta)
	}
	aA := float64(prior.Alpha + control.Conversions)
	bA := float64(prior.Beta + control.Trials - control.Conversions)
	aB := float64(prior.Alpha + variant.Conversions)
	bB := float64(prior.Beta + variant.Trials - variant.Conversions)
	meanA, meanB := aA/(aA+bA), aB/(aB+bB)
	res := BayesResult{ProbVariantBeatsControl: probGreater(aB, bB, aA, bA)}
	// E[max(X-Y, 0)] = E[X]·P(X' > Y) - E[Y]·P(X > Y'), where X' and Y'
	// have their alpha raised by one (size-biased distributions).
	res.ExpectedLossVariant = math.Max(meanA*probGreater(aA+1, bA, aB, bB)-meanB*probGreater(aA, bA, aB+1, bB), 0)
	res.ExpectedLossControl = math.Max(meanB*probGreater(aB+1, bB, aA, bA)-meanA*probGreater(aB, bB, aA+1, bA), 0)
	return res, nil
}

// probGreater returns P(X > Y) for X ~ Beta(a1, b1), Y ~ Beta(a2, b2) with
// integer a1, a2. The closed form sums a1 terms; by symmetry
// P(X > Y) = 1 - P(Y > X), so the shorter of the two sums is used.
func probGreater(a1, b1, a2, b2 float64) float64 {
	if a2 < a1 {
		return 1 - probGreater(a2, b2, a1, b1)
	}
	// P(X > Y) = Σ_{i<a1} B(a2+i, b1+b2) / ((b1+i)·B(1+i, b1)·B(a2, b2)).
	// Consecutive terms differ by the factor
	// (a2+i)(b1+i) / ((a2+b2+b1+i)(1+i)); the sum is kept as
	// exp(base)·sum, rescaled when it grows, so neither the first term's
	// underflow nor the peak's overflow loses it.
	base := mathext.Lbeta(a2, b1+b2) - mathext.Lbeta(a2, b2)
	term, sum := 1.0, 0.0
	n := int64(a1)
	for i := int64(0); i < n; i++ {
		sum += term
		fi := float64(i)
		term *= (a2 + fi) * (b1 + fi) / ((a2 + b2 + b1 + fi) * (1 + fi))
		if sum > 1e200 {
			base += math.Log(sum)
			term /= sum
			sum = 1
		}
	}
	p := math.Exp(base + math.Log(sum))
	return math.Min(math.Max(p, 0), 1)
}
