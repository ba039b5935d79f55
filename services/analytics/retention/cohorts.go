package retention

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kizuna/kizuna/services/analytics/calendar"
)

// Purchase is one order with its revenue.
type Purchase struct {
	CustomerID string
	Time       time.Time
	Revenue    float64
}

// BucketCohort is one row of a cohort table by day, week or month.
type BucketCohort struct {
	// Group is the cohort's group when the table is grouped (e.g. the
	// channel of the first purchase), "" otherwise.
	Group string
	// Start is the start of the cohort's first-purchase bucket, in the
	// table's time zone.
	Start time.Time
	Size  int
	// Active[k] counts members who ordered in the k-th bucket after Start
	// (Active[0] == Size); Rate[k] is Active[k]/Size.
	Active []int
	Rate   []float64
	// Revenue[k] is the members' revenue in bucket k; RevenueRate[k] is
	// Revenue[k]/Revenue[0] (0 when Revenue[0] is 0), the revenue
	// retention.
	Revenue     []float64
	RevenueRate []float64
}

// CohortOptions shape a cohort table.
type CohortOptions struct {
	Granularity calendar.Granularity
	Location    *time.Location
	// Orders after AsOf are ignored; the last column is AsOf's bucket.
	AsOf time.Time
	// From, when set, keeps only customers whose first purchase is at or
	// after it.
	From time.Time
	// MaxBuckets bounds the columns (and so the rows).
	MaxBuckets int
	// Group, when set, splits each cohort by the group it returns for a
	// customer.
	Group func(customerID string) string
}

// bucketIndex numbers buckets so that consecutive ones differ by 1.
func bucketIndex(t time.Time, g calendar.Granularity, loc *time.Location) int {
	b := calendar.Floor(t, g, loc)
	y, m, d := b.Date()
	if g == calendar.Month {
		return y*12 + int(m) - 1
	}
	// Days since the epoch of the local date: immune to DST-length days.
	days := int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
	if g == calendar.Week {
		return days / 7
	}
	return days
}

// BucketCohortTable groups customers by the bucket of their first
// purchase (in the time zone given) and counts, for each later bucket up to
// AsOf's, how many of them ordered and what they spent.
func BucketCohortTable(purchases []Purchase, o CohortOptions) ([]BucketCohort, error) {
	for i, p := range purchases {
		if p.CustomerID == "" || p.Time.IsZero() {
			return nil, fmt.Errorf("cohort table: %w: purchase %d has no customer or time", ErrInvalidInput, i)
		}
	}
	loc := o.Location
	if loc == nil {
		loc = time.UTC
	}
	type bucketSpend struct {
		idx     int
		revenue float64
	}
	byCustomer := map[string][]bucketSpend{}
	firstTime := map[string]time.Time{}
	for _, p := range purchases {
		if p.Time.After(o.AsOf) {
			continue
		}
		byCustomer[p.CustomerID] = append(byCustomer[p.CustomerID], bucketSpend{bucketIndex(p.Time, o.Granularity, loc), p.Revenue})
		if f, ok := firstTime[p.CustomerID]; !ok || p.Time.Before(f) {
			firstTime[p.CustomerID] = p.Time
		}
	}
	last := bucketIndex(o.AsOf, o.Granularity, loc)
	type key struct {
		first int
		group string
	}
	rows := map[key]*BucketCohort{}
	for id, spends := range byCustomer {
		if !o.From.IsZero() && firstTime[id].Before(o.From) {
			continue
		}
		first := bucketIndex(firstTime[id], o.Granularity, loc)
		if o.MaxBuckets > 0 && last-first+1 > o.MaxBuckets {
			return nil, fmt.Errorf("cohort table: %w: more than %d %s columns; set a later start or a coarser granularity",
				ErrInvalidInput, o.MaxBuckets, o.Granularity)
		}
		k := key{first: first}
		if o.Group != nil {
			k.group = o.Group(id)
		}
		c, ok := rows[k]
		if !ok {
			n := last - first + 1
			c = &BucketCohort{Group: k.group, Start: calendar.Floor(firstTime[id], o.Granularity, loc), Active: make([]int, n), Revenue: make([]float64, n)}
			rows[k] = c
		}
		c.Size++
		seen := map[int]bool{}
		for _, s := range spends {
			k := s.idx - first
			c.Revenue[k] += s.revenue
			if !seen[k] {
				seen[k] = true
				c.Active[k]++
			}
		}
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("cohort table: %w: no first purchases on or before %s", ErrNoCustomers, o.AsOf.Format(time.DateOnly))
	}
	out := make([]BucketCohort, 0, len(rows))
	for _, c := range rows {
		c.Rate = make([]float64, len(c.Active))
		c.RevenueRate = make([]float64, len(c.Active))
		for k := range c.Active {
			c.Rate[k] = float64(c.Active[k]) / float64(c.Size)
			if c.Revenue[0] != 0 {
				c.RevenueRate[k] = c.Revenue[k] / c.Revenue[0]
			}
		}
		out = append(out, *c)
	}
	slices.SortFunc(out, func(a, b BucketCohort) int {
		if c := a.Start.Compare(b.Start); c != 0 {
			return c
		}
		return strings.Compare(a.Group, b.Group)
	})
	return out, nil
}
