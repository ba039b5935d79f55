package auth

import (
	"context"
	"errors"
	"sync"
	"time"
)

// cacheMaxEntries bounds memory: a flood of random keys must not grow the
// cache without limit.
const cacheMaxEntries = 10000

type cacheEntry struct {
	principal Principal // zero for a cached rejection
	expires   time.Time
}

// cachingVerifier remembers answers of another Verifier.
type cachingVerifier struct {
	next        Verifier
	ttl, negTTL time.Duration
	// sweepEvery spaces out scans for expired entries when the cache is
	// full, so a flood of misses does not scan the whole map every time.
	sweepEvery time.Duration
	now        func() time.Time // time.Now; tests move it by hand

	mu        sync.Mutex
	entries   map[string]cacheEntry // by HashKey, so raw keys are not retained
	lastSweep time.Time
}

// NewCachingVerifier returns a Verifier that asks v at most once per ttl for
// a valid key (caching its workspace and scopes) and once per negativeTTL for a rejected one (negativeTTL 0
// disables negative caching). Verification failures other than
// ErrUnauthenticated are never cached. A revoked key keeps working for up to
// ttl, so keep ttl short (tens of seconds). At most 10,000 keys are cached.
func NewCachingVerifier(v Verifier, ttl, negativeTTL time.Duration) Verifier {
	sweepEvery := ttl
	if negativeTTL > 0 {
		sweepEvery = min(ttl, negativeTTL)
	}
	return &cachingVerifier{next: v, ttl: ttl, negTTL: negativeTTL, sweepEvery: sweepEvery, now: time.Now, entries: map[string]cacheEntry{}}
}

func (c *cachingVerifier) VerifyKey(ctx context.Context, key string) (Principal, error) {
	h := HashKey(key)
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[h]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		if e.principal.WorkspaceID == "" {
			return Principal{}, ErrUnauthenticated
		}
		p := e.principal
		p.Scopes = append([]string(nil), p.Scopes...)
		return p, nil
	}
	p, err := c.next.VerifyKey(ctx, key)
	switch {
	case err == nil:
		// Scopes are copied in and out, so no caller changing its slice
		// changes the cached answer.
		cached := p
		cached.Scopes = append([]string(nil), p.Scopes...)
		c.store(h, cacheEntry{principal: cached, expires: now.Add(c.ttl)}, now)
	case errors.Is(err, ErrUnauthenticated) && c.negTTL > 0:
		c.store(h, cacheEntry{expires: now.Add(c.negTTL)}, now)
	}
	return p, err
}

func (c *cachingVerifier) store(h string, e cacheEntry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, replacing := c.entries[h]; replacing || len(c.entries) < cacheMaxEntries {
		c.entries[h] = e
		return
	}
	// Full. Drop expired entries, but at most once per sweepEvery (the
	// shorter TTL): a flood of misses on a cache full of live entries then
	// costs one scan of the map per TTL, not one per miss.
	if now.Sub(c.lastSweep) >= c.sweepEvery {
		c.lastSweep = now
		for k, old := range c.entries {
			if !now.Before(old.expires) {
				delete(c.entries, k)
			}
		}
	}
	if len(c.entries) >= cacheMaxEntries {
		// Still full of live entries: drop an arbitrary one rather than
		// track recency; a miss only costs one extra verification.
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[h] = e
}
