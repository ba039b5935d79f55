package clv

import (
	"errors"
	"math"
	"testing"
)

func TestPredictAndCLV(t *testing.T) {
	bg, gg := cdnowBGNBD, truthGG
	summaries := []Summary{
		{CustomerID: "a", Frequency: 2, Recency: 30.43, T: 38.86, MonetaryValue: 22.35},
		{CustomerID: "b", Frequency: 0, Recency: 0, T: 38.86},
		{CustomerID: "c", Frequency: 2, Recency: 30.43, T: 38.86, MonetaryValue: 50},
	}
	tests := []struct {
		name string
		opts PredictOptions
	}{
		{"one year weekly", PredictOptions{Horizon: 52, Period: Week, MonthlyDiscount: 0.01}},
		{"partial month, no discount", PredictOptions{Horizon: 10, Period: Week}},
		{"days", PredictOptions{Horizon: 95, Period: Day, MonthlyDiscount: 0.05}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			preds, err := Predict(bg, &gg, summaries, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range summaries {
				p := preds[i]
				e, _ := bg.ExpectedPurchases(tc.opts.Horizon, s.Frequency, s.Recency, s.T)
				pa, _ := bg.ProbabilityAlive(s.Frequency, s.Recency, s.T)
				spend, _ := gg.ConditionalExpectedSpend(s.Frequency, s.MonetaryValue)
				// Straightforward re-statement of lifetimes' monthly loop.
				ppm := tc.opts.Period.PerMonth()
				var clv, prev float64
				for m := 1; float64(m-1)*ppm < tc.opts.Horizon; m++ {
					end := math.Min(float64(m)*ppm, tc.opts.Horizon)
					cur, _ := bg.ExpectedPurchases(end, s.Frequency, s.Recency, s.T)
					clv += spend * (cur - prev) / math.Pow(1+tc.opts.MonthlyDiscount, end/ppm)
					prev = cur
				}
				if p.CustomerID != s.CustomerID || math.Abs(p.ExpectedPurchases-e) > 1e-12 || p.ProbabilityAlive != pa ||
					math.Abs(p.ExpectedSpend-spend) > 1e-12 || math.Abs(p.CLV-clv) > 1e-9 {
					t.Errorf("prediction %+v, want purchases %v alive %v spend %v clv %v", p, e, pa, spend, clv)
				}
				if tc.opts.MonthlyDiscount == 0 && math.Abs(p.CLV-spend*e) > 1e-9 {
					t.Errorf("undiscounted CLV %v, want spend × purchases = %v", p.CLV, spend*e)
				}
			}
			// Same history, higher spend: proportionally higher CLV.
			if r := preds[2].CLV / preds[0].CLV; !(r > 1) {
				t.Errorf("CLV ratio %v, want > 1", r)
			}
			one, err := CustomerLifetimeValue(bg, gg, summaries[0], tc.opts)
			if err != nil || one != preds[0].CLV {
				t.Errorf("CustomerLifetimeValue = %v, %v, want %v", one, err, preds[0].CLV)
			}
		})
	}
}

func TestPredictErrors(t *testing.T) {
	ok := []Summary{{Frequency: 1, Recency: 1, T: 2, MonetaryValue: 3}}
	gg := truthGG
	badQ := GammaGamma{P: 1, Q: 0.5, V: 1}
	tests := []struct {
		name string
		bg   BGNBD
		gg   *GammaGamma
		s    []Summary
		opts PredictOptions
		want error
	}{
		{"zero model", BGNBD{}, nil, ok, PredictOptions{Horizon: 1, Period: Week}, ErrInvalidModel},
		{"infinite mean spend", cdnowBGNBD, &badQ, ok, PredictOptions{Horizon: 1, Period: Week}, ErrInvalidModel},
		{"negative horizon", cdnowBGNBD, nil, ok, PredictOptions{Horizon: -1, Period: Week}, ErrInvalidInput},
		{"no period", cdnowBGNBD, nil, ok, PredictOptions{Horizon: 1}, ErrInvalidInput},
		{"horizon too long", cdnowBGNBD, &gg, ok, PredictOptions{Horizon: 1e9, Period: Day}, ErrInvalidInput},
		{"discount -1", cdnowBGNBD, &gg, ok, PredictOptions{Horizon: 1, Period: Day, MonthlyDiscount: -1}, ErrInvalidInput},
		{"bad summary", cdnowBGNBD, nil, []Summary{{Frequency: 1, Recency: 3, T: 2}}, PredictOptions{Horizon: 1, Period: Week}, ErrInvalidInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Predict(tc.bg, tc.gg, tc.s, tc.opts); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// Predict deduplicates triples and works in parallel above a few thousand
// customers; its results must match customer-by-customer evaluation.
func TestPredictLargeMatchesSingle(t *testing.T) {
	s, err := Summarize(synthesize(30_000, truthBG, truthGG, 3), synthEnd, Week)
	if err != nil {
		t.Fatal(err)
	}
	gg := truthGG
	opts := PredictOptions{Horizon: 26, Period: Week, MonthlyDiscount: 0.02}
	preds, err := Predict(truthBG, &gg, s, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(s); i += 97 {
		e, _ := truthBG.ExpectedPurchases(opts.Horizon, s[i].Frequency, s[i].Recency, s[i].T)
		clv, _ := CustomerLifetimeValue(truthBG, gg, s[i], opts)
		if preds[i].CustomerID != s[i].CustomerID || math.Abs(preds[i].ExpectedPurchases-e) > 1e-12 || math.Abs(preds[i].CLV-clv) > 1e-9 {
			t.Fatalf("customer %d: %+v, want purchases %v clv %v", i, preds[i], e, clv)
		}
	}
}
