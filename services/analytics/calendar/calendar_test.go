package calendar

import (
	"errors"
	"testing"
	"time"
)

func TestBuckets(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name       string
		start, end time.Time
		g          Granularity
		loc        *time.Location
		want       []string // bucket starts, RFC 3339 in loc
	}{
		// 2026-01-31T16:00Z is Feb 1 01:00 in Tokyo.
		{"month in tokyo", utc("2026-01-31T16:00:00Z"), utc("2026-03-31T15:00:00Z"), Month, tokyo,
			[]string{"2026-02-01T00:00:00+09:00", "2026-03-01T00:00:00+09:00"}},
		{"month utc", utc("2026-01-31T16:00:00Z"), utc("2026-03-01T00:00:00Z"), Month, time.UTC,
			[]string{"2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"}},
		// 2026-01-07 is a Wednesday; weeks start on Monday 5 and 12.
		{"weeks from monday", utc("2026-01-07T12:00:00Z"), utc("2026-01-13T00:00:00Z"), Week, time.UTC,
			[]string{"2026-01-05T00:00:00Z", "2026-01-12T00:00:00Z"}},
		// A Sunday belongs to the week of the Monday before it.
		{"sunday", utc("2026-01-11T12:00:00Z"), utc("2026-01-11T13:00:00Z"), Week, time.UTC,
			[]string{"2026-01-05T00:00:00Z"}},
		// Days across the spring-forward change stay at local midnight.
		{"dst days", utc("2026-03-07T05:00:00Z"), utc("2026-03-10T04:00:00Z"), Day, ny,
			[]string{"2026-03-07T00:00:00-05:00", "2026-03-08T00:00:00-05:00", "2026-03-09T00:00:00-04:00"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Buckets(tt.start, tt.end, tt.g, tt.loc, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d buckets %v, want %v", len(got), got, tt.want)
			}
			for i, b := range got {
				if s := b.Start.Format(time.RFC3339); s != tt.want[i] {
					t.Errorf("bucket %d starts %s, want %s", i, s, tt.want[i])
				}
				if i > 0 && !got[i-1].End.Equal(b.Start) {
					t.Errorf("bucket %d does not start where %d ends", i, i-1)
				}
			}
		})
	}
	if _, err := Buckets(utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"), Day, time.UTC, 10); !errors.Is(err, ErrInvalid) {
		t.Errorf("too many buckets: %v", err)
	}
	if _, err := Buckets(utc("2026-01-02T00:00:00Z"), utc("2026-01-01T00:00:00Z"), Day, time.UTC, 10); !errors.Is(err, ErrInvalid) {
		t.Errorf("reversed range: %v", err)
	}
	if _, err := Parse("YEAR"); !errors.Is(err, ErrInvalid) {
		t.Errorf("Parse(YEAR) = %v", err)
	}
	if g, err := Parse("week"); err != nil || g != Week {
		t.Errorf("Parse(week) = %v, %v", g, err)
	}
}
