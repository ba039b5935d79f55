package runner

import (
	"context"
	"sync"

	"github.com/kizuna/kizuna/services/campaign/internal/journey"
	"github.com/kizuna/kizuna/services/campaign/internal/store"
)

// Live is a workspace's active and paused journeys, indexed.
type Live struct {
	version  int64
	Journeys map[string]*Compiled
	// ChannelTypes maps the workspace's channel ids to their stored type.
	ChannelTypes map[string]string
	// Reacts holds the track event names a live journey enters on, exits
	// on or waits for: only these, and consent events, can change an entry.
	Reacts map[string]bool
}

// Compiled is a journey with its step graph.
type Compiled struct {
	store.Journey
	Graph *journey.Graph
	// SendTypes are the stored channel types its send steps use.
	SendTypes []string
	// Experiments: the journey has a holdout or an A/B send step.
	Experiments bool
}

// Cache keeps each workspace's live journeys. A read checks the workspace's
// journey version (one single-row query) and reloads only when it moved, so
// every replica sees a change at its next read.
type Cache struct {
	store *store.Store

	mu   sync.Mutex
	live map[string]*Live
}

// NewCache returns an empty cache over st.
func NewCache(st *store.Store) *Cache {
	return &Cache{store: st, live: map[string]*Live{}}
}

// Live returns the workspace's live journeys.
func (c *Cache) Live(ctx context.Context, workspaceID string) (*Live, error) {
	v, err := c.store.JourneysVersion(ctx, workspaceID)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	l, ok := c.live[workspaceID]
	c.mu.Unlock()
	if ok && l.version == v {
		return l, nil
	}
	js, err := c.store.LiveJourneys(ctx, workspaceID)
	if err != nil {
		return nil, err
	}
	types, err := c.store.ChannelTypes(ctx, workspaceID)
	if err != nil {
		return nil, err
	}
	l = &Live{version: v, Journeys: make(map[string]*Compiled, len(js)), ChannelTypes: types, Reacts: map[string]bool{}}
	for _, j := range js {
		addReacts(l.Reacts, j)
		cj := &Compiled{Journey: j, Graph: journey.NewGraph(j.Definition.GetSteps()), Experiments: j.Definition.GetHoldout().GetPercent() > 0}
		seen := map[string]bool{}
		addType := func(channelID string) {
			if t := types[channelID]; t != "" && !seen[t] {
				seen[t] = true
				cj.SendTypes = append(cj.SendTypes, t)
			}
		}
		for _, st := range j.Definition.GetSteps() {
			addType(st.GetSend().GetChannelId())
			for _, v := range st.GetSend().GetVariants() {
				addType(v.GetChannelId())
				cj.Experiments = true
			}
		}
		l.Journeys[j.ID] = cj
	}
	c.mu.Lock()
	c.live[workspaceID] = l
	c.mu.Unlock()
	return l, nil
}

// addReacts adds the event names j enters on, exits on or waits for.
func addReacts(names map[string]bool, j store.Journey) {
	if j.EntryKind == store.EntryEvent {
		names[j.EntryKey] = true
	}
	for _, rule := range j.Definition.GetExitRules() {
		if e := rule.GetEvent(); e != nil {
			names[e.GetEvent()] = true
		}
	}
	for _, st := range j.Definition.GetSteps() {
		if e := st.GetWaitFor().GetEvent(); e != nil {
			names[e.GetEvent()] = true
		}
	}
}
