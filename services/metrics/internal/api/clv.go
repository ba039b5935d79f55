package api

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	metricsv1 "github.com/kizuna/kizuna/gen/kizuna/metrics/v1"
	"github.com/kizuna/kizuna/services/analytics/clv"
	"github.com/kizuna/kizuna/services/metrics/internal/store"
	"github.com/kizuna/kizuna/services/platform/auth"
)

// OrderSource lists a workspace's orders for model fitting.
type OrderSource interface {
	Orders(ctx context.Context, ws string, end time.Time, fn func(customerID string, at time.Time, revenue float64)) error
}

// FitClv fits BG/NBD and Gamma-Gamma to the caller's orders.
func (s *Server) FitClv(ctx context.Context, req *metricsv1.FitClvRequest) (*metricsv1.FitClvResponse, error) {
	ws, ok := auth.WorkspaceID(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no authenticated workspace")
	}
	period := clv.Week
	switch req.GetPeriod() {
	case "", "week":
	case "day":
		period = clv.Day
	default:
		return nil, withDetails(codes.InvalidArgument, `period: must be "week" or "day"`, violation("period", `must be "week" or "day"`))
	}
	end := s.now()
	if req.GetCalibrationEndTime() != nil {
		if err := req.GetCalibrationEndTime().CheckValid(); err != nil {
			return nil, withDetails(codes.InvalidArgument, "calibration_end_time: "+err.Error(), violation("calibration_end_time", err.Error()))
		}
		end = req.GetCalibrationEndTime().AsTime()
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
	sums, err := clv.Summarize(txs, end.Add(-time.Nanosecond), period)
	if err != nil {
		return nil, clvStatus(err)
	}
	bg, err := clv.FitBGNBD(sums)
	if err != nil {
		return nil, clvStatus(err)
	}
	resp := &metricsv1.FitClvResponse{
		Customers: int64(len(sums)),
		Bgnbd:     &metricsv1.BgNbd{R: bg.R, Alpha: bg.Alpha, A: bg.A, B: bg.B, LogLikelihood: bg.LogLikelihood},
	}
	gg, err := clv.FitGammaGamma(sums)
	if err != nil {
		resp.GammaGammaError = err.Error()
	} else {
		resp.GammaGamma = &metricsv1.GammaGamma{P: gg.P, Q: gg.Q, V: gg.V, FrequencyMonetaryCorrelation: gg.Correlation}
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
