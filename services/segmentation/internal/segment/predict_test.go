package segment_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
)

// shopHistory sends BG/NBD-like purchase histories: each customer buys at
// their own rate and may drop out after any purchase.
func shopHistory(t *testing.T, f *fixture, ws string, customers int, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 9))
	for i := range customers {
		c := fmt.Sprintf("c%03d", i)
		rate := 0.01 + r.Float64()*0.1 // purchases per day
		dropout := r.Float64() * r.Float64()
		day := float64(r.IntN(300))
		for j := 0; day < 365; j++ {
			at := t0.Add(-time.Duration((365-day)*24) * time.Hour)
			f.apply(t, orderEvent(ws, fmt.Sprintf("%s-%d", c, j), c, 1000+float64(r.IntN(9000)), at, nil))
			if r.Float64() < dropout {
				break // dropped out
			}
			day += r.ExpFloat64() / rate
		}
	}
}

func TestPredictedTraits(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) { testPredictedTraits(t, newFixtureOn(t, db)) })
}

func testPredictedTraits(t *testing.T, f *fixture) {
	ctx := context.Background()
	shopHistory(t, f, "thin", 5, 1)
	var thin *segment.NotEnoughDataError
	if _, err := f.engine.FitPredictions(ctx, "thin"); !errors.As(err, &thin) {
		t.Errorf("fit on 5 customers: %v, want NotEnoughDataError", err)
	}
	if feats, err := f.engine.Features(ctx, "thin", "c000"); err != nil || feats.Prediction != nil {
		t.Errorf("features without a fit: %+v, %v; want no prediction rather than zeros", feats.Prediction, err)
	}

	shopHistory(t, f, "w", 300, 2)
	slipping := f.create(t, "w", "slipping", segment.Rule{All: []segment.Rule{
		{Predicted: &segment.PredictedCondition{Trait: segment.PredProbabilityAlive, Comparison: segment.Comparison{Op: segment.OpLT, Value: "0.3"}}},
		{RFM: &segment.RFMCondition{Monetary: &segment.ScoreRange{Min: 4}}},
	}})
	if got := f.members(t, "w", slipping.ID); len(got) != 0 {
		t.Errorf("before any fit: %v, want nobody (no predictions, no zeros)", got)
	}
	fit, err := f.engine.FitPredictions(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	if fit.Customers != 300 || fit.RepeatCustomers < 50 {
		t.Errorf("fit = %+v", fit)
	}
	var want []string
	for i := range 300 {
		c := fmt.Sprintf("c%03d", i)
		feats, err := f.engine.Features(ctx, "w", c)
		if err != nil || feats.Prediction == nil {
			t.Fatalf("features of %s: %+v, %v", c, feats, err)
		}
		p := feats.Prediction
		if p.ProbabilityAlive < 0 || p.ProbabilityAlive > 1 || p.ExpectedPurchases < 0 || (p.CLV != nil && *p.CLV < 0) {
			t.Errorf("%s: implausible prediction %+v", c, p)
		}
		if p.ProbabilityAlive < 0.3 && feats.RFM.Monetary >= 4 {
			want = append(want, c)
		}
	}
	if len(want) == 0 {
		t.Fatal("no valuable customer slipping away in the generated shop: the test would prove nothing")
	}
	if got := f.members(t, "w", slipping.ID); !reflect.DeepEqual(got, want) {
		t.Errorf("slipping = %v, want %v", got, want)
	}
}

// ordersGate holds a prediction fit in the middle: Orders, which only a fit
// reads, says it was called and waits for release.
type ordersGate struct {
	segment.Store
	reading, release chan struct{}
}

func (g *ordersGate) Orders(ctx context.Context, workspaceID string) ([]segment.OrderRow, error) {
	g.reading <- struct{}{}
	<-g.release
	return g.Store.Orders(ctx, workspaceID)
}

// A fit takes seconds to minutes on a large workspace; events must not wait
// for it.
func TestFitDoesNotHoldEvents(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		f := newFixtureOn(t, db)
		shopHistory(t, f, "w", 30, 3)
		gate := &ordersGate{Store: f.store, reading: make(chan struct{}), release: make(chan struct{})}
		engine, err := segment.NewEngine(segment.Config{Store: gate, Now: f.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		fitted := make(chan error, 1)
		go func() {
			_, err := engine.FitPredictions(ctx, "w")
			fitted <- err
		}()
		<-gate.reading
		applied := make(chan error, 1)
		go func() { applied <- engine.ApplyEvent(ctx, orderEvent("w", "during-fit", "c000", 5000, t0, nil)) }()
		select {
		case err := <-applied:
			if err != nil {
				t.Errorf("event during the fit: %v", err)
			}
			close(gate.release)
		case <-time.After(10 * time.Second):
			t.Error("an event waited for the fit")
			close(gate.release)
			if err := <-applied; err != nil {
				t.Errorf("event after the fit: %v", err)
			}
		}
		if err := <-fitted; err != nil {
			t.Errorf("fit: %v", err)
		}
	})
}
