package kpi

import (
	"context"
	"errors"
	"fmt"
	"github.com/kizuna/kizuna/services/platform/validation"
	"time"
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

// Store reads the aggregates KPIs are computed from. Both methods count
// only the given workspace's data.
type Store interface {
	// WorkspaceTotals aggregates over every customer of the workspace.
	WorkspaceTotals(ctx context.Context, workspaceID string, r Range) (Totals, error)
	// MemberTotals aggregates over the given customers only; ids that were
	// merged into another customer count as that customer.
	MemberTotals(ctx context.Context, workspaceID string, customerIDs []string, r Range) (Totals, error)
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
	store    Store
	segments Segments
	now      func() time.Time
}

// NewCalculator returns a Calculator reading orders from store and segment
// members from segments; now stamps each result.
func NewCalculator(store Store, segments Segments, now func() time.Time) *Calculator {
	return &Calculator{store: store, segments: segments, now: now}
}

// Validate checks req without computing anything.
func Validate(req Request) error {
	v := &validation.Error{}
	if _, ok := Lookup(req.KPI); !ok {
		desc := fmt.Sprintf("unknown KPI %q; valid KPIs: %s", req.KPI, validNames())
		if req.KPI == "" {
			desc = "required; valid KPIs: " + validNames()
		}
		v.Add("kpi", desc)
	}
	if len(req.SegmentID) > MaxSegmentIDLen {
		v.Addf("segment_id", "longer than %d bytes", MaxSegmentIDLen)
	}
	if !req.Range.Start.IsZero() && !req.Range.End.IsZero() && req.Range.Start.After(req.Range.End) {
		v.Add("start_time", "must not be after end_time")
	}
	return v.Err()
}

// Compute validates req and computes its KPI.
func (c *Calculator) Compute(ctx context.Context, req Request) (Result, error) {
	if err := Validate(req); err != nil {
		return Result{}, err
	}
	if req.WorkspaceID == "" {
		// The API layer always sets it from the authenticated caller; an
		// empty one is a wiring bug, not bad input.
		return Result{}, errors.New("compute kpi: empty workspace id")
	}
	def, _ := Lookup(req.KPI)
	totals, err := c.totals(ctx, req)
	if err != nil {
		return Result{}, fmt.Errorf("compute %s: %w", req.KPI, err)
	}
	return Result{
		KPI:         def.Name,
		Value:       def.Value(totals),
		Totals:      totals,
		SegmentID:   req.SegmentID,
		Range:       req.Range,
		ComputeTime: c.now(),
	}, nil
}

func (c *Calculator) totals(ctx context.Context, req Request) (Totals, error) {
	if req.SegmentID == "" {
		return c.store.WorkspaceTotals(ctx, req.WorkspaceID, req.Range)
	}
	members, err := c.segments.Members(ctx, req.SegmentID, MaxSegmentMembers)
	if err != nil {
		return Totals{}, fmt.Errorf("list members of segment %q: %w", req.SegmentID, err)
	}
	return c.store.MemberTotals(ctx, req.WorkspaceID, members, req.Range)
}
