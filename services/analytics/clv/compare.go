package clv

import (
	"cmp"
	"slices"
)

// Model is a fitted purchase-count model that can be compared with others
// fitted on the same customers.
type Model interface {
	Name() string
	NumParams() int
	LogLik() float64
}

// Comparison is one model's entry in a Compare ranking.
type Comparison struct {
	Name          string  `json:"name"`
	LogLikelihood float64 `json:"log_likelihood"`
	// AIC is 2k - 2·LL; lower is better. With equal parameter counts (as
	// for BG/NBD and Pareto/NBD) it ranks exactly as the log-likelihood.
	AIC float64 `json:"aic"`
	// DeltaAIC is the AIC difference to the best model (0 for the best).
	// A difference above about 2 is conventionally meaningful.
	DeltaAIC float64 `json:"delta_aic"`
}

// Compare ranks models fitted on the same data by AIC, best first. Ties
// keep the order given.
func Compare(models ...Model) []Comparison {
	out := make([]Comparison, 0, len(models))
	for _, m := range models {
		out = append(out, Comparison{
			Name:          m.Name(),
			LogLikelihood: m.LogLik(),
			AIC:           2*float64(m.NumParams()) - 2*m.LogLik(),
		})
	}
	slices.SortStableFunc(out, func(a, b Comparison) int { return cmp.Compare(a.AIC, b.AIC) })
	for i := range out {
		out[i].DeltaAIC = out[i].AIC - out[0].AIC
	}
	return out
}
