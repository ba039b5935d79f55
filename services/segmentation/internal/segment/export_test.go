package segment

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"
)

// CachedWorkspaces lists the workspaces whose event cache the engine holds.
func (e *Engine) CachedWorkspaces() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Sorted(maps.Keys(e.events))
}

// SetCacheAge makes every event cache look unused for age, as if that much
// real time had passed since its last use.
func (e *Engine) SetCacheAge(age time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.sinceUse = func(time.Time) time.Duration { return age }
}

// DropCaches drops every event and membership cache, as a restart would.
func (e *Engine) DropCaches() {
	e.mu.Lock()
	defer e.mu.Unlock()
	clear(e.events)
	clear(e.members)
}

// MemberCacheState tells whether the engine holds an exact membership
// cache of the workspace, and at which memberships version.
func (e *Engine) MemberCacheState(workspaceID string) (exact bool, version int64) {
	c := e.memberCacheOf(workspaceID)
	if c == nil {
		return false, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == memberLoaded, c.version
}

// LastCacheUse is when the workspace's event cache was last used by an
// evaluation (zero when there is none).
func (e *Engine) LastCacheUse(workspaceID string) time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c := e.events[workspaceID]; c != nil {
		return c.lastUse
	}
	return time.Time{}
}

// LoadEventCache builds a new event cache of the workspace's events named
// names, keeping the property keys keys (both sorted), loading it in parts
// ranges of customers read by readers at a time, and returns its
// customers in the order it numbers them with their events as rules read
// them (one line each: name, time in microseconds, properties); customers
// it holds no events of are left out.
func LoadEventCache(ctx context.Context, st Store, workspaceID string, names, keys []string, parts, readers int) (ids []string, events [][]string, err error) {
	defer func(p, r int) { loadParts, loadReaders = p, r }(loadParts, loadReaders)
	loadParts, loadReaders = parts, readers
	c := &eventCache{names: names, keys: keys}
	if err := c.refresh(ctx, inParts{st}, workspaceID); err != nil {
		return nil, nil, err
	}
	x := &c.customers.index
	for i, e := range x.entries {
		id := string(x.ids[e.start : e.start+e.len])
		var evs []string
		if c.customers.runs[i].n == 0 {
			continue
		}
		for _, ev := range c.customers.run(c.customers.runs[i]) {
			b := c.behaviour(id, ev)
			evs = append(evs, fmt.Sprintf("%s %d %v", b.Name, b.Time.UnixMicro(), b.Properties))
		}
		ids, events = append(ids, id), append(events, evs)
	}
	return ids, events, nil
}

// inParts reads in parts on every backend.
type inParts struct{ Store }

func (inParts) ScanInParts() bool { return true }
