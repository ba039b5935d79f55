package journey

import (
	"errors"
	"fmt"
	"time"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
)

// DefaultTimezone is used when neither the customer nor the workspace names
// a valid one.
const DefaultTimezone = "Asia/Tokyo"

// Clock is a time of day, in minutes after midnight.
type Clock int

// ParseClock reads "HH:MM" (24-hour).
func ParseClock(s string) (Clock, error) {
	var h, m int
	if len(s) != 5 || s[2] != ':' {
		return 0, errors.New(`must be "HH:MM", e.g. "09:30"`)
	}
	if _, err := fmt.Sscanf(s, "%02d:%02d", &h, &m); err != nil || h > 23 || m > 59 || h < 0 || m < 0 {
		return 0, errors.New(`must be "HH:MM" from 00:00 to 23:59`)
	}
	return Clock(h*60 + m), nil
}

func (c Clock) on(y int, mo time.Month, d int, loc *time.Location) time.Time {
	t := time.Date(y, mo, d, int(c)/60, int(c)%60, 0, 0, loc)
	if Clock(t.Hour()*60+t.Minute()) != c {
		// The wall time falls in a DST gap (02:30 on a spring-forward
		// day); time.Date may resolve it before the gap. Move it past the
		// gap, as a clock that jumped forward reads: 03:30.
		_, before := t.Zone()
		_, after := t.Add(3 * time.Hour).Zone()
		if after > before {
			t = t.Add(time.Duration(after-before) * time.Second)
		}
	}
	return t
}

// NextLocal returns the first instant after now (or equal to it) when the
// wall clock in loc shows c, on weekday w if w is set.
func NextLocal(now time.Time, loc *time.Location, c Clock, w campaignv1.Weekday) time.Time {
	local := now.In(loc)
	y, mo, d := local.Date()
	for i := 0; i < 8; i++ {
		t := c.on(y, mo, d+i, loc)
		if t.Before(now) {
			continue
		}
		if w != campaignv1.Weekday_WEEKDAY_UNSPECIFIED && goWeekday(w) != t.Weekday() {
			continue
		}
		return t
	}
	// Unreachable: eight consecutive days hold every weekday.
	return now
}

func goWeekday(w campaignv1.Weekday) time.Weekday {
	if w == campaignv1.Weekday_SUNDAY {
		return time.Sunday
	}
	return time.Weekday(w) // MONDAY = 1 … SATURDAY = 6 in both
}

// Location loads an IANA zone, falling back to the workspace's zone and then
// to DefaultTimezone when a name is empty or unknown (a customer's
// `timezone` trait is free text).
func Location(customerTZ, workspaceTZ string) *time.Location {
	for _, name := range []string{customerTZ, workspaceTZ, DefaultTimezone} {
		if name == "" || name == "Local" {
			continue
		}
		if loc, err := loadLocation(name); err == nil {
			return loc
		}
	}
	return time.UTC
}

// QuietHours is a daily window of local time when no marketing send
// leaves; End before Start crosses midnight.
type QuietHours struct {
	Start, End Clock
}

// ParseQuietHours reads a window; both empty means none (ok false).
func ParseQuietHours(start, end string) (q QuietHours, ok bool, err error) {
	if start == "" && end == "" {
		return QuietHours{}, false, nil
	}
	s, err1 := ParseClock(start)
	e, err2 := ParseClock(end)
	if err := errors.Join(err1, err2); err != nil {
		return QuietHours{}, false, err
	}
	if s == e {
		return QuietHours{}, false, errors.New("start and end must differ")
	}
	return QuietHours{Start: s, End: e}, true, nil
}

// Until reports whether now falls inside the window in loc and, if so,
// when the window ends.
func (q QuietHours) Until(now time.Time, loc *time.Location) (time.Time, bool) {
	local := now.In(loc)
	minute := Clock(local.Hour()*60 + local.Minute())
	inside := false
	if q.Start < q.End {
		inside = minute >= q.Start && minute < q.End
	} else {
		inside = minute >= q.Start || minute < q.End
	}
	if !inside {
		return time.Time{}, false
	}
	return NextLocal(now, loc, q.End, campaignv1.Weekday_WEEKDAY_UNSPECIFIED), true
}
