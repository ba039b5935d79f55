package runner

import (
	"context"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	"github.com/kizuna/kizuna/services/analytics/experiment"
	"github.com/kizuna/kizuna/services/campaign/internal/store"
)

// Holdout is the variant of a customer held out of a journey, and the
// unit of that assignment.
const Holdout = "holdout"

// treatment is the holdout unit's other arm.
const treatment = "treatment"

// stepUnit is the assignment unit of an A/B send step.
func stepUnit(stepID string) string { return "step:" + stepID }

// assignments reads the recorded assignments of the entries' customers in
// journeys with a holdout or variants: entry id → unit → variant.
func (r *Runner) assignments(ctx context.Context, lives map[string]*Live, entries []store.Entry) (map[string]map[string]string, error) {
	type key struct{ ws, journey string }
	byJourney := map[key][]store.Entry{}
	for _, e := range entries {
		if j := lives[e.WorkspaceID].Journeys[e.JourneyID]; j != nil && j.Experiments {
			k := key{e.WorkspaceID, e.JourneyID}
			byJourney[k] = append(byJourney[k], e)
		}
	}
	out := map[string]map[string]string{}
	for k, es := range byJourney {
		customers := make([]string, len(es))
		for i, e := range es {
			customers[i] = e.CustomerID
		}
		got, err := r.store.Assignments(ctx, k.ws, k.journey, customers)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			out[e.ID] = got[e.CustomerID]
		}
	}
	return out, nil
}

// assign returns the customer's arm of an experiment unit: the recorded
// one, else compute's, which the run then records. Recorded arms win, so a
// change of weights or percentage never moves anyone already assigned.
func (c *entryContext) assign(run *store.Run, unit string, compute func() string) string {
	if v, ok := c.assigned[unit]; ok {
		return v
	}
	v := compute()
	if c.assigned == nil {
		c.assigned = map[string]string{}
	}
	c.assigned[unit] = v
	run.Assignments = append(run.Assignments, store.Assignment{
		WorkspaceID: c.e.WorkspaceID, JourneyID: c.e.JourneyID, CustomerID: c.e.CustomerID, Unit: unit, Variant: v,
	})
	return v
}

// experiment applies the journey's holdout and the step's variants to a
// send: a held-out customer's send is recorded as skipped (HOLDOUT) at the
// time it would have gone out; an A/B send carries its variant and, when
// the variant has one, the variant's channel.
func (c *entryContext) experiment(run *store.Run, j *Compiled, live *Live, stepID string, send *campaignv1.SendStep, sd *store.Send) {
	customer := c.e.CustomerID
	if p := j.Definition.GetHoldout().GetPercent(); p > 0 {
		arm := c.assign(run, Holdout, func() string {
			if experiment.Bucket(j.ID+":"+Holdout, customer) < p/100 {
				return Holdout
			}
			return treatment
		})
		if arm == Holdout {
			sd.Variant, sd.Status, sd.Reason = Holdout, store.SendSkipped, campaignv1.SkipReason_HOLDOUT.String()
			run.Variant = Holdout
			return
		}
	}
	vs := send.GetVariants()
	if len(vs) == 0 {
		return
	}
	weights := make([]float64, len(vs))
	for i, v := range vs {
		weights[i] = float64(v.GetWeight())
	}
	computed := func() string { return vs[max(experiment.Pick(j.ID+":"+stepID, customer, weights), 0)].GetName() }
	name := c.assign(run, stepUnit(stepID), computed)
	v := VariantNamed(send, name)
	if v == nil {
		// A variant recorded under a definition since changed: the
		// customer gets one of today's.
		name = computed()
		v = VariantNamed(send, name)
	}
	sd.Variant = name
	if id := v.GetChannelId(); id != "" {
		sd.ChannelID, sd.ChannelType = id, live.ChannelTypes[id]
	}
	if run.Variant == "" {
		run.Variant = name
	}
}

// VariantNamed returns the step's variant called name, or nil.
func VariantNamed(send *campaignv1.SendStep, name string) *campaignv1.Variant {
	for _, v := range send.GetVariants() {
		if v.GetName() == name {
			return v
		}
	}
	return nil
}
