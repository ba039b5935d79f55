package results

import (
	"github.com/kizuna/kizuna/services/analytics/experiment"
)

// Comparison is one arm against the control. A nil test comes with the
// reason it could not be computed, so callers never show NaN.
type Comparison struct {
	Conversion       *experiment.ProportionTest
	Bayes            experiment.BayesResult
	ConversionReason string
	Revenue          *experiment.MeanTest
	CUPED            *experiment.CUPEDResult
	RevenueReason    string
}

// Compare runs the conversion tests (two-proportion z-test, Bayesian
// beta-binomial with uniform priors) and the revenue tests (Welch, CUPED)
// of arm against control at level alpha.
func Compare(control, arm Counts, alpha float64) Comparison {
	var c Comparison
	switch {
	case control.Exposed == 0 || arm.Exposed == 0:
		c.ConversionReason = "no exposed customers in " + emptyArm(control, arm)
	default:
		z, err := experiment.TwoProportionZTest(control.Proportion(), arm.Proportion(), alpha)
		if err != nil {
			c.ConversionReason = err.Error()
			break
		}
		b, err := experiment.BayesianBetaBinomial(control.Proportion(), arm.Proportion(), experiment.BetaPrior{Alpha: 1, Beta: 1})
		if err != nil {
			c.ConversionReason = err.Error()
			break
		}
		c.Conversion, c.Bayes = &z, b
	}
	switch {
	case control.Exposed < 2 || arm.Exposed < 2:
		c.RevenueReason = "a revenue comparison needs at least two exposed customers in each arm"
	default:
		w, err := experiment.WelchTTest(control.RevenueSample(), arm.RevenueSample(), alpha)
		if err != nil {
			c.RevenueReason = err.Error()
			break
		}
		cu, err := experiment.CUPED(control.Revenue, arm.Revenue, alpha)
		if err != nil {
			c.RevenueReason = err.Error()
			break
		}
		c.Revenue, c.CUPED = &w, &cu
	}
	return c
}

func emptyArm(control, arm Counts) string {
	if control.Exposed == 0 {
		return "the control arm " + control.Name
	}
	return "arm " + arm.Name
}

// SRM tests the observed split against the design's. It returns the
// reason instead when the test does not apply.
func SRM(d Design, arms []Counts) (*experiment.SRMResult, string) {
	if len(arms) < 2 {
		return nil, "a single arm has no split to check"
	}
	shares, ok := d.Shares(arms)
	if !ok {
		return nil, "an arm exposed earlier is no longer in the journey's design, so the intended split is unknown"
	}
	observed := make([]int64, len(arms))
	for i, a := range arms {
		observed[i] = a.Exposed
	}
	r, err := experiment.SampleRatioMismatch(observed, shares)
	if err != nil {
		return nil, err.Error()
	}
	return &r, ""
}
