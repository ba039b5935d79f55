package segment_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/segmentation/internal/relay"
	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
	"github.com/kizuna/kizuna/services/segmentation/internal/store"

	"github.com/kizuna/kizuna/services/platform/validation"
)

const day = 24 * time.Hour

type clock struct {
	mu sync.Mutex
	t  time.Time
	// step, when set, is how far each reading moves the clock on.
	step time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.t
	c.t = c.t.Add(c.step)
	return now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// recorder is a Publisher that remembers what it published and can be
// told to fail.
type recorder struct {
	mu   sync.Mutex
	fail error
	// failAfter, when positive, publishes that many changes of the next
	// call, then fails it.
	failAfter int
	got       []segment.MembershipChange
}

func (r *recorder) PublishMembershipChanges(_ context.Context, cs []segment.MembershipChange) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return 0, r.fail
	}
	if n := r.failAfter; n > 0 && n < len(cs) {
		r.failAfter = 0
		r.got = append(r.got, cs[:n]...)
		return n, errors.New("publish failed part way")
	}
	r.got = append(r.got, cs...)
	return len(cs), nil
}

// take returns what was published since the last take, as compact
// "+customer@segmentName" / "-customer@segmentName" strings.
func (r *recorder) take(names map[string]string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.got {
		if segment.IsBuiltinID(c.SegmentID) {
			continue // every workspace's named RFM and lifecycle segments; tested on their own
		}
		sign := "-"
		if c.Joined {
			sign = "+"
		}
		out = append(out, sign+c.CustomerID+"@"+names[c.SegmentID])
	}
	r.got = nil
	return out
}

type fixture struct {
	engine *segment.Engine
	store  *store.Store
	clock  *clock
	pub    *recorder
	names  map[string]string // segment id → display name
}

var t0 = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

func newFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixtureOn(t, sqldbtest.SQLite(t))
}

// newFixtureOn is newFixture on a given database, for tests run on both
// backends.
func newFixtureOn(t testing.TB, db *sqldb.DB) *fixture {
	t.Helper()
	st, err := store.New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: st, clock: &clock{t: t0}, pub: &recorder{}, names: map[string]string{}}
	f.engine, err = segment.NewEngine(segment.Config{Store: st, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) create(t testing.TB, ws, name string, conds ...segment.Rule) segment.Segment {
	t.Helper()
	s, err := f.engine.Create(context.Background(), segment.Segment{WorkspaceID: ws, DisplayName: name, Rule: segment.Rule{All: conds}})
	if err != nil {
		t.Fatalf("Create %s: %v", name, err)
	}
	f.names[s.ID] = name
	return s
}

func (f *fixture) apply(t testing.TB, e segment.Event) {
	t.Helper()
	if err := f.engine.ApplyEvent(context.Background(), e); err != nil {
		t.Fatalf("ApplyEvent %s: %v", e.EventID, err)
	}
}

// published relays the outbox and returns what was published.
func (f *fixture) published(t testing.TB) []string {
	t.Helper()
	if err := relay.Pass(context.Background(), f.store, f.pub); err != nil {
		t.Fatal(err)
	}
	return f.pub.take(f.names)
}

func (f *fixture) members(t testing.TB, ws, segID string) []string {
	t.Helper()
	ms, total, err := f.engine.Members(context.Background(), ws, segID, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, m := range ms {
		out = append(out, m.CustomerID)
	}
	if total != int64(len(out)) {
		t.Errorf("total %d != %d members listed", total, len(out))
	}
	return out
}

func viewed(ws, id, customer string, at time.Time) segment.Event {
	return segment.Event{WorkspaceID: ws, EventID: id, CustomerID: customer, Type: segment.EventTrack, Name: "Viewed", Time: at}
}

func identify(ws, id, customer string, at time.Time, traits map[string]any) segment.Event {
	return segment.Event{WorkspaceID: ws, EventID: id, CustomerID: customer, Type: segment.EventIdentify, Time: at, Traits: traits}
}

func eventCond(name string, min, days int32) segment.Rule {
	return segment.Rule{Event: &segment.EventCondition{Event: name, MinCount: min, WithinDays: days}}
}

func traitCond(k, v string) segment.Rule {
	return segment.Rule{Trait: &segment.TraitCondition{Key: k, Equals: v}}
}

// TestEventWindowEdges walks the clock across a 7-day window's start and
// checks backfill, per-event evaluation and the sweep all agree on which
// events count.
func TestEventWindowEdges(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.apply(t, viewed("w", "e-edge", "edge", t0.Add(-7*day)))                // exactly at the start
	f.apply(t, viewed("w", "e-out", "out", t0.Add(-7*day-time.Microsecond))) // just outside
	f.apply(t, viewed("w", "e-in", "in", t0.Add(-time.Hour)))
	seg := f.create(t, "w", "recent", eventCond("Viewed", 1, 7))
	if got, want := f.members(t, "w", seg.ID), []string{"edge", "in"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after backfill members = %v, want %v", got, want)
	}
	if seg.Size != 2 {
		t.Errorf("created size = %d, want 2", seg.Size)
	}
	if got, want := f.published(t), []string{"+edge@recent", "+in@recent"}; !reflect.DeepEqual(got, want) {
		t.Errorf("published %v, want %v", got, want)
	}
	steps := []struct {
		name    string
		advance time.Duration
		want    []string
		pub     []string
	}{
		{"one microsecond later the edge event leaves the window", time.Microsecond, []string{"in"}, []string{"-edge@recent"}},
		{"nothing changes within the window", 6 * day, []string{"in"}, nil},
		{"the last event ages out", day, []string{}, []string{"-in@recent"}},
	}
	now := t0
	for _, st := range steps {
		now = now.Add(st.advance)
		f.clock.Set(now)
		if err := f.engine.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if got := f.members(t, "w", seg.ID); !reflect.DeepEqual(got, st.want) {
			t.Errorf("%s: members = %v, want %v", st.name, got, st.want)
		}
		if got := f.published(t); !reflect.DeepEqual(got, st.pub) {
			t.Errorf("%s: published %v, want %v", st.name, got, st.pub)
		}
	}
	// A new event brings a customer back at once, without a sweep.
	f.apply(t, viewed("w", "e-back", "out", now))
	if got, want := f.members(t, "w", seg.ID), []string{"out"}; !reflect.DeepEqual(got, want) {
		t.Errorf("after new event members = %v, want %v", got, want)
	}
}

func TestSameEventTwiceCountsOnce(t *testing.T) {
	f := newFixture(t)
	seg := f.create(t, "w", "twice", eventCond("Viewed", 2, 30))
	e := viewed("w", "e1", "c1", t0)
	f.apply(t, e)
	f.apply(t, e) // redelivery
	if got := f.members(t, "w", seg.ID); len(got) != 0 {
		t.Errorf("members after one event delivered twice = %v, want none", got)
	}
	f.apply(t, viewed("w", "e2", "c1", t0))
	if got, want := f.members(t, "w", seg.ID), []string{"c1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("members after a second event = %v, want %v", got, want)
	}
	feats, err := f.engine.Features(context.Background(), "w", "c1")
	if err != nil || feats.EventCount != 2 {
		t.Errorf("features = %+v, %v; want event_count 2", feats, err)
	}
}

func TestTraitSegmentFollowsIdentify(t *testing.T) {
	f := newFixture(t)
	pro := f.create(t, "w", "pro", traitCond("plan", "pro"))
	three := f.create(t, "w", "three seats", traitCond("seats", "3"), traitCond("plan", "pro"))
	steps := []struct {
		name string
		ev   segment.Event
		pub  []string
	}{
		{"joins on identify", identify("w", "i1", "c1", t0, map[string]any{"plan": "pro", "seats": float64(3)}), []string{"+c1@pro", "+c1@three seats"}},
		{"late older identify changes nothing", identify("w", "i0", "c1", t0.Add(-day), map[string]any{"plan": "free"}), nil},
		{"leaves on newer identify", identify("w", "i2", "c1", t0.Add(time.Hour), map[string]any{"seats": float64(4)}), []string{"-c1@three seats"}},
		{"other workspace's customer joins nothing", identify("w2", "i1", "c1", t0, map[string]any{"plan": "pro"}), nil},
	}
	for _, st := range steps {
		f.apply(t, st.ev)
		if got := f.published(t); !reflect.DeepEqual(got, st.pub) {
			t.Errorf("%s: published %v, want %v", st.name, got, st.pub)
		}
	}
	segs, err := ownSegments(f.engine.CustomerSegments(context.Background(), "w", "c1"))
	if err != nil || len(segs) != 1 || segs[0].ID != pro.ID {
		t.Errorf("CustomerSegments = %+v, %v; want [pro]", segs, err)
	}
	if segs, err := ownSegments(f.engine.CustomerSegments(context.Background(), "w2", "c1")); err != nil || len(segs) != 0 {
		t.Errorf("CustomerSegments in w2 = %+v, %v; want none", segs, err)
	}
	if _, err := f.engine.Get(context.Background(), "w2", three.ID); !errors.Is(err, segment.ErrNotFound) {
		t.Errorf("Get from another workspace: %v, want ErrNotFound", err)
	}
}

// TestRFMLateCustomers: RFM scores are reused for a while after an order
// when computing them was slow; the buyer evaluated against scores behind
// its own order joins once EvaluateLate runs after that while, not at the
// next sweep.
func TestRFMLateCustomers(t *testing.T) {
	f := newFixture(t)
	// Every clock reading costs a minute, so scoring "takes" a minute and
	// the scores are reused for ten after an order.
	clk := &clock{t: t0, step: time.Minute}
	reads := &customerReads{Store: f.store}
	eng, err := segment.NewEngine(segment.Config{Store: reads, Now: clk.Now, RFMMaxAge: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	buyers, err := eng.Create(ctx, segment.Segment{WorkspaceID: "w", DisplayName: "buyers", Rule: segment.Rule{RFM: &segment.RFMCondition{}}})
	if err != nil {
		t.Fatal(err)
	}
	order := func(customer string) segment.Event {
		return segment.Event{WorkspaceID: "w", EventID: "o-" + customer, CustomerID: customer, Type: segment.EventTrack,
			Name: "Order Completed", Time: t0, Order: &segment.Order{ID: "o-" + customer, Revenue: 10}}
	}
	members := func() []string {
		ms, _, err := eng.Members(ctx, "w", buyers.ID, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, m := range ms {
			ids = append(ids, m.CustomerID)
		}
		return ids
	}
	for _, c := range []string{"a", "b"} {
		if err := eng.ApplyEvent(ctx, order(c)); err != nil {
			t.Fatal(err)
		}
	}
	// Create scored the empty workspace just before: both buyers were
	// evaluated against scores from before their orders.
	if got := members(); len(got) != 0 {
		t.Fatalf("members right after the orders = %v, want none yet", got)
	}
	// While the scores are still reused, evaluating the buyers again
	// would change nothing: EvaluateLate keeps them for later.
	reads.n.Store(0)
	if err := eng.EvaluateLate(ctx); err != nil {
		t.Fatal(err)
	}
	if n := reads.n.Load(); n != 0 {
		t.Errorf("EvaluateLate while the scores are still behind read customers %d times, want none", n)
	}
	clk.Set(clk.Now().Add(time.Hour))
	if err := eng.EvaluateLate(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := members(), []string{"a", "b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("members after EvaluateLate = %v, want %v", got, want)
	}
}

// customerReads counts the reads of customers' facts.
type customerReads struct {
	segment.Store
	n atomic.Int64
}

func (c *customerReads) CustomersOf(ctx context.Context, workspaceID string, ids []string) (map[string]segment.Customer, error) {
	c.n.Add(1)
	return c.Store.CustomersOf(ctx, workspaceID, ids)
}

func TestRFMSegment(t *testing.T) {
	f := newFixture(t)
	order := func(id, customer string, revenue float64, at time.Time) segment.Event {
		return segment.Event{WorkspaceID: "w", EventID: id, CustomerID: customer, Type: segment.EventTrack, Name: "Order Completed",
			Time: at, Order: &segment.Order{ID: id, Revenue: revenue}}
	}
	for i, c := range []string{"a", "b", "c", "d"} {
		f.apply(t, order("o-"+c, c, float64(10*(i+1)), t0.Add(-time.Duration(40-10*i)*day)))
	}
	f.apply(t, identify("w", "i-n", "never", t0, map[string]any{"plan": "free"}))
	best := f.create(t, "w", "best", segment.Rule{RFM: &segment.RFMCondition{MinRecency: 4, MinMonetary: 4}})
	anyBuyer := f.create(t, "w", "buyers", segment.Rule{RFM: &segment.RFMCondition{}})
	if got, want := f.members(t, "w", best.ID), []string{"d"}; !reflect.DeepEqual(got, want) {
		t.Errorf("best = %v, want %v", got, want)
	}
	if got, want := f.members(t, "w", anyBuyer.ID), []string{"a", "b", "c", "d"}; !reflect.DeepEqual(got, want) {
		t.Errorf("buyers = %v, want %v", got, want)
	}
	// Two bigger and newer orders shift everyone: d drops out of "best"
	// although d had no new event, which is what the sweep is for.
	f.apply(t, order("o-e", "e", 100, t0.Add(-day)))
	f.apply(t, order("o-f", "f", 200, t0))
	if got, want := f.members(t, "w", best.ID), []string{"d", "e", "f"}; !reflect.DeepEqual(got, want) {
		t.Errorf("best after new orders, before sweep = %v, want %v", got, want)
	}
	if err := f.engine.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := f.members(t, "w", best.ID), []string{"e", "f"}; !reflect.DeepEqual(got, want) {
		t.Errorf("best after sweep = %v, want %v", got, want)
	}
	feats, err := f.engine.Features(context.Background(), "w", "f")
	if err != nil {
		t.Fatal(err)
	}
	want := segment.Features{CustomerID: "f", Orders: segment.OrderStats{CustomerID: "f", Count: 1, Revenue: 200, LastOrder: t0},
		RFM: &segment.Scores{Recency: 5, Frequency: 1, Monetary: 5}, EventCount: 1, Stage: segment.StageNew}
	if !reflect.DeepEqual(feats, want) {
		t.Errorf("features(f) = %+v %+v, want %+v %+v", feats, feats.RFM, want, want.RFM)
	}
	never, err := f.engine.Features(context.Background(), "w", "never")
	if err != nil || never.RFM != nil || never.Orders.Count != 0 {
		t.Errorf("features(never) = %+v, %v; want no orders and no scores", never, err)
	}
	if _, err := f.engine.Features(context.Background(), "w", "ghost"); !errors.Is(err, segment.ErrNotFound) {
		t.Errorf("features(ghost): %v, want ErrNotFound", err)
	}
}

func TestMergeMovesMembership(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	seg := f.create(t, "w", "viewers", eventCond("Viewed", 2, 30))
	f.apply(t, viewed("w", "e1", "anon", t0))
	f.apply(t, viewed("w", "e2", "anon", t0))
	f.apply(t, viewed("w", "e3", "user", t0))
	if got := f.published(t); !reflect.DeepEqual(got, []string{"+anon@viewers"}) {
		t.Fatalf("published %v before merge", got)
	}
	m := segment.Merge{WorkspaceID: "w", MergeID: "m1", SurvivorID: "user", MergedIDs: []string{"anon", "user", "anon"}}
	for range 2 { // the second delivery is a no-op
		if err := f.engine.ApplyMerge(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := f.members(t, "w", seg.ID), []string{"user"}; !reflect.DeepEqual(got, want) {
		t.Errorf("members after merge = %v, want %v", got, want)
	}
	if got, want := f.published(t), []string{"-anon@viewers", "+user@viewers"}; !reflect.DeepEqual(got, want) {
		t.Errorf("published %v, want %v", got, want)
	}
}

// TestUnmergeRestoresMembership merges a customer away and undoes it: the
// restored customer is back in its segments and the survivor leaves those it
// was in only through the restored customer's events.
func TestUnmergeRestoresMembership(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	viewers := f.create(t, "w", "viewers", eventCond("Viewed", 2, 30))
	free := f.create(t, "w", "free", traitCond("plan", "free"))
	pro := f.create(t, "w", "pro", traitCond("plan", "pro"))
	f.apply(t, identify("w", "i1", "anon", t0.Add(-time.Hour), map[string]any{"plan": "free"}))
	f.apply(t, viewed("w", "e1", "anon", t0))
	f.apply(t, viewed("w", "e2", "anon", t0))
	f.apply(t, identify("w", "i2", "user", t0, map[string]any{"plan": "pro"}))
	f.apply(t, viewed("w", "e3", "user", t0))
	if got, want := sorted(f.published(t)), []string{"+anon@free", "+anon@viewers", "+user@pro"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("published %v before merge, want %v", got, want)
	}
	if err := f.engine.ApplyMerge(ctx, segment.Merge{WorkspaceID: "w", MergeID: "m1", SurvivorID: "user", MergedIDs: []string{"anon"}}); err != nil {
		t.Fatal(err)
	}
	if got, want := sorted(f.published(t)), []string{"+user@viewers", "-anon@free", "-anon@viewers"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("published %v after merge, want %v", got, want)
	}

	u := segment.Unmerge{
		WorkspaceID: "w", UnmergeID: "u1", MergeID: "m1", SurvivorID: "user", RestoredID: "anon",
		EventIDs:       []string{"i1", "e1", "e2", "e1"},
		RestoredTraits: map[string]any{"plan": "free"}, SurvivorTraits: map[string]any{"plan": "pro"},
		Time: t0.Add(time.Hour), RestoredFirstSeen: t0.Add(-time.Hour), SurvivorFirstSeen: t0,
	}
	steps := []struct {
		name string
		pub  []string
	}{
		{"unmerge", []string{"+anon@free", "+anon@viewers", "-user@viewers"}},
		{"redelivery changes nothing", nil},
	}
	for _, st := range steps {
		if err := f.engine.ApplyUnmerge(ctx, u); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := sorted(f.published(t)); !reflect.DeepEqual(got, st.pub) {
			t.Errorf("%s: published %v, want %v", st.name, got, st.pub)
		}
		for _, m := range []struct {
			seg  segment.Segment
			want []string
		}{{viewers, []string{"anon"}}, {free, []string{"anon"}}, {pro, []string{"user"}}} {
			if got := f.members(t, "w", m.seg.ID); !reflect.DeepEqual(got, m.want) {
				t.Errorf("%s: %s members = %v, want %v", st.name, f.names[m.seg.ID], got, m.want)
			}
		}
	}
	for customer, want := range map[string]int64{"anon": 3, "user": 2} {
		feats, err := f.engine.Features(ctx, "w", customer)
		if err != nil || feats.EventCount != want {
			t.Errorf("features(%s) = %+v, %v; want event_count %d", customer, feats, err, want)
		}
	}
}

// TestUnmergeInParts restores a customer announced in two messages: each
// moves its own events, and membership follows once enough have moved.
func TestUnmergeInParts(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	viewers := f.create(t, "w", "viewers", eventCond("Viewed", 2, 30))
	for _, id := range []string{"e1", "e2", "e3"} {
		f.apply(t, viewed("w", id, "user", t0))
	}
	f.published(t)
	part := func(id string, events ...string) segment.Unmerge {
		return segment.Unmerge{WorkspaceID: "w", UnmergeID: id, MergeID: "m1", SurvivorID: "user", RestoredID: "anon", EventIDs: events, Time: t0}
	}
	steps := []struct {
		u    segment.Unmerge
		want []string
		pub  []string
	}{
		{part("u1", "e1"), []string{"user"}, nil},
		{part("u2", "e2"), []string{"anon"}, []string{"+anon@viewers", "-user@viewers"}},
	}
	for _, st := range steps {
		if err := f.engine.ApplyUnmerge(ctx, st.u); err != nil {
			t.Fatal(err)
		}
		if got := f.members(t, "w", viewers.ID); !reflect.DeepEqual(got, st.want) {
			t.Errorf("after %s: members = %v, want %v", st.u.UnmergeID, got, st.want)
		}
		if got := sorted(f.published(t)); !reflect.DeepEqual(got, st.pub) {
			t.Errorf("after %s: published %v, want %v", st.u.UnmergeID, got, st.pub)
		}
	}
}

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}

func TestInvalidInputs(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	tests := []struct {
		name string
		run  func() error
	}{
		{"event without customer", func() error { return f.engine.ApplyEvent(ctx, segment.Event{WorkspaceID: "w", EventID: "e"}) }},
		{"event without workspace", func() error { return f.engine.ApplyEvent(ctx, segment.Event{EventID: "e", CustomerID: "c"}) }},
		{"merge without survivor", func() error { return f.engine.ApplyMerge(ctx, segment.Merge{WorkspaceID: "w", MergeID: "m"}) }},
		{"merge with empty merged id", func() error {
			return f.engine.ApplyMerge(ctx, segment.Merge{WorkspaceID: "w", MergeID: "m", SurvivorID: "s", MergedIDs: []string{""}})
		}},
		{"unmerge without restored customer", func() error {
			return f.engine.ApplyUnmerge(ctx, segment.Unmerge{WorkspaceID: "w", UnmergeID: "u", MergeID: "m", SurvivorID: "s"})
		}},
		{"unmerge without merge id", func() error {
			return f.engine.ApplyUnmerge(ctx, segment.Unmerge{WorkspaceID: "w", UnmergeID: "u", SurvivorID: "s", RestoredID: "r"})
		}},
		{"unmerge restoring its survivor", func() error {
			return f.engine.ApplyUnmerge(ctx, segment.Unmerge{WorkspaceID: "w", UnmergeID: "u", MergeID: "m", SurvivorID: "s", RestoredID: "s"})
		}},
		{"unmerge with empty event id", func() error {
			return f.engine.ApplyUnmerge(ctx, segment.Unmerge{WorkspaceID: "w", UnmergeID: "u", MergeID: "m", SurvivorID: "s", RestoredID: "r",
				EventIDs: []string{"e1", ""}})
		}},
		{"unmerge with too long unmerge id", func() error {
			return f.engine.ApplyUnmerge(ctx, segment.Unmerge{WorkspaceID: "w", UnmergeID: strings.Repeat("u", segment.MaxIDLen+1), MergeID: "m",
				SurvivorID: "s", RestoredID: "r"})
		}},
		{"unmerge with too many events", func() error {
			ids := make([]string, segment.MaxEventIDsPerUnmerge+1)
			for i := range ids {
				ids[i] = fmt.Sprintf("e%d", i)
			}
			return f.engine.ApplyUnmerge(ctx, segment.Unmerge{WorkspaceID: "w", UnmergeID: "u", MergeID: "m", SurvivorID: "s", RestoredID: "r", EventIDs: ids})
		}},
		{"segment without rule", func() error {
			_, err := f.engine.Create(ctx, segment.Segment{WorkspaceID: "w", DisplayName: "x"})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v *validation.Error
			if err := tt.run(); !errors.As(err, &v) {
				t.Errorf("err = %v, want *validation.Error", err)
			}
		})
	}
	// Rejected before the store: no customer was created.
	for _, id := range []string{"s", "r"} {
		if _, err := f.store.Customer(ctx, "w", id); !errors.Is(err, segment.ErrNotFound) {
			t.Errorf("customer %s after invalid input: %v, want ErrNotFound", id, err)
		}
	}
}

func TestRelayKeepsUnpublishedChanges(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.create(t, "w", "pro", traitCond("plan", "pro"))
	f.pub.fail = errors.New("nats down")
	f.apply(t, identify("w", "i1", "c1", t0, map[string]any{"plan": "pro"}))
	f.apply(t, identify("w", "i2", "c1", t0.Add(time.Hour), map[string]any{"plan": "free"}))
	if err := relay.Pass(ctx, f.store, f.pub); err == nil {
		t.Fatal("Relay with failing publisher succeeded")
	}
	f.pub.fail = nil
	if got, want := f.published(t), []string{"+c1@pro", "-c1@pro"}; !reflect.DeepEqual(got, want) {
		t.Errorf("published after recovery %v, want %v (in order)", got, want)
	}
	if got := f.published(t); len(got) != 0 {
		t.Errorf("second relay published %v again", got)
	}
}

// TestRelayDeletesOnlyPublished: a pass whose publish fails part way
// forgets only the changes published; the next pass publishes the rest,
// once each and in order.
func TestRelayDeletesOnlyPublished(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.create(t, "w", "pro", traitCond("plan", "pro"))
	f.apply(t, identify("w", "i1", "c1", t0, map[string]any{"plan": "pro"}))
	f.apply(t, identify("w", "i2", "c1", t0.Add(time.Hour), map[string]any{"plan": "free"}))
	f.apply(t, identify("w", "i3", "c2", t0.Add(2*time.Hour), map[string]any{"plan": "pro"}))
	f.pub.failAfter = 1
	if err := relay.Pass(ctx, f.store, f.pub); err == nil {
		t.Fatal("a pass whose publish failed part way succeeded")
	}
	if got, want := f.published(t), []string{"+c1@pro", "-c1@pro", "+c2@pro"}; !reflect.DeepEqual(got, want) {
		t.Errorf("published %v, want %v (in order, once each)", got, want)
	}
}

func TestDeleteSegment(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	seg := f.create(t, "w", "pro", traitCond("plan", "pro"))
	f.apply(t, identify("w", "i1", "c1", t0, map[string]any{"plan": "pro"}))
	if err := f.engine.Delete(ctx, "other", seg.ID); !errors.Is(err, segment.ErrNotFound) {
		t.Errorf("Delete from another workspace: %v, want ErrNotFound", err)
	}
	if err := f.engine.Delete(ctx, "w", seg.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.engine.Members(ctx, "w", seg.ID, "", 10); !errors.Is(err, segment.ErrNotFound) {
		t.Errorf("Members of deleted segment: %v, want ErrNotFound", err)
	}
	// Evaluation after deletion neither fails nor resurrects membership.
	f.apply(t, identify("w", "i2", "c1", t0.Add(time.Hour), map[string]any{"plan": "pro", "x": "y"}))
	if segs, err := ownSegments(f.engine.CustomerSegments(ctx, "w", "c1")); err != nil || len(segs) != 0 {
		t.Errorf("CustomerSegments after delete = %v, %v", segs, err)
	}
}

// TestSegmentCacheAcrossReplicas runs two engines on one database, as two
// replicas would: each sees the segments the other creates and deletes.
func TestSegmentCacheAcrossReplicas(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	other, err := segment.NewEngine(segment.Config{Store: f.store, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	applyOther := func(e segment.Event) {
		t.Helper()
		if err := other.ApplyEvent(ctx, e); err != nil {
			t.Fatalf("ApplyEvent %s: %v", e.EventID, err)
		}
	}
	applyOther(identify("w", "i0", "c0", t0, map[string]any{"plan": "pro"})) // caches "no segments"
	pro := f.create(t, "w", "pro", traitCond("plan", "pro"))
	applyOther(identify("w", "i1", "c1", t0, map[string]any{"plan": "pro"}))
	if got, want := f.members(t, "w", pro.ID), []string{"c0", "c1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("members after the other replica's event = %v, want %v", got, want)
	}
	if err := f.engine.Delete(ctx, "w", pro.ID); err != nil {
		t.Fatal(err)
	}
	free := f.create(t, "w", "free", traitCond("plan", "free"))
	applyOther(identify("w", "i2", "c1", t0.Add(time.Hour), map[string]any{"plan": "free"}))
	if got, want := f.members(t, "w", free.ID), []string{"c1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("members of a segment created after a delete = %v, want %v", got, want)
	}
	if segs, err := ownSegments(f.engine.CustomerSegments(ctx, "w", "c1")); err != nil || len(segs) != 1 || segs[0].ID != free.ID {
		t.Errorf("CustomerSegments(c1) = %+v, %v; want [free]", segs, err)
	}
}

// TestCreateLimit creates more segments than a workspace may hold, all at
// once: exactly the limit succeed.
func TestCreateLimit(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const extra = 5
	var wg sync.WaitGroup
	errs := make(chan error, segment.MaxSegmentsPerSpace+extra)
	for i := range segment.MaxSegmentsPerSpace + extra {
		wg.Go(func() {
			_, err := f.engine.Create(ctx, segment.Segment{WorkspaceID: "w", DisplayName: fmt.Sprintf("s%d", i),
				Rule: segment.Rule{All: []segment.Rule{traitCond("plan", "pro")}}})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	created, limited := 0, 0
	for err := range errs {
		var limit *segment.LimitError
		switch {
		case err == nil:
			created++
		case errors.As(err, &limit):
			limited++
		default:
			t.Fatal(err)
		}
	}
	if created != segment.MaxSegmentsPerSpace || limited != extra {
		t.Errorf("created %d and refused %d, want %d and %d", created, limited, segment.MaxSegmentsPerSpace, extra)
	}
}

// TestOrderNormalized stores orders without an id or with a revenue that is
// not a number: the event id stands in and the revenue counts as 0.
func TestOrderNormalized(t *testing.T) {
	f := newFixture(t)
	order := func(id, orderID string, revenue float64) segment.Event {
		e := viewed("w", id, "c1", t0)
		e.Order = &segment.Order{ID: orderID, Revenue: revenue}
		return e
	}
	f.apply(t, order("e1", "", math.NaN()))
	f.apply(t, order("e2", "", math.Inf(1)))
	f.apply(t, order("e3", strings.Repeat("o", segment.MaxIDLen+1), 5))
	f.apply(t, order("e4", "o-4", 2.5))
	feats, err := f.engine.Features(context.Background(), "w", "c1")
	if err != nil || feats.Orders.Count != 4 || feats.Orders.Revenue != 7.5 {
		t.Errorf("features = %+v, %v; want 4 orders worth 7.5", feats, err)
	}
}

// ownSegments drops the built-in segments every workspace has.
func ownSegments(segs []segment.Segment, err error) ([]segment.Segment, error) {
	var out []segment.Segment
	for _, s := range segs {
		if !s.BuiltIn {
			out = append(out, s)
		}
	}
	return out, err
}
