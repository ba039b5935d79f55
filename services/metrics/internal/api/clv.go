package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"google.golang.org/grpc/codes"

	"google.golang.org/protobuf/types/known/timestamppb"

	metricsv1 "github.com/kizuna/kizuna/gen/kizuna/metrics/v1"
	"github.com/kizuna/kizuna/services/analytics/clv"
	"github.com/kizuna/kizuna/services/metrics/internal/kpi"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpcstatus"
	"github.com/kizuna/kizuna/services/platform/validation"
)

// OrderSource lists a workspace's orders for model fitting. Orders fails
// with kpi.ErrTooManyOrders when the workspace has more than it will load.
type OrderSource interface {
	Orders(ctx context.Context, ws string, end time.Time, fn func(customerID string, at time.Time, revenue float64)) error
}

// fitted holds the models fitted to a workspace's orders.
type fitted struct {
	summaries []clv.Summary
	models    clv.Models
	period    clv.Period
}

// fit loads the workspace's orders before the calibration end and fits
// BG/NBD, then Gamma-Gamma where it applies.
func (s *Server) fit(ctx context.Context, periodName string, calibrationEnd *timestamppb.Timestamp) (*fitted, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	v := &validation.Error{}
	f := &fitted{period: clv.Week}
	if periodName != "" {
		p, err := clv.ParsePeriod(periodName)
		if err != nil {
			v.Add("period", `must be "week" or "day"`)
		}
		f.period = p
	}
	end := optionalTime(calibrationEnd, "calibration_end_time", s.now(), acceptZero, v)
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	var txs []clv.Transaction
	err = s.orders.Orders(ctx, ws, end, func(id string, at time.Time, revenue float64) {
		txs = append(txs, clv.Transaction{CustomerID: id, Time: at, Amount: revenue})
	})
	if errors.Is(err, kpi.ErrTooManyOrders) {
		return nil, grpcstatus.New(codes.FailedPrecondition, "the workspace has too many orders for an online fit; use `kizuna clv fit` on an export", err)
	}
	if err != nil {
		return nil, toStatus(err)
	}
	// Orders before end count; Summarize takes the last calibration day,
	// inclusive, which is the day holding the instant just before end.
	if f.summaries, err = clv.Summarize(txs, end.Add(-time.Nanosecond), f.period); err != nil {
		return nil, clvStatus(err)
	}
	if f.models, err = clv.FitModels(f.summaries); err != nil {
		return nil, clvStatus(err)
	}
	return f, nil
}

func (f *fitted) proto() (*metricsv1.BgNbd, *metricsv1.GammaGamma, string) {
	m := f.models
	bg := &metricsv1.BgNbd{R: m.BGNBD.R, Alpha: m.BGNBD.Alpha, A: m.BGNBD.A, B: m.BGNBD.B, LogLikelihood: m.BGNBD.LogLikelihood}
	if m.GammaGamma == nil {
		return bg, nil, m.GammaGammaErr.Error()
	}
	gg := m.GammaGamma
	return bg, &metricsv1.GammaGamma{P: gg.P, Q: gg.Q, V: gg.V, FrequencyMonetaryCorrelation: gg.Correlation}, ""
}

// FitClv fits BG/NBD and Gamma-Gamma to the caller's orders.
func (s *Server) FitClv(ctx context.Context, req *metricsv1.FitClvRequest) (*metricsv1.FitClvResponse, error) {
	f, err := s.fit(ctx, req.GetPeriod(), req.GetCalibrationEndTime())
	if err != nil {
		return nil, err
	}
	resp := &metricsv1.FitClvResponse{Customers: int64(len(f.summaries))}
	resp.Bgnbd, resp.GammaGamma, resp.GammaGammaError = f.proto()
	return resp, nil
}

// maxPredictCustomers bounds one PredictClv request.
const maxPredictCustomers = 1000

// PredictClv forecasts named customers.
func (s *Server) PredictClv(ctx context.Context, req *metricsv1.PredictClvRequest) (*metricsv1.PredictClvResponse, error) {
	if n := len(req.GetCustomerIds()); n == 0 || n > maxPredictCustomers {
		return nil, grpcstatus.Invalid("customer_ids", fmt.Sprintf("between 1 and %d ids are required", maxPredictCustomers))
	}
	f, err := s.fit(ctx, req.GetPeriod(), req.GetCalibrationEndTime())
	if err != nil {
		return nil, err
	}
	wanted := make(map[string]bool, len(req.GetCustomerIds()))
	for _, id := range req.GetCustomerIds() {
		wanted[id] = true
	}
	var picked []clv.Summary
	for _, sm := range f.summaries {
		if wanted[sm.CustomerID] {
			picked = append(picked, sm)
		}
	}
	horizon := req.GetHorizon()
	if horizon == 0 {
		horizon = 365 / f.period.Days()
	}
	discount := req.GetMonthlyDiscountRate()
	if discount == 0 {
		discount = clv.DefaultMonthlyDiscount
	}
	if !(discount > -1) || math.IsInf(discount, 0) {
		return nil, grpcstatus.Invalid("monthly_discount_rate", "must be a finite rate above -1")
	}
	preds, err := f.models.Predict(picked, clv.PredictOptions{Horizon: horizon, Period: f.period, MonthlyDiscount: discount})
	switch {
	case errors.Is(err, clv.ErrInvalidInput):
		// The summaries and fitted models are valid and the discount rate
		// was checked above, so the horizon is what Predict rejected.
		return nil, grpcstatus.Invalid("horizon", err.Error())
	case err != nil:
		return nil, clvStatus(err)
	}
	resp := &metricsv1.PredictClvResponse{}
	resp.Bgnbd, resp.GammaGamma, resp.GammaGammaError = f.proto()
	for _, p := range preds {
		resp.Predictions = append(resp.Predictions, &metricsv1.ClvPrediction{
			CustomerId: p.CustomerID, ExpectedPurchases: p.ExpectedPurchases, ProbabilityAlive: p.ProbabilityAlive,
			ExpectedSpend: p.ExpectedSpend, Clv: p.CLV,
		})
	}
	return resp, nil
}

// clvStatus maps model-fitting errors: too little or degenerate data is the
// caller's precondition, not a server fault.
func clvStatus(err error) error {
	switch {
	case errors.Is(err, clv.ErrNotEnoughData), errors.Is(err, clv.ErrNotConverged), errors.Is(err, clv.ErrInvalidInput),
		errors.Is(err, clv.ErrInvalidModel):
		// All come from the workspace's data, not from the request.
		return grpcstatus.New(codes.FailedPrecondition, err.Error(), err)
	default:
		return toStatus(err)
	}
}
