package retention

import (
	"errors"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/analytics/calendar"
)

func TestBucketCohortTable(t *testing.T) {
	jst := time.FixedZone("JST", 9*3600)
	at := func(m time.Month, d, h int) time.Time { return time.Date(2026, m, d, h, 0, 0, 0, jst) }
	purchases := []Purchase{
		// a: first purchase Jan 31 23:00 JST (still January UTC+9), back in
		// February twice and in March.
		{"a", at(1, 31, 23), 100}, {"a", at(2, 1, 1), 50}, {"a", at(2, 10, 0), 50}, {"a", at(3, 5, 0), 30},
		// b: January only.
		{"b", at(1, 5, 0), 200},
		// c: February cohort, back in March.
		{"c", at(2, 2, 0), 80}, {"c", at(3, 2, 0), 40},
		// After as-of: ignored.
		{"c", at(4, 2, 0), 999},
	}
	got, err := BucketCohortTable(purchases, CohortOptions{Granularity: calendar.Month, Location: jst, AsOf: at(3, 31, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d cohorts, want 2: %+v", len(got), got)
	}
	jan, feb := got[0], got[1]
	if !jan.Start.Equal(at(1, 1, 0)) || jan.Size != 2 || !equalInts(jan.Active, []int{2, 1, 1}) ||
		!equalFloats(jan.Revenue, []float64{300, 100, 30}) || !equalFloats(jan.RevenueRate, []float64{1, 100.0 / 300, 0.1}) {
		t.Errorf("January cohort = %+v", jan)
	}
	if !feb.Start.Equal(at(2, 1, 0)) || feb.Size != 1 || !equalInts(feb.Active, []int{1, 1}) || !equalFloats(feb.Rate, []float64{1, 1}) {
		t.Errorf("February cohort = %+v", feb)
	}
	grouped, err := BucketCohortTable(purchases, CohortOptions{Granularity: calendar.Month, Location: jst, AsOf: at(3, 31, 0),
		Group: func(id string) string { return map[string]string{"a": "LINE", "b": "EMAIL"}[id] }})
	if err != nil {
		t.Fatal(err)
	}
	if len(grouped) != 3 || grouped[0].Group != "EMAIL" || grouped[0].Size != 1 || grouped[1].Group != "LINE" || grouped[1].Revenue[1] != 100 || grouped[2].Group != "" {
		t.Errorf("grouped cohorts = %+v", grouped)
	}
	// Weekly cohorts of first purchases from February 1 keep only c.
	utc, err := BucketCohortTable(purchases, CohortOptions{Granularity: calendar.Week, Location: jst, AsOf: at(3, 31, 0), From: at(2, 1, 0)})
	if err != nil {
		t.Fatal(err)
	}
	if len(utc) != 1 || utc[0].Size != 1 || !utc[0].Start.Equal(at(2, 2, 0)) {
		t.Errorf("weekly cohorts from Feb 1 = %+v, want c's week of Monday Feb 2", utc)
	}
	if _, err := BucketCohortTable(purchases, CohortOptions{Granularity: calendar.Day, Location: jst, AsOf: at(3, 31, 0), MaxBuckets: 30}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("too many columns: %v", err)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if d := a[i] - b[i]; d > 1e-9 || d < -1e-9 {
			return false
		}
	}
	return true
}
