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

// CachingVerifier remembers answers of another Verifier.
type CachingVerifier struct {
	next        Verifier
	ttl, negTTL time.Duration
	// sweepEvery spaces out scans for expired entries when the cache is
	// full, so a flood of misses does not scan the whole map every time.
	sweepEvery time.Duration
	now        func() time.Time // time.Now; tests move it by hand

	mu        sync.Mutex
	entries   map[string]cacheEntry // by HashKey, so raw keys are not retained
	lastSweep time.Time
	// forgets counts Forget calls. An answer is cached only when none
	// happened while it was asked for: it may have been read before the
	// revocation that Forget announced.
	forgets uint64
}

// NewCachingVerifier returns a Verifier that asks v at most once per ttl for
// a valid key (caching its workspace and scopes) and once per negativeTTL for a rejected one (negativeTTL 0
// disables negative caching). Verification failures other than
// ErrUnauthenticated are never cached. A revoked key keeps working for up to
// ttl, so keep ttl short (tens of seconds), unless whoever revokes it calls
// Forget. At most 10,000 keys are cached.
func NewCachingVerifier(v Verifier, ttl, negativeTTL time.Duration) *CachingVerifier {
	sweepEvery := ttl
	if negativeTTL > 0 {
		sweepEvery = min(ttl, negativeTTL)
	}
	return &CachingVerifier{next: v, ttl: ttl, negTTL: negativeTTL, sweepEvery: sweepEvery, now: time.Now, entries: map[string]cacheEntry{}}
}

// VerifyKey implements Verifier.
func (c *CachingVerifier) VerifyKey(ctx context.Context, key string) (Principal, error) {
	h := HashKey(key)
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[h]
	forgets := c.forgets
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
		c.store(h, cacheEntry{principal: cached, expires: now.Add(c.ttl)}, now, forgets)
	case errors.Is(err, ErrUnauthenticated) && c.negTTL > 0:
		c.store(h, cacheEntry{expires: now.Add(c.negTTL)}, now, forgets)
	}
	return p, err
}

// Forget drops the cached answer for the key hashing to keyHash (HashKey),
// so the next verification of it asks the next Verifier. Call it once a
// revocation is committed: the key then fails here at once, not up to a
// TTL later. Answers being asked for meanwhile are not cached, since they
// may have been read before the revocation.
func (c *CachingVerifier) Forget(keyHash string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, keyHash)
	c.forgets++
}

func (c *CachingVerifier) store(h string, e cacheEntry, now time.Time, forgets uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.forgets != forgets {
		return
	}
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
