package clv

import "errors"

var (
	// ErrNotEnoughData is returned when the input cannot identify the model,
	// e.g. no customers, or no repeat purchases at all (the likelihood then
	// has no interior maximum).
	ErrNotEnoughData = errors.New("clv: not enough data")

	// ErrInvalidInput is returned for malformed values: NaN or infinite
	// numbers, negative counts, recency beyond T, empty customer IDs.
	ErrInvalidInput = errors.New("clv: invalid input")

	// ErrNotConverged is returned when the optimiser stops without reaching
	// a finite interior optimum within its iteration budget.
	ErrNotConverged = errors.New("clv: fit did not converge")

	// ErrDependentSpend is returned by FitGammaGamma when frequency and
	// monetary value are too correlated for the Gamma-Gamma independence
	// assumption to hold (see MaxFrequencyMonetaryCorrelation).
	ErrDependentSpend = errors.New("clv: frequency and monetary value are correlated")

	// ErrInvalidModel is returned when a prediction is asked of a model whose
	// parameters are not all positive and finite (e.g. the zero value).
	ErrInvalidModel = errors.New("clv: invalid model parameters")
)
