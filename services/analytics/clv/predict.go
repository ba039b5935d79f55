package clv

import (
	"fmt"
	"math"

	"github.com/kizuna/kizuna/services/analytics/internal/num"
)

// predictParallelThreshold is the item count above which Predict spreads
// its per-triple and per-customer loops over all CPUs.
const predictParallelThreshold = 4096

// maxCLVMonths bounds the CLV horizon (100 years) so a typo cannot turn
// into an unbounded loop; discounting makes later months negligible anyway.
const maxCLVMonths = 1200

// PredictOptions configures Predict and CustomerLifetimeValue.
type PredictOptions struct {
	// Horizon is the prediction window in periods of Period (e.g. 52 weeks).
	Horizon float64
	// Period is the unit the summaries and the model are expressed in; it
	// converts the horizon into the 30-day months used for discounting.
	Period Period
	// MonthlyDiscount is the discount rate per 30-day month, e.g. 0.01.
	MonthlyDiscount float64
}

func (o PredictOptions) validate() error {
	if !(o.Horizon >= 0) || math.IsInf(o.Horizon, 0) {
		return fmt.Errorf("%w: horizon %v", ErrInvalidInput, o.Horizon)
	}
	if o.Period.Days() == 0 {
		return fmt.Errorf("%w: unknown period %d", ErrInvalidInput, int(o.Period))
	}
	if !(o.MonthlyDiscount > -1) || math.IsInf(o.MonthlyDiscount, 0) {
		return fmt.Errorf("%w: monthly discount rate %v, want > -1", ErrInvalidInput, o.MonthlyDiscount)
	}
	return nil
}

// Prediction is the per-customer output of Predict.
type Prediction struct {
	CustomerID string
	// ExpectedPurchases is E[Y(Horizon) | x, t_x, T] under the BG/NBD.
	ExpectedPurchases float64
	// ProbabilityAlive is P(alive | x, t_x, T) under the BG/NBD.
	ProbabilityAlive float64
	// ExpectedSpend is the Gamma-Gamma conditional mean transaction value;
	// 0 when no spend model was given. A negative mean spend (net refunds)
	// is clamped to 0 before the shrinkage towards the population mean.
	ExpectedSpend float64
	// CLV is the discounted expected revenue over the horizon; 0 when no
	// spend model was given.
	CLV float64
}

// CustomerLifetimeValue returns the expected revenue of one customer over
// opts.Horizon, discounted monthly like the lifetimes library's
// customer_lifetime_value: Σ_i spend·(E[Y(t_i)] - E[Y(t_{i-1})])/(1+d)^i
// over month ends t_i (the last step is cut at the horizon and discounted
// pro rata), with spend the Gamma-Gamma conditional expected spend.
func CustomerLifetimeValue(bg BGNBD, gg GammaGamma, s Summary, opts PredictOptions) (float64, error) {
	p, err := Predict(bg, &gg, []Summary{s}, opts)
	if err != nil {
		return 0, err
	}
	return p[0].CLV, nil
}

// Predict computes expected purchases, probability alive and (when gg is
// non-nil) expected spend and CLV for every summary, in input order.
// Customers sharing (x, t_x, T) share the expensive hypergeometric work, and
// the rest is spread over all CPUs.
func Predict(bg BGNBD, gg *GammaGamma, summaries []Summary, opts PredictOptions) ([]Prediction, error) {
	if err := bg.check(); err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	if gg != nil {
		if err := gg.check(); err != nil {
			return nil, fmt.Errorf("predict: %w", err)
		}
		if gg.Q <= 1 {
			return nil, fmt.Errorf("predict: %w: gamma-gamma q = %v ≤ 1, mean spend is infinite", ErrInvalidModel, gg.Q)
		}
	}
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("predict: %w", err)
	}
	if gg != nil && opts.Horizon/opts.Period.PerMonth() > maxCLVMonths {
		return nil, fmt.Errorf("predict: %w: horizon of %.0f months exceeds %d", ErrInvalidInput, opts.Horizon/opts.Period.PerMonth(), maxCLVMonths)
	}
	type key [3]float64
	idx := make(map[key]int32, len(summaries)/4+1)
	keys := make([]key, 0, len(summaries)/4+1)
	of := make([]int32, len(summaries))
	for i, s := range summaries {
		if err := s.validate(); err != nil {
			return nil, fmt.Errorf("predict: %w", err)
		}
		x, tx, T := s.triple()
		k := key{x, tx, T}
		j, ok := idx[k]
		if !ok {
			j = int32(len(keys))
			idx[k] = j
			keys = append(keys, k)
		}
		of[i] = j
	}

	type result struct{ purchases, alive, discounted float64 }
	res := make([]result, len(keys))
	ppm := opts.Period.PerMonth()
	parallelFor(len(keys), numChunks(len(keys), predictParallelThreshold), func(_, lo, hi int) {
		for j := lo; j < hi; j++ {
			x, tx, T := keys[j][0], keys[j][1], keys[j][2]
			alive := bg.aliveUnchecked(x, tx, T)
			r := result{alive: alive, purchases: alive * bg.purchasesIfAlive(opts.Horizon, x, T)}
			if gg != nil {
				// Spend is a per-customer factor applied below, so only the
				// discounted purchase increments are computed per triple.
				prevE, prevEnd := 0.0, 0.0
				for m := 1; prevEnd < opts.Horizon; m++ {
					end := math.Min(float64(m)*ppm, opts.Horizon)
					e := alive * bg.purchasesIfAlive(end, x, T)
					r.discounted += (e - prevE) / math.Pow(1+opts.MonthlyDiscount, end/ppm)
					prevE, prevEnd = e, end
				}
			}
			res[j] = r
		}
	})
	for j, r := range res {
		if !num.Finite(r.purchases, r.discounted) {
			return nil, fmt.Errorf("predict: %w: non-finite prediction for x=%v t_x=%v T=%v", ErrInvalidModel, keys[j][0], keys[j][1], keys[j][2])
		}
	}
	out := make([]Prediction, len(summaries))
	parallelFor(len(summaries), numChunks(len(summaries), predictParallelThreshold), func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			s, r := summaries[i], res[of[i]]
			p := Prediction{CustomerID: s.CustomerID, ExpectedPurchases: r.purchases, ProbabilityAlive: r.alive}
			if gg != nil {
				p.ExpectedSpend = gg.expectedSpend(s.Frequency, max(s.MonetaryValue, 0))
				p.CLV = p.ExpectedSpend * r.discounted
			}
			out[i] = p
		}
	})
	return out, nil
}
