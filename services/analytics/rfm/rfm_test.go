package rfm

import (
	"errors"
	"math"
	"slices"
	"testing"
)

func TestQuintiles(t *testing.T) {
	tests := []struct {
		name   string
		values []float64
		higher bool
		want   []int
	}{
		{"ten distinct", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, true, []int{1, 1, 2, 2, 3, 3, 4, 4, 5, 5}},
		{"lower is better", []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, false, []int{5, 5, 4, 4, 3, 3, 2, 2, 1, 1}},
		{"shuffled", []float64{10, 1, 9, 2, 8, 3, 7, 4, 6, 5}, true, []int{5, 1, 5, 1, 4, 2, 4, 2, 3, 3}},
		// Six of ten share the worst value: all get 1; the others continue
		// from their own positions (6/10 → 4, 7/10 → 4, 8/10 → 5, 9/10 → 5).
		{"big tie at the bottom", []float64{1, 1, 1, 1, 1, 1, 2, 3, 4, 5}, true, []int{1, 1, 1, 1, 1, 1, 4, 4, 5, 5}},
		{"tie across a boundary", []float64{1, 2, 2, 2, 3}, true, []int{1, 2, 2, 2, 5}},
		{"all equal", []float64{7, 7, 7}, true, []int{1, 1, 1}},
		{"single", []float64{3}, true, []int{1}},
		{"empty", nil, true, []int{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Quintiles(tc.values, tc.higher)
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestScoreIsOrderIndependent(t *testing.T) {
	customers := []Customer{
		{"a", 5, 10, 500}, {"b", 40, 1, 20}, {"c", 5, 3, 90}, {"d", 200, 1, 15}, {"e", 12, 6, 300},
		{"f", 90, 2, 45}, {"g", 1, 1, 0}, {"h", 30, 3, 120}, {"i", 60, 1, -10}, {"j", 7, 8, 800},
	}
	got, err := Score(customers)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]Scores{}
	for _, s := range got {
		byID[s.ID] = s
	}
	// g bought most recently; d longest ago; j and a spend most.
	if byID["g"].R != 5 || byID["d"].R != 1 || byID["j"].M != 5 || byID["i"].M != 1 || byID["a"].F != 5 {
		t.Errorf("scores %+v", byID)
	}
	// a and c share recency 5 and must share the R score.
	if byID["a"].R != byID["c"].R {
		t.Errorf("tied recency scored %d and %d", byID["a"].R, byID["c"].R)
	}
	if seg := byID["j"].Segment(); seg != "455" {
		t.Errorf("j segment %q, want 455", seg)
	}
	rev := slices.Clone(customers)
	slices.Reverse(rev)
	again, err := Score(rev)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range again {
		if s != byID[s.ID] {
			t.Errorf("order changed %s: %+v vs %+v", s.ID, s, byID[s.ID])
		}
	}
}

func TestScoreErrors(t *testing.T) {
	for _, c := range []Customer{{"nan", math.NaN(), 1, 1}, {"inf", 1, 1, math.Inf(1)}, {"neg", -1, 1, 1}, {"negf", 1, -1, 1}} {
		if _, err := Score([]Customer{c}); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("%s: err = %v", c.ID, err)
		}
	}
	if _, err := Quintiles([]float64{math.NaN()}, true); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("NaN quintile: err = %v", err)
	}
}

func BenchmarkScore100k(b *testing.B) {
	cs := make([]Customer, 100_000)
	for i := range cs {
		cs[i] = Customer{ID: "c", RecencyDays: float64(i * 7919 % 365), Frequency: float64(i % 13), Monetary: float64(i * 31 % 1000)}
	}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = Score(cs)
	}
}

// TestRecencyTiesScoreTheirBest: customers who bought on the same day are
// equally recent; a shop whose buyers all bought today scores them R5 (not
// Lost), while the many one-order customers keep F1.
func TestRecencyTiesScoreTheirBest(t *testing.T) {
	tests := []struct {
		name    string
		recency []float64
		wantR   []int
	}{
		{"all bought today", []float64{0, 0, 0, 0, 0}, []int{5, 5, 5, 5, 5}},
		// The five of today share the best-placed rank 9 of 10; the others
		// keep their own (4 → 3, 3 and 2 → 2, 1 and 0 → 1).
		{"half today", []float64{0, 0, 0, 0, 0, 10, 20, 30, 40, 50}, []int{5, 5, 5, 5, 5, 3, 2, 2, 1, 1}},
		{"distinct", []float64{0, 1, 2, 3, 4}, []int{5, 4, 3, 2, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var cs []Customer
			for i, r := range tc.recency {
				cs = append(cs, Customer{ID: string(rune('a' + i)), RecencyDays: r, Frequency: 1, Monetary: 100})
			}
			got, err := Score(cs)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range got {
				if s.R != tc.wantR[i] || s.F != 1 || s.M != 1 {
					t.Errorf("customer %d (recency %v) scored %+v, want R%d F1 M1", i, tc.recency[i], s, tc.wantR[i])
				}
			}
		})
	}
}
