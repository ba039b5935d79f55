// Package calendar cuts time ranges into calendar buckets — days, weeks
// starting Monday, months — in a given time zone, so a Japanese shop's
// orders at 08:00 JST on the 1st land in the month they were placed in,
// not in the previous UTC month.
package calendar

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Granularity is a bucket size.
type Granularity int

// The bucket sizes.
const (
	Day Granularity = iota + 1
	Week
	Month
)

// ErrInvalid marks bad input: unknown granularities, reversed ranges.
var ErrInvalid = errors.New("invalid calendar input")

// Parse reads "DAY", "WEEK" or "MONTH" (any case).
func Parse(s string) (Granularity, error) {
	switch strings.ToUpper(s) {
	case "DAY":
		return Day, nil
	case "WEEK":
		return Week, nil
	case "MONTH":
		return Month, nil
	}
	return 0, fmt.Errorf("%w: granularity %q is not DAY, WEEK or MONTH", ErrInvalid, s)
}

// String is the name Parse reads.
func (g Granularity) String() string {
	switch g {
	case Day:
		return "DAY"
	case Week:
		return "WEEK"
	case Month:
		return "MONTH"
	}
	return fmt.Sprintf("Granularity(%d)", int(g))
}

// Floor returns the start of the bucket holding t, in loc.
func Floor(t time.Time, g Granularity, loc *time.Location) time.Time {
	t = t.In(loc)
	y, m, d := t.Date()
	switch g {
	case Week:
		// Monday is the first day: Go's Sunday is 0.
		back := (int(t.Weekday()) + 6) % 7
		return time.Date(y, m, d-back, 0, 0, 0, 0, loc)
	case Month:
		return time.Date(y, m, 1, 0, 0, 0, 0, loc)
	default:
		return time.Date(y, m, d, 0, 0, 0, 0, loc)
	}
}

// Add moves the bucket start b by n buckets. Calendar arithmetic keeps
// midnight across daylight-saving changes, where adding 24 hours would not.
func Add(b time.Time, g Granularity, n int) time.Time {
	y, m, d := b.Date()
	switch g {
	case Week:
		return time.Date(y, m, d+7*n, 0, 0, 0, 0, b.Location())
	case Month:
		return time.Date(y, m+time.Month(n), d, 0, 0, 0, 0, b.Location())
	default:
		return time.Date(y, m, d+n, 0, 0, 0, 0, b.Location())
	}
}

// Bucket is the half-open range [Start, End).
type Bucket struct {
	Start, End time.Time
}

// Buckets returns the buckets from the one holding start to the one
// holding the instant before end, at most max of them.
func Buckets(start, end time.Time, g Granularity, loc *time.Location, max int) ([]Bucket, error) {
	if !end.After(start) {
		return nil, fmt.Errorf("%w: end %s is not after start %s", ErrInvalid, end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	var out []Bucket
	for b := Floor(start, g, loc); b.Before(end); b = Add(b, g, 1) {
		if len(out) == max {
			return nil, fmt.Errorf("%w: more than %d %s buckets", ErrInvalid, max, strings.ToLower(g.String()))
		}
		out = append(out, Bucket{Start: b, End: Add(b, g, 1)})
	}
	return out, nil
}
