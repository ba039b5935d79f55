package segment

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/kizuna/kizuna/services/analytics/clv"
)

// The predicted traits rules and features name.
const (
	PredProbabilityAlive  = "probability_alive"
	PredExpectedPurchases = "expected_purchases_90d"
	PredCLV               = "predicted_clv_12m"
)

// PredictedTraits lists the predicted trait names.
var PredictedTraits = []string{PredProbabilityAlive, PredExpectedPurchases, PredCLV}

// PredictedCondition compares a predicted trait.
type PredictedCondition struct {
	Trait string `json:"trait"`
	Comparison
}

// Prediction is one customer's predicted traits.
type Prediction struct {
	CustomerID        string
	ProbabilityAlive  float64
	ExpectedPurchases float64
	// CLV is nil when the spend model did not apply.
	CLV *float64
}

// values returns the prediction as rule values by trait name.
func (p Prediction) values() map[string]float64 {
	out := map[string]float64{PredProbabilityAlive: p.ProbabilityAlive, PredExpectedPurchases: p.ExpectedPurchases}
	if p.CLV != nil {
		out[PredCLV] = *p.CLV
	}
	return out
}

// PredictionFit records the last fit of a workspace.
type PredictionFit struct {
	Time                 time.Time
	Customers            int64
	RepeatCustomers      int64
	CLVUnavailableReason string
}

// Order row for fitting.
type OrderRow struct {
	CustomerID string
	Time       time.Time
	Revenue    float64
}

// Minimum data for a fit: below these the models' estimates are noise.
const (
	MinPredictionCustomers = 20
	MinRepeatCustomers     = 5
	// PredictionMaxAge is how old a workspace's fit may grow before the
	// sweep refits it.
	PredictionMaxAge = 24 * time.Hour
)

// NotEnoughDataError reports a workspace whose orders cannot support the
// models.
type NotEnoughDataError struct{ Reason string }

func (e *NotEnoughDataError) Error() string { return "not enough data to predict: " + e.Reason }

// FitPredictions fits BG/NBD and Gamma-Gamma (services/analytics/clv, by
// day) to the workspace's orders, stores every purchasing customer's
// predicted traits and re-evaluates the segments that read them.
//
// The fit runs without the workspace lock, which every event evaluation
// takes: on a large workspace it is seconds to minutes of CPU (at 30,000
// orders, 20 s during which segmentation applied no event), and it reads
// only orders. Fits of a workspace are serialised by their own lock, so
// one computed from older orders cannot store over a newer one; the
// workspace lock is taken to store the predictions and re-evaluate.
func (e *Engine) FitPredictions(ctx context.Context, workspaceID string) (PredictionFit, error) {
	unlock := e.fits.lock(workspaceID)
	defer unlock()
	fit, preds, err := e.fitModels(ctx, workspaceID)
	if err != nil {
		return PredictionFit{}, err
	}
	if err := e.storePredictions(ctx, workspaceID, fit, preds); err != nil {
		return PredictionFit{}, err
	}
	return fit, nil
}

// fitModels fits the models to the workspace's orders and predicts every
// purchasing customer's traits.
func (e *Engine) fitModels(ctx context.Context, workspaceID string) (PredictionFit, []Prediction, error) {
	now := e.now()
	rows, err := e.store.Orders(ctx, workspaceID)
	if err != nil {
		return PredictionFit{}, nil, fmt.Errorf("fit predictions: %w", err)
	}
	txs := make([]clv.Transaction, len(rows))
	for i, r := range rows {
		txs[i] = clv.Transaction{CustomerID: r.CustomerID, Time: r.Time, Amount: r.Revenue}
	}
	summaries, err := clv.Summarize(txs, now, clv.Day)
	if errors.Is(err, clv.ErrNotEnoughData) {
		return PredictionFit{}, nil, &NotEnoughDataError{Reason: err.Error()}
	}
	if err != nil {
		return PredictionFit{}, nil, fmt.Errorf("fit predictions: %w", err)
	}
	fit := PredictionFit{Time: now.UTC().Truncate(time.Microsecond), Customers: int64(len(summaries))}
	for _, s := range summaries {
		if s.Frequency > 0 {
			fit.RepeatCustomers++
		}
	}
	if fit.Customers < MinPredictionCustomers || fit.RepeatCustomers < MinRepeatCustomers {
		return PredictionFit{}, nil, &NotEnoughDataError{Reason: fmt.Sprintf(
			"%d purchasing customers, %d of them with repeat purchases; the models need at least %d and %d",
			fit.Customers, fit.RepeatCustomers, MinPredictionCustomers, MinRepeatCustomers)}
	}
	models, err := clv.FitModels(summaries)
	if errors.Is(err, clv.ErrNotEnoughData) || errors.Is(err, clv.ErrNotConverged) {
		return PredictionFit{}, nil, &NotEnoughDataError{Reason: err.Error()}
	}
	if err != nil {
		return PredictionFit{}, nil, fmt.Errorf("fit predictions: %w", err)
	}
	if models.GammaGammaErr != nil {
		fit.CLVUnavailableReason = models.GammaGammaErr.Error()
	}
	near, err := models.Predict(summaries, clv.PredictOptions{Horizon: 90, Period: clv.Day, MonthlyDiscount: clv.DefaultMonthlyDiscount})
	if err != nil {
		return PredictionFit{}, nil, fmt.Errorf("fit predictions: %w", err)
	}
	year, err := models.Predict(summaries, clv.PredictOptions{Horizon: 365, Period: clv.Day, MonthlyDiscount: clv.DefaultMonthlyDiscount})
	if err != nil {
		return PredictionFit{}, nil, fmt.Errorf("fit predictions: %w", err)
	}
	preds := make([]Prediction, len(near))
	for i, p := range near {
		preds[i] = Prediction{CustomerID: p.CustomerID, ProbabilityAlive: p.ProbabilityAlive, ExpectedPurchases: p.ExpectedPurchases}
		if models.GammaGamma != nil {
			v := year[i].CLV
			preds[i].CLV = &v
		}
	}
	return fit, preds, nil
}

// storePredictions stores a fit's predictions and re-evaluates the
// segments that read them, under the workspace lock.
func (e *Engine) storePredictions(ctx context.Context, workspaceID string, fit PredictionFit, preds []Prediction) error {
	unlock := e.locks.lock(workspaceID)
	defer unlock()
	if err := e.store.SavePredictions(ctx, workspaceID, fit, preds); err != nil {
		return fmt.Errorf("fit predictions: %w", err)
	}
	list, err := e.segments(ctx, workspaceID)
	if err != nil {
		return fmt.Errorf("fit predictions: %w", err)
	}
	var reading []string
	for _, c := range list {
		if c.seg.Rule.some(func(n *Rule) bool { return n.Predicted != nil }) {
			reading = append(reading, c.seg.ID)
		}
	}
	if err := e.evaluateSegments(ctx, workspaceID, dependents(list, reading...), false); err != nil {
		return fmt.Errorf("fit predictions: re-evaluate: %w", err)
	}
	return nil
}

// refitIfDue refits a workspace whose last fit (or attempt) is older than
// PredictionMaxAge. Too little data is recorded as the attempt, not
// reported: the sweep would otherwise retry every minute.
func (e *Engine) refitIfDue(ctx context.Context, workspaceID string) error {
	last, err := e.store.PredictionAttempt(ctx, workspaceID)
	if err != nil {
		return err
	}
	now := e.now()
	if !last.IsZero() && now.Sub(last) < PredictionMaxAge {
		return nil
	}
	if err := e.store.SetPredictionAttempt(ctx, workspaceID, now); err != nil {
		return err
	}
	_, err = e.FitPredictions(ctx, workspaceID)
	var thin *NotEnoughDataError
	if errors.As(err, &thin) {
		return nil
	}
	return err
}

// CustomerPrediction returns a customer's predicted traits and the fit they
// come from; ok is false when there are none.
func (e *Engine) CustomerPrediction(ctx context.Context, workspaceID, customerID string) (Prediction, PredictionFit, bool, error) {
	p, ok, err := e.store.CustomerPrediction(ctx, workspaceID, customerID)
	if err != nil || !ok {
		return Prediction{}, PredictionFit{}, false, err
	}
	fit, err := e.store.LastPredictionFit(ctx, workspaceID)
	if err != nil {
		return Prediction{}, PredictionFit{}, false, err
	}
	return p, fit, true, nil
}

func validPredictedTrait(name string) bool { return slices.Contains(PredictedTraits, name) }
