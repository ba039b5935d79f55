package segment

import (
	"maps"
	"slices"
)

// CachedWorkspaces lists the workspaces whose event cache the engine holds.
func (e *Engine) CachedWorkspaces() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Sorted(maps.Keys(e.events))
}
