// Package api is the metrics service's gRPC layer: it turns MetricsService
// requests into kpi computations and their results and errors back into
// protobuf and gRPC status, and calls segmentation for segment scopes. It is
// the only package that knows about gRPC status codes.
package api

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	metricsv1 "github.com/kizuna/kizuna/gen/kizuna/metrics/v1"
	"github.com/kizuna/kizuna/services/metrics/internal/kpi"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/validation"
)

// Server implements metricsv1.MetricsServiceServer.
type Server struct {
	metricsv1.UnimplementedMetricsServiceServer
	calc   *kpi.Calculator
	orders OrderSource
	now    func() time.Time
}

var _ metricsv1.MetricsServiceServer = (*Server)(nil)

// NewServer returns a Server computing KPIs with calc and fitting models to
// the orders of orders.
func NewServer(calc *kpi.Calculator, orders OrderSource, now func() time.Time) *Server {
	return &Server{calc: calc, orders: orders, now: now}
}

// Register adds the MetricsService to srv.
func (s *Server) Register(srv grpc.ServiceRegistrar) {
	metricsv1.RegisterMetricsServiceServer(srv, s)
}

// ComputeMetric computes one KPI for the caller's workspace.
func (s *Server) ComputeMetric(ctx context.Context, req *metricsv1.ComputeMetricRequest) (*metricsv1.ComputeMetricResponse, error) {
	ws, ok := auth.WorkspaceID(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no authenticated workspace")
	}
	v := &validation.Error{}
	start := timeField(req.GetStartTime(), "start_time", v)
	end := timeField(req.GetEndTime(), "end_time", v)
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	res, err := s.calc.Compute(ctx, kpi.Request{
		WorkspaceID: ws,
		KPI:         req.GetKpi(),
		SegmentID:   req.GetSegmentId(),
		Range:       kpi.Range{Start: start, End: end},
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &metricsv1.ComputeMetricResponse{
		Kpi:                     res.KPI,
		Value:                   res.Value,
		CustomerCount:           res.Totals.Customers,
		PurchasingCustomerCount: res.Totals.PurchasingCustomers,
		OrderCount:              res.Totals.Orders,
		SegmentId:               res.SegmentID,
		StartTime:               timestamp(res.Range.Start),
		EndTime:                 timestamp(res.Range.End),
		ComputeTime:             timestamppb.New(res.ComputeTime),
	}, nil
}

// ListKpis lists the KPIs ComputeMetric accepts, from the same table that
// validates and computes them.
func (s *Server) ListKpis(ctx context.Context, _ *metricsv1.ListKpisRequest) (*metricsv1.ListKpisResponse, error) {
	if _, ok := auth.WorkspaceID(ctx); !ok {
		return nil, status.Error(codes.Unauthenticated, "no authenticated workspace")
	}
	defs := kpi.Definitions()
	out := &metricsv1.ListKpisResponse{Kpis: make([]*metricsv1.Kpi, len(defs))}
	for i, d := range defs {
		out.Kpis[i] = &metricsv1.Kpi{Name: d.Name, Description: d.Description}
	}
	return out, nil
}

// timeField converts an optional timestamp: unset is the zero time (an open
// bound). An out-of-range one is a violation on field, and so is the
// earliest valid Timestamp, 0001-01-01T00:00:00Z: it converts to the zero
// time and would silently turn into an open bound.
func timeField(ts *timestamppb.Timestamp, field string, v *validation.Error) time.Time {
	if ts == nil {
		return time.Time{}
	}
	if err := ts.CheckValid(); err != nil {
		v.Add(field, "not a valid timestamp")
		return time.Time{}
	}
	t := ts.AsTime()
	if t.IsZero() {
		v.Add(field, "must be after 0001-01-01T00:00:00Z")
	}
	return t
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
