package clv

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"gonum.org/v1/gonum/stat/distuv"
)

// synthStart and synthEnd bound a CDNOW-like calibration window: customers
// arrive over the first 12 weeks and are observed for 39 weeks in total.
var (
	synthStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	synthEnd   = synthStart.AddDate(0, 0, 272)
)

// synthesize draws n customers from the BG/NBD purchase process with
// Gamma-Gamma spend, in weeks, from a fixed seed so runs are reproducible.
func synthesize(n int, bg BGNBD, gg GammaGamma, seed uint64) []Transaction {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	lambda := distuv.Gamma{Alpha: bg.R, Beta: bg.Alpha, Src: rng}
	drop := distuv.Beta{Alpha: bg.A, Beta: bg.B, Src: rng}
	nu := distuv.Gamma{Alpha: gg.Q, Beta: gg.V, Src: rng}
	txs := make([]Transaction, 0, 3*n)
	horizon := 272.0 / 7
	for i := 0; i < n; i++ {
		id := strconv.Itoa(i)
		l, p := lambda.Rand(), drop.Rand()
		spend := distuv.Gamma{Alpha: gg.P, Beta: nu.Rand(), Src: rng}
		first := float64(rng.IntN(84)) / 7
		txs = append(txs, Transaction{CustomerID: id, Time: synthStart.AddDate(0, 0, int(first*7)), Amount: spend.Rand()})
		for t := first; ; {
			t += rng.ExpFloat64() / l
			if t > horizon {
				break
			}
			txs = append(txs, Transaction{CustomerID: id, Time: synthStart.AddDate(0, 0, int(math.Floor(t*7))), Amount: spend.Rand()})
			if rng.Float64() < p {
				break
			}
		}
	}
	return txs
}

var (
	truthBG = BGNBD{R: 0.243, Alpha: 4.414, A: 0.793, B: 2.426}
	truthGG = GammaGamma{P: 6.25, Q: 3.74, V: 15.44}
)

func TestFitRecoversSyntheticParameters(t *testing.T) {
	if testing.Short() {
		t.Skip("synthetic recovery takes about a second")
	}
	txs := synthesize(100_000, truthBG, truthGG, 1)
	s, err := Summarize(txs, synthEnd, Week)
	if err != nil {
		t.Fatal(err)
	}
	bg, err := FitBGNBD(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bg/nbd %+v", bg)
	// Day rounding and same-day merging bias the estimates slightly; 15%
	// still catches any real error in the likelihood.
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"r", bg.R, truthBG.R}, {"alpha", bg.Alpha, truthBG.Alpha}, {"a", bg.A, truthBG.A}, {"b", bg.B, truthBG.B}} {
		if math.Abs(c.got/c.want-1) > 0.15 {
			t.Errorf("%s = %.4f, true %.4f", c.name, c.got, c.want)
		}
	}
	gg, err := FitGammaGamma(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("gamma-gamma %+v", gg)
	// p·v/(q-1), the population mean spend, is far better identified than
	// the three parameters individually.
	wantMean := truthGG.P * truthGG.V / (truthGG.Q - 1)
	gotMean, _ := gg.PopulationMeanSpend()
	if math.Abs(gotMean/wantMean-1) > 0.05 || math.Abs(gg.P/truthGG.P-1) > 0.15 {
		t.Errorf("mean spend %.3f (true %.3f), p %.3f (true %.3f)", gotMean, wantMean, gg.P, truthGG.P)
	}
}

func BenchmarkFitCDNOW(b *testing.B) {
	s := cdnowSampleSummaries(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FitBGNBD(s); err != nil {
			b.Fatal(err)
		}
		if _, err := FitGammaGamma(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFitParetoNBDCDNOW(b *testing.B) {
	s := cdnowSampleSummaries(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FitParetoNBD(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSummarizeAndFit1M(b *testing.B) {
	txs := synthesize(1_000_000, truthBG, truthGG, 7)
	b.ReportAllocs()
	for b.Loop() {
		s, err := Summarize(txs, synthEnd, Week)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := FitBGNBD(s); err != nil {
			b.Fatal(err)
		}
		if _, err := FitGammaGamma(s); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(txs)), "transactions")
}

func BenchmarkPredict1M(b *testing.B) {
	txs := synthesize(1_000_000, truthBG, truthGG, 7)
	s, err := Summarize(txs, synthEnd, Week)
	if err != nil {
		b.Fatal(err)
	}
	txs = nil
	gg := truthGG
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Predict(truthBG, &gg, s, PredictOptions{Horizon: 52, Period: Week, MonthlyDiscount: 0.01}); err != nil {
			b.Fatal(err)
		}
	}
}
