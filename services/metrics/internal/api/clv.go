package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"google.golang.org/protobuf/types/known/timestamppb"

	metricsv1 "github.com/kizuna/kizuna/gen/kizuna/metrics/v1"
	"github.com/kizuna/kizuna/services/analytics/clv"
	"github.com/kizuna/kizuna/services/metrics/internal/store"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpcstatus"
	"github.com/kizuna/kizuna/services/platform/validation"
)

// OrderSource lists a workspace's orders for model fitting.
type OrderSource interface {
	Orders(ctx context.Context, ws string, end time.Time, fn func(customerID string, at time.Time, revenue float64)) error
}

// fitted holds the models fitted to a workspace's orders.
type fitted struct {
	summaries []clv.Summary
	bg        clv.BGNBD
	gg        *clv.GammaGamma
	ggErr     error
	period    clv.Period
}

// fit loads the workspace's orders before the calibration end and fits
// BG/NBD, then Gamma-Gamma where it applies.
func (s *Server) fit(ctx context.Context, periodName string, calibrationEnd *timestamppb.Timestamp) (*fitted, error) {
	ws, ok := auth.WorkspaceID(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no authenticated workspace")
	}
	f := &fitted{period: clv.Week}
	switch periodName {
	case "", "week":
	case "day":
		f.period = clv.Day
	default:
		return nil, grpcstatus.Invalid("period", `must be "week" or "day"`)
	}
	end := s.now()
	if calibrationEnd != nil {
		if err := calibrationEnd.CheckValid(); err != nil {
			return nil, grpcstatus.Invalid("calibration_end_time", err.Error())
		}
		end = calibrationEnd.AsTime()
	}
	var txs []clv.Transaction
	err := s.orders.Orders(ctx, ws, end, func(id string, at time.Time, revenue float64) {
		txs = append(txs, clv.Transaction{CustomerID: id, Time: at, Amount: revenue})
	})
	if errors.Is(err, store.ErrTooManyOrders) {
		return nil, status.Error(codes.FailedPrecondition, "the workspace has too many orders for an online fit; use `kizuna clv fit` on an export")
	}
	if err != nil {
		return nil, toStatus(err)
	}
	// Orders before end count; Summarize takes the last calibration day,
	// inclusive, which is the day holding the instant just before end.
	if f.summaries, err = clv.Summarize(txs, end.Add(-time.Nanosecond), f.period); err != nil {
		return nil, clvStatus(err)
	}
	if f.bg, err = clv.FitBGNBD(f.summaries); err != nil {
		return nil, clvStatus(err)
	}
	if gg, err := clv.FitGammaGamma(f.summaries); err != nil {
		f.ggErr = err
	} else {
		f.gg = &gg
	}
	return f, nil
}

func (f *fitted) proto() (*metricsv1.BgNbd, *metricsv1.GammaGamma, string) {
	bg := &metricsv1.BgNbd{R: f.bg.R, Alpha: f.bg.Alpha, A: f.bg.A, B: f.bg.B, LogLikelihood: f.bg.LogLikelihood}
	if f.gg == nil {
		return bg, nil, f.ggErr.Error()
	}
	return bg, &metricsv1.GammaGamma{P: f.gg.P, Q: f.gg.Q, V: f.gg.V, FrequencyMonetaryCorrelation: f.gg.Correlation}, ""
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
		discount = 0.01
	}
	preds, err := clv.Predict(f.bg, f.gg, picked, clv.PredictOptions{Horizon: horizon, Period: f.period, MonthlyDiscount: discount})
	if err != nil {
		return nil, grpcstatus.New(codes.InvalidArgument, err.Error(), nil, validation.Violation{Field: "horizon", Description: err.Error()})
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
	case errors.Is(err, clv.ErrNotEnoughData), errors.Is(err, clv.ErrNotConverged), errors.Is(err, clv.ErrInvalidInput):
		return status.Error(codes.FailedPrecondition, err.Error())
	default:
		return toStatus(err)
	}
}
