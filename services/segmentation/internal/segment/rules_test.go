package segment_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/platform/validation"
	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
)

func orderEvent(ws, id, customer string, revenue float64, at time.Time, props map[string]any) segment.Event {
	return segment.Event{WorkspaceID: ws, EventID: id, CustomerID: customer, Type: segment.EventTrack, Name: "Order Completed",
		Time: at, Order: &segment.Order{ID: id, Revenue: revenue}, Properties: props}
}

func violationFields(err error) []string {
	var v *validation.Error
	if !errors.As(err, &v) {
		return nil
	}
	var out []string
	for _, fv := range v.Violations {
		out = append(out, fv.Field)
	}
	return out
}

// TestSegmentReferences checks references: membership follows the
// referenced segment, unknown ids and cycles are rejected with the path,
// a referenced segment cannot be deleted, and changing a rule moves the
// segments that refer to it.
func TestSegmentReferences(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.apply(t, identify("w", "i1", "c1", t0, map[string]any{"plan": "pro"}))
	f.apply(t, identify("w", "i2", "c2", t0, map[string]any{"plan": "free"}))
	pro := f.create(t, "w", "pro", traitCond("plan", "pro"))
	notPro := f.create(t, "w", "not pro", segment.Rule{Not: &segment.Rule{Segment: &segment.SegmentCondition{SegmentID: pro.ID}}})
	if got := f.members(t, "w", notPro.ID); !reflect.DeepEqual(got, []string{"c2"}) {
		t.Errorf("not pro = %v, want [c2]", got)
	}
	_, err := f.engine.Create(ctx, segment.Segment{WorkspaceID: "w", DisplayName: "x",
		Rule: segment.Rule{Any: []segment.Rule{traitCond("a", "b"), {Segment: &segment.SegmentCondition{SegmentID: "seg_nope"}}}}})
	if got := violationFields(err); !reflect.DeepEqual(got, []string{"segment.rule.any[1].segment.segment_id"}) {
		t.Errorf("unknown reference: %v (fields %v)", err, got)
	}
	_, err = f.engine.Update(ctx, segment.Segment{WorkspaceID: "w", ID: pro.ID,
		Rule: segment.Rule{All: []segment.Rule{{Segment: &segment.SegmentCondition{SegmentID: notPro.ID}}}}}, []string{segment.FieldRule})
	if got := violationFields(err); !reflect.DeepEqual(got, []string{"segment.rule.all[0].segment.segment_id"}) {
		t.Errorf("cycle: %v (fields %v)", err, got)
	}
	var inUse *segment.InUseError
	if err := f.engine.Delete(ctx, "w", pro.ID); !errors.As(err, &inUse) {
		t.Errorf("delete referenced segment: %v, want InUseError", err)
	}
	// Widening "pro" moves c2 out of "not pro", through the reference.
	if _, err := f.engine.Update(ctx, segment.Segment{WorkspaceID: "w", ID: pro.ID,
		Rule: segment.Rule{Trait: &segment.TraitCondition{Key: "plan", Comparison: segment.Comparison{Op: segment.OpExists}}}}, []string{segment.FieldRule}); err != nil {
		t.Fatal(err)
	}
	if got := f.members(t, "w", notPro.ID); len(got) != 0 {
		t.Errorf("not pro after widening pro = %v, want none", got)
	}
	if got, want := f.published(t), []string{"+c1@pro", "+c2@not pro", "+c2@pro", "-c2@not pro"}; !reflect.DeepEqual(got, want) {
		t.Errorf("published %v, want %v", got, want)
	}
}

func TestBuiltinsAreReadOnly(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	segs, err := f.engine.List(ctx, "w", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range segs {
		ids = append(ids, s.ID)
	}
	for _, id := range []string{"rfm_champions", "rfm_loyal", "rfm_potential_loyalist", "rfm_new", "rfm_promising",
		"rfm_need_attention", "rfm_about_to_sleep", "rfm_at_risk", "rfm_cant_lose", "rfm_hibernating", "rfm_lost",
		"lifecycle_prospect", "lifecycle_dormant", "lifecycle_f2"} {
		if !slices.Contains(ids, id) {
			t.Errorf("built-in %s missing from %v", id, ids)
		}
	}
	if err := f.engine.Delete(ctx, "w", "rfm_lost"); !errors.Is(err, segment.ErrBuiltIn) {
		t.Errorf("delete built-in: %v", err)
	}
	if _, err := f.engine.Update(ctx, segment.Segment{WorkspaceID: "w", ID: "rfm_lost", DisplayName: "x"}, []string{segment.FieldDisplayName}); !errors.Is(err, segment.ErrBuiltIn) {
		t.Errorf("update built-in: %v", err)
	}
}

// TestEventWindowsAndOccurrences covers the event condition parts the
// generated rules leave out: between, first and last occurrence, MIN and
// MAX aggregates.
func TestEventWindowsAndOccurrences(t *testing.T) {
	f := newFixture(t)
	f.apply(t, orderEvent("w", "a1", "a", 100, t0.Add(-100*day), map[string]any{"revenue": 100.0}))
	f.apply(t, orderEvent("w", "a2", "a", 900, t0.Add(-10*day), map[string]any{"revenue": 900.0}))
	f.apply(t, orderEvent("w", "b1", "b", 50, t0.Add(-40*day), map[string]any{"revenue": 50.0}))
	ev := func(e segment.EventCondition) segment.Rule {
		e.Event = "Order Completed"
		return segment.Rule{Event: &e}
	}
	tests := []struct {
		name string
		rule segment.Rule
		want []string
	}{
		{"between", ev(segment.EventCondition{Between: &segment.TimeRange{Start: t0.Add(-50 * day), End: t0.Add(-20 * day)}}), []string{"b"}},
		{"between excludes its end", ev(segment.EventCondition{Between: &segment.TimeRange{Start: t0.Add(-50 * day), End: t0.Add(-40 * day)}}), []string{}},
		{"first purchase before 60 days ago", ev(segment.EventCondition{FirstOccurrence: &segment.OccurrenceBound{Before: t0.Add(-60 * day)}}), []string{"a"}},
		{"last purchase after 30 days ago", ev(segment.EventCondition{LastOccurrence: &segment.OccurrenceBound{After: t0.Add(-30 * day)}}), []string{"a"}},
		{"did not buy in 30 days", ev(segment.EventCondition{WithinDays: 30, MaxCount: new(int32)}), []string{"b"}},
		{"max order ≥ 500", ev(segment.EventCondition{Aggregate: &segment.Aggregate{Property: "revenue", Fn: segment.AggMax,
			Comparison: segment.Comparison{Op: segment.OpGTE, Value: "500"}}}), []string{"a"}},
		{"min order < 100", ev(segment.EventCondition{Aggregate: &segment.Aggregate{Property: "revenue", Fn: segment.AggMin,
			Comparison: segment.Comparison{Op: segment.OpLT, Value: "100"}}}), []string{"b"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := f.create(t, "w", fmt.Sprint(i), tt.rule)
			if got := f.members(t, "w", s.ID); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("members = %v, want %v", got, tt.want)
			}
		})
	}
}

// classicRFM is the reference R×F map, written as the R rfm package's
// segment table reads (score pairs by pattern), with Lost split off
// Hibernating at recency 1.
func classicRFM(r, f int32) string {
	rf := fmt.Sprintf("%d%d", r, f)
	switch {
	case r == 5 && f >= 4:
		return "rfm_champions"
	case (r == 3 || r == 4) && f >= 4:
		return "rfm_loyal"
	case r >= 4 && (f == 2 || f == 3):
		return "rfm_potential_loyalist"
	case rf == "51":
		return "rfm_new"
	case rf == "41":
		return "rfm_promising"
	case rf == "33":
		return "rfm_need_attention"
	case r == 3 && f <= 2:
		return "rfm_about_to_sleep"
	case r <= 2 && (f == 3 || f == 4):
		return "rfm_at_risk"
	case r <= 2 && f == 5:
		return "rfm_cant_lose"
	case r == 2:
		return "rfm_hibernating"
	default:
		return "rfm_lost"
	}
}

// TestNamedRFMSegments puts every purchasing customer in exactly the
// named segment the reference map gives for their scores.
func TestNamedRFMSegments(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 200 {
		c := fmt.Sprintf("c%03d", i)
		for j := range 1 + r.IntN(8) {
			f.apply(t, orderEvent("w", fmt.Sprintf("%s-%d", c, j), c, float64(100+r.IntN(10000)), t0.Add(-time.Duration(r.IntN(500))*day), nil))
		}
	}
	if err := f.engine.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		c := fmt.Sprintf("c%03d", i)
		feats, err := f.engine.Features(ctx, "w", c)
		if err != nil || feats.RFM == nil {
			t.Fatalf("features of %s: %+v, %v", c, feats, err)
		}
		segs, err := f.engine.CustomerSegments(ctx, "w", c)
		if err != nil {
			t.Fatal(err)
		}
		var named []string
		for _, s := range segs {
			if strings.HasPrefix(s.ID, "rfm_") {
				named = append(named, s.ID)
			}
		}
		if want := classicRFM(feats.RFM.Recency, feats.RFM.Frequency); !reflect.DeepEqual(named, []string{want}) {
			t.Errorf("%s with R%d F%d is in %v, want [%s]", c, feats.RFM.Recency, feats.RFM.Frequency, named, want)
		}
	}
	cells, err := f.engine.RFMGrid(ctx, "w")
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, c := range cells {
		n += c.Customers
	}
	if len(cells) != 25 || n != 200 {
		t.Errorf("grid has %d cells over %d customers, want 25 over 200", len(cells), n)
	}
}

// TestLifecycleStages walks one customer through the stages as time passes
// and orders come, with the workspace's thresholds.
func TestLifecycleStages(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	stage := func() segment.Stage {
		t.Helper()
		feats, err := f.engine.Features(ctx, "w", "c")
		if err != nil {
			t.Fatal(err)
		}
		return feats.Stage
	}
	f.apply(t, viewed("w", "v", "c", t0))
	steps := []struct {
		name    string
		advance time.Duration
		order   bool
		want    segment.Stage
	}{
		{"visitor", 0, false, segment.StageProspect},
		{"first order", 0, true, segment.StageNew},
		{"second order", day, true, segment.StageF2},
		{"third order", day, true, segment.StageLoyal},
		{"90 days without", 90 * day, false, segment.StageDormant},
		{"180 days without", 90 * day, false, segment.StageChurned},
		{"back", day, true, segment.StageReturned},
		{"and again soon", day, true, segment.StageLoyal},
	}
	now := t0
	for i, st := range steps {
		now = now.Add(st.advance)
		f.clock.Set(now)
		if st.order {
			f.apply(t, orderEvent("w", fmt.Sprint("o", i), "c", 10, now, nil))
		}
		if err := f.engine.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if got := stage(); got != st.want {
			t.Errorf("%s: stage %s, want %s", st.name, got, st.want)
		}
		segs, _ := f.engine.CustomerSegments(ctx, "w", "c")
		var in []string
		for _, s := range segs {
			if strings.HasPrefix(s.ID, "lifecycle_") {
				in = append(in, s.ID)
			}
		}
		if want := []string{segment.StageSegmentID(st.want)}; !reflect.DeepEqual(in, want) {
			t.Errorf("%s: in %v, want %v", st.name, in, want)
		}
	}
	if _, err := f.engine.SetLifecycleSettings(ctx, "w", segment.LifecycleSettings{LoyalMinOrders: 10}, []string{segment.FieldLoyalMinOrders}); err != nil {
		t.Fatal(err)
	}
	if got := stage(); got != segment.StageF2 {
		t.Errorf("with loyal at 10 orders: %s, want f2", got)
	}
	_, err := f.engine.SetLifecycleSettings(ctx, "w", segment.LifecycleSettings{LoyalMinOrders: 3, DormantDays: 100, ChurnedDays: 50}, nil)
	if got := violationFields(err); !reflect.DeepEqual(got, []string{"settings.churned_days"}) {
		t.Errorf("churned before dormant: %v", err)
	}
}

func TestSegmentSizes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	seg := f.create(t, "w", "pro", traitCond("plan", "pro"))
	plan := func(id, c, p string, at time.Time) {
		f.clock.Set(at)
		f.apply(t, identify("w", id, c, at, map[string]any{"plan": p}))
	}
	plan("1", "a", "pro", t0)
	plan("2", "b", "pro", t0.Add(time.Hour))
	plan("3", "a", "free", t0.Add(2*day))
	f.clock.Set(t0.Add(3 * day))
	got, err := f.engine.Sizes(ctx, "w", seg.ID, day, t0.Add(-day), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int64
	for _, p := range got {
		sizes = append(sizes, p.Size)
	}
	if want := []int64{0, 2, 2, 1, 1}; !reflect.DeepEqual(sizes, want) {
		t.Errorf("daily sizes from the day before = %v, want %v", sizes, want)
	}
	if got[1].Joined != 2 || got[3].Left != 1 {
		t.Errorf("joins/leaves = %+v", got)
	}
	if _, err := f.engine.Sizes(ctx, "w", "seg_missing", day, time.Time{}, time.Time{}); !errors.Is(err, segment.ErrNotFound) {
		t.Errorf("sizes of a missing segment: %v", err)
	}
}

func TestComputedTraits(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	props := func(cat string, revenue float64, skus ...string) map[string]any {
		var products []any
		for _, s := range skus {
			products = append(products, map[string]any{"sku": s})
		}
		return map[string]any{"category": cat, "revenue": revenue, "products": products}
	}
	f.apply(t, orderEvent("w", "o1", "a", 0, t0.Add(-200*day), props("靴", 5000, "S-1")))
	f.apply(t, orderEvent("w", "o2", "a", 0, t0.Add(-100*day), props("鞄", 3000, "B-1", "B-2")))
	f.apply(t, orderEvent("w", "o3", "a", 0, t0.Add(-50*day), props("鞄", 2000, "B-3")))
	f.apply(t, orderEvent("w", "o4", "a", 0, t0.Add(-10*day), props("靴", 1000, "S-2")))
	f.apply(t, viewed("w", "v", "b", t0))
	defs := []segment.ComputedTrait{
		{Key: "revenue_90d", Event: "Order Completed", Property: "revenue", Fn: segment.AggSum, WithinDays: 90},
		{Key: "favourite_category_180d", Event: "Order Completed", Property: "category", Fn: segment.AggMostFrequent, WithinDays: 180},
		{Key: "first_sku", Event: "Order Completed", Property: "products[].sku", Fn: segment.AggFirst},
		{Key: "last_category", Event: "Order Completed", Property: "category", Fn: segment.AggLast},
		{Key: "orders", Event: "Order Completed", Fn: segment.AggCount},
		{Key: "max_order", Event: "Order Completed", Property: "revenue", Fn: segment.AggMax},
	}
	for _, d := range defs {
		if _, err := f.engine.CreateComputedTrait(ctx, "w", d); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.engine.CreateComputedTrait(ctx, "w", defs[0]); !errors.Is(err, segment.ErrExists) {
		t.Errorf("duplicate key: %v", err)
	}
	if err := (segment.ComputedTrait{Key: "Bad Key", Event: "x", Fn: "MEDIAN"}).Validate(); !reflect.DeepEqual(violationFields(err),
		[]string{"computed_trait.key", "computed_trait.fn"}) {
		t.Errorf("bad definition: %v", err)
	}
	feats, err := f.engine.Features(ctx, "w", "a")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"revenue_90d": 3000.0, "favourite_category_180d": "鞄", "first_sku": "S-1", "last_category": "靴",
		"orders": 4.0, "max_order": 5000.0}
	if !reflect.DeepEqual(feats.Computed, want) {
		t.Errorf("computed traits of a = %v, want %v", feats.Computed, want)
	}
	if feats, _ := f.engine.Features(ctx, "w", "b"); !reflect.DeepEqual(feats.Computed, map[string]any{"revenue_90d": 0.0, "orders": 0.0}) {
		t.Errorf("computed traits of b = %v, want only the zero sum and count", feats.Computed)
	}
	big := f.create(t, "w", "big", segment.Rule{Computed: &segment.ComputedCondition{Key: "revenue_90d", Comparison: segment.Comparison{Op: segment.OpGTE, Value: "3000"}}})
	bags := f.create(t, "w", "bags", segment.Rule{Computed: &segment.ComputedCondition{Key: "favourite_category_180d", Comparison: segment.Comparison{Op: segment.OpEquals, Value: "鞄"}}})
	if got := f.members(t, "w", big.ID); !reflect.DeepEqual(got, []string{"a"}) {
		t.Errorf("big = %v", got)
	}
	// 41 days on, the 2000 order leaves the 90-day window (3000 → 1000).
	f.clock.Set(t0.Add(41 * day))
	if err := f.engine.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if got := f.members(t, "w", big.ID); len(got) != 0 {
		t.Errorf("big after 41 days = %v, want none", got)
	}
	if got := f.members(t, "w", bags.ID); !reflect.DeepEqual(got, []string{"a"}) {
		t.Errorf("bags = %v", got)
	}
	_, err = f.engine.Create(ctx, segment.Segment{WorkspaceID: "w", DisplayName: "x",
		Rule: segment.Rule{Not: &segment.Rule{Computed: &segment.ComputedCondition{Key: "nope", Comparison: segment.Comparison{Op: segment.OpExists}}}}})
	if got := violationFields(err); !reflect.DeepEqual(got, []string{"segment.rule.not.computed.key"}) {
		t.Errorf("unknown computed trait: %v", err)
	}
}
