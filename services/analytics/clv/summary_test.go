package clv

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestSummarizeReproducesCDNOWSummary(t *testing.T) {
	own := cdnowSampleSummaries(t)
	pub := cdnowSummaryFile(t, true)
	if len(own) != 2357 || len(pub) != 2357 {
		t.Fatalf("got %d summaries, published %d, want 2357 each", len(own), len(pub))
	}
	// The published IDs number the sample's customers 1..2357 in file
	// order, which is also Summarize's first-appearance order.
	var spendMismatch int
	for i := range own {
		o, p := own[i], pub[i]
		if o.Frequency != p.Frequency || math.Abs(o.Recency-p.Recency) > 0.0051 || math.Abs(o.T-p.T) > 0.0051 {
			t.Errorf("customer %s (published %s): got x=%v t_x=%.4f T=%.4f, published x=%v t_x=%v T=%v",
				o.CustomerID, p.CustomerID, o.Frequency, o.Recency, o.T, p.Frequency, p.Recency, p.T)
		}
		if math.Abs(o.MonetaryValue-p.MonetaryValue) > 0.0051 {
			spendMismatch++
		}
	}
	if spendMismatch > 0 {
		t.Errorf("%d customers' monetary value differs from published zbar", spendMismatch)
	}
}

func TestSummarize(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2024, 1, d, 10, 0, 0, 0, time.UTC) }
	end := time.Date(2024, 1, 29, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		txs     []Transaction
		period  Period
		want    []Summary
		wantErr error
	}{
		{
			name: "same-day purchases count once and sum",
			txs: []Transaction{
				{"a", day(1), 10}, {"a", day(8), 5}, {"a", day(8), 15}, {"a", day(15), 30},
				{"b", day(3), 7},
				{"c", day(29), 1},  // on the calibration end day: included
				{"a", day(30), 99}, // after calibration: ignored
				{"d", day(30), 99}, // first purchase after calibration: no summary
			},
			period: Week,
			want: []Summary{
				{"a", 2, 2, 4, 25},
				{"b", 0, 0, 26.0 / 7, 0},
				{"c", 0, 0, 0, 0},
			},
		},
		{
			name:   "days",
			txs:    []Transaction{{"a", day(2), 1}, {"a", day(1), 3}},
			period: Day,
			want:   []Summary{{"a", 1, 1, 28, 1}},
		},
		{name: "nothing before end", txs: []Transaction{{"a", day(30), 1}}, period: Day, wantErr: ErrNotEnoughData},
		{name: "empty", period: Day, wantErr: ErrNotEnoughData},
		{name: "bad period", txs: []Transaction{{"a", day(1), 1}}, period: 9, wantErr: ErrInvalidInput},
		{name: "empty id", txs: []Transaction{{"", day(1), 1}}, period: Day, wantErr: ErrInvalidInput},
		{name: "nan amount", txs: []Transaction{{"a", day(1), math.NaN()}}, period: Day, wantErr: ErrInvalidInput},
		{name: "zero time", txs: []Transaction{{"a", time.Time{}, 1}}, period: Day, wantErr: ErrInvalidInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Summarize(tc.txs, end, tc.period)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d summaries %+v, want %d", len(got), got, len(tc.want))
			}
			for i := range got {
				g, w := got[i], tc.want[i]
				if g.CustomerID != w.CustomerID || g.Frequency != w.Frequency ||
					math.Abs(g.Recency-w.Recency) > 1e-12 || math.Abs(g.T-w.T) > 1e-12 ||
					math.Abs(g.MonetaryValue-w.MonetaryValue) > 1e-12 {
					t.Errorf("summary %d = %+v, want %+v", i, g, w)
				}
			}
		})
	}
}
