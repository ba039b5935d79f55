package clv

import (
	"math"
	"testing"
)

func TestFitParetoNBDCDNOW(t *testing.T) {
	own, err := FitParetoNBD(cdnowSampleSummaries(t))
	if err != nil {
		t.Fatal(err)
	}
	if !near(own.R, 0.553, 3) || !near(own.Alpha, 10.578, 3) || !near(own.S, 0.606, 3) || !near(own.Beta, 11.669, 3) || !near(own.LogLikelihood, -9595.0, 3) {
		t.Errorf("from own Summarize: %+v", own)
	}
	data := cdnowSummaryFile(t, false)
	m, err := FitParetoNBD(data)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("r=%.4f alpha=%.4f s=%.4f beta=%.4f LL=%.3f", m.R, m.Alpha, m.S, m.Beta, m.LogLikelihood)
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"r", m.R, 0.553}, {"alpha", m.Alpha, 10.578}, {"s", m.S, 0.606}, {"beta", m.Beta, 11.669},
		{"LL", m.LogLikelihood, -9595.0},
	} {
		if !near(c.got, c.want, 3) {
			t.Errorf("%s = %.5g, want %.5g to 3 significant figures", c.name, c.got, c.want)
		}
	}
	bg, err := FitBGNBD(data)
	if err != nil {
		t.Fatal(err)
	}
	// On CDNOW the BG/NBD fits slightly better (−9582.4 vs −9595.0).
	ranking := Compare(m, bg)
	if ranking[0].Name != "bg/nbd" || math.Abs(ranking[1].DeltaAIC-2*(bg.LogLikelihood-m.LogLikelihood)) > 1e-9 {
		t.Errorf("Compare = %+v, want bg/nbd first", ranking)
	}

	for _, tc := range []struct{ x, tx, T float64 }{{0, 0, 38.86}, {2, 30.43, 38.86}, {10, 38, 39}, {5, 2, 39}} {
		pa, err := m.ProbabilityAlive(tc.x, tc.tx, tc.T)
		if err != nil || !(pa > 0 && pa <= 1) {
			t.Errorf("ProbabilityAlive%v = %v, %v", tc, pa, err)
		}
		e, err := m.ExpectedPurchases(39, tc.x, tc.tx, tc.T)
		if err != nil || !(e > 0) || math.IsInf(e, 0) {
			t.Errorf("ExpectedPurchases%v = %v, %v", tc, e, err)
		}
	}
	// Customers who buy a lot and then stop early are probably gone.
	early, _ := m.ProbabilityAlive(10, 2, 39)
	late, _ := m.ProbabilityAlive(10, 38, 39)
	if !(early < 0.1 && late > 0.8) {
		t.Errorf("P(alive) early=%v late=%v, want early < 0.1 < 0.8 < late", early, late)
	}
	// E[X(t)] at s=1 must agree with the general formula's limit.
	near1 := ParetoNBD{R: 0.5, Alpha: 10, S: 1 + 1e-7, Beta: 12}
	at1 := ParetoNBD{R: 0.5, Alpha: 10, S: 1, Beta: 12}
	a, _ := near1.ExpectedPurchasesNew(52)
	b, _ := at1.ExpectedPurchasesNew(52)
	if math.Abs(a-b) > 1e-5 {
		t.Errorf("E[X(52)] s→1: %v vs %v", a, b)
	}
}
