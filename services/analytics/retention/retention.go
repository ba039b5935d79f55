package retention

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

var (
	// ErrInvalidInput is wrapped for impossible inputs such as more retained
	// customers than active ones, empty customer IDs or zero times.
	ErrInvalidInput = errors.New("retention: invalid input")
	// ErrNoCustomers is returned when a rate would divide by zero customers.
	ErrNoCustomers = errors.New("retention: no customers")
)

// Order is one purchase.
type Order struct {
	CustomerID string
	Time       time.Time
}

// PeriodRates are the retention and churn of one period.
type PeriodRates struct {
	ActiveAtStart, Retained int
	// RetentionRate is Retained/ActiveAtStart; ChurnRate is 1 minus it.
	// Customers acquired during the period are in neither count, so they
	// cannot push retention above 100%.
	RetentionRate, ChurnRate float64
}

// Rates computes retention and churn from the number of customers active
// at the start of a period and how many of those were still active at its
// end.
func Rates(activeAtStart, retained int) (PeriodRates, error) {
	if activeAtStart <= 0 {
		return PeriodRates{}, fmt.Errorf("period rates: %w: %d active at start", ErrNoCustomers, activeAtStart)
	}
	if retained < 0 || retained > activeAtStart {
		return PeriodRates{}, fmt.Errorf("period rates: %w: %d retained of %d active", ErrInvalidInput, retained, activeAtStart)
	}
	r := float64(retained) / float64(activeAtStart)
	return PeriodRates{ActiveAtStart: activeAtStart, Retained: retained, RetentionRate: r, ChurnRate: 1 - r}, nil
}

// RatesFromIDs computes period rates from the IDs active at the start and
// at the end of the period; retained customers are those in both. IDs are
// deduplicated, and end IDs not active at the start (new customers) are
// ignored.
func RatesFromIDs(activeAtStart, activeAtEnd []string) (PeriodRates, error) {
	start := make(map[string]struct{}, len(activeAtStart))
	for _, id := range activeAtStart {
		start[id] = struct{}{}
	}
	retained := make(map[string]struct{}, len(activeAtEnd))
	for _, id := range activeAtEnd {
		if _, ok := start[id]; ok {
			retained[id] = struct{}{}
		}
	}
	return Rates(len(start), len(retained))
}

// Cohort is one row of a cohort retention table.
type Cohort struct {
	// Month is the first day (00:00 UTC) of the month of the cohort's
	// first purchases.
	Month time.Time
	// Size is the number of customers whose first purchase fell in Month.
	Size int
	// Active[k] is how many of them ordered in the k-th month after Month
	// (Active[0] == Size), up to the as-of month.
	Active []int
	// Rate[k] is Active[k]/Size.
	Rate []float64
}

func monthIndex(t time.Time) int {
	y, m, _ := t.Date()
	return y*12 + int(m) - 1
}

func monthStart(idx int) time.Time {
	return time.Date(idx/12, time.Month(idx%12+1), 1, 0, 0, 0, 0, time.UTC)
}

func validate(orders []Order) error {
	for i, o := range orders {
		if o.CustomerID == "" {
			return fmt.Errorf("%w: order %d has an empty customer id", ErrInvalidInput, i)
		}
		if o.Time.IsZero() {
			return fmt.Errorf("%w: order %d has a zero time", ErrInvalidInput, i)
		}
	}
	return nil
}

// CohortTable groups customers by the month of their first order and
// counts, for each following month up to asOf's month, how many of them
// ordered in it. Orders after asOf are ignored. Cohorts are returned oldest
// first.
func CohortTable(orders []Order, asOf time.Time) ([]Cohort, error) {
	if err := validate(orders); err != nil {
		return nil, fmt.Errorf("cohort table: %w", err)
	}
	last := monthIndex(asOf)
	months := make(map[string][]int)
	for _, o := range orders {
		if o.Time.After(asOf) {
			continue
		}
		months[o.CustomerID] = append(months[o.CustomerID], monthIndex(o.Time))
	}
	if len(months) == 0 {
		return nil, fmt.Errorf("cohort table: %w: no orders on or before %s", ErrNoCustomers, asOf.Format(time.DateOnly))
	}
	byStart := make(map[int]*Cohort)
	for _, ms := range months {
		slices.Sort(ms)
		ms = slices.Compact(ms)
		first := ms[0]
		c, ok := byStart[first]
		if !ok {
			c = &Cohort{Month: monthStart(first), Active: make([]int, last-first+1)}
			byStart[first] = c
		}
		c.Size++
		for _, m := range ms {
			c.Active[m-first]++
		}
	}
	out := make([]Cohort, 0, len(byStart))
	for _, c := range byStart {
		c.Rate = make([]float64, len(c.Active))
		for k, a := range c.Active {
			c.Rate[k] = float64(a) / float64(c.Size)
		}
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b Cohort) int { return a.Month.Compare(b.Month) })
	return out, nil
}

// Share is a count out of a population with its ratio.
type Share struct {
	Count, Of int
	Rate      float64
}

// RepeatPurchaseRate returns the share of purchasing customers with at
// least two orders. Every Order counts as one order, including several on
// the same day; aggregate beforehand if that is not wanted.
func RepeatPurchaseRate(orders []Order) (Share, error) {
	if err := validate(orders); err != nil {
		return Share{}, fmt.Errorf("repeat purchase rate: %w", err)
	}
	counts := make(map[string]int)
	for _, o := range orders {
		counts[o.CustomerID]++
	}
	if len(counts) == 0 {
		return Share{}, fmt.Errorf("repeat purchase rate: %w", ErrNoCustomers)
	}
	var s Share
	s.Of = len(counts)
	for _, c := range counts {
		if c >= 2 {
			s.Count++
		}
	}
	s.Rate = float64(s.Count) / float64(s.Of)
	return s, nil
}

// F2Conversion returns the share of first-time buyers who placed a second
// order within window of their first. Only customers whose first order is
// at least window before asOf are counted: newer customers have not had the
// full window yet, and including them would bias the rate down. Orders
// after asOf are ignored. A second order at the same time as the first
// counts, since it is a separate order.
func F2Conversion(orders []Order, window time.Duration, asOf time.Time) (Share, error) {
	if window <= 0 {
		return Share{}, fmt.Errorf("f2 conversion: %w: window %v", ErrInvalidInput, window)
	}
	if err := validate(orders); err != nil {
		return Share{}, fmt.Errorf("f2 conversion: %w", err)
	}
	byCustomer := make(map[string][]time.Time)
	for _, o := range orders {
		if !o.Time.After(asOf) {
			byCustomer[o.CustomerID] = append(byCustomer[o.CustomerID], o.Time)
		}
	}
	cutoff := asOf.Add(-window)
	var s Share
	for _, ts := range byCustomer {
		slices.SortFunc(ts, time.Time.Compare)
		if ts[0].After(cutoff) {
			continue
		}
		s.Of++
		if len(ts) >= 2 && ts[1].Sub(ts[0]) <= window {
			s.Count++
		}
	}
	if s.Of == 0 {
		return Share{}, fmt.Errorf("f2 conversion: %w: no first purchase at least %v before %s", ErrNoCustomers, window, asOf.Format(time.RFC3339))
	}
	s.Rate = float64(s.Count) / float64(s.Of)
	return s, nil
}
