package kpi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kizuna/kizuna/services/platform/validation"
)

// Limits on the inputs of a computation.
const (
	// MaxSegmentMembers bounds the member ids held in memory for a segment
	// scope (about 100 bytes each, so ~50 MB at the limit).
	MaxSegmentMembers = 500_000
	// MaxSegmentIDLen bounds segment_id before it is sent anywhere.
	MaxSegmentIDLen = 256
)

// Range is a half-open time range [Start, End); a zero bound is open.
type Range struct {
	Start, End time.Time
}

// Segments lists segment members; the caller's workspace travels in ctx.
type Segments interface {
	// Members returns the customer ids of segmentID's current members. It
	// fails with ErrSegmentNotFound, ErrSegmentsUnavailable, or
	// ErrScopeTooLarge once more than limit members are seen.
	Members(ctx context.Context, segmentID string, limit int) ([]string, error)
}

// Request asks for one KPI.
type Request struct {
	WorkspaceID string
	KPI         string
	// SegmentID, when set, restricts the scope to the segment's members.
	SegmentID string
	Range     Range
}

// Result is a computed KPI and the totals it came from.
type Result struct {
	KPI         string
	Value       float64
	Totals      Totals
	SegmentID   string
	Range       Range
	ComputeTime time.Time
}

// Calculator computes KPIs.
type Calculator struct {
	src      Source
	cache    *orderCache
	segments Segments
	now      func() time.Time
}

// NewCalculator returns a Calculator reading data from src and segment
// members from segments; now stamps each result.
func NewCalculator(src Source, segments Segments, now func() time.Time) *Calculator {
	return &Calculator{src: src, cache: newOrderCache(), segments: segments, now: now}
}

// Validate checks req without computing anything.
func Validate(req Request) error {
	v := &validation.Error{}
	checkKPI(v, "kpi", req.KPI)
	if len(req.SegmentID) > MaxSegmentIDLen {
		v.Addf("segment_id", "longer than %d bytes", MaxSegmentIDLen)
	}
	if !req.Range.Start.IsZero() && !req.Range.End.IsZero() && req.Range.Start.After(req.Range.End) {
		v.Add("start_time", "must not be after end_time")
	}
	return v.Err()
}

func checkKPI(v *validation.Error, field, name string) {
	if _, ok := Lookup(name); ok {
		return
	}
	if name == "" {
		v.Add(field, "required; valid KPIs: "+validNames())
		return
	}
	v.Add(field, fmt.Sprintf("unknown KPI %q; valid KPIs: %s", name, validNames()))
}

// Compute validates req and computes its KPI over req.Range, whose
// previous period is the one of the same length just before it.
func (c *Calculator) Compute(ctx context.Context, req Request) (Result, error) {
	if err := Validate(req); err != nil {
		return Result{}, err
	}
	p := Period{Start: req.Range.Start, End: req.Range.End}
	if !p.Start.IsZero() && !p.End.IsZero() {
		p.PrevStart = p.Start.Add(-p.End.Sub(p.Start))
	}
	// The result reports the customer and order totals whatever the KPI.
	s, err := c.Series(ctx, SeriesRequest{WorkspaceID: req.WorkspaceID, KPIs: []string{req.KPI}, SegmentID: req.SegmentID, Periods: []Period{p},
		also: needOrders | needCustomers})
	if err != nil {
		return Result{}, fmt.Errorf("compute %s: %w", req.KPI, err)
	}
	return Result{
		KPI:         req.KPI,
		Value:       s.Values[0][0],
		Totals:      s.Totals[0],
		SegmentID:   req.SegmentID,
		Range:       req.Range,
		ComputeTime: c.now(),
	}, nil
}

// MaxSeriesKPIs bounds the KPIs of one Series call.
const MaxSeriesKPIs = 20

// SeriesRequest asks for several KPIs over several periods.
type SeriesRequest struct {
	WorkspaceID string
	KPIs        []string
	SegmentID   string
	Periods     []Period
	// Channel, when set, restricts costs, sends and unsubscribes to one
	// channel ("LINE", "EMAIL", …; any case).
	Channel string
	// also reads data beyond what the KPIs need.
	also needs
}

// SeriesResult holds Values[k][p], KPI k over period p, and the totals of
// each period.
type SeriesResult struct {
	Values      [][]float64
	Totals      []Totals
	Currency    string
	Unconverted []Unconverted
}

// Series computes every KPI of req over every period from one read of the
// workspace's data.
func (c *Calculator) Series(ctx context.Context, req SeriesRequest) (SeriesResult, error) {
	v := &validation.Error{}
	if len(req.KPIs) == 0 || len(req.KPIs) > MaxSeriesKPIs {
		v.Addf("kpis", "between 1 and %d KPIs are required; valid KPIs: %s", MaxSeriesKPIs, validNames())
	}
	n := req.also
	defs := make([]Definition, len(req.KPIs))
	for i, name := range req.KPIs {
		checkKPI(v, "kpis", name)
		defs[i], _ = Lookup(name)
		n |= defs[i].needs
	}
	if len(req.SegmentID) > MaxSegmentIDLen {
		v.Addf("segment_id", "longer than %d bytes", MaxSegmentIDLen)
	}
	if err := v.Err(); err != nil {
		return SeriesResult{}, err
	}
	if req.WorkspaceID == "" {
		// The API layer always sets it from the authenticated caller; an
		// empty one is a wiring bug, not bad input.
		return SeriesResult{}, errors.New("compute kpis: empty workspace id")
	}
	var members map[string]struct{}
	if req.SegmentID != "" {
		ids, err := c.segments.Members(ctx, req.SegmentID, MaxSegmentMembers)
		if err != nil {
			return SeriesResult{}, fmt.Errorf("list members of segment %q: %w", req.SegmentID, err)
		}
		if members, err = c.src.ResolveMembers(ctx, req.WorkspaceID, ids); err != nil {
			return SeriesResult{}, err
		}
	}
	var from, to time.Time
	for i, p := range req.Periods {
		if i == 0 || p.Start.Before(from) {
			from = p.Start
		}
		if i == 0 || p.End.IsZero() || (!to.IsZero() && p.End.After(to)) {
			to = p.End
		}
	}
	d, err := c.load(ctx, req.WorkspaceID, members, req.Channel, n, from, to)
	if err != nil {
		return SeriesResult{}, err
	}
	defer d.release()
	res := SeriesResult{Values: make([][]float64, len(defs)), Totals: make([]Totals, len(req.Periods)), Currency: d.settings.Currency}
	for i := range defs {
		res.Values[i] = make([]float64, len(req.Periods))
	}
	for j, p := range req.Periods {
		t, err := d.totals(p, n)
		if err != nil {
			return SeriesResult{}, err
		}
		res.Totals[j] = t
		for i, def := range defs {
			res.Values[i][j] = def.Value(t)
		}
	}
	for _, u := range d.unconverted {
		res.Unconverted = append(res.Unconverted, *u)
	}
	slices.SortFunc(res.Unconverted, func(a, b Unconverted) int { return strings.Compare(a.Currency, b.Currency) })
	return res, nil
}
