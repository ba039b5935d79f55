package initiative_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	metricsv1 "github.com/kizuna/kizuna/gen/kizuna/metrics/v1"
	"github.com/kizuna/kizuna/services/analytics/experiment"
	"github.com/kizuna/kizuna/services/metrics/internal/initiative"
	"github.com/kizuna/kizuna/services/platform/validation"
)

// TestComputePlan: the plan's figures are the sample-size function's and
// the documented arithmetic on the baseline.
func TestComputePlan(t *testing.T) {
	b := initiative.Baseline{Rate: 0.2, Purchasers: 900, Orders: 1200, Revenue: 6_000_000}
	p, err := initiative.ComputePlan(b, &metricsv1.ExpectedEffect{Absolute: 0.03})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := experiment.SampleSizeProportions(0.2, 0.03, experiment.Absolute, 0.05, 0.8)
	if int64(p.GetSampleSizePerArm()) != n || n != 2836 {
		t.Errorf("per arm %d, sample-size function %d (2,835.2 by hand from Evan Miller's formula, rounded up)", p.GetSampleSizePerArm(), n)
	}
	if rate := 900.0 / 90; p.GetEntryRatePerDay() != rate || math.Abs(p.GetExpectedDurationDays()-2*float64(n)/rate) > 1e-9 {
		t.Errorf("entry %v/day, duration %v", p.GetEntryRatePerDay(), p.GetExpectedDurationDays())
	}
	if want := 0.03 * float64(n) * 5000; math.Abs(p.GetExpectedIncrementalRevenue()-want) > 1e-6 {
		t.Errorf("incremental revenue %v, want %v", p.GetExpectedIncrementalRevenue(), want)
	}
	rel, err := initiative.ComputePlan(b, &metricsv1.ExpectedEffect{Relative: 0.15})
	if err != nil {
		t.Fatal(err)
	}
	if nr, _ := experiment.SampleSizeProportions(0.2, 0.15, experiment.Relative, 0.05, 0.8); int64(rel.GetSampleSizePerArm()) != nr ||
		math.Abs(rel.GetExpectedAbsoluteEffect()-0.03) > 1e-12 {
		t.Errorf("relative plan %v, want %d per arm and +0.03", rel, nr)
	}
	if _, err := initiative.ComputePlan(initiative.Baseline{}, &metricsv1.ExpectedEffect{Absolute: 0.03}); !errors.Is(err, initiative.ErrNoBaseline) {
		t.Errorf("no data: %v, want ErrNoBaseline", err)
	}
	var v *validation.Error
	if _, err := initiative.ComputePlan(b, &metricsv1.ExpectedEffect{Absolute: 1e-9}); !errors.As(err, &v) {
		t.Errorf("undetectable effect: %v, want a validation error", err)
	}
	idle, _ := initiative.ComputePlan(initiative.Baseline{Rate: 0.2}, &metricsv1.ExpectedEffect{Absolute: 0.03})
	if idle.ExpectedDurationDays != nil {
		t.Errorf("duration %v with nobody entering", idle.GetExpectedDurationDays())
	}
}

// TestStateMachine walks PLAN → CLOSED and refuses every other move.
func TestStateMachine(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	checked := &metricsv1.InitiativeCheck{Variant: "B"}
	check := func() *metricsv1.InitiativeCheck { return checked }
	in := &metricsv1.PdcaInitiative{State: metricsv1.InitiativeState_PLAN}
	type step struct {
		name    string
		req     *metricsv1.AdvanceInitiativeRequest
		want    metricsv1.InitiativeState
		refused error // ErrTransition, or nil for a validation error when invalid
		invalid bool
	}
	review := &metricsv1.Review{Keep: []string{"subject B"}, Problem: []string{"late send"}, Try: []string{"send at 9"}}
	for _, s := range []step{
		{name: "review in PLAN", req: &metricsv1.AdvanceInitiativeRequest{Review: review, Decision: metricsv1.Decision_ADOPT}, refused: initiative.ErrTransition},
		{name: "skip to CHECK", req: &metricsv1.AdvanceInitiativeRequest{JourneyIds: []string{"j"}, State: metricsv1.InitiativeState_CHECK}, refused: initiative.ErrTransition},
		{name: "DO without journeys", req: &metricsv1.AdvanceInitiativeRequest{}, invalid: true},
		{name: "PLAN → DO", req: &metricsv1.AdvanceInitiativeRequest{JourneyIds: []string{"jny_1"}, Actor: "hanako"}, want: metricsv1.InitiativeState_DO},
		{name: "journeys again in DO", req: &metricsv1.AdvanceInitiativeRequest{JourneyIds: []string{"j"}}, refused: initiative.ErrTransition},
		{name: "DO → CHECK", req: &metricsv1.AdvanceInitiativeRequest{}, want: metricsv1.InitiativeState_CHECK},
		{name: "ACT without decision", req: &metricsv1.AdvanceInitiativeRequest{Review: review}, invalid: true},
		{name: "CHECK → ACT", req: &metricsv1.AdvanceInitiativeRequest{Review: review, Decision: metricsv1.Decision_ITERATE, NextInitiativeId: "ini_2"}, want: metricsv1.InitiativeState_ACT},
		{name: "ACT → CLOSED", req: &metricsv1.AdvanceInitiativeRequest{State: metricsv1.InitiativeState_CLOSED}, want: metricsv1.InitiativeState_CLOSED},
		{name: "past CLOSED", req: &metricsv1.AdvanceInitiativeRequest{}, refused: initiative.ErrTransition},
	} {
		before := in.GetState()
		err := initiative.Advance(in, s.req, now, check)
		var v *validation.Error
		switch {
		case s.refused != nil:
			if !errors.Is(err, s.refused) || in.GetState() != before {
				t.Errorf("%s: err %v, state %s", s.name, err, in.GetState())
			}
		case s.invalid:
			if !errors.As(err, &v) || in.GetState() != before {
				t.Errorf("%s: err %v, want a validation error", s.name, err)
			}
		default:
			if err != nil || in.GetState() != s.want {
				t.Errorf("%s: err %v, state %s, want %s", s.name, err, in.GetState(), s.want)
			}
		}
	}
	if len(in.GetHistory()) != 4 || in.GetHistory()[0].GetActor() != "hanako" || in.GetHistory()[1].GetActor() != "api" ||
		in.GetCheck() != checked || in.GetDecision() != metricsv1.Decision_ITERATE || in.GetStartTime() == nil || in.GetEndTime() == nil {
		t.Errorf("record after the walk: %v", in)
	}
	md := initiative.Markdown(in)
	for _, want := range []string{"## Plan", "## Check: expected vs measured", "**Keep**", "- subject B", "**Decision:** ITERATE → next: ini_2", "by hanako"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}
