package segment

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"
)

// eventCache holds a workspace's behaviour events in memory for bulk
// evaluations (recomputes, sweeps, previews), which otherwise read every
// customer's events back from the database each time. It holds the events
// with the names its segments read, 16 bytes each, their properties cut
// down to the top-level keys rules read and interned.
//
// It is refreshed from the database before every use, so it never serves
// data older than what was committed when the use began, also when other
// processes write: the store stamps each behaviour row with a per-workspace
// version taken by the writing transaction (versions commit in order), and
// logs the customers whose rows a merge or unmerge moved, or that an
// erasure may have deleted (logged as everyone). A refresh to version v
// from version w appends the rows stamped in (w, v] and reloads the
// customers logged in (w, v] (everything for an erasure). Rows a writer
// commits during the refresh are picked up by the next one.
type eventCache struct {
	mu sync.Mutex // held for a whole refresh and bulk evaluation

	// lastUse is when an evaluation last asked for the cache, by the
	// monotonic clock (guarded by Engine.mu).
	lastUse time.Time

	loaded  bool
	version int64
	// names are the event names held (sorted), keys the top-level
	// property keys kept (sorted).
	names, keys []string
	// props are the interned, cut-down properties; props[0] is none.
	// propsMu guards them while a load's readers add to them.
	propsMu sync.Mutex
	props   []map[string]any
	propIDs map[string]uint32 // by the cut-down properties' JSON
	rawIDs  map[string]uint32 // by stored JSON text, bounded (see intern)
	// customers holds each customer's events by name, then oldest first,
	// ties in event id order (as the store's reads order them): an event
	// condition reads one name's run of them.
	customers *eventArena
}

type cachedEvent struct {
	at    int64 // microseconds since the Unix epoch
	name  uint32
	props uint32
}

// maxRawIDs bounds the property texts remembered for reuse.
const maxRawIDs = 1 << 16

// covers reports whether the cache holds every event name and property key
// asked for (both sorted).
func (c *eventCache) covers(names, keys []string) bool {
	return c.loaded && subset(names, c.names) && subset(keys, c.keys)
}

func subset(sub, of []string) bool {
	for _, s := range sub {
		if _, ok := slices.BinarySearch(of, s); !ok {
			return false
		}
	}
	return true
}

// cachedEvents returns the workspace's event cache refreshed and locked
// (release unlocks it), when it holds names and keys. Otherwise, with
// build, it (re)builds the cache for build's event names and property keys
// (which must include names and keys); without build it returns nil.
func (e *Engine) cachedEvents(ctx context.Context, workspaceID string, names, keys []string, build *needs) (c *eventCache, release func(), err error) {
	e.mu.Lock()
	e.dropIdleCaches()
	c = e.events[workspaceID]
	if c == nil {
		if build == nil {
			e.mu.Unlock()
			return nil, nil, nil
		}
		c = &eventCache{}
		e.events[workspaceID] = c
	}
	c.lastUse = time.Now()
	e.mu.Unlock()
	return c.lockFresh(ctx, e.store, workspaceID, names, keys, build)
}

// lockFresh locks c and refreshes it, when it holds names and keys;
// otherwise, with build, it rebuilds it for build's names and keys, and
// without build it returns nil (unlocked). See cachedEvents.
func (c *eventCache) lockFresh(ctx context.Context, st Store, workspaceID string, names, keys []string, build *needs) (*eventCache, func(), error) {
	c.mu.Lock()
	if !c.covers(names, keys) {
		if build == nil {
			c.mu.Unlock()
			return nil, nil, nil
		}
		bn, _ := build.eventNames()
		c.names, c.keys, c.loaded = bn, build.propKeys(), false
	}
	if err := c.refresh(ctx, st, workspaceID); err != nil {
		c.loaded = false // rebuilt from scratch next time
		c.mu.Unlock()
		return nil, nil, fmt.Errorf("event cache: %w", err)
	}
	return c, c.mu.Unlock, nil
}

// warmEvents is cachedEvents for the live path: the workspace's event
// cache refreshed and locked, when a bulk evaluation built one holding
// names and keys, else nil. It reads events from memory instead of every
// customer's from the database, and refreshing it costs a read of the
// rows written since (the batch just applied). It leaves the cache's last
// use as it was: a replica whose sweep lease moved elsewhere still drops
// its caches an hour later, though it keeps consuming events.
func (e *Engine) warmEvents(ctx context.Context, workspaceID string, names, keys []string) (c *eventCache, release func(), err error) {
	e.mu.Lock()
	c = e.events[workspaceID]
	e.mu.Unlock()
	if c == nil {
		return nil, nil, nil
	}
	return c.lockFresh(ctx, e.store, workspaceID, names, keys, nil)
}

// cacheIdle is how long a workspace's event or membership cache may go
// unused before it is dropped: a replica whose sweep lease moved
// elsewhere, or a workspace whose segments no longer read events, stops
// using it.
const cacheIdle = time.Hour

// dropIdleCaches drops the event and membership caches unused for
// cacheIdle. The caller holds e.mu. An evaluation holding a dropped cache
// finishes with it; the next one builds a new one.
func (e *Engine) dropIdleCaches() {
	maps.DeleteFunc(e.events, func(_ string, c *eventCache) bool { return e.sinceUse(c.lastUse) >= cacheIdle })
	maps.DeleteFunc(e.members, func(_ string, c *memberCache) bool { return e.sinceUse(c.lastUse) >= cacheIdle })
}

// dropIdleCachesNow is dropIdleCaches for event consumers: every replica
// consumes events, also one that no longer evaluates in bulk.
func (e *Engine) dropIdleCachesNow() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.dropIdleCaches()
}

// refresh brings the cache up to the workspace's current behaviours
// version. The caller holds c.mu.
func (c *eventCache) refresh(ctx context.Context, st Store, workspaceID string) error {
	v, err := st.BehavioursVersion(ctx, workspaceID)
	if err != nil {
		return err
	}
	if !c.loaded {
		if err := c.load(ctx, st, workspaceID, v); err != nil {
			return err
		}
		// The load's readers each saw the database as of a moment of
		// their own after v: a customer whose rows a merge or unmerge
		// after v moved may have been read before the move by one reader
		// and after it by another. Every such move is logged after v, so
		// catching up now reloads those customers in one reading.
		if v, err = st.BehavioursVersion(ctx, workspaceID); err != nil {
			return err
		}
	}
	if v == c.version {
		return nil
	}
	changed, all, err := st.BehaviourChanges(ctx, workspaceID, c.version, v)
	if err != nil {
		return err
	}
	if all {
		return c.load(ctx, st, workspaceID, v)
	}
	reload := make(map[string]bool, len(changed))
	for _, id := range changed {
		reload[id] = true
	}
	_, err = c.scan(ctx, st, BehaviourScan{WorkspaceID: workspaceID, Names: c.names, AfterSeq: c.version, UpToSeq: v}, c.rawIDs, func(id string, evs []cachedEvent) {
		if !reload[id] && !c.customers.merge(id, evs) {
			reload[id] = true // a tie in time: only event ids can order it
		}
	})
	if err != nil {
		return err
	}
	if err := c.reload(ctx, st, workspaceID, v, slices.Sorted(maps.Keys(reload))); err != nil {
		return err
	}
	c.customers.compact()
	c.version = v
	return nil
}

// reload reads the events of customers ids again, up to version v.
func (c *eventCache) reload(ctx context.Context, st Store, workspaceID string, v int64, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	for _, id := range ids {
		c.customers.set(id, nil)
	}
	_, err := c.scan(ctx, st, BehaviourScan{WorkspaceID: workspaceID, Names: c.names, AfterSeq: -1, UpToSeq: v, Customers: ids}, c.rawIDs, func(id string, evs []cachedEvent) {
		c.customers.set(id, evs)
	})
	return err
}

// loadParts is how many ranges of customers a load reads, each by one
// query, when the store reads faster so (Store.ScanInParts: SQLite, where
// stepping the rows, most of a cold recompute, is all in this process and
// one reader used one core); loadReaders (at most) read them at a time,
// each taking the next range not yet taken, so that a range with more
// events than the others holds up one reader rather than all.
var loadParts, loadReaders = 16, min(runtime.GOMAXPROCS(0), 8)

// load reads every event the cache holds, up to version v. Its readers
// read disjoint ranges of customers, each one query seeing the database as
// of its start; every row up to v is in each's view, so each reads the
// rows up to v of its customers — but for customers whose rows were moved
// or deleted after v, which refresh catches up with.
func (c *eventCache) load(ctx context.Context, st Store, workspaceID string, v int64) error {
	c.props, c.propIDs, c.rawIDs = []map[string]any{nil}, map[string]uint32{}, map[string]uint32{}
	var bounds []string
	if st.ScanInParts() {
		var err error
		if bounds, err = st.CustomerBounds(ctx, workspaceID, loadParts); err != nil {
			return err
		}
	}
	parts := make([]*eventArena, len(bounds)+1)
	tied := make([][]string, len(parts))
	var next atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for r := range min(loadReaders, len(parts)) {
		rawIDs := c.rawIDs // the first reader's are kept
		if r > 0 {
			rawIDs = map[string]uint32{}
		}
		g.Go(func() error {
			for i := int(next.Add(1) - 1); i < len(parts); i = int(next.Add(1) - 1) {
				q := BehaviourScan{WorkspaceID: workspaceID, Names: c.names, AfterSeq: -1, UpToSeq: v, NoEventIDs: true}
				if i > 0 {
					q.From = bounds[i-1]
				}
				if i < len(bounds) {
					q.Below = bounds[i]
				}
				a := newEventArena()
				var err error
				if tied[i], err = c.scan(gctx, st, q, rawIDs, func(id string, evs []cachedEvent) { a.set(id, evs) }); err != nil {
					return err
				}
				parts[i] = a
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	// In range order, the customers are numbered in the order one query
	// reading them all would have (see customerIndex.findFrom).
	c.customers = parts[0]
	for _, a := range parts[1:] {
		c.customers.append(a)
	}
	if err := c.reload(ctx, st, workspaceID, v, slices.Concat(tied...)); err != nil {
		return err
	}
	c.loaded, c.version = true, v
	return nil
}

// scan reads the rows q selects and calls fn with each customer's, in the
// cache's order; evs is only valid during the call (fn copies them into
// the arena). Without event ids (q.NoEventIDs), events of one name and
// time are in no particular order: it returns the customers with such
// events whose properties differ, which only their ids can order (events
// alike in all the cache holds need no order).
func (c *eventCache) scan(ctx context.Context, st Store, q BehaviourScan, rawIDs map[string]uint32, fn func(customerID string, evs []cachedEvent)) (tied []string, err error) {
	type row struct {
		ev cachedEvent
		id string
	}
	var (
		cur  string
		rows []row
		evs  []cachedEvent
	)
	flush := func() {
		if len(rows) == 0 {
			return
		}
		slices.SortFunc(rows, func(a, b row) int {
			return cmp.Or(compareEvents(a.ev, b.ev), strings.Compare(a.id, b.id))
		})
		evs = evs[:0]
		for i, r := range rows {
			if q.NoEventIDs && i > 0 && compareEvents(r.ev, evs[i-1]) == 0 && r.ev.props != evs[i-1].props &&
				(len(tied) == 0 || tied[len(tied)-1] != cur) {
				tied = append(tied, cur)
			}
			evs = append(evs, r.ev)
		}
		fn(cur, evs)
		rows = rows[:0]
	}
	err = st.ScanBehaviours(ctx, q, func(b BehaviourRow) error {
		name, ok := slices.BinarySearch(c.names, b.Name)
		if !ok {
			return nil
		}
		props, err := c.intern(b.Properties, rawIDs)
		if err != nil {
			return fmt.Errorf("properties of an event of %s: %w", b.CustomerID, err)
		}
		if b.CustomerID != cur {
			flush()
			cur = b.CustomerID
		}
		rows = append(rows, row{ev: cachedEvent{at: b.Micros, name: uint32(name), props: props}, id: b.EventID})
		return nil
	})
	if err != nil {
		return nil, err
	}
	flush()
	return tied, nil
}

// intern returns the id of the properties text raw cut down to the keys
// the cache keeps. rawIDs remembers the ids of texts seen before, one map
// per goroutine interning (a load's readers), so that only new texts take
// propsMu.
func (c *eventCache) intern(raw string, rawIDs map[string]uint32) (uint32, error) {
	if raw == "{}" || raw == "" || len(c.keys) == 0 {
		return 0, nil
	}
	if id, ok := rawIDs[raw]; ok {
		return id, nil
	}
	var all map[string]any
	if err := json.Unmarshal([]byte(raw), &all); err != nil {
		return 0, err
	}
	var kept map[string]any
	for _, k := range c.keys {
		if v, ok := all[k]; ok {
			if kept == nil {
				kept = map[string]any{}
			}
			kept[k] = v
		}
	}
	var id uint32
	if kept != nil {
		text, err := json.Marshal(kept)
		if err != nil {
			return 0, err
		}
		c.propsMu.Lock()
		var ok bool
		if id, ok = c.propIDs[string(text)]; !ok {
			id = uint32(len(c.props))
			c.props = append(c.props, kept)
			c.propIDs[string(text)] = id
		}
		c.propsMu.Unlock()
	}
	if len(rawIDs) >= maxRawIDs {
		clear(rawIDs)
	}
	rawIDs[raw] = id
	return id, nil
}

// canMerge reports whether events added (sorted) can be merged into a
// customer's held ones: not when an added event has the name and time of a
// held one, which only their event ids (not held) can order.
func canMerge(held, added []cachedEvent) bool {
	i, j := 0, 0
	for i < len(held) && j < len(added) {
		switch c := compareEvents(held[i], added[j]); {
		case c == 0:
			return false
		case c < 0:
			i++
		default:
			j++
		}
	}
	return true
}

// mergeInto merges held and added (sorted, see canMerge) into dst, which
// has room for both.
func mergeInto(dst, held, added []cachedEvent) {
	i, j, k := 0, 0, 0
	for i < len(held) && j < len(added) {
		if compareEvents(held[i], added[j]) < 0 {
			dst[k] = held[i]
			i++
		} else {
			dst[k] = added[j]
			j++
		}
		k++
	}
	k += copy(dst[k:], held[i:])
	copy(dst[k:], added[j:])
}

// compareEvents orders events in the cache's order but for their ids.
func compareEvents(a, b cachedEvent) int {
	return cmp.Or(cmp.Compare(a.name, b.name), cmp.Compare(a.at, b.at))
}

// named returns the run of evs (one customer's) named name.
func (c *eventCache) named(evs []cachedEvent, name string) []cachedEvent {
	id, ok := slices.BinarySearch(c.names, name)
	if !ok {
		return nil
	}
	start, _ := slices.BinarySearchFunc(evs, uint32(id), func(ev cachedEvent, id uint32) int { return cmp.Compare(ev.name, id) })
	end := start
	for end < len(evs) && evs[end].name == uint32(id) {
		end++
	}
	return evs[start:end]
}

// behaviour is ev of customerID as rules read it. The caller holds c.mu.
func (c *eventCache) behaviour(customerID string, ev cachedEvent) Behaviour {
	name := c.names[ev.name]
	return Behaviour{CustomerID: customerID, Name: name, Time: time.UnixMicro(ev.at).UTC(), Properties: c.props[ev.props], propsID: ev.props}
}

// facts returns a customer's events, read in place for Facts.cached,
// from since (microseconds), and its number in the cache; prev is the
// number of the customer looked up before, or -1 (see
// customerIndex.findFrom). The caller holds c.mu until the facts are no
// longer read.
func (c *eventCache) facts(customerID string, since int64, prev int) (cachedFacts, int) {
	evs, i := c.customers.eventsFrom(customerID, prev)
	return cachedFacts{cache: c, customerID: customerID, events: evs, since: since}, i
}
