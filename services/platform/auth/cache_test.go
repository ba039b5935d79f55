package auth

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// clock is a hand-moved now for CachingVerifier, so expiry tests do not
// sleep.
type clock struct{ t time.Time }

func newClock() *clock { return &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *clock) now() time.Time { return c.t }

func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

// newCache is NewCachingVerifier reading time from c.
func newCache(v Verifier, ttl, negTTL time.Duration, c *clock) *CachingVerifier {
	cv := NewCachingVerifier(v, ttl, negTTL)
	cv.now = c.now
	return cv
}

// countingKeys is StaticKeys that counts calls.
type countingKeys struct {
	keys  StaticKeys
	calls int
}

func (v *countingKeys) VerifyKey(ctx context.Context, key string) (Principal, error) {
	v.calls++
	return v.keys.VerifyKey(ctx, key)
}

func TestCachingVerifierExpiry(t *testing.T) {
	tests := []struct {
		name      string
		key       string
		wantWS    string
		wantErr   error
		ttl       time.Duration // the one that applies to key
		negTTL    time.Duration
		wantCalls []int // inner calls after a lookup at 0, ttl-1ns, ttl
	}{
		{name: "valid key", key: "good", wantWS: "ws1", ttl: time.Minute, negTTL: time.Second, wantCalls: []int{1, 1, 2}},
		{name: "rejected key", key: "bad", wantErr: ErrUnauthenticated, ttl: time.Second, negTTL: time.Second, wantCalls: []int{1, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inner := &countingKeys{keys: StaticKeys{"good": "ws1"}}
			clk := newClock()
			v := newCache(inner, time.Minute, tt.negTTL, clk)
			steps := []time.Duration{0, tt.ttl - time.Nanosecond, time.Nanosecond}
			for i, step := range steps {
				clk.advance(step)
				p, err := v.VerifyKey(context.Background(), tt.key)
				if ws := p.WorkspaceID; ws != tt.wantWS || !errors.Is(err, tt.wantErr) {
					t.Errorf("lookup %d = %q, %v; want %q, %v", i, ws, err, tt.wantWS, tt.wantErr)
				}
				if inner.calls != tt.wantCalls[i] {
					t.Errorf("after lookup %d: inner calls = %d, want %d", i, inner.calls, tt.wantCalls[i])
				}
			}
		})
	}
}

func TestCachingVerifierBound(t *testing.T) {
	tests := []struct {
		name        string
		live        bool          // whether the entries filling the cache are still live
		sinceSweep  time.Duration // time since the last sweep
		key         string        // looked up on the full cache
		wantEntries int
		wantSweep   bool
	}{
		{name: "live entries: one evicted", live: true, sinceSweep: time.Hour, key: "new", wantEntries: cacheMaxEntries, wantSweep: true},
		{name: "expired entries: swept", sinceSweep: time.Minute, key: "new", wantEntries: 1, wantSweep: true},
		{name: "expired entries, swept recently: one evicted", sinceSweep: time.Minute - time.Nanosecond, key: "new", wantEntries: cacheMaxEntries},
		{name: "refresh of a cached key: nothing dropped", sinceSweep: time.Hour, key: "k0", wantEntries: cacheMaxEntries},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			inner := &countingKeys{keys: StaticKeys{"new": "ws_new", "k0": "ws_k0"}}
			v := newCache(inner, time.Minute, 0, clk)
			expires := clk.now()
			if tt.live {
				expires = expires.Add(time.Minute)
			}
			for i := range cacheMaxEntries {
				v.entries[HashKey(fmt.Sprint("k", i))] = cacheEntry{principal: AdminPrincipal("ws_old"), expires: expires}
			}
			v.lastSweep = clk.now().Add(-tt.sinceSweep)
			lastSweep := v.lastSweep

			want := inner.keys[tt.key]
			for range 2 { // the second lookup is answered from the cache
				if p, err := v.VerifyKey(context.Background(), tt.key); p.WorkspaceID != want || err != nil {
					t.Fatalf("VerifyKey(%s) = %+v, %v; want %q", tt.key, p, err, want)
				}
			}
			if inner.calls != 1 {
				t.Errorf("inner calls = %d, want 1", inner.calls)
			}
			if got := len(v.entries); got != tt.wantEntries {
				t.Errorf("entries = %d, want %d", got, tt.wantEntries)
			}
			if swept := v.lastSweep != lastSweep; swept != tt.wantSweep {
				t.Errorf("swept = %v, want %v", swept, tt.wantSweep)
			}
		})
	}
}

// revocableKeys is a key table whose keys can be revoked, with a hook
// that runs while a lookup is in flight (after it read the table).
type revocableKeys struct {
	keys    StaticKeys
	calls   int
	onQuery func()
}

func (v *revocableKeys) VerifyKey(ctx context.Context, key string) (Principal, error) {
	v.calls++
	p, err := v.keys.VerifyKey(ctx, key)
	if v.onQuery != nil {
		v.onQuery()
	}
	return p, err
}

func (v *revocableKeys) revoke(key string) { delete(v.keys, key) }

func TestCachingVerifierForget(t *testing.T) {
	t.Run("a revoked key fails at once", func(t *testing.T) {
		inner := &revocableKeys{keys: StaticKeys{"good": "ws1", "other": "ws2"}}
		v := newCache(inner, time.Hour, 0, newClock())
		for _, key := range []string{"good", "other"} {
			if _, err := v.VerifyKey(context.Background(), key); err != nil {
				t.Fatalf("VerifyKey(%s): %v", key, err)
			}
		}
		inner.revoke("good")
		v.Forget(HashKey("good"))
		if _, err := v.VerifyKey(context.Background(), "good"); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("revoked key: err = %v, want ErrUnauthenticated", err)
		}
		calls := inner.calls
		if p, err := v.VerifyKey(context.Background(), "other"); err != nil || p.WorkspaceID != "ws2" {
			t.Errorf("other key = %+v, %v; want ws2", p, err)
		}
		if inner.calls != calls {
			t.Errorf("other key asked the table again (%d calls, want %d): Forget dropped more than its key", inner.calls, calls)
		}
	})
	t.Run("an answer read before a revocation is not cached", func(t *testing.T) {
		inner := &revocableKeys{keys: StaticKeys{"good": "ws1"}}
		v := newCache(inner, time.Hour, 0, newClock())
		// The lookup reads the key as valid; the revocation commits and
		// is announced before the lookup stores its answer.
		inner.onQuery = func() {
			inner.onQuery = nil
			inner.revoke("good")
			v.Forget(HashKey("good"))
		}
		if _, err := v.VerifyKey(context.Background(), "good"); err != nil {
			t.Fatalf("first VerifyKey: %v (it read the key before the revocation)", err)
		}
		if _, err := v.VerifyKey(context.Background(), "good"); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("after the revocation: err = %v, want ErrUnauthenticated", err)
		}
	})
}
