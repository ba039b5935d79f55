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

	"github.com/kizuna/kizuna/services/platform/validation"
)

// Paging and batching limits.
const (
	// customerPage bounds how many customers one bulk evaluation step holds
	// in memory.
	customerPage = 1000
	// changeBatch bounds the membership changes written per transaction, so
	// a large backfill neither holds the SQLite write lock for long nor
	// builds a huge PostgreSQL transaction.
	changeBatch = 500
	// relayBatch is how many outbox rows one relay step publishes.
	relayBatch = 200
	// DefaultRFMMaxAge bounds how long cached RFM scores are used without
	// recomputation when no order changed: recency moves with the clock.
	DefaultRFMMaxAge = time.Minute
)

// Config configures an Engine.
type Config struct {
	Store     Store
	Publisher Publisher
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
	pub       Publisher
	now       func() time.Time
	rfmMaxAge time.Duration

	locks keyedMutex

	mu   sync.Mutex // guards rfm and segs
	rfm  map[string]rfmEntry
	segs map[string]segmentsEntry

	wake chan struct{}
}

type rfmEntry struct {
	version  int64
	computed time.Time
	scores   map[string]Scores
}

// segmentsEntry caches a workspace's parsed segments as of a
// SegmentsVersion. The slice is shared and never modified.
type segmentsEntry struct {
	version int64
	segs    []Segment
}

// NewEngine returns an Engine.
func NewEngine(cfg Config) (*Engine, error) {
	if cfg.Store == nil || cfg.Publisher == nil {
		return nil, errors.New("segment engine: Store and Publisher are required")
	}
	e := &Engine{
		store:     cfg.Store,
		pub:       cfg.Publisher,
		now:       cfg.Now,
		rfmMaxAge: cfg.RFMMaxAge,
		rfm:       map[string]rfmEntry{},
		segs:      map[string]segmentsEntry{},
		wake:      make(chan struct{}, 1),
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
// outbox and Relay has work.
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
	if ev.Order != nil {
		ev.Order = normalizeOrder(*ev.Order, ev.EventID)
	}
	if _, err := e.store.ApplyEvent(ctx, ev, e.now()); err != nil {
		return fmt.Errorf("apply event %s: %w", ev.EventID, err)
	}
	if err := e.EvaluateCustomer(ctx, ev.WorkspaceID, ev.CustomerID); err != nil {
		return fmt.Errorf("apply event %s: %w", ev.EventID, err)
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
// re-evaluates the survivor (also on redelivery, as in ApplyEvent).
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
	_, err := e.store.ApplyMerge(ctx, m, e.now())
	unlock()
	if err != nil {
		return fmt.Errorf("apply merge %s: %w", m.MergeID, err)
	}
	e.signal() // leave changes may be in the outbox
	if err := e.EvaluateCustomer(ctx, m.WorkspaceID, m.SurvivorID); err != nil {
		return fmt.Errorf("apply merge %s: %w", m.MergeID, err)
	}
	return nil
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
	unlock := e.locks.lock(workspaceID)
	defer unlock()
	segs, err := e.segments(ctx, workspaceID)
	if err != nil {
		return fmt.Errorf("evaluate customer %s: %w", customerID, err)
	}
	current, err := e.store.CustomerSegmentIDs(ctx, workspaceID, customerID)
	if err != nil {
		return fmt.Errorf("evaluate customer %s: %w", customerID, err)
	}
	if len(segs) == 0 && len(current) == 0 {
		return nil
	}
	now := e.now()
	var facts *Facts // nil: merged away or never seen, so in no segment
	c, err := e.store.Customer(ctx, workspaceID, customerID)
	switch {
	case err == nil:
		facts = &Facts{Traits: c.Traits}
	case errors.Is(err, ErrNotFound):
	default:
		return fmt.Errorf("evaluate customer %s: %w", customerID, err)
	}
	if facts != nil {
		if keys := eventKeys(segs); len(keys) > 0 {
			if facts.EventCounts, err = e.store.CountEventsForKeys(ctx, workspaceID, customerID, keys, now); err != nil {
				return fmt.Errorf("evaluate customer %s: %w", customerID, err)
			}
		}
		if anyUsesRFM(segs) {
			scores, err := e.rfmScores(ctx, workspaceID, now)
			if err != nil {
				return fmt.Errorf("evaluate customer %s: %w", customerID, err)
			}
			if s, ok := scores[customerID]; ok {
				facts.RFM = &s
			}
		}
	}
	isMember := make(map[string]bool, len(current))
	for _, id := range current {
		isMember[id] = true
	}
	return e.applyChanges(ctx, membershipChanges(nil, workspaceID, customerID, segs, facts, isMember), now)
}

// membershipChanges appends to changes those that take a customer from the
// segments it is a member of (current, by segment id) to the segments among
// segs whose rule holds for facts. A customer without facts (nil) belongs
// in none, and it leaves the segments in current that are not among segs
// (as when their segment is gone). It empties current.
func membershipChanges(changes []MembershipChange, workspaceID, customerID string, segs []Segment, facts *Facts, current map[string]bool) []MembershipChange {
	for _, s := range segs {
		want := facts != nil && s.Rule.Matches(*facts)
		if want != current[s.ID] {
			changes = append(changes, MembershipChange{WorkspaceID: workspaceID, SegmentID: s.ID, CustomerID: customerID, Joined: want})
		}
		delete(current, s.ID)
	}
	for _, id := range slices.Sorted(maps.Keys(current)) {
		changes = append(changes, MembershipChange{WorkspaceID: workspaceID, SegmentID: id, CustomerID: customerID})
		delete(current, id)
	}
	return changes
}

// evaluateSegments re-evaluates every customer of the workspace against
// segs. The caller holds the workspace lock.
func (e *Engine) evaluateSegments(ctx context.Context, workspaceID string, segs []Segment) error {
	if len(segs) == 0 {
		return nil
	}
	now := e.now()
	counts := map[EventKey]map[string]int64{}
	for _, k := range eventKeys(segs) {
		m, err := e.store.CountEventsByCustomer(ctx, workspaceID, k.Name, WindowStart(now, k.WithinDays))
		if err != nil {
			return fmt.Errorf("evaluate segments: %w", err)
		}
		counts[k] = m
	}
	var scores map[string]Scores
	if anyUsesRFM(segs) {
		var err error
		if scores, err = e.rfmScores(ctx, workspaceID, now); err != nil {
			return fmt.Errorf("evaluate segments: %w", err)
		}
	}
	segIDs := make([]string, len(segs))
	for i, s := range segs {
		segIDs[i] = s.ID
	}
	after := ""
	for {
		page, err := e.store.ListCustomerTraits(ctx, workspaceID, after, customerPage)
		if err != nil {
			return fmt.Errorf("evaluate segments: %w", err)
		}
		upTo := "" // the last page also sweeps up members with no customer row
		if len(page) == customerPage {
			upTo = page[len(page)-1].ID
		}
		members, err := e.store.MembershipsInRange(ctx, workspaceID, segIDs, after, upTo)
		if err != nil {
			return fmt.Errorf("evaluate segments: %w", err)
		}
		current := map[string]map[string]bool{} // customer → segment ids
		for _, m := range members {
			if current[m.CustomerID] == nil {
				current[m.CustomerID] = map[string]bool{}
			}
			current[m.CustomerID][m.SegmentID] = true
		}
		var changes []MembershipChange
		for _, c := range page {
			facts := Facts{Traits: c.Traits, EventCounts: make(map[EventKey]int64, len(counts))}
			for k, m := range counts {
				facts.EventCounts[k] = m[c.ID]
			}
			if s, ok := scores[c.ID]; ok {
				facts.RFM = &s
			}
			changes = membershipChanges(changes, workspaceID, c.ID, segs, &facts, current[c.ID])
			delete(current, c.ID)
		}
		for _, id := range slices.Sorted(maps.Keys(current)) { // members without a customer row
			changes = membershipChanges(changes, workspaceID, id, segs, nil, current[id])
		}
		if err := e.applyChanges(ctx, changes, now); err != nil {
			return fmt.Errorf("evaluate segments: %w", err)
		}
		if upTo == "" {
			return nil
		}
		after = upTo
	}
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
		if _, err := e.store.ApplyChanges(ctx, changes[start:end]); err != nil {
			return fmt.Errorf("apply membership changes: %w", err)
		}
	}
	return nil
}

// rfmScores returns the workspace's RFM scores, recomputing them when an
// order changed since they were cached or they are older than rfmMaxAge.
// Scores are relative to all purchasing customers, so any order can move
// anyone's score: caching per workspace avoids rescoring the whole
// workspace for every event.
func (e *Engine) rfmScores(ctx context.Context, workspaceID string, now time.Time) (map[string]Scores, error) {
	// Read the version before the stats: an order committed in between makes
	// the cached version stale, never the cached scores.
	version, err := e.store.OrdersVersion(ctx, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("rfm scores: %w", err)
	}
	e.mu.Lock()
	ent, ok := e.rfm[workspaceID]
	e.mu.Unlock()
	if ok && ent.version == version && !now.Before(ent.computed) && now.Sub(ent.computed) < e.rfmMaxAge {
		return ent.scores, nil
	}
	stats, err := e.store.OrderStats(ctx, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("rfm scores: %w", err)
	}
	scores, err := ScoreRFM(stats, now)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.rfm[workspaceID] = rfmEntry{version: version, computed: now, scores: scores}
	e.mu.Unlock()
	return scores, nil
}

// segments returns the workspace's segments, parsed once per
// SegmentsVersion: every event is evaluated against all of them. The
// result is shared; callers must not modify it.
func (e *Engine) segments(ctx context.Context, workspaceID string) ([]Segment, error) {
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
		return ent.segs, nil
	}
	segs, err := e.store.AllSegments(ctx, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("segments: %w", err)
	}
	e.mu.Lock()
	if cur, ok := e.segs[workspaceID]; !ok || cur.version <= version {
		e.segs[workspaceID] = segmentsEntry{version: version, segs: segs}
	}
	e.mu.Unlock()
	return segs, nil
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
	// Hold the workspace lock from the limit check to the backfill, so two
	// creations cannot both pass the check and no customer evaluation
	// interleaves with a backfill working from older facts.
	unlock := e.locks.lock(s.WorkspaceID)
	defer unlock()
	existing, err := e.segments(ctx, s.WorkspaceID)
	if err != nil {
		return Segment{}, fmt.Errorf("create segment: %w", err)
	}
	if len(existing) >= MaxSegmentsPerSpace {
		return Segment{}, &LimitError{What: "segments per workspace", Max: MaxSegmentsPerSpace}
	}
	if err := e.store.CreateSegment(ctx, s); err != nil {
		return Segment{}, fmt.Errorf("create segment: %w", err)
	}
	if err := e.evaluateSegments(ctx, s.WorkspaceID, []Segment{s}); err != nil {
		return Segment{}, fmt.Errorf("create segment %s: backfill: %w", s.ID, err)
	}
	out, err := e.store.GetSegment(ctx, s.WorkspaceID, s.ID)
	if err != nil {
		return Segment{}, fmt.Errorf("create segment: %w", err)
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
	s, err := e.store.GetSegment(ctx, workspaceID, segmentID)
	if err != nil {
		return Segment{}, fmt.Errorf("get segment %s: %w", segmentID, err)
	}
	return s, nil
}

// List returns up to limit segments created after the segment after.
func (e *Engine) List(ctx context.Context, workspaceID, after string, limit int) ([]Segment, error) {
	segs, err := e.store.ListSegments(ctx, workspaceID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list segments: %w", err)
	}
	return segs, nil
}

// Delete removes a segment and its membership. Members are not announced
// as leaving: the segment itself is gone, which consumers learn when they
// next read it.
func (e *Engine) Delete(ctx context.Context, workspaceID, segmentID string) error {
	unlock := e.locks.lock(workspaceID)
	defer unlock()
	if err := e.store.DeleteSegment(ctx, workspaceID, segmentID); err != nil {
		return fmt.Errorf("delete segment %s: %w", segmentID, err)
	}
	return nil
}

// Members returns a page of a segment's members and its member count.
func (e *Engine) Members(ctx context.Context, workspaceID, segmentID, after string, limit int) ([]Member, int64, error) {
	members, total, err := e.store.ListMembers(ctx, workspaceID, segmentID, after, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("list members of %s: %w", segmentID, err)
	}
	return members, total, nil
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
	f := Features{CustomerID: customerID, Orders: stats, EventCount: c.EventCount}
	if stats.Count > 0 {
		scores, err := e.rfmScores(ctx, workspaceID, e.now())
		if err != nil {
			return Features{}, fmt.Errorf("features of customer %s: %w", customerID, err)
		}
		if s, ok := scores[customerID]; ok {
			f.RFM = &s
		}
	}
	return f, nil
}

// Sweep re-evaluates every segment whose membership can change with time
// alone (event windows, RFM), in every workspace that has one. It keeps
// going past a failing workspace and returns all failures joined.
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

func (e *Engine) sweepWorkspace(ctx context.Context, workspaceID string) error {
	unlock := e.locks.lock(workspaceID)
	defer unlock()
	all, err := e.segments(ctx, workspaceID)
	if err != nil {
		return err
	}
	var dynamic []Segment
	for _, s := range all {
		if s.Rule.Dynamic() {
			dynamic = append(dynamic, s)
		}
	}
	return e.evaluateSegments(ctx, workspaceID, dynamic)
}

// Relay publishes the outbox, oldest change first, deleting each batch once
// published. It returns when the outbox is empty or a publish fails; the
// failed change and everything after it stay for the next call, so changes
// are published at least once and, per process, in order.
func (e *Engine) Relay(ctx context.Context) error {
	for {
		pending, err := e.store.PendingChanges(ctx, relayBatch)
		if err != nil {
			return fmt.Errorf("relay: %w", err)
		}
		if len(pending) == 0 {
			return nil
		}
		published := pending[:0:0]
		var pubErr error
		for _, c := range pending {
			if pubErr = e.pub.PublishMembershipChange(ctx, c); pubErr != nil {
				break
			}
			published = append(published, c)
		}
		if err := e.store.DeleteChanges(ctx, published); err != nil {
			return errors.Join(pubErr, fmt.Errorf("relay: %w", err))
		}
		if pubErr != nil {
			return fmt.Errorf("relay: publish: %w", pubErr)
		}
	}
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
