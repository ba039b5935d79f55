package segment

import (
	"reflect"
	"testing"
	"time"
)

func TestScoreRFM(t *testing.T) {
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	tests := []struct {
		name  string
		stats []OrderStats
		want  []Scores
	}{
		{name: "no buyers", stats: nil, want: []Scores{}},
		{
			name: "five distinct customers span the quintiles",
			stats: []OrderStats{
				{CustomerID: "a", Count: 1, Revenue: 10, LastOrder: now.Add(-50 * day)},
				{CustomerID: "b", Count: 2, Revenue: 20, LastOrder: now.Add(-40 * day)},
				{CustomerID: "c", Count: 3, Revenue: 30, LastOrder: now.Add(-30 * day)},
				{CustomerID: "d", Count: 4, Revenue: 40, LastOrder: now.Add(-20 * day)},
				{CustomerID: "e", Count: 5, Revenue: 50, LastOrder: now.Add(-10 * day)},
			},
			want: []Scores{{1, 1, 1}, {2, 2, 2}, {3, 3, 3}, {4, 4, 4}, {5, 5, 5}},
		},
		{
			name: "same day ties on recency; non-buyers are not scored",
			stats: []OrderStats{
				{CustomerID: "a", Count: 1, Revenue: 10, LastOrder: now.Add(-time.Hour)},
				{CustomerID: "b", Count: 2, Revenue: 20, LastOrder: now.Add(-23 * time.Hour)},
				{CustomerID: "z", Count: 0},
				{CustomerID: "y", Count: 1, Revenue: 5, LastOrder: now.Add(-400 * day)},
			},
			// a and b bought today: as recent as can be; z is not scored, and
			// y, after it, has its own place.
			want: []Scores{{5, 1, 2}, {5, 4, 4}, {}, {2, 1, 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ScoreRFM(tt.stats, now)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ScoreRFM = %v, want %v", got, tt.want)
			}
		})
	}
}
