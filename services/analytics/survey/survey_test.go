package survey

import (
	"errors"
	"math"
	"testing"
)

func repeat(counts map[int]int) []int {
	var out []int
	for v := 0; v <= 10; v++ {
		for i := 0; i < counts[v]; i++ {
			out = append(out, v)
		}
	}
	return out
}

func TestNPS(t *testing.T) {
	tests := []struct {
		name      string
		answers   []int
		wantScore float64
		wantSE    float64
		wantCI    Interval
		wantP     [3]int
	}{
		{
			// 50 promoters, 30 passives, 20 detractors: NPS 30,
			// var = 0.70 - 0.09 = 0.61, SE = √(0.61/100) = 7.8102 points,
			// CI = 30 ± 1.959964·7.8102.
			name:      "textbook",
			answers:   repeat(map[int]int{10: 25, 9: 25, 8: 15, 7: 15, 6: 10, 0: 10}),
			wantScore: 30, wantSE: 7.810249675906654,
			wantCI: Interval{Low: 30 - 1.959963984540054*7.810249675906654, High: 30 + 1.959963984540054*7.810249675906654},
			wantP:  [3]int{50, 30, 20},
		},
		{name: "all promoters", answers: []int{9, 10, 10}, wantScore: 100, wantSE: 0, wantCI: Interval{Low: 100, High: 100}, wantP: [3]int{3, 0, 0}},
		{name: "boundaries", answers: []int{6, 7, 8, 9}, wantScore: 0, wantSE: 100 * math.Sqrt(0.5/4), wantCI: Interval{Low: -100 * 1.959963984540054 * math.Sqrt(0.5/4), High: 100 * 1.959963984540054 * math.Sqrt(0.5/4)}, wantP: [3]int{1, 2, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NPS(tc.answers, 0.95)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(r.Score-tc.wantScore) > 1e-9 || math.Abs(r.StdErr-tc.wantSE) > 1e-9 ||
				math.Abs(r.CI.Low-tc.wantCI.Low) > 1e-6 || math.Abs(r.CI.High-tc.wantCI.High) > 1e-6 ||
				[3]int{r.Promoters, r.Passives, r.Detractors} != tc.wantP || r.Responses != len(tc.answers) {
				t.Errorf("got %+v", r)
			}
		})
	}
}

func TestCSAT(t *testing.T) {
	// 80 of 100 satisfied: Wilson 95% interval [71.1171, 86.6633], computed independently from the Wilson formula.
	answers := append(repeat(map[int]int{4: 40, 5: 40}), repeat(map[int]int{1: 5, 2: 5, 3: 10})...)
	r, err := CSAT(answers, 0.95)
	if err != nil {
		t.Fatal(err)
	}
	if r.Score != 80 || r.Satisfied != 80 || math.Abs(r.CI.Low-71.11708344068411) > 1e-9 || math.Abs(r.CI.High-86.66330666689676) > 1e-9 {
		t.Errorf("got %+v", r)
	}
	all, _ := CSAT([]int{5, 5}, 0.95)
	if all.CI.High != 100 || all.CI.Low <= 0 {
		t.Errorf("all satisfied: %+v", all)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"nps empty", func() error { _, err := NPS(nil, 0.95); return err }, ErrNoResponses},
		{"nps 11", func() error { _, err := NPS([]int{10, 11}, 0.95); return err }, ErrOutOfRange},
		{"nps negative", func() error { _, err := NPS([]int{-1}, 0.95); return err }, ErrOutOfRange},
		{"nps confidence", func() error { _, err := NPS([]int{1}, 95); return err }, ErrInvalidConfidence},
		{"csat 0", func() error { _, err := CSAT([]int{0}, 0.95); return err }, ErrOutOfRange},
		{"csat 6", func() error { _, err := CSAT([]int{3, 6}, 0.95); return err }, ErrOutOfRange},
		{"csat empty", func() error { _, err := CSAT(nil, 0.95); return err }, ErrNoResponses},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func BenchmarkNPS1k(b *testing.B) {
	answers := make([]int, 1000)
	for i := range answers {
		answers[i] = i % 11
	}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = NPS(answers, 0.95)
	}
}
