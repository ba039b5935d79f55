package survey

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/kizuna/kizuna/services/analytics/internal/num"
)

var (
	// ErrOutOfRange is wrapped when an answer lies outside the scale; the
	// message names its index and value.
	ErrOutOfRange = errors.New("survey: answer out of range")
	// ErrNoResponses is returned for an empty answer set.
	ErrNoResponses = errors.New("survey: no responses")
	// ErrInvalidConfidence is returned for a confidence level outside (0, 1).
	ErrInvalidConfidence = errors.New("survey: confidence level must be between 0 and 1")
)

// Interval is a two-sided confidence interval, the same type as
// experiment.Interval.
type Interval = num.Interval

// NPSResult is a Net Promoter Score with its composition.
type NPSResult struct {
	Responses                       int
	Promoters, Passives, Detractors int
	// Score is %promoters - %detractors, from -100 to 100.
	Score float64
	// StdErr is the standard error of Score in NPS points.
	StdErr float64
	// CI is the normal-approximation interval for Score, clipped to
	// [-100, 100].
	CI Interval
}

// NPS computes the Net Promoter Score of 0-10 answers: promoters answer 9
// or 10, detractors 0 to 6. Each respondent scores +1, 0 or -1; the NPS is
// 100 times the mean score, and its standard error comes from the variance
// of that -1/0/+1 variable, ((p+d) - (p-d)²)/n with p and d the promoter
// and detractor shares. confidence is e.g. 0.95.
func NPS(answers []int, confidence float64) (NPSResult, error) {
	if len(answers) == 0 {
		return NPSResult{}, fmt.Errorf("nps: %w", ErrNoResponses)
	}
	if !(confidence > 0 && confidence < 1) {
		return NPSResult{}, fmt.Errorf("nps: %w: got %v", ErrInvalidConfidence, confidence)
	}
	var r NPSResult
	for i, a := range answers {
		switch {
		case a < 0 || a > 10:
			return NPSResult{}, fmt.Errorf("nps: %w: answer %d is %d, want 0-10", ErrOutOfRange, i, a)
		case a >= 9:
			r.Promoters++
		case a >= 7:
			r.Passives++
		default:
			r.Detractors++
		}
	}
	r.Responses = len(answers)
	n := float64(r.Responses)
	p, d := float64(r.Promoters)/n, float64(r.Detractors)/n
	mean := p - d
	variance := math.Max(p+d-mean*mean, 0)
	r.Score = 100 * mean
	r.StdErr = 100 * math.Sqrt(variance/n)
	z := distuv.UnitNormal.Quantile(1 - (1-confidence)/2)
	r.CI = Interval{Low: math.Max(r.Score-z*r.StdErr, -100), High: math.Min(r.Score+z*r.StdErr, 100)}
	return r, nil
}

// CSATResult is a customer-satisfaction share.
type CSATResult struct {
	Responses int
	// Satisfied counts answers of 4 or 5.
	Satisfied int
	// Score is the satisfied share in percent.
	Score float64
	// CI is the Wilson score interval for Score in percent, which unlike
	// the Wald interval stays inside [0, 100] and behaves for shares near
	// 0% or 100% and small samples.
	CI Interval
}

// CSAT computes the share of 1-5 answers that are 4 or 5, with a Wilson
// interval at the given confidence (e.g. 0.95).
func CSAT(answers []int, confidence float64) (CSATResult, error) {
	if len(answers) == 0 {
		return CSATResult{}, fmt.Errorf("csat: %w", ErrNoResponses)
	}
	if !(confidence > 0 && confidence < 1) {
		return CSATResult{}, fmt.Errorf("csat: %w: got %v", ErrInvalidConfidence, confidence)
	}
	var r CSATResult
	for i, a := range answers {
		if a < 1 || a > 5 {
			return CSATResult{}, fmt.Errorf("csat: %w: answer %d is %d, want 1-5", ErrOutOfRange, i, a)
		}
		if a >= 4 {
			r.Satisfied++
		}
	}
	r.Responses = len(answers)
	n := float64(r.Responses)
	p := float64(r.Satisfied) / n
	z := distuv.UnitNormal.Quantile(1 - (1-confidence)/2)
	z2 := z * z
	centre := (p + z2/(2*n)) / (1 + z2/n)
	half := z / (1 + z2/n) * math.Sqrt(p*(1-p)/n+z2/(4*n*n))
	r.Score = 100 * p
	r.CI = Interval{Low: 100 * math.Max(centre-half, 0), High: 100 * math.Min(centre+half, 1)}
	return r, nil
}
