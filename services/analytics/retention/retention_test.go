package retention

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"
)

func at(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 12, 0, 0, 0, time.UTC) }

func TestRates(t *testing.T) {
	tests := []struct {
		name          string
		start, kept   int
		wantRetention float64
		wantErr       error
	}{
		{"typical", 200, 150, 0.75, nil},
		{"all kept", 10, 10, 1, nil},
		{"none active", 0, 0, 0, ErrNoCustomers},
		{"more kept than active", 5, 6, 0, ErrInvalidInput},
		{"negative", 5, -1, 0, ErrInvalidInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Rates(tc.start, tc.kept)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && (r.RetentionRate != tc.wantRetention || math.Abs(r.ChurnRate-(1-tc.wantRetention)) > 1e-15) {
				t.Errorf("got %+v", r)
			}
		})
	}
	r, err := RatesFromIDs([]string{"a", "b", "c", "d", "a"}, []string{"a", "c", "e", "c"})
	if err != nil || r.ActiveAtStart != 4 || r.Retained != 2 || r.ChurnRate != 0.5 {
		t.Errorf("RatesFromIDs = %+v, %v; want 2 of 4 retained (new customer e ignored)", r, err)
	}
}

func TestCohortTable(t *testing.T) {
	orders := []Order{
		{"a", at(2024, 1, 5)}, {"a", at(2024, 1, 20)}, {"a", at(2024, 3, 1)},
		{"b", at(2024, 1, 31)}, {"b", at(2024, 2, 1)},
		{"c", at(2024, 2, 10)}, {"c", at(2024, 3, 10)}, {"c", at(2024, 4, 2)}, // April is after asOf
		{"d", at(2024, 3, 15)},
	}
	got, err := CohortTable(orders, at(2024, 3, 31))
	if err != nil {
		t.Fatal(err)
	}
	want := []Cohort{
		{Month: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), Size: 2, Active: []int{2, 1, 1}, Rate: []float64{1, 0.5, 0.5}},
		{Month: time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC), Size: 1, Active: []int{1, 1}, Rate: []float64{1, 1}},
		{Month: time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC), Size: 1, Active: []int{1}, Rate: []float64{1}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.Month.Equal(w.Month) || g.Size != w.Size || !slices.Equal(g.Active, w.Active) || !slices.Equal(g.Rate, w.Rate) {
			t.Errorf("cohort %d = %+v, want %+v", i, g, w)
		}
	}
	// The year boundary must not break month arithmetic.
	cross, err := CohortTable([]Order{{"x", at(2023, 12, 30)}, {"x", at(2024, 1, 2)}}, at(2024, 1, 31))
	if err != nil || len(cross) != 1 || !slices.Equal(cross[0].Active, []int{1, 1}) {
		t.Errorf("year boundary: %+v, %v", cross, err)
	}
	if _, err := CohortTable(orders, at(2023, 1, 1)); !errors.Is(err, ErrNoCustomers) {
		t.Errorf("nothing before asOf: err = %v", err)
	}
	if _, err := CohortTable([]Order{{"", at(2024, 1, 1)}}, at(2024, 1, 1)); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("empty id: err = %v", err)
	}
}

func TestRepeatPurchaseRate(t *testing.T) {
	orders := []Order{{"a", at(2024, 1, 1)}, {"a", at(2024, 1, 1)}, {"b", at(2024, 1, 1)}, {"c", at(2024, 1, 1)}, {"c", at(2024, 5, 1)}, {"d", at(2024, 2, 1)}}
	s, err := RepeatPurchaseRate(orders)
	if err != nil || s.Count != 2 || s.Of != 4 || s.Rate != 0.5 {
		t.Errorf("got %+v, %v; want 2 of 4", s, err)
	}
	if _, err := RepeatPurchaseRate(nil); !errors.Is(err, ErrNoCustomers) {
		t.Errorf("empty: err = %v", err)
	}
}

func TestF2Conversion(t *testing.T) {
	const day = 24 * time.Hour
	asOf := at(2024, 4, 30)
	orders := []Order{
		{"fast", at(2024, 1, 1)}, {"fast", at(2024, 1, 20)}, // converted in 19 days
		{"slow", at(2024, 1, 1)}, {"slow", at(2024, 3, 1)}, // second order after 60 days
		{"once", at(2024, 2, 1)},                            // eligible, never returned
		{"edge", at(2024, 1, 1)}, {"edge", at(2024, 1, 31)}, // exactly 30 days: counts
		{"new", at(2024, 4, 15)}, {"new", at(2024, 4, 16)}, // first order < 30 days before asOf: excluded
		{"future", at(2024, 5, 2)}, // after asOf: ignored
	}
	s, err := F2Conversion(orders, 30*day, asOf)
	if err != nil || s.Count != 2 || s.Of != 4 || s.Rate != 0.5 {
		t.Errorf("got %+v, %v; want 2 of 4 (fast, edge)", s, err)
	}
	if _, err := F2Conversion(orders, 0, asOf); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("zero window: err = %v", err)
	}
	if _, err := F2Conversion(orders, 365*day, asOf); !errors.Is(err, ErrNoCustomers) {
		t.Errorf("window longer than history: err = %v", err)
	}
}
