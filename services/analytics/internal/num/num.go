// Package num holds the few numeric helpers the analytics packages share,
// so each package does not keep its own copy.
package num

import "math"

// Interval is a two-sided confidence interval. experiment.Interval and
// survey.Interval are aliases of it.
type Interval struct {
	Low, High float64
}

// Contains reports whether v lies in the closed interval.
func (i Interval) Contains(v float64) bool { return v >= i.Low && v <= i.High }

// Finite reports whether every value is neither NaN nor infinite.
func Finite(v ...float64) bool {
	for _, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}
