package api

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	metricsv1 "github.com/kizuna/kizuna/gen/kizuna/metrics/v1"
	"github.com/kizuna/kizuna/services/analytics/calendar"
	"github.com/kizuna/kizuna/services/metrics/internal/kpi"
	"github.com/kizuna/kizuna/services/metrics/internal/store"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpcstatus"
	"github.com/kizuna/kizuna/services/platform/validation"
)

// maxBuckets bounds the points of a series (about 2.7 years of days).
const maxBuckets = 1000

// Zones finds a workspace's time zone.
type Zones interface {
	Zone(ctx context.Context, workspaceID string) (*time.Location, error)
}

// WorkspaceZones reads the time zone from ingestion's workspace settings,
// with the caller's credentials (conn forwards them), so it answers for
// the caller's workspace only. A nil connection means UTC.
type WorkspaceZones struct {
	client ingestionv1.WorkspaceServiceClient
}

// NewWorkspaceZones returns Zones calling ingestion over conn, which may be
// nil.
func NewWorkspaceZones(conn grpc.ClientConnInterface) *WorkspaceZones {
	if conn == nil {
		return &WorkspaceZones{}
	}
	return &WorkspaceZones{client: ingestionv1.NewWorkspaceServiceClient(conn)}
}

// Zone returns the workspace's time zone, UTC when it has none.
func (z *WorkspaceZones) Zone(ctx context.Context, ws string) (*time.Location, error) {
	if z.client == nil {
		return time.UTC, nil
	}
	callCtx, cancel := context.WithTimeout(ctx, membersPageTimeout)
	defer cancel()
	resp, err := z.client.GetWorkspace(callCtx, &ingestionv1.GetWorkspaceRequest{WorkspaceId: ws})
	if err != nil {
		return nil, fmt.Errorf("read workspace time zone: %w", err)
	}
	name := resp.GetWorkspace().GetTimezone()
	if name == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC, nil //nolint:nilerr // an unknown zone stored upstream is not the caller's fault
	}
	return loc, nil
}

// Dashboards are the parts of the server beyond single-number KPIs: it
// needs the store and the time zones.
type Dashboards struct {
	Store    *store.Store
	Segments kpi.Segments
	Zones    Zones
}

// EnableDashboards wires time series, costs, surveys, funnels and KPI trees.
func (s *Server) EnableDashboards(d Dashboards) { s.dash = &d }

// location resolves the request's time zone, else the workspace's.
func (s *Server) location(ctx context.Context, ws, name, field string) (*time.Location, error) {
	if name != "" {
		loc, err := time.LoadLocation(name)
		if err != nil {
			return nil, grpcstatus.Invalid(field, fmt.Sprintf("unknown IANA time zone %q", name))
		}
		return loc, nil
	}
	if s.dash == nil || s.dash.Zones == nil {
		return time.UTC, nil
	}
	loc, err := s.dash.Zones.Zone(ctx, ws)
	if err != nil {
		return nil, grpcstatus.New(codes.Unavailable, "cannot read the workspace time zone from ingestion; retry, or name time_zone", err)
	}
	return loc, nil
}

// granularity reads an optional DAY / WEEK / MONTH (MONTH when unset).
func granularity(s string, v *validation.Error) calendar.Granularity {
	if s == "" {
		return calendar.Month
	}
	g, err := calendar.Parse(s)
	if err != nil {
		v.Add("granularity", `must be "DAY", "WEEK" or "MONTH"`)
	}
	return g
}

// QueryMetrics computes KPI time series.
func (s *Server) QueryMetrics(ctx context.Context, req *metricsv1.QueryMetricsRequest) (*metricsv1.QueryMetricsResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	v := &validation.Error{}
	start := optionalTime(req.GetStartTime(), "start_time", time.Time{}, rejectZero, v)
	end := optionalTime(req.GetEndTime(), "end_time", time.Time{}, rejectZero, v)
	if req.GetStartTime() == nil {
		v.Add("start_time", "required")
	}
	if req.GetEndTime() == nil {
		v.Add("end_time", "required")
	}
	gran := granularity(req.GetGranularity(), v)
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	loc, err := s.location(ctx, ws, req.GetTimeZone(), "time_zone")
	if err != nil {
		return nil, err
	}
	buckets, err := calendar.Buckets(start, end, gran, loc, maxBuckets)
	if err != nil {
		return nil, grpcstatus.Invalid("end_time", err.Error())
	}
	// One computation covers the previous period too: it is the run of as
	// many buckets just before the series.
	n := len(buckets)
	first := 0
	if req.GetComparePrevious() {
		first = n
		prev := make([]calendar.Bucket, 0, 2*n)
		for i := n; i > 0; i-- {
			b := calendar.Add(buckets[0].Start, gran, -i)
			prev = append(prev, calendar.Bucket{Start: b, End: calendar.Add(b, gran, 1)})
		}
		buckets = append(prev, buckets...)
	}
	periods := make([]kpi.Period, len(buckets))
	for i, b := range buckets {
		periods[i] = kpi.Period{Start: b.Start, End: b.End, PrevStart: calendar.Add(b.Start, gran, -1)}
	}
	res, err := s.calc.Series(ctx, kpi.SeriesRequest{WorkspaceID: ws, KPIs: req.GetKpis(), SegmentID: req.GetSegmentId(), Periods: periods,
		Channel: req.GetChannel()})
	if err != nil {
		return nil, seriesStatus(err)
	}
	resp := &metricsv1.QueryMetricsResponse{
		Granularity: gran.String(), TimeZone: loc.String(), Currency: res.Currency, SegmentId: req.GetSegmentId(),
		Unconverted: unconvertedProto(res.Unconverted),
	}
	for k, name := range req.GetKpis() {
		series := &metricsv1.MetricSeries{Kpi: name}
		for i := first; i < len(buckets); i++ {
			p := &metricsv1.MetricPoint{StartTime: timestamp(buckets[i].Start), EndTime: timestamp(buckets[i].End), Value: res.Values[k][i]}
			if req.GetComparePrevious() {
				p.PreviousValue = proto.Float64(res.Values[k][i-n])
				p.PreviousStartTime = timestamp(buckets[i-n].Start)
			}
			series.Points = append(series.Points, p)
		}
		resp.Series = append(resp.Series, series)
	}
	return resp, nil
}

func unconvertedProto(us []kpi.Unconverted) []*metricsv1.UnconvertedRevenue {
	var out []*metricsv1.UnconvertedRevenue
	for _, u := range us {
		out = append(out, &metricsv1.UnconvertedRevenue{Currency: u.Currency, Revenue: u.Revenue, OrderCount: u.Orders})
	}
	return out
}

// seriesStatus adds the whole-workspace limits to toStatus.
func seriesStatus(err error) error {
	switch {
	case errors.Is(err, kpi.ErrTooManyOrders):
		return grpcstatus.New(codes.FailedPrecondition, "the workspace has too many orders for an online computation", err)
	case errors.Is(err, kpi.ErrLimit):
		return grpcstatus.New(codes.FailedPrecondition, err.Error(), err)
	case errors.Is(err, store.ErrNotFound):
		return grpcstatus.New(codes.NotFound, "not found", err)
	}
	return toStatus(err)
}
