package lease_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/platform/lease"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// clock is a settable clock shared by the replicas of a test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestOneHolderAtATime(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		c := &clock{t: time.Unix(1_700_000_000, 0)}
		a := lease.New(db, "relay", lease.Options{TTL: 9 * time.Second, Now: c.now})
		b := lease.New(db, "relay", lease.Options{TTL: 9 * time.Second, Now: c.now})
		other := lease.New(db, "sweep", lease.Options{TTL: 9 * time.Second, Now: c.now})
		hold := func(l *lease.Lease) bool {
			t.Helper()
			ok, err := l.Hold(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		if !hold(a) || hold(b) {
			t.Fatal("first caller should hold, the second not")
		}
		if !hold(other) {
			t.Fatal("a lease of another name is independent")
		}
		c.add(5 * time.Second) // a renews (older than TTL/3), b still waits
		if !hold(a) || hold(b) {
			t.Fatal("renewed lease taken over")
		}
		c.add(8 * time.Second) // 13 s: within a's renewed TTL (5+9)
		if hold(b) {
			t.Fatal("taken before expiry")
		}
		c.add(2 * time.Second) // 15 s: a's lease (to 14 s) expired
		if !hold(b) {
			t.Fatal("expired lease not taken over")
		}
		if hold(a) {
			t.Fatal("the old holder still believes it holds the lease")
		}
		if err := b.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if !hold(a) {
			t.Fatal("released lease not free")
		}
	})
}

// TestEveryRunsOnOneReplica runs the same periodic job on three replicas:
// each round runs on one of them only.
func TestEveryRunsOnOneReplica(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		var running, overlaps, runs atomic.Int64
		var wg sync.WaitGroup
		for range 3 {
			l := lease.New(db, "sweep", lease.Options{TTL: 3 * time.Second})
			wg.Add(1)
			go func() {
				defer wg.Done()
				lease.Every(ctx, l, 10*time.Millisecond, func(context.Context) error {
					if running.Add(1) > 1 {
						overlaps.Add(1)
					}
					runs.Add(1)
					time.Sleep(2 * time.Millisecond)
					running.Add(-1)
					return nil
				}, func(err error) { t.Error(err) })
			}()
		}
		time.Sleep(500 * time.Millisecond)
		cancel()
		wg.Wait()
		if runs.Load() == 0 || overlaps.Load() != 0 {
			t.Errorf("%d runs, %d overlapping; want some and none", runs.Load(), overlaps.Load())
		}
	})
}

// TestEveryKeepsTheLeaseThroughALongRun runs a job far longer than the
// lease's TTL, with an interval longer still: the lease is renewed on its
// own meanwhile, so a second replica never gets it while the job runs, and
// gets it once the first stops.
func TestEveryKeepsTheLeaseThroughALongRun(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx, cancel := context.WithCancel(context.Background())
		const ttl = 800 * time.Millisecond
		a := lease.New(db, "long", lease.Options{TTL: ttl})
		started, finished := make(chan struct{}), make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			var once sync.Once
			lease.Every(ctx, a, 10*time.Millisecond, func(ctx context.Context) error {
				once.Do(func() {
					close(started)
					time.Sleep(3 * ttl)
					close(finished)
				})
				<-ctx.Done()
				return nil
			}, func(err error) { t.Error(err) })
		}()
		<-started
		b := lease.New(db, "long", lease.Options{TTL: ttl})
		for {
			select {
			case <-finished:
			default:
				if held, err := b.Hold(ctx); err != nil || held {
					t.Fatalf("second replica: held %v, %v, while the first runs its job", held, err)
				}
				time.Sleep(ttl / 8)
				continue
			}
			break
		}
		cancel()
		<-done // Every released the lease
		if held, err := b.Hold(context.Background()); err != nil || !held {
			t.Fatalf("after the first stopped: held %v, %v; want the lease free", held, err)
		}
	})
}

// TestHolderNamesTheProcess: an operator reading kizuna_leases sees the
// host and the process holding the work.
func TestHolderNamesTheProcess(t *testing.T) {
	host, _ := os.Hostname()
	want := fmt.Sprintf("%s/%d/", host, os.Getpid())
	if h := lease.HolderID("x"); h != want+"x" {
		t.Errorf("HolderID = %q, want %q", h, want+"x")
	}
	if h := lease.New(nil, "n", lease.Options{}).Holder(); !strings.HasPrefix(h, want) || len(h) == len(want) {
		t.Errorf("Holder = %q, want %q and a nonce", h, want)
	}
}
