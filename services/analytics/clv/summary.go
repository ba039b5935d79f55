package clv

import (
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/kizuna/kizuna/services/analytics/internal/num"
)

// Transaction is one purchase by one customer.
type Transaction struct {
	CustomerID string
	Time       time.Time
	Amount     float64
}

// Period is the time unit in which recency and T are expressed, and in which
// model parameters such as BG/NBD's alpha are scaled.
type Period int

const (
	// Day expresses durations in days.
	Day Period = iota + 1
	// Week expresses durations in weeks of seven days, as in the published
	// CDNOW analyses.
	Week
)

// Days returns the length of the period in days, or 0 for an unknown period.
func (p Period) Days() float64 {
	switch p {
	case Day:
		return 1
	case Week:
		return 7
	}
	return 0
}

// PerMonth returns how many periods make up the 30-day month used to
// discount CLV cash flows. Thirty days (not 4.345 weeks as in the lifetimes
// library) keeps day- and week-based CLV consistent with each other.
func (p Period) PerMonth() float64 {
	d := p.Days()
	if d == 0 {
		return 0
	}
	return 30 / d
}

// String returns "day" or "week".
func (p Period) String() string {
	switch p {
	case Day:
		return "day"
	case Week:
		return "week"
	}
	return fmt.Sprintf("Period(%d)", int(p))
}

// ParsePeriod parses "day" or "week" (also "d"/"w", "days"/"weeks").
func ParsePeriod(s string) (Period, error) {
	switch s {
	case "day", "days", "d", "D":
		return Day, nil
	case "week", "weeks", "w", "W":
		return Week, nil
	}
	return 0, fmt.Errorf("%w: unknown period %q (want day or week)", ErrInvalidInput, s)
}

// Summary is the per-customer RFM summary the models consume.
//
// Frequency is the number of repeat purchase days (days with at least one
// transaction, excluding the first), Recency the time from the first to the
// last purchase day, T the time from the first purchase day to the end of
// calibration, all in the summary's Period. MonetaryValue is the mean
// day-aggregated spend over repeat purchase days, 0 without repeats.
type Summary struct {
	CustomerID    string
	Frequency     float64
	Recency       float64
	T             float64
	MonetaryValue float64
}

// validate reports whether s is usable by the models.
func (s Summary) validate() error {
	if !num.Finite(s.Frequency, s.Recency, s.T, s.MonetaryValue) {
		return fmt.Errorf("%w: customer %q has a non-finite value", ErrInvalidInput, s.CustomerID)
	}
	if s.Frequency < 0 || s.Recency < 0 || s.T < 0 {
		return fmt.Errorf("%w: customer %q has a negative frequency, recency or T", ErrInvalidInput, s.CustomerID)
	}
	// A small slack absorbs the two-decimal rounding of published files.
	if s.Recency > s.T+1e-6*math.Max(1, s.T) {
		return fmt.Errorf("%w: customer %q has recency %g beyond T %g", ErrInvalidInput, s.CustomerID, s.Recency, s.T)
	}
	return nil
}

// civilDay numbers the calendar day of t in t's own location, so that a
// purchase at 23:30 local time is not moved to the next day by UTC.
func civilDay(t time.Time) int64 {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// Summarize turns raw transactions into per-customer summaries, following
// Fader, Hardie & Lee and the lifetimes library: transactions are grouped by
// calendar day (several purchases on one day are one purchase occasion whose
// amount is their sum), only days up to and including calibrationEnd's
// calendar day are used, and customers whose first purchase falls after it
// are left out. Durations are whole days divided by period.Days(), so weekly
// summaries are fractional weeks as in the published CDNOW files.
//
// Summaries are returned in order of each customer's first appearance in
// txs, which keeps the output stable for a given input without a sort.
func Summarize(txs []Transaction, calibrationEnd time.Time, period Period) ([]Summary, error) {
	pd := period.Days()
	if pd == 0 {
		return nil, fmt.Errorf("summarize: %w: unknown period %d", ErrInvalidInput, int(period))
	}
	end := civilDay(calibrationEnd)

	type row struct {
		cust   int32
		day    int64
		amount float64
	}
	index := make(map[string]int32, len(txs)/2+1)
	ids := make([]string, 0, len(txs)/2+1)
	rows := make([]row, 0, len(txs))
	for i, tx := range txs {
		if tx.CustomerID == "" {
			return nil, fmt.Errorf("summarize: transaction %d: %w: empty customer id", i, ErrInvalidInput)
		}
		if !num.Finite(tx.Amount) {
			return nil, fmt.Errorf("summarize: transaction %d: %w: amount %v", i, ErrInvalidInput, tx.Amount)
		}
		if tx.Time.IsZero() {
			return nil, fmt.Errorf("summarize: transaction %d: %w: zero time", i, ErrInvalidInput)
		}
		day := civilDay(tx.Time)
		if day > end {
			continue
		}
		c, ok := index[tx.CustomerID]
		if !ok {
			c = int32(len(ids))
			index[tx.CustomerID] = c
			ids = append(ids, tx.CustomerID)
		}
		rows = append(rows, row{cust: c, day: day, amount: tx.Amount})
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("summarize: %w: no transactions on or before %s", ErrNotEnoughData, calibrationEnd.Format(time.DateOnly))
	}
	// Sorting integer keys is much cheaper than grouping through nested maps
	// and gives each customer's days in order in a single pass.
	slices.SortFunc(rows, func(a, b row) int {
		if a.cust != b.cust {
			return int(a.cust - b.cust)
		}
		switch {
		case a.day < b.day:
			return -1
		case a.day > b.day:
			return 1
		}
		return 0
	})

	out := make([]Summary, len(ids))
	for i := 0; i < len(rows); {
		c := rows[i].cust
		first := rows[i].day
		last := first
		days := -1 // the first purchase day is not a repeat
		var repeatSpend float64
		for i < len(rows) && rows[i].cust == c {
			d := rows[i].day
			var spend float64
			for i < len(rows) && rows[i].cust == c && rows[i].day == d {
				spend += rows[i].amount
				i++
			}
			days++
			if days > 0 {
				repeatSpend += spend
			}
			last = d
		}
		s := Summary{
			CustomerID: ids[c],
			Frequency:  float64(days),
			Recency:    float64(last-first) / pd,
			T:          float64(end-first) / pd,
		}
		if days > 0 {
			s.MonetaryValue = repeatSpend / float64(days)
		}
		out[c] = s
	}
	return out, nil
}
