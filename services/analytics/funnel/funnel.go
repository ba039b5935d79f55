// Package funnel computes ordered conversion funnels: how many customers
// did step 1, then step 2, … each after the one before and all within a
// conversion window from their first step.
package funnel

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// MaxSteps bounds a funnel.
const MaxSteps = 20

// ErrInvalid marks a bad funnel definition.
var ErrInvalid = errors.New("invalid funnel")

// Event is one event of a customer, with the steps it matches (bit i set
// for step i: one event can match several steps with the same name).
type Event struct {
	Time  time.Time
	Steps uint32
}

// Step is how many customers reached a step.
type Step struct {
	Count int64
	// FromPrevious and FromStart are conversion rates (0 when the base is 0).
	FromPrevious, FromStart float64
	// MedianFromPrevious is the median time from the previous step among
	// customers reaching this one (0 for the first step).
	MedianFromPrevious time.Duration
}

// Options bound the funnel.
type Options struct {
	Steps  int
	Window time.Duration
	// First steps count at or after Start and before End; zero bounds are
	// open. Later steps may fall after End, within the window.
	Start, End time.Time
}

// Compute runs the funnel over each customer's events. For every customer
// the attempt — a first step in range, then the earliest matching event of
// each next step, no earlier than the step before and within the window —
// that gets furthest counts; among equally far attempts the earliest. A
// customer counts once per step at most.
func Compute(customers map[string][]Event, o Options) ([]Step, error) {
	if o.Steps < 2 || o.Steps > MaxSteps {
		return nil, fmt.Errorf("%w: %d steps, want 2 to %d", ErrInvalid, o.Steps, MaxSteps)
	}
	if o.Window <= 0 {
		return nil, fmt.Errorf("%w: window must be positive", ErrInvalid)
	}
	counts := make([]int64, o.Steps)
	gaps := make([][]time.Duration, o.Steps)
	for _, evs := range customers {
		slices.SortStableFunc(evs, func(a, b Event) int { return a.Time.Compare(b.Time) })
		best, bestTimes := 0, []time.Time(nil)
		for i, e := range evs {
			if e.Steps&1 == 0 || (!o.Start.IsZero() && e.Time.Before(o.Start)) || (!o.End.IsZero() && !e.Time.Before(o.End)) {
				continue
			}
			times := follow(evs, i, o)
			if len(times) > best {
				best, bestTimes = len(times), times
			}
			if best == o.Steps {
				break
			}
		}
		for k := 0; k < best; k++ {
			counts[k]++
			if k > 0 {
				gaps[k] = append(gaps[k], bestTimes[k].Sub(bestTimes[k-1]))
			}
		}
	}
	out := make([]Step, o.Steps)
	for k := range out {
		out[k].Count = counts[k]
		out[k].FromStart = rate(counts[k], counts[0])
		out[k].FromPrevious = 1
		if k > 0 {
			out[k].FromPrevious = rate(counts[k], counts[k-1])
			out[k].MedianFromPrevious = median(gaps[k])
		}
	}
	if counts[0] == 0 {
		out[0].FromPrevious = 0
	}
	return out, nil
}

// follow walks one attempt starting at evs[first] and returns the times of
// the steps reached.
func follow(evs []Event, first int, o Options) []time.Time {
	deadline := evs[first].Time.Add(o.Window)
	times := []time.Time{evs[first].Time}
	for j := first + 1; j < len(evs) && len(times) < o.Steps; j++ {
		if evs[j].Time.After(deadline) {
			break
		}
		if evs[j].Steps&(1<<len(times)) != 0 {
			times = append(times, evs[j].Time)
		}
	}
	return times
}

func rate(n, of int64) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	m := len(d) / 2
	if len(d)%2 == 1 {
		return d[m]
	}
	return (d[m-1] + d[m]) / 2
}
