package segment

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kizuna/kizuna/services/platform/validation"
)

// Paging and batching limits.
const (
	// customerPage bounds how many customers one bulk evaluation step holds
	// in memory.
	customerPage = 1000
	// changeBatch bounds the membership changes written per transaction, so
	// a large backfill neither holds the SQLite write lock for long nor
	// builds a huge PostgreSQL transaction. Larger transactions write
	// fewer pages per change (a change's rows sit next to others' of its
	// segment): 2000 rather than 500 made a recompute of 100,000
	// customers on SQLite 13% faster.
	changeBatch = 2000
	// DefaultRFMMaxAge bounds how long cached RFM scores are used without
	// recomputation when no order changed: recency moves with the clock.
	DefaultRFMMaxAge = time.Minute
)

// Config configures an Engine.
type Config struct {
	Store Store
	// Now is the clock (time.Now when nil); tests move it.
	Now func() time.Time
	// RFMMaxAge overrides DefaultRFMMaxAge.
	RFMMaxAge time.Duration
}

// Engine keeps segment membership current. It is safe for concurrent use:
// evaluations of one workspace are serialised so that a slow evaluation
// reading older facts can never overwrite the result of a newer one.
type Engine struct {
	store     Store
	now       func() time.Time
	rfmMaxAge time.Duration

	locks keyedMutex
	// fits serialises the prediction fits of a workspace, which run
	// without locks (see FitPredictions).
	fits keyedMutex

	mu      sync.Mutex // guards rfm, segs, ensured and swept
	rfm     map[string]rfmEntry
	segs    map[string]segmentsEntry
	ensured map[string]bool // workspaces known to have their built-in segments
	swept   map[string]sweepEntry
	// events holds each workspace's event cache for bulk evaluations,
	// members its membership cache.
	events  map[string]*eventCache
	members map[string]*memberCache
	// sinceUse measures how long a cache went unused. It is real elapsed
	// time, not the business clock now: idleness is about memory held by
	// this process, and tests and benchmarks move now by days.
	sinceUse func(time.Time) time.Duration
	// late holds, per workspace, the customers evaluated against RFM scores
	// older than an order (see rfmEntry.cost): EvaluateLate evaluates them
	// again once the scores are recomputed, so a buyer joins its RFM
	// segments in seconds rather than at the next sweep.
	late map[string]map[string]bool

	wake chan struct{}

	counters *counters
}

type rfmEntry struct {
	version  int64
	computed time.Time
	// cost is how long computing took by the engine's clock: scores are
	// reused after an order changed for up to rfmCostFactor times that, so
	// a large workspace taking orders does not rescore everyone for every
	// order while a small one rescores at once.
	cost time.Duration
	// list holds the statistics as read (by customer id), for rescoring
	// at another time while no order changed. index numbers their
	// customers (list[i] is customer i's) and scores holds the scores by
	// the same numbers (zero for a customer without orders), so that a
	// bulk evaluation finds both with one look-up per customer, in a table
	// the garbage collector has nothing to follow in.
	list   []OrderStats
	index  customerIndex
	scores []Scores
	// behind is set on an entry served although an order changed since it
	// was computed.
	behind bool
}

// rfmCostFactor bounds the time spent rescoring RFM to about a tenth of
// the time when orders keep coming.
const rfmCostFactor = 10

// segmentsEntry caches a workspace's parsed segments as of a
// SegmentsVersion. It is shared and never modified.
type segmentsEntry struct {
	version int64
	list    []compiled // in dependency order: referenced segments first
}

// compiled is a segment with its compiled rule.
type compiled struct {
	seg   Segment
	match Matcher
	// referenced is whether a rule of its workspace refers to the segment,
	// so that evaluations keep Facts.Segments current for it.
	referenced bool
}

// NewEngine returns an Engine.
func NewEngine(cfg Config) (*Engine, error) {
	if cfg.Store == nil {
		return nil, errors.New("segment engine: Store is required")
	}
	e := &Engine{
		store:     cfg.Store,
		now:       cfg.Now,
		rfmMaxAge: cfg.RFMMaxAge,
		rfm:       map[string]rfmEntry{},
		segs:      map[string]segmentsEntry{},
		ensured:   map[string]bool{},
		swept:     map[string]sweepEntry{},
		events:    map[string]*eventCache{},
		members:   map[string]*memberCache{},
		sinceUse:  time.Since,
		late:      map[string]map[string]bool{},
		wake:      make(chan struct{}, 1),
		counters:  newCounters(),
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.rfmMaxAge <= 0 {
		e.rfmMaxAge = DefaultRFMMaxAge
	}
	return e, nil
}

// Pending signals (coalesced) that membership changes were written to the
// outbox and the relay (package relay, outside the engine) has work.
func (e *Engine) Pending() <-chan struct{} { return e.wake }

func (e *Engine) signal() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// ApplyEvent records an ingested event and re-evaluates its customer. A
// redelivered event changes no facts but is still re-evaluated: if the
// process died between recording and evaluating, the redelivery is what
// completes the work.
func (e *Engine) ApplyEvent(ctx context.Context, ev Event) error {
	if err := validateEvent(ev); err != nil {
		return err
	}
	e.dropIdleCachesNow()
	if ev.Order != nil {
		ev.Order = normalizeOrder(*ev.Order, ev.EventID)
	}
	// Through ApplyEvents, which gives the event the customer it went to:
	// the survivor when its own was merged away.
	evs := []Event{ev}
	if _, err := e.store.ApplyEvents(ctx, evs, e.now()); err != nil {
		return fmt.Errorf("apply event %s: %w", ev.EventID, err)
	}
	if err := e.EvaluateCustomer(ctx, ev.WorkspaceID, evs[0].CustomerID); err != nil {
		return fmt.Errorf("apply event %s: %w", ev.EventID, err)
	}
	return nil
}

// ApplyEvents is ApplyEvent for a batch of events pulled from the stream
// together: their facts are recorded in one transaction and each customer
// they touch is re-evaluated once, after all of them. A bad event fails
// the whole batch before anything is written (the caller then applies the
// events one by one, dropping the bad one).
func (e *Engine) ApplyEvents(ctx context.Context, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	e.dropIdleCachesNow()
	evs = slices.Clone(evs)
	for i, ev := range evs {
		if err := validateEvent(ev); err != nil {
			return err
		}
		if ev.Order != nil {
			evs[i].Order = normalizeOrder(*ev.Order, ev.EventID)
		}
	}
	if _, err := e.store.ApplyEvents(ctx, evs, e.now()); err != nil {
		return fmt.Errorf("apply %d events: %w", len(evs), err)
	}
	type key struct{ ws, customer string }
	seen := map[key]bool{}
	byWorkspace := map[string][]string{}
	var order []string
	for _, ev := range evs {
		k := key{ev.WorkspaceID, ev.CustomerID}
		if seen[k] {
			continue
		}
		seen[k] = true
		if byWorkspace[ev.WorkspaceID] == nil {
			order = append(order, ev.WorkspaceID)
		}
		byWorkspace[ev.WorkspaceID] = append(byWorkspace[ev.WorkspaceID], ev.CustomerID)
	}
	for _, ws := range order {
		if err := e.EvaluateCustomers(ctx, ws, byWorkspace[ws]); err != nil {
			return fmt.Errorf("apply %d events: %w", len(evs), err)
		}
	}
	return nil
}

func validateEvent(ev Event) error {
	v := &validation.Error{}
	checkID(v, "event.workspace_id", ev.WorkspaceID)
	checkID(v, "event.event_id", ev.EventID)
	checkID(v, "event.customer_id", ev.CustomerID)
	return v.Err()
}

// normalizeOrder returns a copy of o fit to store. An order without a
// usable id (none, or one too long to index) is identified by its event id,
// and a revenue that is not a finite number counts as 0: one bad number
// must not poison a workspace's RFM scores.
func normalizeOrder(o Order, eventID string) *Order {
	if o.ID == "" || len(o.ID) > MaxIDLen {
		o.ID = eventID
	}
	if math.IsNaN(o.Revenue) || math.IsInf(o.Revenue, 0) {
		o.Revenue = 0
	}
	return &o
}

// uniqueIDs checks the list field of a message holding ids: it records a
// violation when there are more than limit ids and one for each bad id among
// the first limit, and returns the good ones among those, without
// duplicates or ids already in seen (which it extends).
func uniqueIDs(v *validation.Error, field string, ids []string, limit int, seen map[string]bool) []string {
	if len(ids) > limit {
		v.Addf(field, "at most %d ids", limit)
		ids = ids[:limit]
	}
	out := make([]string, 0, len(ids))
	for i, id := range ids {
		before := len(v.Violations)
		checkID(v, fmt.Sprintf("%s[%d]", field, i), id)
		if len(v.Violations) > before || seen[id] {
			continue
		}
		seen[id] = true
		out = append(out, id)
	}
	return out
}

// ApplyMerge moves the merged customers' facts to the survivor and
// re-evaluates the survivor (also on redelivery, as in ApplyEvent): the
// end of its chain of merges when it was merged away before the merge
// came (see Store.ApplyMerge).
func (e *Engine) ApplyMerge(ctx context.Context, m Merge) error {
	v := &validation.Error{}
	checkID(v, "customer_merged.workspace_id", m.WorkspaceID)
	checkID(v, "customer_merged.merge_id", m.MergeID)
	checkID(v, "customer_merged.survivor_customer_id", m.SurvivorID)
	m.MergedIDs = uniqueIDs(v, "customer_merged.merged_customer_ids", m.MergedIDs, MaxMergedIDsPerMerge,
		map[string]bool{m.SurvivorID: true})
	if err := v.Err(); err != nil {
		return err
	}
	// The merge deletes rows the workspace's evaluations read, so it takes
	// the workspace lock like they do.
	unlock := e.locks.lock(m.WorkspaceID)
	into, _, err := e.store.ApplyMerge(ctx, m, e.now())
	unlock()
	if err != nil {
		return fmt.Errorf("apply merge %s: %w", m.MergeID, err)
	}
	e.signal() // leave changes may be in the outbox
	if into == "" {
		return nil // the survivor was erased, and the merged customers with it
	}
	if err := e.EvaluateCustomer(ctx, m.WorkspaceID, into); err != nil {
		return fmt.Errorf("apply merge %s: %w", m.MergeID, err)
	}
	return nil
}

// EraseCustomers applies a DELETE regulation: every row about the
// customers ids goes. It returns the rows deleted (0 on a repeat).
func (e *Engine) EraseCustomers(ctx context.Context, workspaceID, regulationID string, ids []string) (int64, error) {
	v := &validation.Error{}
	checkID(v, "regulation_requested.workspace_id", workspaceID)
	checkID(v, "regulation_requested.regulation_id", regulationID)
	if err := v.Err(); err != nil {
		return 0, err
	}
	// Like a merge, it deletes rows the workspace's evaluations read.
	unlock := e.locks.lock(workspaceID)
	n, _, err := e.store.EraseCustomers(ctx, workspaceID, regulationID, ids, e.now())
	unlock()
	if err != nil {
		return 0, err
	}
	e.signal() // leave changes are in the outbox
	return n, nil
}

// ApplyUnmerge gives the restored customer back its events and traits and
// re-evaluates both customers (also on redelivery, as in ApplyEvent): the
// survivor leaves segments it was in only through the restored customer's
// events or traits, and the restored customer joins its own.
func (e *Engine) ApplyUnmerge(ctx context.Context, u Unmerge) error {
	v := &validation.Error{}
	checkID(v, "customer_unmerged.workspace_id", u.WorkspaceID)
	checkID(v, "customer_unmerged.unmerge_id", u.UnmergeID)
	checkID(v, "customer_unmerged.merge_id", u.MergeID)
	checkID(v, "customer_unmerged.survivor_customer_id", u.SurvivorID)
	checkID(v, "customer_unmerged.restored_customer_id", u.RestoredID)
	if u.RestoredID != "" && u.RestoredID == u.SurvivorID {
		v.Addf("customer_unmerged.restored_customer_id", "must differ from survivor_customer_id")
	}
	u.EventIDs = uniqueIDs(v, "customer_unmerged.event_ids", u.EventIDs, MaxEventIDsPerUnmerge, map[string]bool{})
	if err := v.Err(); err != nil {
		return err
	}
	// Like a merge, the unmerge rewrites rows the workspace's evaluations
	// read, so it takes the workspace lock like they do.
	unlock := e.locks.lock(u.WorkspaceID)
	_, err := e.store.ApplyUnmerge(ctx, u, e.now())
	unlock()
	if err != nil {
		return fmt.Errorf("apply unmerge %s: %w", u.UnmergeID, err)
	}
	for _, id := range []string{u.SurvivorID, u.RestoredID} {
		if err := e.EvaluateCustomer(ctx, u.WorkspaceID, id); err != nil {
			return fmt.Errorf("apply unmerge %s: %w", u.UnmergeID, err)
		}
	}
	return nil
}

// EvaluateCustomer re-evaluates one customer against every segment of the
// workspace and records the membership changes.
func (e *Engine) EvaluateCustomer(ctx context.Context, workspaceID, customerID string) error {
	return e.EvaluateCustomers(ctx, workspaceID, []string{customerID})
}

// EvaluateCustomers re-evaluates customers of one workspace against every
// segment of it, under one hold of the workspace lock, and records their
// membership changes together.
func (e *Engine) EvaluateCustomers(ctx context.Context, workspaceID string, customerIDs []string) error {
	unlock := e.locks.lock(workspaceID)
	defer unlock()
	list, err := e.segments(ctx, workspaceID)
	if err != nil {
		return fmt.Errorf("evaluate customers: %w", err)
	}
	now := e.now()
	n := needsOf(segmentsOf(list), now)
	var cache *eventCache
	if names, _ := n.eventNames(); len(names) > 0 {
		var release func()
		if cache, release, err = e.warmEvents(ctx, workspaceID, names, n.propKeys()); err != nil {
			return fmt.Errorf("evaluate customers: %w", err)
		}
		if cache != nil {
			defer release()
		}
	}
	var changes []MembershipChange
	diff := newDiffer(workspaceID, list, true)
	for ids := range slices.Chunk(customerIDs, evaluateChunk) {
		current, err := e.store.SegmentIDsOf(ctx, workspaceID, ids)
		if err != nil {
			return fmt.Errorf("evaluate customers: %w", err)
		}
		facts, err := e.factsOf(ctx, workspaceID, ids, n, cache, now)
		if err != nil {
			return fmt.Errorf("evaluate customers: %w", err)
		}
		for _, customerID := range ids {
			if len(list) == 0 && len(current[customerID]) == 0 {
				continue
			}
			changes = diff.changes(changes, customerID, facts[customerID], current[customerID])
			e.counters.evaluated(ctx, triggerEvent, 1)
		}
	}
	return e.applyChanges(ctx, changes, now)
}

// evaluateChunk bounds the customers whose facts one read gathers.
const evaluateChunk = 500

func (e *Engine) markLate(workspaceID, customerID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.late[workspaceID] == nil {
		e.late[workspaceID] = map[string]bool{}
	}
	e.late[workspaceID][customerID] = true
}

// EvaluateLate re-evaluates the customers last evaluated against RFM
// scores that were behind their orders, once the scores an evaluation
// would use are no longer behind (the scores are reused for a while after
// an order, see rfmEntry.cost); until then they are kept for the next
// call, as evaluating them against the same scores changes nothing. The
// service calls it every second: while orders keep coming (an import), it
// evaluated every recent buyer again every second, to the same result.
func (e *Engine) EvaluateLate(ctx context.Context) error {
	e.mu.Lock()
	late := e.late
	e.late = map[string]map[string]bool{}
	e.mu.Unlock()
	var errs []error
	for _, ws := range slices.Sorted(maps.Keys(late)) {
		behind, err := e.rfmBehind(ctx, ws, e.now())
		if err == nil && !behind {
			err = e.EvaluateCustomers(ctx, ws, slices.Sorted(maps.Keys(late[ws])))
		}
		if err != nil || behind {
			for id := range late[ws] {
				e.markLate(ws, id) // try again next time
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("evaluate late customers of %s: %w", ws, err))
		}
	}
	return errors.Join(errs...)
}

// factsOf reads the facts the rules evaluated need (n) of
// customers ids, with one query per kind for all of them; a customer not
// found has none (nil). Events come from cache when it is set (refreshed
// and locked by the caller, see warmEvents), else from the store.
func (e *Engine) factsOf(ctx context.Context, workspaceID string, ids []string, n needs, cache *eventCache, now time.Time) (map[string]*Facts, error) {
	customers, err := e.store.CustomersOf(ctx, workspaceID, ids)
	if err != nil || len(customers) == 0 {
		return nil, err
	}
	found := make([]string, 0, len(customers))
	out := make(map[string]*Facts, len(customers))
	for _, id := range ids {
		if c, ok := customers[id]; ok && out[id] == nil {
			found = append(found, id)
			out[id] = &Facts{Now: now, Traits: c.Traits, Segments: map[string]bool{}}
		}
	}
	if names, since := n.eventNames(); len(names) > 0 && cache != nil {
		// Without a filterMemo: it takes a slot per property set of the
		// cache and condition (millions in a large workspace), which a bulk
		// evaluation amortises and a batch of a few hundred customers
		// would not.
		for _, id := range found {
			out[id].cached, _ = cache.facts(id, since.UnixMicro(), -1)
		}
	} else if len(names) > 0 {
		evs, err := e.store.BehavioursOf(ctx, workspaceID, found, names, since)
		if err != nil {
			return nil, err
		}
		byCustomer := map[string][]Behaviour{}
		for _, b := range evs {
			byCustomer[b.CustomerID] = append(byCustomer[b.CustomerID], b)
		}
		for id, evs := range byCustomer {
			if f := out[id]; f != nil {
				f.Events = groupByName(evs)
			}
		}
	}
	if n.rfm {
		ent, err := e.rfmScores(ctx, workspaceID, now, false)
		if err != nil {
			return nil, err
		}
		for _, id := range found {
			if i, ok := ent.index.find(id); ok && ent.scores[i].Recency != 0 {
				s := ent.scores[i]
				out[id].RFM = &s
			}
			if ent.behind {
				e.markLate(workspaceID, id)
			}
		}
	}
	if n.lifecycle {
		settings, err := e.store.LifecycleSettings(ctx, workspaceID)
		if err != nil {
			return nil, err
		}
		stats, err := e.orderStatsOf(ctx, workspaceID, found)
		if err != nil {
			return nil, err
		}
		for _, id := range found {
			st, ok := stats[id]
			if !ok {
				st = OrderStats{CustomerID: id}
			}
			out[id].Stage = StageOf(st, settings, now)
		}
	}
	if n.predicted {
		preds, err := e.store.PredictionsOf(ctx, workspaceID, found)
		if err != nil {
			return nil, err
		}
		for id, p := range preds {
			if f := out[id]; f != nil {
				f.Predicted = p.values()
			}
		}
	}
	return out, nil
}

// orderStatsOf returns the order statistics of customers ids (none for a
// customer without orders): those of the workspace's cached RFM scores
// when no order changed since they were read (same orders version; merges,
// unmerges and erasures change it too), else read from the store.
func (e *Engine) orderStatsOf(ctx context.Context, workspaceID string, ids []string) (map[string]OrderStats, error) {
	version, ent, ok, err := e.cachedRFM(ctx, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("order stats: %w", err)
	}
	if !ok || ent.version != version {
		return e.store.OrderStatsOf(ctx, workspaceID, ids)
	}
	out := make(map[string]OrderStats, len(ids))
	for _, id := range ids {
		if i, ok := ent.index.find(id); ok {
			out[id] = ent.list[i]
		}
	}
	return out, nil
}

func groupByName(evs []Behaviour) map[string][]Behaviour {
	out := map[string][]Behaviour{}
	for _, b := range evs {
		out[b.Name] = append(out[b.Name], b)
	}
	return out
}

func segmentsOf(list []compiled) []Segment {
	out := make([]Segment, len(list))
	for i, c := range list {
		out[i] = c.seg
	}
	return out
}

// differ works out customers' membership changes against a list of
// segments (in dependency order).
type differ struct {
	workspaceID string
	list        []compiled
	index       map[string]int // list position by segment id
	// leaveOthers is whether a customer leaves the segments it is in
	// that are not in list (as when their segment is gone); otherwise
	// they are ignored.
	leaveOthers bool
	had         []bool // scratch, by list position
}

func newDiffer(workspaceID string, list []compiled, leaveOthers bool) *differ {
	d := &differ{workspaceID: workspaceID, list: list, index: make(map[string]int, len(list)), leaveOthers: leaveOthers, had: make([]bool, len(list))}
	for i, c := range list {
		d.index[c.seg.ID] = i
	}
	return d
}

// changes appends to changes those that take a customer from the segments
// it is in (current, ids) to the segments among list whose rule holds for
// facts, evaluated in list order so that a rule reading another segment
// sees its new membership. A customer without facts (nil) belongs in none.
func (d *differ) changes(changes []MembershipChange, customerID string, facts *Facts, current []string) []MembershipChange {
	var others []string
	for _, id := range current {
		if i, ok := d.index[id]; ok {
			d.had[i] = true
		} else if d.leaveOthers {
			others = append(others, id)
		}
	}
	for i, c := range d.list {
		want := facts != nil && c.match(facts)
		if facts != nil && c.referenced && want != facts.Segments[c.seg.ID] { // absent is false: most customers are in few segments
			facts.Segments[c.seg.ID] = want
		}
		if want != d.had[i] {
			changes = append(changes, MembershipChange{WorkspaceID: d.workspaceID, SegmentID: c.seg.ID, CustomerID: customerID, Joined: want})
		}
		d.had[i] = false
	}
	slices.Sort(others)
	for _, id := range slices.Compact(others) {
		changes = append(changes, MembershipChange{WorkspaceID: d.workspaceID, SegmentID: id, CustomerID: customerID})
	}
	return changes
}

// customerPageFacts is one page of a bulk evaluation: the customers with
// after < id <= upTo (no upper bound when upTo is empty), their facts, and
// their memberships in the segments asked for.
type customerPageFacts struct {
	after, upTo string
	customers   []CustomerTraits
	facts       []*Facts
	// members maps customer id to the segments (of those asked for) it is
	// in, also for members without a customer row.
	members map[string][]string
}

// forEachPage reads the workspace's customers page by page with the facts
// list's rules need, the memberships in memberOf, and the memberships in
// the segments list's rules refer to (in Facts.Segments), and calls fn
// with each page, in customer id order. The next pages are read while fn
// works on the one before (see "A bulk evaluation is a four-stage
// pipeline" in docs/DESIGN.md): pages cover disjoint customers, so what
// fn writes is never what the read ahead reads.
//
// Events come from the workspace's event cache when it holds what list
// reads, or when build is given (the needs of all the workspace's
// segments), which (re)builds it; otherwise they are read from the store
// page by page.
//
// With members, memberships come from the workspace's membership cache
// when it is exact, and otherwise (see memberUse) pages may read them all
// and build it.
func (e *Engine) forEachPage(ctx context.Context, workspaceID string, list []compiled, memberOf []string, now time.Time, build *needs, members *memberUse, fn func(customerPageFacts) error) (err error) {
	r := pageReader{e: e, workspaceID: workspaceID, now: now, needs: needsOf(segmentsOf(list), now)}
	r.names, r.since = r.needs.eventNames()
	r.traitKeys = r.needs.traitKeys()
	// Three goroutines: one pages through the customers, one reads the
	// rest of each page's facts, and fn works on the page before. The
	// first starts at once: paging needs none of what the others do,
	// which takes a while to set up (the event cache refreshed, RFM
	// scores recomputed).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	customers, pages := make(chan customerPageFacts, 1), make(chan customerPageFacts, 1)
	g.Go(func() error {
		defer close(customers)
		after := ""
		for {
			p, err := r.customers(gctx, after)
			if err != nil {
				return err
			}
			if err := send(gctx, customers, p); err != nil {
				return err
			}
			if p.upTo == "" {
				return nil
			}
			after = p.upTo
		}
	})
	stop := func(err error) error { // ends the paging begun
		cancel()
		_ = g.Wait()
		return err
	}
	if len(r.names) > 0 {
		var release func()
		if r.cache, release, err = e.cachedEvents(ctx, workspaceID, r.names, r.needs.propKeys(), build); err != nil {
			return stop(err)
		}
		if r.cache != nil {
			defer release()
			r.memo = newFilterMemo(r.cache)
		}
	}
	if r.needs.rfm || r.needs.lifecycle {
		if r.rfm, err = e.rfmScores(ctx, workspaceID, now, r.needs.lifecycle); err != nil {
			return stop(err)
		}
	}
	if r.needs.lifecycle {
		if r.settings, err = e.store.LifecycleSettings(ctx, workspaceID); err != nil {
			return stop(err)
		}
	}
	r.read = slices.Concat(memberOf, r.needs.segments)
	slices.Sort(r.read)
	r.read = slices.Compact(r.read)
	if members != nil {
		held := slices.Compact(slices.Sorted(slices.Values(slices.Concat(members.held, r.read))))
		var warm bool
		if r.members, warm, err = e.memberships(ctx, workspaceID, held, r.read, members.build); err != nil {
			return stop(err)
		}
		if r.members != nil {
			defer func() { r.members.done(err == nil) }()
			if !warm {
				r.read, r.fill = held, true // read them all, to build the cache
			}
		}
	}
	g.Go(func() error {
		defer close(pages)
		for p := range customers {
			if err := r.facts(gctx, &p); err != nil {
				return err
			}
			if err := send(gctx, pages, p); err != nil {
				return err
			}
		}
		return nil
	})
	g.Go(func() error {
		for p := range pages {
			if err := fn(p); err != nil {
				return err
			}
		}
		return nil
	})
	return g.Wait()
}

// send hands v to the next stage of a pipeline, unless ctx ends first
// (a stage failed).
func send[T any](ctx context.Context, ch chan<- T, v T) error {
	select {
	case ch <- v:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pageReader reads the pages of one bulk evaluation.
type pageReader struct {
	e           *Engine
	workspaceID string
	now         time.Time
	needs       needs
	names       []string
	since       time.Time
	traitKeys   []string
	rfm         rfmEntry
	settings    LifecycleSettings
	// read are the segments whose memberships a page holds.
	read []string
	// cache, when not nil, holds the events (locked for the evaluation).
	cache *eventCache
	// memo serves the pages' evaluation (one goroutine, after reading).
	memo *filterMemo
	// members, when not nil, is the workspace's membership cache: pages'
	// memberships are read from it, or with fill read from the store and
	// recorded in it.
	members *memberCache
	fill    bool
}

// customers reads the page of customers after after, up to customerPage
// of them.
func (r *pageReader) customers(ctx context.Context, after string) (customerPageFacts, error) {
	page, err := r.e.store.ListCustomerTraits(ctx, r.workspaceID, after, customerPage, r.traitKeys)
	if err != nil {
		return customerPageFacts{}, err
	}
	p := customerPageFacts{after: after, customers: page}
	if len(page) == customerPage {
		p.upTo = page[len(page)-1].ID // the last page also sweeps up members with no customer row
	}
	return p, nil
}

// facts reads the rest of page p: its memberships and the customers'
// facts.
func (r *pageReader) facts(ctx context.Context, p *customerPageFacts) error {
	e, workspaceID, n, now, after, page := r.e, r.workspaceID, r.needs, r.now, p.after, p.customers
	p.facts, p.members = make([]*Facts, len(page)), map[string][]string{}
	switch {
	case len(r.read) == 0:
	case r.members != nil && !r.fill:
		p.members = r.members.page(page, r.read, p.upTo == "")
	default:
		var err error
		if p.members, err = e.store.MembershipsInRange(ctx, workspaceID, r.read, after, p.upTo); err != nil {
			return err
		}
		if r.fill {
			r.members.fill(p.members)
		}
	}
	var preds map[string]map[string]float64
	if n.predicted {
		ps, err := e.store.PredictionsInRange(ctx, workspaceID, after, p.upTo)
		if err != nil {
			return err
		}
		preds = make(map[string]map[string]float64, len(ps))
		for _, x := range ps {
			preds[x.CustomerID] = x.values()
		}
	}
	var events map[string][]Behaviour
	if len(r.names) > 0 && r.cache == nil {
		evs, err := e.store.BehavioursInRange(ctx, workspaceID, r.names, r.since, after, p.upTo)
		if err != nil {
			return err
		}
		events = map[string][]Behaviour{}
		for _, b := range evs {
			events[b.CustomerID] = append(events[b.CustomerID], b)
		}
	}
	// The page's customers come in id order, the order the event cache and
	// the RFM statistics number them in: each look-up tries the number
	// after the one before first.
	cached, scored := -1, -1
	for i, c := range page {
		f := &Facts{Now: now, Traits: c.Traits, Segments: map[string]bool{}, Predicted: preds[c.ID]}
		for _, id := range n.segments {
			f.Segments[id] = slices.Contains(p.members[c.ID], id)
		}
		if r.cache != nil {
			f.filters = r.memo
			f.cached, cached = r.cache.facts(c.ID, r.since.UnixMicro(), cached)
		} else if evs := events[c.ID]; len(evs) > 0 {
			f.Events = groupByName(evs)
		}
		if n.rfm || n.lifecycle {
			j, ok := r.rfm.index.findFrom(c.ID, scored)
			if ok {
				scored = j
			}
			if ok && n.rfm && r.rfm.scores[j].Recency != 0 {
				s := r.rfm.scores[j]
				f.RFM = &s
			}
			if n.lifecycle {
				f.Stage = StageProspect
				if ok { // read at the start of this evaluation, as the live path reads them fresh
					f.Stage = StageOf(r.rfm.list[j], r.settings, now)
				}
			}
		}
		p.facts[i] = f
	}
	return nil
}

// evaluateSegments re-evaluates every customer of the workspace against
// list (in dependency order). The caller holds the workspace lock. With
// buildMembers (sweeps and recomputes, which read most memberships
// anyway), it builds the workspace's membership cache when it is not
// exact; other evaluations use it only when it is.
func (e *Engine) evaluateSegments(ctx context.Context, workspaceID string, list []compiled, buildMembers bool) error {
	if len(list) == 0 {
		return nil
	}
	now := e.now()
	ids := make([]string, len(list))
	for i, c := range list {
		ids[i] = c.seg.ID
	}
	// The event cache is built for every segment of the workspace (as
	// last compiled), so that sweeps (of some) and recomputes (of all)
	// share it, and for list's.
	e.mu.Lock()
	all := e.segs[workspaceID].list
	e.mu.Unlock()
	build := needsOf(segmentsOf(all), now)
	for _, c := range list {
		build.add(c.seg.Rule, now)
	}
	// The membership cache likewise holds every segment's memberships.
	held := make([]string, 0, len(all)+len(list))
	for _, c := range slices.Concat(all, list) {
		held = append(held, c.seg.ID)
	}
	// The pages also hold memberships in segments list's rules refer to,
	// which are not list's to change.
	diff := newDiffer(workspaceID, list, false)
	// Writing a page's changes takes about as long as evaluating it, so
	// a third goroutine writes while the next page is evaluated (and the
	// one after read). Changes are written changeBatch at a time, a
	// batch gathering the changes of as many pages as it takes: a day's
	// step changes a few dozen memberships per page of a thousand
	// customers, and a transaction per page costs a commit (SQLite) and
	// round trips (PostgreSQL) for each.
	g, gctx := errgroup.WithContext(ctx)
	writes := make(chan []MembershipChange, 1)
	g.Go(func() error {
		for changes := range writes {
			if err := e.applyChanges(gctx, changes, now); err != nil {
				return err
			}
		}
		return nil
	})
	g.Go(func() error {
		defer close(writes)
		var changes []MembershipChange
		err := e.forEachPage(gctx, workspaceID, list, ids, now, &build, &memberUse{held: held, build: buildMembers}, func(p customerPageFacts) error {
			for i, c := range p.customers {
				changes = diff.changes(changes, c.ID, p.facts[i], p.members[c.ID])
				delete(p.members, c.ID)
			}
			e.counters.evaluated(gctx, triggerBulk, len(p.customers))
			for _, id := range slices.Sorted(maps.Keys(p.members)) { // members without a customer row
				changes = diff.changes(changes, id, nil, p.members[id])
			}
			if len(changes) < changeBatch {
				return nil
			}
			err := send(gctx, writes, changes)
			changes = nil
			return err
		})
		if err != nil || len(changes) == 0 {
			return err
		}
		return send(gctx, writes, changes)
	})
	if err := g.Wait(); err != nil {
		return fmt.Errorf("evaluate segments: %w", err)
	}
	return nil
}

// applyChanges stamps and stores changes in batches and wakes the relay.
func (e *Engine) applyChanges(ctx context.Context, changes []MembershipChange, now time.Time) error {
	if len(changes) == 0 {
		return nil
	}
	for i := range changes {
		id, err := NewChangeID()
		if err != nil {
			return err
		}
		changes[i].ChangeID = id
		changes[i].Time = now
	}
	defer e.signal()
	for start := 0; start < len(changes); start += changeBatch {
		end := min(start+changeBatch, len(changes))
		applied, version, err := e.store.ApplyChanges(ctx, changes[start:end])
		if err != nil {
			return fmt.Errorf("apply membership changes: %w", err)
		}
		if c := e.memberCacheOf(changes[start].WorkspaceID); c != nil {
			c.applied(applied, version)
		}
		e.counters.applied(ctx, applied)
	}
	return nil
}

// rfmScores returns the workspace's order statistics and RFM scores,
// recomputing them when an order changed since they were cached or they
// are older than rfmMaxAge. Scores are relative to all purchasing
// customers, so any order can move anyone's score: caching per workspace
// avoids rescoring the whole workspace for every event. With fresh, the
// cache is used only when nothing changed since it was computed at now:
// a bulk evaluation reads every customer's orders anyway, and takes
// lifecycle stages from the same statistics.
func (e *Engine) rfmScores(ctx context.Context, workspaceID string, now time.Time, fresh bool) (rfmEntry, error) {
	// Read the version before the stats: an order committed in between makes
	// the cached version stale, never the cached scores.
	version, ent, ok, err := e.cachedRFM(ctx, workspaceID)
	if err != nil {
		return rfmEntry{}, fmt.Errorf("rfm scores: %w", err)
	}
	switch {
	case fresh && ok && ent.version == version && ent.computed.Equal(now):
		return ent, nil
	case !fresh && ok && e.reusable(ent, version, now):
		ent.behind = ent.version != version
		return ent, nil
	}
	if ok && ent.version == version {
		// No order changed, only the time: rescore the statistics read
		// (their cost, that of reading them, stays).
		scores, err := ScoreRFM(ent.list, now)
		if err != nil {
			return rfmEntry{}, err
		}
		ent.computed, ent.scores, ent.behind = now, scores, false
	} else {
		began := e.now()
		stats, err := e.store.OrderStats(ctx, workspaceID)
		if err != nil {
			return rfmEntry{}, fmt.Errorf("rfm scores: %w", err)
		}
		scores, err := ScoreRFM(stats, now)
		if err != nil {
			return rfmEntry{}, err
		}
		ent = rfmEntry{version: version, computed: now, cost: e.now().Sub(began), list: stats, index: newCustomerIndex(), scores: scores}
		for i, st := range stats {
			if ent.index.add(st.CustomerID) != i {
				return rfmEntry{}, fmt.Errorf("rfm scores: customer %s twice in the order statistics", st.CustomerID)
			}
		}
	}
	e.mu.Lock()
	e.rfm[workspaceID] = ent
	e.mu.Unlock()
	return ent, nil
}

// reusable is whether rfmScores serves ent, computed for orders version
// ent.version, at now when the orders are at version: while it is recent
// and either current or, after an order, within the reuse its cost buys.
func (e *Engine) reusable(ent rfmEntry, version int64, now time.Time) bool {
	return !now.Before(ent.computed) && now.Sub(ent.computed) < e.rfmMaxAge &&
		(ent.version == version || now.Sub(ent.computed) < rfmCostFactor*ent.cost)
}

// cachedRFM returns the workspace's orders version and then its cached
// RFM entry, if any (ok).
func (e *Engine) cachedRFM(ctx context.Context, workspaceID string) (version int64, ent rfmEntry, ok bool, err error) {
	if version, err = e.store.OrdersVersion(ctx, workspaceID); err != nil {
		return 0, rfmEntry{}, false, err
	}
	e.mu.Lock()
	ent, ok = e.rfm[workspaceID]
	e.mu.Unlock()
	return version, ent, ok, nil
}

// rfmBehind is whether the RFM scores an evaluation at now would use are
// behind the workspace's orders.
func (e *Engine) rfmBehind(ctx context.Context, workspaceID string, now time.Time) (bool, error) {
	version, ent, ok, err := e.cachedRFM(ctx, workspaceID)
	if err != nil {
		return false, fmt.Errorf("rfm scores: %w", err)
	}
	return ok && ent.version != version && e.reusable(ent, version, now), nil
}

// segments returns the workspace's segments, built-in ones included,
// compiled once per SegmentsVersion and in dependency order: every event is
// evaluated against all of them. The result is shared; callers must not
// modify it. The caller holds the workspace lock.
func (e *Engine) segments(ctx context.Context, workspaceID string) ([]compiled, error) {
	if err := e.ensureBuiltins(ctx, workspaceID); err != nil {
		return nil, err
	}
	// Read the version before the segments, as rfmScores does: a segment
	// created or deleted in between makes the cached version stale, never
	// the cached segments.
	version, err := e.store.SegmentsVersion(ctx, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("segments: %w", err)
	}
	e.mu.Lock()
	ent, ok := e.segs[workspaceID]
	e.mu.Unlock()
	if ok && ent.version == version {
		return ent.list, nil
	}
	segs, err := e.store.AllSegments(ctx, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("segments: %w", err)
	}
	list := compileInOrder(segs)
	e.mu.Lock()
	if cur, ok := e.segs[workspaceID]; !ok || cur.version <= version {
		e.segs[workspaceID] = segmentsEntry{version: version, list: list}
	}
	e.mu.Unlock()
	return list, nil
}

// ensureBuiltins creates the workspace's built-in segments, and computes
// their membership, the first time the workspace is seen. The caller holds
// the workspace lock.
func (e *Engine) ensureBuiltins(ctx context.Context, workspaceID string) error {
	e.mu.Lock()
	done := e.ensured[workspaceID]
	e.mu.Unlock()
	if done {
		return nil
	}
	builtins := BuiltinSegments(workspaceID)
	created, err := e.store.EnsureSegments(ctx, workspaceID, builtins)
	if err != nil {
		return fmt.Errorf("built-in segments: %w", err)
	}
	var backfill []compiled
	for _, c := range compileInOrder(builtins) {
		if slices.Contains(created, c.seg.ID) {
			backfill = append(backfill, c)
		}
	}
	if err := e.evaluateSegments(ctx, workspaceID, backfill, false); err != nil {
		return fmt.Errorf("built-in segments: %w", err)
	}
	e.mu.Lock()
	e.ensured[workspaceID] = true
	e.mu.Unlock()
	return nil
}

// compileInOrder compiles segs and orders them so that every segment comes
// after the segments its rule refers to. Validation keeps references
// acyclic; should a cycle exist anyway, it is cut at an arbitrary point
// rather than looping.
func compileInOrder(segs []Segment) []compiled {
	byID := make(map[string]Segment, len(segs))
	for _, s := range segs {
		byID[s.ID] = s
	}
	state := map[string]int{} // 1: visiting, 2: done
	out := make([]compiled, 0, len(segs))
	var visit func(s Segment)
	visit = func(s Segment) {
		if state[s.ID] != 0 {
			return
		}
		state[s.ID] = 1
		for _, ref := range s.Rule.SegmentRefs() {
			if r, ok := byID[ref]; ok {
				visit(r)
			}
		}
		state[s.ID] = 2
		out = append(out, compiled{seg: s, match: s.Rule.Compile()})
	}
	for _, s := range segs {
		visit(s)
	}
	refs := map[string]bool{}
	for _, c := range out {
		for _, ref := range c.seg.Rule.SegmentRefs() {
			refs[ref] = true
		}
	}
	for i := range out {
		out[i].referenced = refs[out[i].seg.ID]
	}
	return out
}

// dependents returns the segments of list that refer to any of ids,
// directly or through other segments, with the segments ids themselves,
// in list order.
func dependents(list []compiled, ids ...string) []compiled {
	hit := map[string]bool{}
	for _, id := range ids {
		hit[id] = true
	}
	var out []compiled
	for _, c := range list { // dependency order: a segment's references come before it
		if !hit[c.seg.ID] {
			for _, ref := range c.seg.Rule.SegmentRefs() {
				if hit[ref] {
					hit[c.seg.ID] = true
					break
				}
			}
		}
		if hit[c.seg.ID] {
			out = append(out, c)
		}
	}
	return out
}

// checkReferences checks that the segments rule refers to exist among
// list and that, saved as segment id, it would close no cycle.
func checkReferences(v *validation.Error, path string, r Rule, id string, list []compiled) {
	known := map[string]Segment{}
	for _, c := range list {
		known[c.seg.ID] = c.seg
	}
	var refPaths []struct{ path, id string }
	collectRefPaths(path, r, &refPaths)
	for _, rp := range refPaths {
		if _, ok := known[rp.id]; !ok {
			v.Addf(rp.path, "no segment %q in this workspace", rp.id)
			continue
		}
		if id != "" && reaches(known, rp.id, id, map[string]bool{}) {
			v.Addf(rp.path, "segment %q refers back to this segment: rules may not refer to each other in a cycle", rp.id)
		}
	}
}

// reaches reports whether segment from refers, directly or not, to to.
func reaches(known map[string]Segment, from, to string, seen map[string]bool) bool {
	if from == to {
		return true
	}
	if seen[from] {
		return false
	}
	seen[from] = true
	for _, ref := range known[from].Rule.SegmentRefs() {
		if reaches(known, ref, to, seen) {
			return true
		}
	}
	return false
}

func collectRefPaths(path string, r Rule, out *[]struct{ path, id string }) {
	switch {
	case len(r.All) > 0:
		for i, c := range r.All {
			collectRefPaths(fmt.Sprintf("%s.all[%d]", path, i), c, out)
		}
	case len(r.Any) > 0:
		for i, c := range r.Any {
			collectRefPaths(fmt.Sprintf("%s.any[%d]", path, i), c, out)
		}
	case r.Not != nil:
		collectRefPaths(path+".not", *r.Not, out)
	case r.Segment != nil:
		*out = append(*out, struct{ path, id string }{path + ".segment.segment_id", r.Segment.SegmentID})
	}
}

// Create validates and stores a new segment, computes its membership over
// every known customer of the workspace, and returns it with its size.
func (e *Engine) Create(ctx context.Context, s Segment) (Segment, error) {
	if err := Validate(s); err != nil {
		return Segment{}, err
	}
	s.normalize()
	var err error
	if s.ID, err = NewID(); err != nil {
		return Segment{}, fmt.Errorf("create segment: %w", err)
	}
	s.CreateTime = e.now().UTC().Truncate(time.Microsecond)
	s.Size = 0
	s.BuiltIn = false
	// Hold the workspace lock from the limit check to the backfill, so two
	// creations cannot both pass the check and no customer evaluation
	// interleaves with a backfill working from older facts.
	unlock := e.locks.lock(s.WorkspaceID)
	defer unlock()
	existing, err := e.segments(ctx, s.WorkspaceID)
	if err != nil {
		return Segment{}, fmt.Errorf("create segment: %w", err)
	}
	own := 0
	for _, c := range existing {
		if !c.seg.BuiltIn {
			own++
		}
	}
	if own >= MaxSegmentsPerSpace {
		return Segment{}, &LimitError{What: "segments per workspace", Max: MaxSegmentsPerSpace}
	}
	v := &validation.Error{}
	checkReferences(v, "segment.rule", s.Rule, "", existing)
	if err := e.resolveComputed(ctx, v, "segment.rule", s.WorkspaceID, &s.Rule); err != nil {
		return Segment{}, fmt.Errorf("create segment: %w", err)
	}
	if err := v.Err(); err != nil {
		return Segment{}, err
	}
	if err := e.store.CreateSegment(ctx, s); err != nil {
		return Segment{}, fmt.Errorf("create segment: %w", err)
	}
	if err := e.evaluateSegments(ctx, s.WorkspaceID, []compiled{{seg: s, match: s.Rule.Compile()}}, false); err != nil {
		return Segment{}, fmt.Errorf("create segment %s: backfill: %w", s.ID, err)
	}
	out, err := e.store.GetSegment(ctx, s.WorkspaceID, s.ID)
	if err != nil {
		return Segment{}, fmt.Errorf("create segment: %w", err)
	}
	return out, nil
}

// Segment update fields, as update masks name them.
const (
	FieldDisplayName = "display_name"
	FieldDescription = "description"
	FieldRule        = "rule"
)

// Update changes the fields of a segment named by fields (all three when
// empty), taking them from s, and re-evaluates every customer against the
// segment and the segments that refer to it.
func (e *Engine) Update(ctx context.Context, s Segment, fields []string) (Segment, error) {
	if len(fields) == 0 {
		fields = []string{FieldDisplayName, FieldDescription, FieldRule}
	}
	unlock := e.locks.lock(s.WorkspaceID)
	defer unlock()
	list, err := e.segments(ctx, s.WorkspaceID)
	if err != nil {
		return Segment{}, fmt.Errorf("update segment %s: %w", s.ID, err)
	}
	cur, err := e.store.GetSegment(ctx, s.WorkspaceID, s.ID)
	if err != nil {
		return Segment{}, fmt.Errorf("update segment %s: %w", s.ID, err)
	}
	if cur.BuiltIn {
		return Segment{}, fmt.Errorf("update segment %s: %w", s.ID, ErrBuiltIn)
	}
	next := cur
	for _, f := range fields {
		switch f {
		case FieldDisplayName:
			next.DisplayName = s.DisplayName
		case FieldDescription:
			next.Description = s.Description
		case FieldRule:
			next.Rule = s.Rule
		}
	}
	if err := Validate(next); err != nil {
		return Segment{}, err
	}
	next.normalize()
	v := &validation.Error{}
	checkReferences(v, "segment.rule", next.Rule, next.ID, list)
	if slices.Contains(fields, FieldRule) {
		if err := e.resolveComputed(ctx, v, "segment.rule", s.WorkspaceID, &next.Rule); err != nil {
			return Segment{}, fmt.Errorf("update segment %s: %w", s.ID, err)
		}
	}
	if err := v.Err(); err != nil {
		return Segment{}, err
	}
	if err := e.store.UpdateSegment(ctx, next); err != nil {
		return Segment{}, fmt.Errorf("update segment %s: %w", s.ID, err)
	}
	if slices.Contains(fields, FieldRule) {
		list, err = e.segments(ctx, s.WorkspaceID)
		if err != nil {
			return Segment{}, fmt.Errorf("update segment %s: %w", s.ID, err)
		}
		if err := e.evaluateSegments(ctx, s.WorkspaceID, dependents(list, s.ID), false); err != nil {
			return Segment{}, fmt.Errorf("update segment %s: re-evaluate: %w", s.ID, err)
		}
	}
	out, err := e.store.GetSegment(ctx, s.WorkspaceID, s.ID)
	if err != nil {
		return Segment{}, fmt.Errorf("update segment %s: %w", s.ID, err)
	}
	return out, nil
}

// ErrBuiltIn reports an attempt to change or delete a built-in segment.
var ErrBuiltIn = errors.New("built-in segments are read-only")

// Preview is the size of a rule over the workspace now and a sample of
// its matching customers.
type Preview struct {
	Size   int64
	Sample []string
}

// MaxPreviewSample bounds the sample a preview returns.
const MaxPreviewSample = 100

// Preview evaluates rule over every customer of the workspace without
// storing anything, returning the number of matches and the first sample
// matching customer ids. Validation paths start at "rule".
func (e *Engine) Preview(ctx context.Context, workspaceID string, rule Rule, sample int) (Preview, error) {
	v := &validation.Error{}
	ValidateRule(v, "rule", rule)
	if err := v.Err(); err != nil {
		return Preview{}, err
	}
	rule.normalize()
	unlock := e.locks.lock(workspaceID)
	list, err := e.segments(ctx, workspaceID)
	unlock()
	if err != nil {
		return Preview{}, fmt.Errorf("preview: %w", err)
	}
	checkReferences(v, "rule", rule, "", list)
	if err := e.resolveComputed(ctx, v, "rule", workspaceID, &rule); err != nil {
		return Preview{}, fmt.Errorf("preview: %w", err)
	}
	if err := v.Err(); err != nil {
		return Preview{}, err
	}
	one := []compiled{{seg: Segment{WorkspaceID: workspaceID, Rule: rule}, match: rule.Compile()}}
	var out Preview
	err = e.forEachPage(ctx, workspaceID, one, nil, e.now(), nil, nil, func(p customerPageFacts) error {
		for i, c := range p.customers {
			if one[0].match(p.facts[i]) {
				out.Size++
				if len(out.Sample) < sample {
					out.Sample = append(out.Sample, c.ID)
				}
			}
		}
		return nil
	})
	if err != nil {
		return Preview{}, fmt.Errorf("preview: %w", err)
	}
	return out, nil
}

// LimitError reports that creating something would exceed a quota.
type LimitError struct {
	What string
	Max  int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("limit reached: at most %d %s", e.Max, e.What)
}

// Get returns a segment with its size.
func (e *Engine) Get(ctx context.Context, workspaceID, segmentID string) (Segment, error) {
	if err := e.ensure(ctx, workspaceID); err != nil {
		return Segment{}, fmt.Errorf("get segment %s: %w", segmentID, err)
	}
	s, err := e.store.GetSegment(ctx, workspaceID, segmentID)
	if err != nil {
		return Segment{}, fmt.Errorf("get segment %s: %w", segmentID, err)
	}
	return s, nil
}

// ensure makes sure the workspace has its built-in segments, for reads
// that go to the store directly.
func (e *Engine) ensure(ctx context.Context, workspaceID string) error {
	unlock := e.locks.lock(workspaceID)
	defer unlock()
	return e.ensureBuiltins(ctx, workspaceID)
}

// List returns up to limit segments created after the segment after.
func (e *Engine) List(ctx context.Context, workspaceID, after string, limit int) ([]Segment, error) {
	if err := e.ensure(ctx, workspaceID); err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	segs, err := e.store.ListSegments(ctx, workspaceID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	return segs, nil
}

// Delete removes a segment and its membership. Members are not announced
// as leaving: the segment itself is gone, which consumers learn when they
// next read it. Built-in segments and segments other rules refer to cannot
// be deleted.
func (e *Engine) Delete(ctx context.Context, workspaceID, segmentID string) error {
	unlock := e.locks.lock(workspaceID)
	defer unlock()
	list, err := e.segments(ctx, workspaceID)
	if err != nil {
		return fmt.Errorf("delete segment %s: %w", segmentID, err)
	}
	for _, c := range list {
		if c.seg.ID == segmentID && c.seg.BuiltIn {
			return fmt.Errorf("delete segment %s: %w", segmentID, ErrBuiltIn)
		}
		if slices.Contains(c.seg.Rule.SegmentRefs(), segmentID) {
			return fmt.Errorf("delete segment %s: %w", segmentID, &InUseError{By: c.seg.ID})
		}
	}
	if err := e.store.DeleteSegment(ctx, workspaceID, segmentID); err != nil {
		return fmt.Errorf("delete segment %s: %w", segmentID, err)
	}
	return nil
}

// InUseError reports a segment another segment's rule refers to.
type InUseError struct{ By string }

func (e *InUseError) Error() string { return fmt.Sprintf("segment %s refers to it", e.By) }

// Members returns a page of a segment's members and its member count.
func (e *Engine) Members(ctx context.Context, workspaceID, segmentID, after string, limit int) ([]Member, int64, error) {
	if err := e.ensure(ctx, workspaceID); err != nil {
		return nil, 0, fmt.Errorf("list members of %s: %w", segmentID, err)
	}
	members, total, err := e.store.ListMembers(ctx, workspaceID, segmentID, after, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("list members of %s: %w", segmentID, err)
	}
	return members, total, nil
}

// SegmentSize is a segment's size at the end of the bucket starting at
// Time, with the joins and leaves within it.
type SegmentSize struct {
	Time         time.Time
	Size         int64
	Joined, Left int64
}

// MaxSizeBuckets bounds the points one sizes request returns.
const MaxSizeBuckets = 1000

// Sizes returns the segment's size at the end of each bucket of width
// bucket in [start, end) (aligned down to whole buckets; zero times take
// the defaults: end now, start 30 buckets before end).
func (e *Engine) Sizes(ctx context.Context, workspaceID, segmentID string, bucket time.Duration, start, end time.Time) ([]SegmentSize, error) {
	if end.IsZero() {
		end = e.now()
	}
	end = end.UTC().Truncate(bucket).Add(bucket) // the bucket holding end is included
	if start.IsZero() {
		start = end.Add(-30 * bucket)
	}
	start = start.UTC().Truncate(bucket)
	switch n := end.Sub(start) / bucket; {
	case n <= 0:
		return nil, validation.Invalid("start_time", "must be before end_time")
	case n > MaxSizeBuckets:
		return nil, validation.Invalid("start_time", "at most %d buckets, got %d", MaxSizeBuckets, n)
	}
	if _, err := e.Get(ctx, workspaceID, segmentID); err != nil {
		return nil, err
	}
	changes, err := e.store.SizeChanges(ctx, workspaceID, segmentID, bucket, end)
	if err != nil {
		return nil, fmt.Errorf("sizes of %s: %w", segmentID, err)
	}
	var out []SegmentSize
	size, i := int64(0), 0
	for t := start; t.Before(end); t = t.Add(bucket) {
		p := SegmentSize{Time: t}
		for ; i < len(changes) && !changes[i].Bucket.After(t); i++ {
			size += changes[i].Joined - changes[i].Left
			if changes[i].Bucket.Equal(t) {
				p.Joined, p.Left = changes[i].Joined, changes[i].Left
			}
		}
		p.Size = size
		out = append(out, p)
	}
	return out, nil
}

// CustomerSegments returns the segments a customer belongs to now.
func (e *Engine) CustomerSegments(ctx context.Context, workspaceID, customerID string) ([]Segment, error) {
	segs, err := e.store.CustomerSegments(ctx, workspaceID, customerID)
	if err != nil {
		return nil, fmt.Errorf("list segments of customer %s: %w", customerID, err)
	}
	return segs, nil
}

// Features returns a customer's computed features.
func (e *Engine) Features(ctx context.Context, workspaceID, customerID string) (Features, error) {
	c, err := e.store.Customer(ctx, workspaceID, customerID)
	if err != nil {
		return Features{}, fmt.Errorf("features of customer %s: %w", customerID, err)
	}
	stats, err := e.store.CustomerOrderStats(ctx, workspaceID, customerID)
	if err != nil {
		return Features{}, fmt.Errorf("features of customer %s: %w", customerID, err)
	}
	settings, err := e.store.LifecycleSettings(ctx, workspaceID)
	if err != nil {
		return Features{}, fmt.Errorf("features of customer %s: %w", customerID, err)
	}
	now := e.now()
	f := Features{CustomerID: customerID, Orders: stats, EventCount: c.EventCount, Stage: StageOf(stats, settings, now)}
	if f.Computed, err = e.computedValues(ctx, workspaceID, customerID, now); err != nil {
		return Features{}, fmt.Errorf("features of customer %s: %w", customerID, err)
	}
	if p, fit, ok, err := e.CustomerPrediction(ctx, workspaceID, customerID); err != nil {
		return Features{}, fmt.Errorf("features of customer %s: %w", customerID, err)
	} else if ok {
		f.Prediction, f.PredictionFit = &p, fit
	}
	if stats.Count > 0 {
		ent, err := e.rfmScores(ctx, workspaceID, now, false)
		if err != nil {
			return Features{}, fmt.Errorf("features of customer %s: %w", customerID, err)
		}
		if i, ok := ent.index.find(customerID); ok && ent.scores[i].Recency != 0 {
			s := ent.scores[i]
			f.RFM = &s
		}
	}
	return f, nil
}

// RFMCell is one cell of the R×F grid.
type RFMCell struct {
	Recency, Frequency int32
	Customers          int64
	Revenue            float64
}

// RFMGrid returns the 25 cells of the R×F grid, recency major, both
// ascending.
func (e *Engine) RFMGrid(ctx context.Context, workspaceID string) ([]RFMCell, error) {
	ent, err := e.rfmScores(ctx, workspaceID, e.now(), false)
	if err != nil {
		return nil, fmt.Errorf("rfm grid: %w", err)
	}
	cells := make([]RFMCell, 25)
	for r := range int32(5) {
		for f := range int32(5) {
			cells[r*5+f] = RFMCell{Recency: r + 1, Frequency: f + 1}
		}
	}
	for i, s := range ent.scores {
		if s.Recency == 0 {
			continue // no orders
		}
		c := &cells[(s.Recency-1)*5+s.Frequency-1]
		c.Customers++
		c.Revenue += ent.list[i].Revenue
	}
	return cells, nil
}

// LifecycleSettings returns the workspace's lifecycle thresholds.
func (e *Engine) LifecycleSettings(ctx context.Context, workspaceID string) (LifecycleSettings, error) {
	s, err := e.store.LifecycleSettings(ctx, workspaceID)
	if err != nil {
		return LifecycleSettings{}, fmt.Errorf("lifecycle settings: %w", err)
	}
	return s, nil
}

// Lifecycle settings fields, as update masks name them.
const (
	FieldLoyalMinOrders = "loyal_min_orders"
	FieldDormantDays    = "dormant_days"
	FieldChurnedDays    = "churned_days"
)

// SetLifecycleSettings changes the thresholds named by fields (all when
// empty) to those of s and moves customers between stages at once.
func (e *Engine) SetLifecycleSettings(ctx context.Context, workspaceID string, s LifecycleSettings, fields []string) (LifecycleSettings, error) {
	unlock := e.locks.lock(workspaceID)
	defer unlock()
	next, err := e.store.LifecycleSettings(ctx, workspaceID)
	if err != nil {
		return LifecycleSettings{}, fmt.Errorf("lifecycle settings: %w", err)
	}
	if len(fields) == 0 {
		next = s
	}
	for _, f := range fields {
		switch f {
		case FieldLoyalMinOrders:
			next.LoyalMinOrders = s.LoyalMinOrders
		case FieldDormantDays:
			next.DormantDays = s.DormantDays
		case FieldChurnedDays:
			next.ChurnedDays = s.ChurnedDays
		}
	}
	if err := next.Validate(); err != nil {
		return LifecycleSettings{}, err
	}
	if err := e.store.SetLifecycleSettings(ctx, workspaceID, next); err != nil {
		return LifecycleSettings{}, fmt.Errorf("lifecycle settings: %w", err)
	}
	list, err := e.segments(ctx, workspaceID)
	if err != nil {
		return LifecycleSettings{}, fmt.Errorf("lifecycle settings: %w", err)
	}
	var lifecycle []string
	for _, c := range list {
		if c.seg.Rule.UsesLifecycle() {
			lifecycle = append(lifecycle, c.seg.ID)
		}
	}
	if err := e.evaluateSegments(ctx, workspaceID, dependents(list, lifecycle...), false); err != nil {
		return LifecycleSettings{}, fmt.Errorf("lifecycle settings: re-evaluate: %w", err)
	}
	return next, nil
}

// Sweep re-evaluates every segment whose membership can change with time
// alone (event windows, RFM, lifecycle), in every workspace that has one.
// It keeps going past a failing workspace and returns all failures joined.
func (e *Engine) Sweep(ctx context.Context) error {
	workspaces, err := e.store.WorkspacesWithDynamicSegments(ctx)
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	var errs []error
	for _, ws := range workspaces {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := e.sweepWorkspace(ctx, ws); err != nil {
			errs = append(errs, fmt.Errorf("sweep workspace %s: %w", ws, err))
		}
	}
	return errors.Join(errs...)
}

// sweepEntry records a workspace's last sweep: when it started and how
// long it took by the engine's clock.
type sweepEntry struct {
	at   time.Time
	cost time.Duration
}

// sweepCostFactor bounds the time sweeps take to about a tenth: a
// workspace is swept again only sweepCostFactor times its last sweep's
// duration after that sweep started, so a large workspace is not swept
// back to back while a small one is swept every interval.
const sweepCostFactor = 10

// sweepWorkspace re-evaluates the workspace's time-dependent segments and
// then refits its predictions if due, without the workspace lock (see
// FitPredictions).
func (e *Engine) sweepWorkspace(ctx context.Context, workspaceID string) error {
	if err := e.sweepSegments(ctx, workspaceID); err != nil {
		return err
	}
	return e.refitIfDue(ctx, workspaceID)
}

func (e *Engine) sweepSegments(ctx context.Context, workspaceID string) error {
	unlock := e.locks.lock(workspaceID)
	defer unlock()
	start := e.now()
	e.mu.Lock()
	last, ok := e.swept[workspaceID]
	e.mu.Unlock()
	if ok && !start.Before(last.at) && start.Sub(last.at) < sweepCostFactor*last.cost {
		return nil
	}
	defer func() {
		e.mu.Lock()
		e.swept[workspaceID] = sweepEntry{at: start, cost: e.now().Sub(start)}
		e.mu.Unlock()
	}()
	all, err := e.segments(ctx, workspaceID)
	if err != nil {
		return err
	}
	var dynamic []string
	for _, c := range all {
		if c.seg.Rule.Dynamic() {
			dynamic = append(dynamic, c.seg.ID)
		}
	}
	return e.evaluateSegments(ctx, workspaceID, dependents(all, dynamic...), true)
}

// Recompute re-evaluates every segment of the workspace for every customer:
// what the sweep does for time-dependent segments, for all of them.
func (e *Engine) Recompute(ctx context.Context, workspaceID string) error {
	unlock := e.locks.lock(workspaceID)
	defer unlock()
	all, err := e.segments(ctx, workspaceID)
	if err != nil {
		return err
	}
	return e.evaluateSegments(ctx, workspaceID, all, true)
}

// keyedMutex is a set of mutexes by key, created on demand and dropped when
// unused, so memory does not grow with the number of workspaces ever seen.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*refMutex
}

type refMutex struct {
	sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = map[string]*refMutex{}
	}
	m := k.locks[key]
	if m == nil {
		m = &refMutex{}
		k.locks[key] = m
	}
	m.refs++
	k.mu.Unlock()
	m.Lock()
	return func() {
		m.Unlock()
		k.mu.Lock()
		m.refs--
		if m.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
