package clv

import (
	"errors"
	"testing"
)

func TestFitGammaGammaCDNOW(t *testing.T) {
	tests := []struct {
		name string
		data func(testing.TB) []Summary
	}{
		{"zbar from summary file", func(tb testing.TB) []Summary { return cdnowSummaryFile(tb, true) }},
		{"own summarize", cdnowSampleSummaries},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, err := FitGammaGamma(tc.data(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("p=%.4f q=%.4f v=%.4f LL=%.3f n=%d rho=%.3f", g.P, g.Q, g.V, g.LogLikelihood, g.Customers, g.Correlation)
			if g.Customers != 946 {
				t.Errorf("fitted on %d customers, want the 946 repeat buyers", g.Customers)
			}
			for _, c := range []struct {
				name      string
				got, want float64
			}{{"p", g.P, 6.25}, {"q", g.Q, 3.74}, {"v", g.V, 15.44}} {
				if !near(c.got, c.want, 3) {
					t.Errorf("%s = %.5g, want %.4g to 3 significant figures", c.name, c.got, c.want)
				}
			}
			// The conditional mean must be the credibility-weighted blend
			// of the population mean and the customer's own mean.
			e, err := g.ConditionalExpectedSpend(2, 22.35)
			if err != nil {
				t.Fatal(err)
			}
			mean, _ := g.PopulationMeanSpend()
			w := g.P * 2 / (g.P*2 + g.Q - 1)
			if want := (1-w)*mean + w*22.35; !near(e, want, 10) {
				t.Errorf("conditional spend %v, want credibility blend %v", e, want)
			}
		})
	}
}

func TestFitGammaGammaErrors(t *testing.T) {
	correlated := []Summary{}
	for i := 1; i <= 50; i++ {
		correlated = append(correlated, Summary{Frequency: float64(i), Recency: 10, T: 20, MonetaryValue: float64(i) * 3})
	}
	tests := []struct {
		name string
		data []Summary
		want error
	}{
		{"no repeat customers", []Summary{{Frequency: 0, T: 5}, {Frequency: 0, T: 3}}, ErrNotEnoughData},
		{"zero spend", []Summary{{Frequency: 2, Recency: 1, T: 5}, {Frequency: 1, Recency: 1, T: 5}, {Frequency: 3, Recency: 1, T: 5}}, ErrNotEnoughData},
		{"correlated", correlated, ErrDependentSpend},
		{"invalid", []Summary{{Frequency: -1, T: 3}}, ErrInvalidInput},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := FitGammaGamma(tc.data); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}
