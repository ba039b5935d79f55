package outbox_test

import (
	"context"
	"errors"
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
