package segment

import (
	"context"
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"sync"
	"time"
)

// memberCache holds a workspace's memberships for bulk evaluations, which
// otherwise read every membership back from the database each time (most
// of a full recompute's reading). A bulk evaluation diffs against it and
// the engine keeps it in step with its own writes.
//
// It is used only when exact: the store numbers the transactions that
// change memberships (MembershipsVersion, committed in version order). A
// cache at version v holds every membership committed up to v and
// nothing else, and an evaluation uses it only when the store's version
// is still v. Each write of this engine takes the next version: when
// that is v+1 its changes are applied and the cache moves to v+1;
// otherwise someone else (another replica, a merge, an erasure, a segment
// deleted) wrote in between, and the cache is rebuilt by the next bulk
// evaluation, from the pages it reads anyway.
//
// Evaluations hold the workspace lock while they use the cache, so only
// one uses it at a time; mu guards it against the evaluation's own
// pipeline, which applies the writes of a page while it reads the next.
type memberCache struct {
	mu sync.Mutex

	// lastUse is when an evaluation last used the cache, by the monotonic
	// clock (guarded by Engine.mu).
	lastUse time.Time

	// state tells whether the cache is exact (loaded), being filled by an
	// evaluation's pages (building), or neither.
	state   memberState
	version int64
	// segs are the segments whose memberships are held (sorted); a
	// customer's memberships are bits by position in segs, words per
	// customer.
	segs  []string
	words int
	index customerIndex
	bits  []uint64
	// seen marks the customers an evaluation looked up (with pass), so
	// that the last page can sweep up members with no customer row.
	seen []uint32
	pass uint32
}

type memberState int

const (
	memberStale memberState = iota
	memberBuilding
	memberLoaded
)

// memberUse is how a bulk evaluation uses the membership cache: held are
// the segments it is to hold (the workspace's, sorted), and build tells
// whether the evaluation builds it when it is not exact.
type memberUse struct {
	held  []string
	build bool
}

// memberships returns the workspace's membership cache for a bulk
// evaluation reading the memberships in read (sorted): warm when it is
// exact for them (the evaluation reads from it); otherwise, with build,
// reset to hold segs (a superset of read, sorted) and be built from the
// pages the evaluation reads (see fill), and without build nil. The caller
// holds the workspace lock and ends the evaluation with done.
func (e *Engine) memberships(ctx context.Context, workspaceID string, segs, read []string, build bool) (c *memberCache, warm bool, err error) {
	e.mu.Lock()
	e.dropIdleCaches()
	c = e.members[workspaceID]
	if c == nil {
		if !build {
			e.mu.Unlock()
			return nil, false, nil
		}
		c = &memberCache{}
		e.members[workspaceID] = c
	}
	c.lastUse = time.Now()
	e.mu.Unlock()
	v, err := e.store.MembershipsVersion(ctx, workspaceID)
	if err != nil {
		return nil, false, fmt.Errorf("membership cache: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == memberLoaded && c.version == v && subset(read, c.segs) {
		c.pass++
		return c, true, nil
	}
	if !build {
		return nil, false, nil
	}
	c.state, c.version, c.segs = memberBuilding, v, segs
	c.words = (len(segs) + 63) / 64
	c.index, c.bits, c.seen, c.pass = newCustomerIndex(), nil, nil, 1
	return c, false, nil
}

// done ends an evaluation: a cache it built is exact if the evaluation
// succeeded and nothing but its own writes changed memberships meanwhile.
func (c *memberCache) done(ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case !ok:
		c.state = memberStale
	case c.state == memberBuilding:
		c.state = memberLoaded
	}
}

// number returns the customer's number, adding it (in no segment) if
// needed. The caller holds c.mu.
func (c *memberCache) number(customerID string, prev int) int {
	if i, ok := c.index.findFrom(customerID, prev); ok {
		return i
	}
	i := c.index.add(customerID)
	c.bits = append(c.bits, make([]uint64, c.words)...)
	c.seen = append(c.seen, 0)
	return i
}

// fill records a page's memberships (those in c.segs), read from the
// store by an evaluation building the cache. The page's customers are not
// in the cache yet: pages cover disjoint customers.
func (c *memberCache) fill(members map[string][]string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != memberBuilding {
		return
	}
	for _, id := range slices.Sorted(maps.Keys(members)) { // in id order, as later look-ups go
		i := c.number(id, -1)
		c.seen[i] = c.pass
		for _, seg := range members[id] {
			if b, ok := slices.BinarySearch(c.segs, seg); ok {
				c.bits[i*c.words+b/64] |= 1 << (b % 64)
			}
		}
	}
}

// page returns the memberships in read (sorted, a subset of c.segs) of a
// page's customers, as the store's MembershipsInRange does; with last,
// also those of the members with no customer row, which no page listed.
// The returned slices are shared and must not be modified.
func (c *memberCache) page(customers []CustomerTraits, read []string, last bool) map[string][]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	mask := make([]uint64, c.words)
	for _, seg := range read {
		b, _ := slices.BinarySearch(c.segs, seg)
		mask[b/64] |= 1 << (b % 64)
	}
	out := make(map[string][]string, len(customers))
	memo := map[uint64][]string{} // one word's memberships, shared by the customers having them
	add := func(id string, i int) {
		c.seen[i] = c.pass
		if ids := c.segments(i, mask, memo); ids != nil {
			out[id] = ids
		}
	}
	prev := -1
	for _, cu := range customers {
		if i, ok := c.index.findFrom(cu.ID, prev); ok {
			add(cu.ID, i)
			prev = i
		}
	}
	if last {
		for i, seen := range c.seen {
			if seen != c.pass {
				e := c.index.entries[i]
				add(string(c.index.ids[e.start:e.start+e.len]), i)
			}
		}
	}
	return out
}

// segments returns customer i's segments among mask, nil for none. The
// caller holds c.mu.
func (c *memberCache) segments(i int, mask []uint64, memo map[uint64][]string) []string {
	words := c.bits[i*c.words : (i+1)*c.words]
	if c.words == 1 {
		w := words[0] & mask[0]
		if w == 0 {
			return nil
		}
		if ids, ok := memo[w]; ok {
			return ids
		}
		ids := c.segsOf(words, mask)
		memo[w] = ids
		return ids
	}
	return c.segsOf(words, mask)
}

func (c *memberCache) segsOf(words, mask []uint64) []string {
	var ids []string
	for k, w := range words {
		for w &= mask[k]; w != 0; w &= w - 1 {
			ids = append(ids, c.segs[64*k+bits.TrailingZeros64(w)])
		}
	}
	return ids
}

// applied records changes this engine committed under memberships
// version v (0: none taken, or not known).
func (c *memberCache) applied(changes []MembershipChange, v int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == memberStale || len(changes) == 0 {
		return
	}
	if v == 0 || v != c.version+1 {
		c.state = memberStale // someone else wrote in between
		return
	}
	c.version = v
	for _, ch := range changes {
		b, ok := slices.BinarySearch(c.segs, ch.SegmentID)
		if !ok {
			continue // a segment not held
		}
		i := c.number(ch.CustomerID, -1)
		c.seen[i] = c.pass // its page is done: not one to sweep up
		if ch.Joined {
			c.bits[i*c.words+b/64] |= 1 << (b % 64)
		} else {
			c.bits[i*c.words+b/64] &^= 1 << (b % 64)
		}
	}
}

// memberCacheOf returns the workspace's membership cache, nil when none.
func (e *Engine) memberCacheOf(workspaceID string) *memberCache {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.members[workspaceID]
}
