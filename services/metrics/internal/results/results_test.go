package results_test

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/analytics/experiment"
	"github.com/kizuna/kizuna/services/metrics/internal/results"
)

type order struct {
	customer string
	at       time.Time
	revenue  float64
}

type event struct {
	customer, name string
	at             time.Time
}

// memStore is an in-memory results.Store.
type memStore struct {
	exposures []results.Exposure
	orders    []order
	events    []event
}

func (m *memStore) Exposures(_ context.Context, _, _ string, limit int) ([]results.Exposure, error) {
	if len(m.exposures) > limit {
		return nil, results.ErrTooLarge
	}
	return m.exposures, nil
}

func (m *memStore) ScanOrderRevenue(_ context.Context, _ string, from, to time.Time, fn func(string, time.Time, float64)) error {
	for _, o := range m.orders {
		if !o.at.Before(from) && o.at.Before(to) {
			fn(o.customer, o.at, o.revenue)
		}
	}
	return nil
}

func (m *memStore) ScanEventTimes(_ context.Context, _, name string, from, to time.Time, fn func(string, time.Time)) error {
	for _, e := range m.events {
		if e.name == name && !e.at.Before(from) && e.at.Before(to) {
			fn(e.customer, e.at)
		}
	}
	return nil
}

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

// simulate builds a campaign of n customers: 20 % holdout, then A and B
// evenly, each converting with its arm's probability within the window
// (an order of 1000 + noise), plus pre-period orders correlated with the
// customer's spend level, and orders after the window that must not count.
func simulate(seed uint64, n int, p map[string]float64) *memStore {
	rng := rand.New(rand.NewPCG(seed, 1))
	st := &memStore{}
	d := results.NewDesign("", 0, 20, []string{"A", "B"}, []float64{50, 50})
	for i := range n {
		id := "c" + strconv.Itoa(i)
		arm := d.Arms[experiment.Pick("sim", id, []float64{d.Arms[0].Share, d.Arms[1].Share, d.Arms[2].Share})].Name
		at := t0.Add(time.Duration(rng.IntN(72)) * time.Hour)
		st.exposures = append(st.exposures, results.Exposure{CustomerID: id, Variant: arm, Time: at})
		level := rng.ExpFloat64() * 500
		if rng.Float64() < 0.5 {
			st.orders = append(st.orders, order{id, at.Add(-time.Duration(1+rng.IntN(29*24)) * time.Hour), level})
		}
		if rng.Float64() < p[arm] {
			st.orders = append(st.orders, order{id, at.Add(time.Duration(rng.IntN(6*24)) * time.Hour), 1000 + level})
		}
		st.orders = append(st.orders, order{id, at.Add(8 * 24 * time.Hour), 99999})
	}
	return st
}

// TestKnownLiftRecovered: the true conversion lifts of a simulated
// campaign (B +6 points, A +3 over a 10 % holdout) fall inside the
// reported 95 % intervals, across seeds.
func TestKnownLiftRecovered(t *testing.T) {
	p := map[string]float64{results.Holdout: 0.10, "A": 0.13, "B": 0.16}
	d := results.NewDesign("", 0, 20, []string{"A", "B"}, []float64{50, 50})
	misses := 0
	for seed := uint64(1); seed <= 20; seed++ {
		st := simulate(seed, 20_000, p)
		out, err := results.Measure(context.Background(), st, "ws", "jny", d)
		if err != nil {
			t.Fatal(err)
		}
		arms := results.Aggregate(d, out, nil)
		if arms[0].Name != results.Holdout {
			t.Fatalf("control %q, want holdout", arms[0].Name)
		}
		for _, a := range arms[1:] {
			c := results.Compare(arms[0], a, 0.05)
			if c.Conversion == nil {
				t.Fatalf("no comparison: %s", c.ConversionReason)
			}
			truth := p[a.Name] - p[results.Holdout]
			if truth < c.Conversion.AbsoluteCI.Low || truth > c.Conversion.AbsoluteCI.High {
				misses++
			}
			if a.Name == "B" && c.Conversion.PValue > 0.001 {
				t.Errorf("seed %d arm B: p = %v for a true lift of %v on ~8000 customers", seed, c.Conversion.PValue, truth)
			}
		}
		srm, why := results.SRM(d, arms)
		if srm == nil || srm.Mismatch {
			t.Errorf("seed %d: SRM on an honest split: %+v %s", seed, srm, why)
		}
	}
	// 40 intervals at 95 %: about 2 misses expected; 6 or more has
	// probability < 1 %.
	if misses >= 6 {
		t.Errorf("true lift outside the 95%% interval %d times out of 40", misses)
	}
}

// TestAttribution pins what counts: the window's bounds, the pre-period,
// a goal event other than orders, and arms absent from the design.
func TestAttribution(t *testing.T) {
	st := &memStore{
		exposures: []results.Exposure{
			{CustomerID: "h", Variant: results.Holdout, Time: t0},
			{CustomerID: "a", Variant: "A", Time: t0},
			{CustomerID: "b", Variant: "B", Time: t0},
			{CustomerID: "z", Variant: "Z", Time: t0},
		},
		orders: []order{
			{"h", t0, 10},                            // at exposure: counts
			{"a", t0.Add(-time.Second), 20},          // before: pre-period
			{"a", t0.Add(-31 * 24 * time.Hour), 999}, // before the pre-period
			{"b", t0.Add(7*24*time.Hour - time.Second), 30},
			{"b", t0.Add(7 * 24 * time.Hour), 999}, // window end is exclusive
		},
		events: []event{{"a", "Signed Up", t0.Add(time.Hour)}, {"b", "Signed Up", t0.Add(-time.Hour)}},
	}
	d := results.NewDesign("", 0, 10, []string{"A", "B"}, []float64{1, 1})
	out, err := results.Measure(context.Background(), st, "ws", "j", d)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]results.Outcome{}
	for _, o := range out {
		got[o.CustomerID] = o
	}
	if o := got["h"]; !o.Converted || o.Revenue != 10 || o.PreRevenue != 0 {
		t.Errorf("h = %+v", o)
	}
	if o := got["a"]; o.Converted || o.Revenue != 0 || o.PreRevenue != 20 {
		t.Errorf("a = %+v", o)
	}
	if o := got["b"]; !o.Converted || o.Revenue != 30 {
		t.Errorf("b = %+v", o)
	}
	arms := results.Aggregate(d, out, nil)
	if len(arms) != 4 || arms[3].Name != "Z" || arms[3].Exposed != 1 {
		t.Errorf("arms = %+v", arms)
	}
	if srm, why := results.SRM(d, arms); srm != nil || why == "" {
		t.Errorf("SRM with an arm outside the design: %+v", srm)
	}

	d = results.NewDesign("Signed Up", 0, 10, []string{"A", "B"}, []float64{1, 1})
	out, err = results.Measure(context.Background(), st, "ws", "j", d)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range out {
		if want := o.CustomerID == "a"; o.Converted != want {
			t.Errorf("goal Signed Up: %s converted %v, want %v", o.CustomerID, o.Converted, want)
		}
	}
}

// TestSRMFiresOnSkew: a split of 60/40 where 50/50 was intended flags a
// mismatch; the same counts on the analytics function agree.
func TestSRMFiresOnSkew(t *testing.T) {
	d := results.NewDesign("", 0, 0, []string{"A", "B"}, []float64{50, 50})
	arms := []results.Counts{{Name: "A", Exposed: 6000}, {Name: "B", Exposed: 4000}}
	srm, why := results.SRM(d, arms)
	if srm == nil {
		t.Fatal(why)
	}
	want, err := experiment.SampleRatioMismatch([]int64{6000, 4000}, []float64{0.5, 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if !srm.Mismatch || *srm != want {
		t.Errorf("srm %+v, want %+v with a mismatch", srm, want)
	}
	if d.Control() != "A" {
		t.Errorf("control %q, want the first variant A", d.Control())
	}
}

// TestCompareEqualsAnalytics: every figure of a comparison is the
// analytics function's on the same counts; undefined ones carry reasons.
func TestCompareEqualsAnalytics(t *testing.T) {
	ctrl := results.Counts{Name: "holdout", Exposed: 2000, Converted: 200,
		Revenue: experiment.CovariateSample{N: 2000, SumY: 2e5, SumYY: 9e7, SumX: 1e5, SumXX: 3e7, SumXY: 2e7}}
	arm := results.Counts{Name: "A", Exposed: 8000, Converted: 1040,
		Revenue: experiment.CovariateSample{N: 8000, SumY: 1e6, SumYY: 4e8, SumX: 4e5, SumXX: 1.2e8, SumXY: 8e7}}
	c := results.Compare(ctrl, arm, 0.05)
	z, _ := experiment.TwoProportionZTest(ctrl.Proportion(), arm.Proportion(), 0.05)
	b, _ := experiment.BayesianBetaBinomial(ctrl.Proportion(), arm.Proportion(), experiment.BetaPrior{Alpha: 1, Beta: 1})
	w, _ := experiment.WelchTTest(ctrl.RevenueSample(), arm.RevenueSample(), 0.05)
	cu, _ := experiment.CUPED(ctrl.Revenue, arm.Revenue, 0.05)
	if *c.Conversion != z || c.Bayes != b || *c.Revenue != w || *c.CUPED != cu {
		t.Errorf("comparison %+v differs from the analytics functions", c)
	}
	empty := results.Compare(results.Counts{Name: "holdout"}, arm, 0.05)
	if empty.Conversion != nil || empty.ConversionReason == "" || empty.Revenue != nil || empty.RevenueReason == "" {
		t.Errorf("empty control: %+v", empty)
	}
	zero := results.Compare(results.Counts{Name: "holdout", Exposed: 100,
		Revenue: experiment.CovariateSample{N: 100}}, arm, 0.05)
	if zero.Conversion == nil || !math.IsNaN(zero.Conversion.RelativeLift) {
		t.Errorf("zero control rate: relative lift %v, want NaN from the analytics package (the API leaves it out)", zero.Conversion)
	}
}
