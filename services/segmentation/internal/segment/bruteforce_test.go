package segment_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/unicode/norm"

	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
	"github.com/kizuna/kizuna/services/segmentation/internal/store"
)

// The brute-force model: what was sent, kept as plainly as possible, and
// an evaluator over it written without the engine's code, so the two can
// disagree.

type bfEvent struct {
	name    string
	at      time.Time
	props   map[string]any
	revenue float64
	order   bool
}

type bfCustomer struct {
	id     string
	traits map[string]any
	events []bfEvent
}

func bfFold(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(norm.NFKC.String(s)), " "))
}

func bfNumber(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case string:
		f, err := strconv.ParseFloat(strings.ReplaceAll(bfFold(v), ",", ""), 64)
		return f, err == nil
	}
	return 0, false
}

func bfText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return fmt.Sprint(v)
}

func bfDate(v any) (time.Time, bool) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, false
	}
	for _, l := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(l, strings.TrimSpace(norm.NFKC.String(s))); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// bfOne applies a positive operator to one value.
func bfOne(op segment.Operator, operands []string, v any, now time.Time) bool {
	switch op {
	case segment.OpEquals, segment.OpIn:
		for _, o := range operands {
			x, xok := bfNumber(v)
			y, yok := bfNumber(o)
			if xok && yok && x == y || !(xok && yok) && bfFold(bfText(v)) == bfFold(o) {
				return true
			}
		}
	case segment.OpContains:
		return strings.Contains(bfFold(bfText(v)), bfFold(operands[0]))
	case segment.OpStartsWith:
		return strings.HasPrefix(bfFold(bfText(v)), bfFold(operands[0]))
	case segment.OpGT, segment.OpGTE, segment.OpLT, segment.OpLTE, segment.OpBetween:
		x, ok := bfNumber(v)
		if !ok {
			return false
		}
		a, _ := bfNumber(operands[0])
		switch op {
		case segment.OpGT:
			return x > a
		case segment.OpGTE:
			return x >= a
		case segment.OpLT:
			return x < a
		case segment.OpLTE:
			return x <= a
		default:
			b, _ := bfNumber(operands[1])
			return a <= x && x <= b
		}
	case segment.OpBefore, segment.OpAfter, segment.OpWithinLastDays:
		d, ok := bfDate(v)
		if !ok {
			return false
		}
		switch op {
		case segment.OpBefore:
			o, _ := bfDate(operands[0])
			return d.Before(o)
		case segment.OpAfter:
			o, _ := bfDate(operands[0])
			return !d.Before(o)
		default:
			n, _ := strconv.Atoi(operands[0])
			return !d.After(now) && !d.Before(now.AddDate(0, 0, -n))
		}
	}
	return false
}

func bfCompare(c segment.Comparison, vals []any, now time.Time) bool {
	operands := c.Values
	if len(operands) == 0 {
		operands = []string{c.Value}
	}
	neg := map[segment.Operator]segment.Operator{segment.OpNotEquals: segment.OpEquals, segment.OpNotIn: segment.OpIn, segment.OpNotContains: segment.OpContains}
	switch {
	case c.Op == segment.OpExists:
		return len(vals) > 0
	case c.Op == segment.OpNotExists:
		return len(vals) == 0
	case neg[c.Op] != "":
		return len(vals) > 0 && !slices.ContainsFunc(vals, func(v any) bool { return bfOne(neg[c.Op], operands, v, now) })
	}
	return slices.ContainsFunc(vals, func(v any) bool { return bfOne(c.Op, operands, v, now) })
}

// bfValues flattens a value the way comparisons see it.
func bfValues(v any) []any {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		return slices.DeleteFunc(slices.Clone(v), func(e any) bool { return e == nil })
	}
	return []any{v}
}

func bfPath(props map[string]any, path string) []any {
	cur := []any{props}
	for _, step := range strings.Split(strings.TrimPrefix(path, "properties."), ".") {
		step = strings.TrimSuffix(step, "[]")
		var next []any
		for _, c := range cur {
			if m, ok := c.(map[string]any); ok {
				if v, ok := m[step]; ok {
					if l, ok := v.([]any); ok {
						next = append(next, l...)
					} else {
						next = append(next, v)
					}
				}
			}
		}
		cur = next
	}
	var out []any
	for _, v := range cur {
		out = append(out, bfValues(v)...)
	}
	return out
}

func bfStage(c *bfCustomer, now time.Time) segment.Stage {
	var times []time.Time
	for _, e := range c.events {
		if e.order {
			times = append(times, e.at)
		}
	}
	slices.SortFunc(times, time.Time.Compare)
	n := len(times)
	d := segment.DefaultLifecycleSettings
	days := func(k int32) time.Duration { return time.Duration(k) * 24 * time.Hour }
	switch {
	case n == 0:
		return segment.StageProspect
	case now.Sub(times[n-1]) >= days(d.ChurnedDays):
		return segment.StageChurned
	case now.Sub(times[n-1]) >= days(d.DormantDays):
		return segment.StageDormant
	case n >= 2 && times[n-1].Sub(times[n-2]) >= days(d.DormantDays):
		return segment.StageReturned
	case n >= int(d.LoyalMinOrders):
		return segment.StageLoyal
	case n == 2:
		return segment.StageF2
	}
	return segment.StageNew
}

func bfMatches(r segment.Rule, c *bfCustomer, now time.Time, segs map[string]segment.Rule) bool {
	switch {
	case len(r.All) > 0:
		for _, x := range r.All {
			if !bfMatches(x, c, now, segs) {
				return false
			}
		}
		return true
	case len(r.Any) > 0:
		for _, x := range r.Any {
			if bfMatches(x, c, now, segs) {
				return true
			}
		}
		return false
	case r.Not != nil:
		return !bfMatches(*r.Not, c, now, segs)
	case r.Trait != nil:
		cmp := r.Trait.Comparison
		if cmp.Op == "" {
			cmp = segment.Comparison{Op: segment.OpEquals, Value: r.Trait.Equals}
		}
		return bfCompare(cmp, bfValues(c.traits[r.Trait.Key]), now)
	case r.Segment != nil:
		return bfMatches(segs[r.Segment.SegmentID], c, now, segs)
	case r.Lifecycle != nil:
		return slices.Contains(r.Lifecycle.Stages, bfStage(c, now))
	case r.Event != nil:
		e := r.Event
		var count int64
		var sum float64
		var n int
		for _, ev := range c.events {
			if ev.name != e.Event || e.WithinDays > 0 && ev.at.Before(now.Add(-time.Duration(e.WithinDays)*24*time.Hour)) {
				continue
			}
			ok := true
			for _, w := range e.Where {
				ok = ok && bfCompare(w.Comparison, bfPath(ev.props, w.Property), now)
			}
			if !ok {
				continue
			}
			count++
			if e.Aggregate != nil {
				for _, v := range bfPath(ev.props, e.Aggregate.Property) {
					if x, ok := bfNumber(v); ok {
						sum += x
						n++
					}
				}
			}
		}
		min := int64(e.MinCount)
		if min == 0 && e.MaxCount == nil {
			min = 1
		}
		if count < min || e.MaxCount != nil && count > int64(*e.MaxCount) {
			return false
		}
		if a := e.Aggregate; a != nil { // the generator uses SUM and AVG
			x := sum
			if a.Fn == segment.AggAvg {
				if n == 0 {
					return false
				}
				x = sum / float64(n)
			}
			return bfOne(a.Op, []string{a.Value}, x, now)
		}
		return true
	}
	return false
}

// Generators.

var (
	bfPlans      = []any{"pro", "ＰＲＯ", " Pro ", "team", "free", nil, float64(3)}
	bfCities     = []any{"東京都", "東京都 ", "大阪府", "ﾄｳｷｮｳ", nil}
	bfAges       = []any{float64(25), float64(40), "４０", "61", "unknown", nil}
	bfSignups    = []any{"2025-01-15", "2026-03-01T10:00:00Z", "２０２６-０２-２０", "soon", nil}
	bfCategories = []any{"A", "Ａ", "B", "a", nil}
	bfSKUs       = []string{"A-100", "a-100", "B-7", "C-1"}
)

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func genTraits(r *rand.Rand) map[string]any {
	t := map[string]any{}
	for k, pool := range map[string][]any{"plan": bfPlans, "city": bfCities, "age": bfAges, "signup": bfSignups} {
		if v := pick(r, pool); v != nil || r.IntN(2) == 0 {
			t[k] = v
		}
	}
	if r.IntN(3) == 0 {
		t["tags"] = []any{pick(r, []any{"vip", "ＶＩＰ", "new"}), "x"}
	}
	return t
}

func genProps(r *rand.Rand) map[string]any {
	p := map[string]any{"revenue": float64(r.IntN(20) * 500)}
	if c := pick(r, bfCategories); c != nil {
		p["category"] = c
	}
	var products []any
	for range r.IntN(3) {
		products = append(products, map[string]any{"sku": pick(r, bfSKUs)})
	}
	if products != nil {
		p["products"] = products
	}
	return p
}

func genComparison(r *rand.Rand, kind string) segment.Comparison {
	switch kind {
	case "text":
		switch r.IntN(8) {
		case 0:
			return segment.Comparison{Op: segment.OpEquals, Value: pick(r, []string{"pro", "東京都", "a", "Ａ", "B"})}
		case 1:
			return segment.Comparison{Op: segment.OpNotEquals, Value: pick(r, []string{"pro", "大阪府", "a"})}
		case 2:
			return segment.Comparison{Op: segment.OpIn, Values: []string{pick(r, []string{"pro", "team", "a-100"}), pick(r, []string{"東京都", "b", "b-7"})}}
		case 3:
			return segment.Comparison{Op: segment.OpNotIn, Values: []string{pick(r, []string{"pro", "a", "c-1"})}}
		case 4:
			return segment.Comparison{Op: segment.OpContains, Value: pick(r, []string{"ro", "京", "-1"})}
		case 5:
			return segment.Comparison{Op: segment.OpStartsWith, Value: pick(r, []string{"p", "東京", "a-"})}
		case 6:
			return segment.Comparison{Op: segment.OpExists}
		default:
			return segment.Comparison{Op: segment.OpNotExists}
		}
	case "number":
		ops := []segment.Operator{segment.OpGT, segment.OpGTE, segment.OpLT, segment.OpLTE, segment.OpEquals}
		if r.IntN(6) == 0 {
			return segment.Comparison{Op: segment.OpBetween, Values: []string{"30", "４５"}}
		}
		return segment.Comparison{Op: pick(r, ops), Value: pick(r, []string{"40", "25", "1000", "５００"})}
	default: // date
		switch r.IntN(3) {
		case 0:
			return segment.Comparison{Op: segment.OpBefore, Value: "2026-02-01"}
		case 1:
			return segment.Comparison{Op: segment.OpAfter, Value: "2026-02-20"}
		default:
			return segment.Comparison{Op: segment.OpWithinLastDays, Value: pick(r, []string{"10", "30", "400"})}
		}
	}
}

func genRule(r *rand.Rand, depth int, refs []string) segment.Rule {
	if depth < 3 && r.IntN(3) == 0 {
		subs := make([]segment.Rule, 1+r.IntN(3))
		for i := range subs {
			subs[i] = genRule(r, depth+1, refs)
		}
		switch r.IntN(3) {
		case 0:
			return segment.Rule{All: subs}
		case 1:
			return segment.Rule{Any: subs}
		default:
			return segment.Rule{Not: &subs[0]}
		}
	}
	switch n := r.IntN(10); {
	case n < 3:
		kt := pick(r, [][2]string{{"plan", "text"}, {"city", "text"}, {"tags", "text"}, {"age", "number"}, {"signup", "date"}})
		key, kind := kt[0], kt[1]
		if r.IntN(5) == 0 && kind == "text" {
			return segment.Rule{Trait: &segment.TraitCondition{Key: key, Equals: pick(r, []string{"pro", "東京都"})}}
		}
		return segment.Rule{Trait: &segment.TraitCondition{Key: key, Comparison: genComparison(r, kind)}}
	case n < 8:
		e := &segment.EventCondition{Event: pick(r, []string{"Order Completed", "Viewed"}), MinCount: int32(r.IntN(3))}
		if r.IntN(2) == 0 {
			e.WithinDays = pick(r, []int32{7, 30, 90, 365})
		}
		if r.IntN(3) == 0 {
			m := e.MinCount + int32(r.IntN(2))
			e.MaxCount = &m
		}
		for range r.IntN(3) {
			prop := pick(r, []string{"category", "properties.category", "products[].sku", "properties.products[].sku", "revenue"})
			kind := "text"
			if prop == "revenue" {
				kind = "number"
			}
			e.Where = append(e.Where, segment.PropertyFilter{Property: prop, Comparison: genComparison(r, kind)})
		}
		if r.IntN(4) == 0 {
			e.Aggregate = &segment.Aggregate{Property: "revenue", Fn: pick(r, []segment.Aggregation{segment.AggSum, segment.AggAvg}),
				Comparison: segment.Comparison{Op: pick(r, []segment.Operator{segment.OpGTE, segment.OpLT}), Value: pick(r, []string{"1000", "5000"})}}
		}
		return segment.Rule{Event: e}
	case n < 9 && len(refs) > 0:
		return segment.Rule{Segment: &segment.SegmentCondition{SegmentID: pick(r, refs)}}
	default:
		stages := []segment.Stage{pick(r, segment.Stages)}
		if r.IntN(2) == 0 {
			stages = append(stages, pick(r, segment.Stages))
		}
		return segment.Rule{Lifecycle: &segment.LifecycleCondition{Stages: stages}}
	}
}

// genEvent makes one event for customer c at a time within 400 days of
// now, recording it in the model.
func genEvent(r *rand.Rand, ws string, c *bfCustomer, seq *int, now time.Time) segment.Event {
	*seq++
	id := fmt.Sprintf("ev-%d", *seq)
	at := now.Add(-time.Duration(r.IntN(400*24)) * time.Hour)
	if r.IntN(4) == 0 {
		c.traits = genTraits(r) // identify at the latest time so far: it replaces what the model knows
		at = now.Add(time.Duration(*seq) * time.Microsecond)
		traits := map[string]any{}
		for _, k := range []string{"plan", "city", "age", "signup", "tags"} {
			traits[k] = c.traits[k] // absent keys are sent as null, so old values are cleared
		}
		return segment.Event{WorkspaceID: ws, EventID: id, CustomerID: c.id, Type: segment.EventIdentify, Time: at, Traits: traits}
	}
	ev := bfEvent{name: pick(r, []string{"Order Completed", "Viewed"}), at: at, props: genProps(r)}
	out := segment.Event{WorkspaceID: ws, EventID: id, CustomerID: c.id, Type: segment.EventTrack, Name: ev.name, Time: at, Properties: ev.props}
	if ev.name == "Order Completed" {
		ev.order = true
		out.Order = &segment.Order{ID: id, Revenue: ev.props["revenue"].(float64)}
	}
	c.events = append(c.events, ev)
	return out
}

// TestRulesAgainstBruteForce creates hundreds of generated rules over
// generated customers and checks every segment's members against the
// brute-force evaluator: after the backfill of creation, after a random
// event stream applied live one by one and then in batches, and after a full recompute, which must change
// nothing the live path left.
func TestRulesAgainstBruteForce(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		st, err := store.New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		clk := &clock{t: t0}
		eng, err := segment.NewEngine(segment.Config{Store: st, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		r := rand.New(rand.NewPCG(1, 2))
		ws := fmt.Sprintf("w%d", r.IntN(1_000_000))
		customers := make([]*bfCustomer, 40)
		seq := 0
		for i := range customers {
			customers[i] = &bfCustomer{id: fmt.Sprintf("c%02d", i), traits: map[string]any{}}
		}
		apply := func(n int) {
			for range n {
				ev := genEvent(r, ws, pick(r, customers), &seq, t0)
				if err := eng.ApplyEvent(ctx, ev); err != nil {
					t.Fatal(err)
				}
			}
		}
		// applyBatches applies n events as the consumer does when they
		// wait together: in batches of random size (customers repeat
		// within a batch).
		applyBatches := func(n int) {
			for n > 0 {
				batch := make([]segment.Event, min(n, 1+r.IntN(40)))
				for i := range batch {
					batch[i] = genEvent(r, ws, pick(r, customers), &seq, t0)
				}
				if err := eng.ApplyEvents(ctx, batch); err != nil {
					t.Fatal(err)
				}
				n -= len(batch)
			}
		}
		apply(300)

		rules := map[string]segment.Rule{}
		var ids []string
		for i := range 200 {
			s, err := eng.Create(ctx, segment.Segment{WorkspaceID: ws, DisplayName: fmt.Sprintf("r%d", i), Rule: genRule(r, 0, ids)})
			if err != nil {
				t.Fatalf("create rule %d: %v", i, err)
			}
			rules[s.ID] = s.Rule
			ids = append(ids, s.ID)
		}
		check := func(stage string) {
			t.Helper()
			bad := 0
			for _, id := range ids {
				ms, _, err := eng.Members(ctx, ws, id, "", 1000)
				if err != nil {
					t.Fatal(err)
				}
				got := map[string]bool{}
				for _, m := range ms {
					got[m.CustomerID] = true
				}
				for _, c := range customers {
					if len(c.events) == 0 && len(c.traits) == 0 {
						continue // never seen
					}
					if want := bfMatches(rules[id], c, t0, rules); got[c.id] != want && bad < 5 {
						bad++
						t.Errorf("%s: %s in %s = %v, brute force says %v\nrule %s\ntraits %v", stage, c.id, id, got[c.id], want, describe(rules[id]), c.traits)
					}
				}
			}
		}
		check("after creation")
		apply(200)
		check("after the live event stream")
		applyBatches(300)
		check("after events applied in batches")
		before := snapshot(t, eng, ws, ids)
		// The generated rules must discriminate, or agreeing proves little.
		if n, all := len(before), len(ids)*len(customers); n < all/10 || n > all*9/10 {
			t.Errorf("%d of %d possible memberships: the generated rules do not discriminate", n, all)
		}
		if err := eng.Recompute(ctx, ws); err != nil {
			t.Fatal(err)
		}
		if after := snapshot(t, eng, ws, ids); !slices.Equal(before, after) {
			t.Errorf("a full recompute changed what the live path left: %d memberships before, %d after", len(before), len(after))
		}
	})
}

func snapshot(t *testing.T, eng *segment.Engine, ws string, ids []string) []string {
	t.Helper()
	var out []string
	for _, id := range ids {
		ms, _, err := eng.Members(context.Background(), ws, id, "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			out = append(out, id+"/"+m.CustomerID)
		}
	}
	return out
}

func describe(r segment.Rule) string {
	b, _ := json.Marshal(r)
	return string(b)
}
