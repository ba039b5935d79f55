package clv

import (
	"math"
	"testing"
)

// With a > 1 every customer eventually drops out, after 1/p repeat
// purchases on average, so E[X(t)] must rise monotonically towards
// E[1/p] = (a+b-1)/(a-1); the conditional expectation must stay finite
// and monotone far out, where z = t/(α+T+t) approaches 1.
func TestBGNBDLongHorizon(t *testing.T) {
	models := []BGNBD{
		{R: 0.5, Alpha: 4, A: 3, B: 2},
		{R: 2, Alpha: 1, A: 1.5, B: 6},
		cdnowBGNBD,
	}
	for _, m := range models {
		prev, prevC := 0.0, 0.0
		for _, h := range []float64{1, 10, 100, 1e3, 1e4, 1e5, 1e6} {
			e, err := m.ExpectedPurchasesNew(h)
			if err != nil || math.IsNaN(e) || e < prev-1e-9 {
				t.Fatalf("%+v: E[X(%g)] = %v, %v after %v", m, h, e, err, prev)
			}
			prev = e
			c, err := m.ExpectedPurchases(h, 30, 38, 39)
			if err != nil || math.IsNaN(c) || c < prevC-1e-9 {
				t.Fatalf("%+v: E[Y(%g)|30,38,39] = %v, %v after %v", m, h, c, err, prevC)
			}
			prevC = c
		}
		if m.A > 1 {
			if limit := (m.A + m.B - 1) / (m.A - 1); math.Abs(prev-limit) > 0.01*limit {
				t.Errorf("%+v: E[X(1e6)] = %v, limit %v", m, prev, limit)
			}
		}
	}
}
