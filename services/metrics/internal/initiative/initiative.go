// Package initiative is the PDCA record of a marketing initiative: the
// plan whose expected effect is computed before the campaign runs (sample
// size, duration, incremental revenue), the journeys that carry it, the
// measured result, and the KPT review that closes it. States move one way,
// PLAN → DO → CHECK → ACT → CLOSED, each move recorded with who and when.
//
// The record is the contract's PdcaInitiative message: it is stored as its
// JSON, so this package works on it directly rather than on a copy.
package initiative

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	metricsv1 "github.com/kizuna/kizuna/gen/kizuna/metrics/v1"
	"github.com/kizuna/kizuna/services/analytics/experiment"
	"github.com/kizuna/kizuna/services/platform/validation"
)

// Plans test at α = 0.05 with power 0.8, as the issue of record asks.
const (
	Alpha = 0.05
	Power = 0.8
)

// BaselineWindow is how far back the baseline and entry rate are measured.
const BaselineWindow = 90 * 24 * time.Hour

// Limits on what a card holds.
const (
	MaxTitle      = 200
	MaxHypothesis = 4000
	MaxJourneys   = 20
	MaxItems      = 50
	MaxItemLen    = 500
)

// ErrNotFound is returned for an initiative the workspace does not have.
var ErrNotFound = errors.New("initiative not found")

// ErrTransition is wrapped by every refused state change.
var ErrTransition = errors.New("invalid initiative transition")

// ErrNoBaseline is returned when the KPI cannot be measured to plan with
// (no data, or a rate of 0 or 1 that no effect can be sized from).
var ErrNoBaseline = errors.New("no baseline to plan from")

// Validate checks a new plan's fields.
func Validate(in *metricsv1.PdcaInitiative, rateKPI func(string) (ok, known bool)) error {
	v := &validation.Error{}
	switch t := strings.TrimSpace(in.GetTitle()); {
	case t == "":
		v.Add("initiative.title", "required")
	case len([]rune(t)) > MaxTitle:
		v.Addf("initiative.title", "at most %d characters", MaxTitle)
	}
	if len([]rune(in.GetHypothesis())) > MaxHypothesis {
		v.Addf("initiative.hypothesis", "at most %d characters", MaxHypothesis)
	}
	switch ok, known := rateKPI(in.GetKpi()); {
	case !known:
		v.Addf("initiative.kpi", "unknown KPI %q (see GET /v1/kpis)", in.GetKpi())
	case !ok:
		v.Addf("initiative.kpi", "%q is not a rate; a plan sizes a test of a conversion-type KPI (unit ratio, e.g. repeat_purchase_rate)", in.GetKpi())
	}
	if len(in.GetSegmentId()) > 128 {
		v.Add("initiative.segment_id", "at most 128 bytes")
	}
	e := in.GetExpectedEffect()
	switch {
	case (e.GetAbsolute() != 0) == (e.GetRelative() != 0):
		v.Add("initiative.expected_effect", "set exactly one of absolute (rate points) and relative (fraction of the baseline)")
	case math.IsNaN(e.GetAbsolute()) || math.IsNaN(e.GetRelative()) || math.IsInf(e.GetAbsolute(), 0) || math.IsInf(e.GetRelative(), 0):
		v.Add("initiative.expected_effect", "must be finite")
	}
	return v.Err()
}

// Baseline is what the data says when a plan is written.
type Baseline struct {
	// Rate is the KPI over BaselineWindow.
	Rate float64
	// Purchasers in the scope during the window, and its revenue and
	// orders.
	Purchasers, Orders int64
	Revenue            float64
}

// ComputePlan sizes the test of the expected effect from the baseline:
// experiment.SampleSizeProportions per arm, the days two arms take to fill
// at the window's entry rate, and the incremental revenue of the extra
// conversions in the treated arm at the window's average order value.
func ComputePlan(b Baseline, e *metricsv1.ExpectedEffect) (*metricsv1.InitiativePlan, error) {
	kind, mde := experiment.Absolute, e.GetAbsolute()
	abs := mde
	if e.GetRelative() != 0 {
		kind, mde = experiment.Relative, e.GetRelative()
		abs = b.Rate * mde
	}
	if !(b.Rate > 0 && b.Rate < 1) {
		return nil, fmt.Errorf("%w: the KPI is %v over the last %d days; a test can only be sized from a rate strictly between 0 and 1",
			ErrNoBaseline, b.Rate, int(BaselineWindow.Hours()/24))
	}
	n, err := experiment.SampleSizeProportions(b.Rate, mde, kind, Alpha, Power)
	if err != nil {
		return nil, validation.Invalid("initiative.expected_effect", "%v", err)
	}
	if n > math.MaxInt32 {
		return nil, validation.Invalid("initiative.expected_effect", "the effect is too small to detect: it needs %d customers per arm", n)
	}
	days := BaselineWindow.Hours() / 24
	p := &metricsv1.InitiativePlan{
		SampleSizePerArm: int32(n), Alpha: Alpha, Power: Power, BaselineWindowDays: int32(days),
		EntryRatePerDay: float64(b.Purchasers) / days, ExpectedAbsoluteEffect: abs,
	}
	if b.Orders > 0 {
		p.AverageOrderValue = b.Revenue / float64(b.Orders)
	}
	if p.EntryRatePerDay > 0 {
		d := 2 * float64(n) / p.EntryRatePerDay
		p.ExpectedDurationDays = &d
	}
	p.ExpectedIncrementalRevenue = abs * float64(n) * p.AverageOrderValue
	return p, nil
}

// Next is the state after s, or UNSPECIFIED after CLOSED.
func Next(s metricsv1.InitiativeState) metricsv1.InitiativeState {
	switch s {
	case metricsv1.InitiativeState_PLAN:
		return metricsv1.InitiativeState_DO
	case metricsv1.InitiativeState_DO:
		return metricsv1.InitiativeState_CHECK
	case metricsv1.InitiativeState_CHECK:
		return metricsv1.InitiativeState_ACT
	case metricsv1.InitiativeState_ACT:
		return metricsv1.InitiativeState_CLOSED
	}
	return metricsv1.InitiativeState_INITIATIVE_STATE_UNSPECIFIED
}

// Advance moves in one state on with what req brings, refusing with
// ErrTransition a move from CLOSED, a guard naming another state, or
// fields that belong to another move, and with a validation error a move
// missing what it needs. check measures the result on DO → CHECK.
func Advance(in *metricsv1.PdcaInitiative, req *metricsv1.AdvanceInitiativeRequest, now time.Time, check func() *metricsv1.InitiativeCheck) error {
	from := in.GetState()
	to := Next(from)
	if to == metricsv1.InitiativeState_INITIATIVE_STATE_UNSPECIFIED {
		return fmt.Errorf("%w: the initiative is %s, which has no next state", ErrTransition, from)
	}
	if g := req.GetState(); g != metricsv1.InitiativeState_INITIATIVE_STATE_UNSPECIFIED && g != to {
		return fmt.Errorf("%w: %s → %s; from %s the only move is to %s", ErrTransition, from, g, from, to)
	}
	hasJourneys := len(req.GetJourneyIds()) > 0
	hasReview := req.GetReview() != nil || req.GetDecision() != metricsv1.Decision_DECISION_UNSPECIFIED || req.GetNextInitiativeId() != ""
	if hasJourneys && to != metricsv1.InitiativeState_DO {
		return fmt.Errorf("%w: journey_ids are set on PLAN → DO, and the initiative is %s", ErrTransition, from)
	}
	if hasReview && to != metricsv1.InitiativeState_ACT {
		return fmt.Errorf("%w: the review and decision are set on CHECK → ACT, and the initiative is %s", ErrTransition, from)
	}
	v := &validation.Error{}
	switch to {
	case metricsv1.InitiativeState_DO:
		switch n := len(req.GetJourneyIds()); {
		case n == 0:
			v.Add("journey_ids", "PLAN → DO needs the journeys that carry the initiative")
		case n > MaxJourneys:
			v.Addf("journey_ids", "at most %d", MaxJourneys)
		}
		for i, id := range req.GetJourneyIds() {
			if id == "" || len(id) > 128 {
				v.Addf(fmt.Sprintf("journey_ids[%d]", i), "1 to 128 bytes")
			}
		}
		if v.Err() == nil {
			in.JourneyIds = req.GetJourneyIds()
			in.StartTime = timestamppb.New(now)
		}
	case metricsv1.InitiativeState_CHECK:
		in.EndTime = timestamppb.New(now)
		in.Check = check()
	case metricsv1.InitiativeState_ACT:
		if req.GetDecision() == metricsv1.Decision_DECISION_UNSPECIFIED {
			v.Add("decision", "CHECK → ACT needs a decision: ADOPT, ITERATE or STOP")
		}
		r := req.GetReview()
		for name, items := range map[string][]string{"review.keep": r.GetKeep(), "review.problem": r.GetProblem(), "review.try": r.GetTry()} {
			if len(items) > MaxItems {
				v.Addf(name, "at most %d items", MaxItems)
			}
			for i, it := range items {
				if len([]rune(it)) > MaxItemLen {
					v.Addf(fmt.Sprintf("%s[%d]", name, i), "at most %d characters", MaxItemLen)
				}
			}
		}
		if len(req.GetNextInitiativeId()) > 128 {
			v.Add("next_initiative_id", "at most 128 bytes")
		}
		if v.Err() == nil {
			in.Review, in.Decision, in.NextInitiativeId = r, req.GetDecision(), req.GetNextInitiativeId()
		}
	}
	if err := v.Err(); err != nil {
		return err
	}
	actor := strings.TrimSpace(req.GetActor())
	if actor == "" {
		actor = "api"
	}
	if len([]rune(actor)) > 100 {
		actor = string([]rune(actor)[:100])
	}
	in.State = to
	in.UpdateTime = timestamppb.New(now)
	in.History = append(in.History, &metricsv1.Transition{From: from, To: to, Actor: actor, Time: timestamppb.New(now)})
	return nil
}
