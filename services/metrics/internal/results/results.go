package results

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/kizuna/kizuna/services/analytics/experiment"
)

// Holdout names the arm of customers held out of every send.
const Holdout = "holdout"

// Treatment names the arm of customers not held out in a journey without
// A/B variants (the campaign service's name for it).
const Treatment = "treatment"

// OrderCompleted is the default goal event, whose conversions are read from
// the order ledger (one per distinct order).
const OrderCompleted = "Order Completed"

// DefaultWindow is the attribution window when the goal sets none.
const DefaultWindow = 7 * 24 * time.Hour

// PrePeriod is how far before exposure the CUPED covariate's revenue is
// summed.
const PrePeriod = 30 * 24 * time.Hour

// MaxExposures bounds the customers one read-out counts; beyond it the
// request fails with ErrTooLarge rather than exhausting memory.
const MaxExposures = 5_000_000

// ErrTooLarge is returned when an experiment has more than MaxExposures
// exposed customers.
var ErrTooLarge = errors.New("results: too many exposed customers for one read-out")

// Exposure is a customer's first exposure to a journey: the arm and when.
type Exposure struct {
	CustomerID, Variant string
	Time                time.Time
}

// Store reads what a read-out counts. Customer ids of exposures, orders
// and events are all resolved through merges, so they meet.
type Store interface {
	// Exposures returns the journey's exposures, one per customer (the
	// earliest when merged customers were both exposed).
	Exposures(ctx context.Context, ws, journeyID string, limit int) ([]Exposure, error)
	// ScanOrderRevenue calls fn for every order in [from, to).
	ScanOrderRevenue(ctx context.Context, ws string, from, to time.Time, fn func(customerID string, at time.Time, revenue float64)) error
	// ScanEventTimes calls fn for every event named name in [from, to).
	ScanEventTimes(ctx context.Context, ws, name string, from, to time.Time, fn func(customerID string, at time.Time)) error
}

// Arm is one intended arm of a design with its intended share.
type Arm struct {
	Name  string
	Share float64
}

// Design is what the journey says the experiment is.
type Design struct {
	// GoalEvent is OrderCompleted when empty.
	GoalEvent string
	// Window is DefaultWindow when zero.
	Window time.Duration
	// Arms in order: the holdout first when there is one, then the
	// variants as listed. Shares sum to 1.
	Arms []Arm
}

// NewDesign builds a design from a journey's holdout percentage (0 for
// none) and the variants of its first A/B send step with their weights.
func NewDesign(goalEvent string, window time.Duration, holdoutPercent float64, variants []string, weights []float64) Design {
	d := Design{GoalEvent: goalEvent, Window: window}
	if d.GoalEvent == "" {
		d.GoalEvent = OrderCompleted
	}
	if d.Window <= 0 {
		d.Window = DefaultWindow
	}
	rest := 1.0
	if holdoutPercent > 0 {
		d.Arms = append(d.Arms, Arm{Holdout, holdoutPercent / 100})
		rest -= holdoutPercent / 100
	}
	var total float64
	for _, w := range weights {
		total += w
	}
	if len(variants) == 0 || total <= 0 {
		d.Arms = append(d.Arms, Arm{Treatment, rest})
		return d
	}
	for i, v := range variants {
		d.Arms = append(d.Arms, Arm{v, rest * weights[i] / total})
	}
	return d
}

// Control is the arm others are compared with: the first of the design.
func (d Design) Control() string {
	if len(d.Arms) == 0 {
		return Treatment
	}
	return d.Arms[0].Name
}

// Counts are one arm's aggregates: the proportion of converters and the
// revenue sums (Y, revenue in the window; X, revenue in the pre-period).
type Counts struct {
	Name      string
	Converted int64
	Exposed   int64
	Revenue   experiment.CovariateSample
}

// Proportion is the arm's conversions out of its exposed customers.
func (c Counts) Proportion() experiment.Proportion {
	return experiment.Proportion{Conversions: c.Converted, Trials: c.Exposed}
}

// RevenueSample is the arm's revenue per exposed customer as a Sample.
func (c Counts) RevenueSample() experiment.Sample {
	return experiment.Sample{N: c.Revenue.N, Sum: c.Revenue.SumY, SumSq: c.Revenue.SumYY}
}

// Outcome is one exposed customer's result.
type Outcome struct {
	Exposure
	Converted  bool
	Revenue    float64
	PreRevenue float64
}

// Measure reads the journey's exposures and attributes goal events and
// orders to them.
func Measure(ctx context.Context, st Store, ws, journeyID string, d Design) ([]Outcome, error) {
	exps, err := st.Exposures(ctx, ws, journeyID, MaxExposures)
	if err != nil {
		return nil, err
	}
	if len(exps) == 0 {
		return nil, nil
	}
	out := make([]Outcome, len(exps))
	byCustomer := make(map[string]*Outcome, len(exps))
	first, last := exps[0].Time, exps[0].Time
	for i, e := range exps {
		out[i] = Outcome{Exposure: e}
		byCustomer[e.CustomerID] = &out[i]
		first, last = minTime(first, e.Time), maxTime(last, e.Time)
	}
	window := d.Window
	inWindow := func(o *Outcome, at time.Time) bool { return !at.Before(o.Time) && at.Before(o.Time.Add(window)) }
	err = st.ScanOrderRevenue(ctx, ws, first.Add(-PrePeriod), last.Add(window), func(id string, at time.Time, revenue float64) {
		o := byCustomer[id]
		switch {
		case o == nil:
		case inWindow(o, at):
			o.Revenue += revenue
			if d.GoalEvent == OrderCompleted {
				o.Converted = true
			}
		case at.Before(o.Time) && !at.Before(o.Time.Add(-PrePeriod)):
			o.PreRevenue += revenue
		}
	})
	if err != nil {
		return nil, fmt.Errorf("results: orders: %w", err)
	}
	if d.GoalEvent != OrderCompleted {
		err = st.ScanEventTimes(ctx, ws, d.GoalEvent, first, last.Add(window), func(id string, at time.Time) {
			if o := byCustomer[id]; o != nil && inWindow(o, at) {
				o.Converted = true
			}
		})
		if err != nil {
			return nil, fmt.Errorf("results: goal events: %w", err)
		}
	}
	return out, nil
}

// Aggregate sums outcomes per arm. Every design arm is present (with zero
// counts when nobody was exposed to it), followed by arms seen in the
// outcomes but absent from today's design, by name. keep, when not nil,
// selects the customers counted.
func Aggregate(d Design, outcomes []Outcome, keep func(customerID string) bool) []Counts {
	idx := map[string]int{}
	var arms []Counts
	for _, a := range d.Arms {
		idx[a.Name] = len(arms)
		arms = append(arms, Counts{Name: a.Name})
	}
	var extra []string
	for _, o := range outcomes {
		if _, ok := idx[o.Variant]; !ok {
			idx[o.Variant] = -1
			extra = append(extra, o.Variant)
		}
	}
	sort.Strings(extra)
	for _, name := range extra {
		idx[name] = len(arms)
		arms = append(arms, Counts{Name: name})
	}
	for _, o := range outcomes {
		if keep != nil && !keep(o.CustomerID) {
			continue
		}
		c := &arms[idx[o.Variant]]
		c.Exposed++
		if o.Converted {
			c.Converted++
		}
		y, x := o.Revenue, o.PreRevenue
		c.Revenue.N++
		c.Revenue.SumY += y
		c.Revenue.SumYY += y * y
		c.Revenue.SumX += x
		c.Revenue.SumXX += x * x
		c.Revenue.SumXY += x * y
	}
	return arms
}

// Shares returns the design's intended shares in the order of arms, or
// false when an arm is not in the design (a variant renamed since).
func (d Design) Shares(arms []Counts) ([]float64, bool) {
	shares := make([]float64, len(arms))
	for i, a := range arms {
		j := slices.IndexFunc(d.Arms, func(x Arm) bool { return x.Name == a.Name })
		if j < 0 {
			return nil, false
		}
		shares[i] = d.Arms[j].Share
	}
	return shares, true
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
