// Package api is the metrics service's gRPC layer: it turns MetricsService
// requests into kpi computations and their results and errors back into
// protobuf and gRPC status, and calls segmentation for segment scopes. It is
// the only package that knows about gRPC status codes.
package api

import (
	"context"
	"time"

	"google.golang.org/grpc"
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
	// dash is nil until EnableDashboards.
	dash *Dashboards
	// exp is nil until EnableResults.
	exp *Experiments
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
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	v := &validation.Error{}
	// Unset bounds are open (the zero time), so the zero time itself is
	// rejected rather than silently taken as unset.
	start := optionalTime(req.GetStartTime(), "start_time", time.Time{}, rejectZero, v)
	end := optionalTime(req.GetEndTime(), "end_time", time.Time{}, rejectZero, v)
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
	if _, err := auth.RequireWorkspace(ctx); err != nil {
		return nil, err
	}
	defs := kpi.Definitions()
	out := &metricsv1.ListKpisResponse{Kpis: make([]*metricsv1.Kpi, len(defs))}
	for i, d := range defs {
		out.Kpis[i] = &metricsv1.Kpi{Name: d.Name, Description: d.Description, Unit: d.Unit}
	}
	return out, nil
}

func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
