package rfm

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	"github.com/kizuna/kizuna/services/analytics/internal/num"
)

// ErrInvalidInput is wrapped for NaN or infinite values and negative
// recency or frequency.
var ErrInvalidInput = errors.New("rfm: invalid input")

// Customer holds the raw RFM inputs of one customer.
type Customer struct {
	ID string
	// RecencyDays is the number of days since the last purchase; lower is
	// better.
	RecencyDays float64
	// Frequency is the number of purchases; higher is better.
	Frequency float64
	// Monetary is the total (or average) spend; higher is better. It may be
	// negative after refunds.
	Monetary float64
}

// Scores are a customer's quintile scores, each 1 (worst) to 5 (best).
type Scores struct {
	ID      string
	R, F, M int
}

// Segment returns the scores as the conventional three-digit code, e.g. "545".
func (s Scores) Segment() string {
	return string([]byte{byte('0' + s.R), byte('0' + s.F), byte('0' + s.M)})
}

// Score returns the R, F and M quintile scores of every customer, in input
// order. The empty input scores to an empty result.
func Score(customers []Customer) ([]Scores, error) {
	r := make([]float64, len(customers))
	f := make([]float64, len(customers))
	m := make([]float64, len(customers))
	for i, c := range customers {
		if !num.Finite(c.RecencyDays, c.Frequency, c.Monetary) {
			return nil, fmt.Errorf("rfm score: %w: customer %q has a non-finite value", ErrInvalidInput, c.ID)
		}
		if c.RecencyDays < 0 || c.Frequency < 0 {
			return nil, fmt.Errorf("rfm score: %w: customer %q has negative recency or frequency", ErrInvalidInput, c.ID)
		}
		// Recency is scored from the recent end (see the package doc): its
		// quintiles rank days since the purchase, oldest best, and R is
		// their mirror.
		r[i], f[i], m[i] = c.RecencyDays, c.Frequency, c.Monetary
	}
	rs, fs, ms := quintiles(r), quintiles(f), quintiles(m)
	out := make([]Scores, len(customers))
	for i, c := range customers {
		out[i] = Scores{ID: c.ID, R: 6 - rs[i], F: fs[i], M: ms[i]}
	}
	return out, nil
}

// Quintiles scores values 1-5 within the set, 5 for the highest when
// higherIsBetter and for the lowest otherwise, with the package's tie rule.
func Quintiles(values []float64, higherIsBetter bool) ([]int, error) {
	v := make([]float64, len(values))
	for i, x := range values {
		if !num.Finite(x) {
			return nil, fmt.Errorf("rfm quintiles: %w: value %d is %v", ErrInvalidInput, i, x)
		}
		v[i] = x
		if !higherIsBetter {
			v[i] = -x
		}
	}
	return quintiles(v), nil
}

// quintiles scores finite values, higher is better.
func quintiles(v []float64) []int {
	n := len(v)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(v[a], v[b]) })
	scores := make([]int, n)
	rank := 0
	for pos, i := range order {
		if pos == 0 || v[i] != v[order[pos-1]] {
			rank = pos
		}
		scores[i] = 1 + 5*rank/n
	}
	return scores
}
