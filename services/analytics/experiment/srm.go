package experiment

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// SRMThreshold is the p-value below which SampleRatioMismatch flags a
// mismatch. It is deliberately strict: SRM checks run on every experiment,
// and a broken assignment produces p-values far smaller than this.
const SRMThreshold = 0.001

// SRMResult is the result of SampleRatioMismatch.
type SRMResult struct {
	ChiSquare float64
	DF        int
	PValue    float64
	// Mismatch reports PValue < SRMThreshold: the observed split is not
	// plausible under the intended one, so the experiment's results should
	// not be trusted until the cause is found.
	Mismatch bool
}

// SampleRatioMismatch runs a chi-square goodness-of-fit test of observed
// units per arm against the intended allocation. expectedShares gives the
// intended relative sizes (they need not sum to 1); nil means equal split.
func SampleRatioMismatch(observed []int64, expectedShares []float64) (SRMResult, error) {
	k := len(observed)
	if k < 2 {
		return SRMResult{}, fmt.Errorf("srm: %w: need at least two arms, got %d", ErrInvalidInput, k)
	}
	if expectedShares != nil && len(expectedShares) != k {
		return SRMResult{}, fmt.Errorf("srm: %w: %d arms but %d expected shares", ErrInvalidInput, k, len(expectedShares))
	}
	var total, shareSum float64
	for i, o := range observed {
		if o < 0 {
			return SRMResult{}, fmt.Errorf("srm: %w: arm %d has %d units", ErrInvalidInput, i, o)
		}
		total += float64(o)
		share := 1.0
		if expectedShares != nil {
			share = expectedShares[i]
			if !(share > 0) || math.IsInf(share, 0) {
				return SRMResult{}, fmt.Errorf("srm: %w: arm %d has expected share %v", ErrInvalidInput, i, share)
			}
		}
		shareSum += share
	}
	if total == 0 {
		return SRMResult{}, fmt.Errorf("srm: %w: no units observed", ErrInvalidInput)
	}
	var chi float64
	for i, o := range observed {
		share := 1.0
		if expectedShares != nil {
			share = expectedShares[i]
		}
		e := total * share / shareSum
		d := float64(o) - e
		chi += d * d / e
	}
	res := SRMResult{ChiSquare: chi, DF: k - 1}
	res.PValue = distuv.ChiSquared{K: float64(k - 1)}.Survival(chi)
	res.Mismatch = res.PValue < SRMThreshold
	return res, nil
}
