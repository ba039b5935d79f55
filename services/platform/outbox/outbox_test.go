package outbox_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/platform/outbox"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// TestReplicasRelayOnce runs three relays of one outbox: passes never
// overlap, a wake-up is served promptly, and the final flush runs.
func TestReplicasRelayOnce(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		var running, overlaps, passes atomic.Int64
		pass := func(context.Context) error {
			if running.Add(1) > 1 {
				overlaps.Add(1)
			}
			passes.Add(1)
			time.Sleep(time.Millisecond)
			running.Add(-1)
			return nil
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		var relays []*outbox.Relay
		for range 3 {
			r := outbox.New(outbox.Options{Name: "test", DB: db, Pass: pass, Interval: time.Hour})
			relays = append(relays, r)
			wg.Add(1)
			go func() { defer wg.Done(); _ = r.Run(ctx) }()
		}
		deadline := time.Now().Add(10 * time.Second)
		for passes.Load() < 20 && time.Now().Before(deadline) {
			for _, r := range relays {
				r.Wake()
			}
			time.Sleep(5 * time.Millisecond)
		}
		if passes.Load() < 20 {
			t.Fatalf("only %d passes after wake-ups", passes.Load())
		}
		before := passes.Load()
		cancel()
		wg.Wait()
		if overlaps.Load() != 0 {
			t.Errorf("%d overlapping passes", overlaps.Load())
		}
		if passes.Load() == before {
			t.Error("no final flush at shutdown")
		}
	})
}

// TestBackoffAfterFailure: a failing pass is retried, later and later.
func TestBackoffAfterFailure(t *testing.T) {
	db := sqldbtest.SQLite(t)
	var calls atomic.Int64
	r := outbox.New(outbox.Options{Name: "failing", DB: db, Interval: 5 * time.Millisecond, MaxBackoff: time.Second,
		Pass: func(context.Context) error { calls.Add(1); return errors.New("bus down") }})
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	_ = r.Run(ctx)
	// Without backoff: ~120 passes at 5 ms; with 100, 200, 400 ms… a few.
	if n := calls.Load(); n < 2 || n > 8 {
		t.Errorf("%d passes in 600 ms, want a few (backing off)", n)
	}
}

// TestMinGap: wake-ups after every commit are served by passes at most
// once per MinGap, and a lone wake-up after a quiet spell at once.
func TestMinGap(t *testing.T) {
	db := sqldbtest.SQLite(t)
	const gap = 50 * time.Millisecond
	var mu sync.Mutex
	var passes []time.Time
	passed := func() []time.Time {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(passes)
	}
	r := outbox.New(outbox.Options{Name: "gap", DB: db, Interval: time.Hour, MinGap: gap,
		Pass: func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			passes = append(passes, time.Now())
			return nil
		}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// A lone wake-up is served at once, not a MinGap later.
	woken := time.Now()
	r.Wake()
	for deadline := time.Now().Add(5 * time.Second); len(passed()) == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no pass after a wake-up")
		}
	}
	if d := passed()[0].Sub(woken); d >= gap {
		t.Errorf("lone wake-up served after %v, want at once", d)
	}
	// A wake-up every millisecond for 300 ms: about 300 ms / MinGap passes.
	end := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(end) {
		r.Wake()
		time.Sleep(time.Millisecond)
	}
	time.Sleep(gap + 20*time.Millisecond)
	want := int(300 * time.Millisecond / gap)
	if n := len(passed()) - 1; n < 3 || n > want+2 {
		t.Errorf("%d passes for 300 wake-ups over 300 ms, want about %d (one per %v)", n, want, gap)
	}
}
