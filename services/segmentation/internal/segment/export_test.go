package segment

import (
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
