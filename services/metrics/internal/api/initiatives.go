package api

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	metricsv1 "github.com/kizuna/kizuna/gen/kizuna/metrics/v1"
	"github.com/kizuna/kizuna/services/metrics/internal/initiative"
	"github.com/kizuna/kizuna/services/metrics/internal/kpi"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpcstatus"
	"github.com/kizuna/kizuna/services/platform/validation"
)

// InitiativeStore keeps PDCA initiatives.
type InitiativeStore interface {
	CreatePdcaInitiative(ctx context.Context, ws string, in *metricsv1.PdcaInitiative) error
	GetPdcaInitiative(ctx context.Context, ws, id string) (*metricsv1.PdcaInitiative, error)
	UpdatePdcaInitiative(ctx context.Context, ws string, in *metricsv1.PdcaInitiative, from metricsv1.InitiativeState) error
	ListPdcaInitiatives(ctx context.Context, ws, state, kpi string, limit, offset int) ([]*metricsv1.PdcaInitiative, error)
}

// Initiatives implements metricsv1.InitiativeServiceServer: plans are
// sized from KPIs the Calculator measures, and checks read the results
// Server computes.
type Initiatives struct {
	metricsv1.UnimplementedInitiativeServiceServer
	store   InitiativeStore
	calc    *kpi.Calculator
	results *Server
	now     func() time.Time
}

var _ metricsv1.InitiativeServiceServer = (*Initiatives)(nil)

// NewInitiatives returns the initiative service.
func NewInitiatives(st InitiativeStore, calc *kpi.Calculator, results *Server, now func() time.Time) *Initiatives {
	return &Initiatives{store: st, calc: calc, results: results, now: now}
}

// Register adds the InitiativeService to srv.
func (s *Initiatives) Register(srv grpc.ServiceRegistrar) {
	metricsv1.RegisterInitiativeServiceServer(srv, s)
}

// CreateInitiative implements metricsv1.InitiativeServiceServer.
func (s *Initiatives) CreateInitiative(ctx context.Context, req *metricsv1.InitiativeServiceCreateInitiativeRequest) (*metricsv1.InitiativeServiceCreateInitiativeResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	in := req.GetInitiative()
	if in == nil {
		return nil, grpcstatus.Invalid("initiative", "required")
	}
	err = initiative.Validate(in, func(name string) (bool, bool) {
		d, ok := kpi.Lookup(name)
		return d.Unit == kpi.UnitRatio, ok
	})
	if err != nil {
		return nil, toStatus(err)
	}
	now := s.now().UTC()
	res, err := s.calc.Compute(ctx, kpi.Request{WorkspaceID: ws, KPI: in.GetKpi(), SegmentID: in.GetSegmentId(),
		Range: kpi.Range{Start: now.Add(-initiative.BaselineWindow), End: now}})
	if err != nil {
		return nil, toStatus(err)
	}
	plan, err := initiative.ComputePlan(initiative.Baseline{Rate: res.Value, Purchasers: res.Totals.PurchasingCustomers,
		Orders: res.Totals.Orders, Revenue: res.Totals.Revenue}, in.GetExpectedEffect())
	if err != nil {
		return nil, initiativeStatus(err)
	}
	out := &metricsv1.PdcaInitiative{
		Title: in.GetTitle(), Hypothesis: in.GetHypothesis(), Kpi: in.GetKpi(), SegmentId: in.GetSegmentId(),
		ExpectedEffect: in.GetExpectedEffect(), State: metricsv1.InitiativeState_PLAN, Baseline: res.Value, Plan: plan,
		CreateTime: timestamppb.New(now), UpdateTime: timestamppb.New(now),
	}
	if err := s.store.CreatePdcaInitiative(ctx, ws, out); err != nil {
		return nil, toStatus(err)
	}
	return &metricsv1.InitiativeServiceCreateInitiativeResponse{Initiative: out}, nil
}

// GetInitiative implements metricsv1.InitiativeServiceServer.
func (s *Initiatives) GetInitiative(ctx context.Context, req *metricsv1.GetInitiativeRequest) (*metricsv1.GetInitiativeResponse, error) {
	in, err := s.get(ctx, req.GetInitiativeId())
	if err != nil {
		return nil, err
	}
	return &metricsv1.GetInitiativeResponse{Initiative: in}, nil
}

func (s *Initiatives) get(ctx context.Context, id string) (*metricsv1.PdcaInitiative, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if id == "" || len(id) > 128 {
		return nil, grpcstatus.Invalid("initiative_id", "1 to 128 bytes")
	}
	in, err := s.store.GetPdcaInitiative(ctx, ws, id)
	if err != nil {
		return nil, initiativeStatus(err)
	}
	return in, nil
}

// maxInitiativePage bounds a page of ListInitiatives.
const maxInitiativePage = 100

// ListInitiatives implements metricsv1.InitiativeServiceServer.
func (s *Initiatives) ListInitiatives(ctx context.Context, req *metricsv1.InitiativeServiceListInitiativesRequest) (*metricsv1.InitiativeServiceListInitiativesResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	v := &validation.Error{}
	size := int(req.GetPageSize())
	switch {
	case size < 0 || size > maxInitiativePage:
		v.Addf("page_size", "0 to %d", maxInitiativePage)
	case size == 0:
		size = 50
	}
	offset := 0
	if t := req.GetPageToken(); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			v.Add("page_token", "not a token this API returned")
		}
		offset = n
	}
	if len(req.GetKpi()) > 64 {
		v.Add("kpi", "at most 64 bytes")
	}
	if _, ok := metricsv1.InitiativeState_name[int32(req.GetState())]; !ok {
		v.Add("state", "unknown state")
	}
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	state := ""
	if req.GetState() != metricsv1.InitiativeState_INITIATIVE_STATE_UNSPECIFIED {
		state = req.GetState().String()
	}
	got, err := s.store.ListPdcaInitiatives(ctx, ws, state, req.GetKpi(), size+1, offset)
	if err != nil {
		return nil, toStatus(err)
	}
	out := &metricsv1.InitiativeServiceListInitiativesResponse{Initiatives: got}
	if len(got) > size {
		out.Initiatives, out.NextPageToken = got[:size], strconv.Itoa(offset+size)
	}
	return out, nil
}

// AdvanceInitiative implements metricsv1.InitiativeServiceServer.
func (s *Initiatives) AdvanceInitiative(ctx context.Context, req *metricsv1.AdvanceInitiativeRequest) (*metricsv1.AdvanceInitiativeResponse, error) {
	in, err := s.get(ctx, req.GetInitiativeId())
	if err != nil {
		return nil, err
	}
	ws, _ := auth.WorkspaceID(ctx)
	from := in.GetState()
	if err := initiative.Advance(in, req, s.now().UTC(), func() *metricsv1.InitiativeCheck { return s.check(ctx, in) }); err != nil {
		return nil, initiativeStatus(err)
	}
	if err := s.store.UpdatePdcaInitiative(ctx, ws, in, from); err != nil {
		return nil, initiativeStatus(err)
	}
	return &metricsv1.AdvanceInitiativeResponse{Initiative: in}, nil
}

// GetInitiativeSummary implements metricsv1.InitiativeServiceServer.
func (s *Initiatives) GetInitiativeSummary(ctx context.Context, req *metricsv1.GetInitiativeSummaryRequest) (*metricsv1.GetInitiativeSummaryResponse, error) {
	switch req.GetFormat() {
	case "", "json", "markdown":
	default:
		return nil, grpcstatus.Invalid("format", `"json" or "markdown"`)
	}
	in, err := s.get(ctx, req.GetInitiativeId())
	if err != nil {
		return nil, err
	}
	out := &metricsv1.GetInitiativeSummaryResponse{Initiative: in, Chart: initiative.Chart(in)}
	if req.GetFormat() == "markdown" {
		out.Markdown = initiative.Markdown(in)
	}
	return out, nil
}

// check measures the initiative's first journey: its best arm against the
// control, and the RFM groups where that arm did best and worst. What
// cannot be measured is said in the note rather than failing the move.
func (s *Initiatives) check(ctx context.Context, in *metricsv1.PdcaInitiative) *metricsv1.InitiativeCheck {
	c := &metricsv1.InitiativeCheck{CheckTime: timestamppb.New(s.now().UTC())}
	if len(in.GetJourneyIds()) == 0 {
		c.Note = "no journey linked"
		return c
	}
	c.JourneyId = in.GetJourneyIds()[0]
	res, err := s.results.results(ctx, "journey_id", c.JourneyId, initiative.Alpha, &metricsv1.Breakdown{Rfm: true})
	if err != nil {
		// The breakdown needs segmentation; the headline does not.
		res, err = s.results.results(ctx, "journey_id", c.JourneyId, initiative.Alpha, nil)
	}
	if err != nil {
		c.Note = "results unavailable: " + grpcMessage(err)
		return c
	}
	var best *metricsv1.VariantResult
	for _, v := range res.GetVariants()[1:] {
		if v.GetLift() != nil && (best == nil || v.GetLift().GetAbsolute() > best.GetLift().GetAbsolute()) {
			best = v
		}
	}
	if best == nil {
		c.Note = "no arm could be compared with the control yet"
		return c
	}
	l := best.GetLift()
	c.Variant, c.Control = best.GetName(), res.GetControl()
	c.AbsoluteEffect, c.CiLow, c.CiHigh, c.PValue = l.GetAbsolute(), l.GetCiLow(), l.GetCiHigh(), l.GetPValue()
	c.ProbabilityToBeatControl = l.GetProbabilityToBeatControl()
	c.ExpectedReached = l.GetAbsolute() >= in.GetPlan().GetExpectedAbsoluteEffect()
	c.Exposed, c.VariantRate, c.ControlRate = best.GetExposed(), best.GetConversionRate(), res.GetVariants()[0].GetConversionRate()
	bestLift, worstLift := 0.0, 0.0
	for _, g := range res.GetGroups() {
		for _, v := range g.GetVariants() {
			if v.GetName() != c.Variant || v.GetLift() == nil {
				continue
			}
			a := v.GetLift().GetAbsolute()
			if c.BestGroup == "" || a > bestLift {
				c.BestGroup, bestLift = g.GetGroup(), a
			}
			if c.WorstGroup == "" || a < worstLift {
				c.WorstGroup, worstLift = g.GetGroup(), a
			}
		}
	}
	return c
}

func grpcMessage(err error) string {
	var v *validation.Error
	if errors.As(err, &v) {
		return v.Error()
	}
	return fmt.Sprint(err)
}

func initiativeStatus(err error) error {
	switch {
	case errors.Is(err, initiative.ErrNotFound):
		return grpcstatus.New(codes.NotFound, "initiative not found", err,
			validation.Violation{Field: "initiative_id", Description: "no such initiative in this workspace"})
	case errors.Is(err, initiative.ErrTransition):
		return grpcstatus.New(codes.FailedPrecondition, err.Error(), err)
	case errors.Is(err, initiative.ErrNoBaseline):
		return grpcstatus.New(codes.FailedPrecondition, err.Error(), err,
			validation.Violation{Field: "initiative.kpi", Description: err.Error()})
	default:
		return toStatus(err)
	}
}
