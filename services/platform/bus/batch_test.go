package bus_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/bus/bustest"
)

// TestBatchHandler publishes a backlog before consuming: the batch handler
// takes it in batches no larger than MaxBatch, every message once and in
// order; a batch holding a bad message falls back to Handler one by one,
// where only the bad message is retried and finally dropped. A bad message
// that arrives alone is a failed batch of one: settled without Handler.
func TestBatchHandler(t *testing.T) {
	bustest.ForEachBackend(t, func(t *testing.T, b *bus.Bus) {
		ctx := context.Background()
		subject := b.Subject(bus.KindEvents, "ws1", "track")
		const n = 50
		for i := range n {
			if err := b.Publish(ctx, subject, fmt.Sprintf("m-%02d", i), wrapperspb.String(fmt.Sprintf("v%02d", i))); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		var sizes []int
		var batched, single []string
		badTries := 0
		var badBatches []int // the size of each batch the bad message came in
		done := make(chan struct{}, 2*n)
		value := func(m bus.Message) string {
			var v wrapperspb.StringValue
			if err := m.Unmarshal(&v); err != nil {
				t.Error(err)
			}
			return v.GetValue()
		}
		stop, err := b.Consume(ctx, bus.Consumer{
			Kind: bus.KindEvents, Durable: "batch", MaxBatch: 8, MaxDeliver: 2, RetryDelay: 10 * time.Millisecond,
			BatchHandler: func(_ context.Context, msgs []bus.Message) error {
				mu.Lock()
				defer mu.Unlock()
				var vals []string
				for _, m := range msgs {
					if value(m) == "v17" {
						badBatches = append(badBatches, len(msgs))
						return errors.New("v17 is bad")
					}
					vals = append(vals, value(m))
				}
				sizes = append(sizes, len(msgs))
				batched = append(batched, vals...)
				for range msgs {
					done <- struct{}{}
				}
				return nil
			},
			Handler: func(_ context.Context, m bus.Message) error {
				mu.Lock()
				defer mu.Unlock()
				if value(m) == "v17" {
					badTries++
					return errors.New("v17 is bad")
				}
				single = append(single, value(m))
				done <- struct{}{}
				return nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		for range n - 1 {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("timed out")
			}
		}
		// The bad message is delivered MaxDeliver times, then dropped.
		waitUntil(func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(badBatches) >= 2
		})
		time.Sleep(50 * time.Millisecond) // a third delivery would show now
		mu.Lock()
		defer mu.Unlock()
		all := append(slices.Clone(batched), single...)
		slices.Sort(all)
		if len(all) != n-1 || slices.Contains(all, "v17") || len(slices.Compact(slices.Clone(all))) != n-1 {
			t.Errorf("handled %d messages %v, want the %d good ones once each", len(all), all, n-1)
		}
		if len(badBatches) != 2 {
			t.Fatalf("the bad message came in %d batches %v, want MaxDeliver = 2", len(badBatches), badBatches)
		}
		// Only the companions of the bad message in a failed batch go one
		// by one, and Handler sees the bad message once per such batch.
		wantSingle, wantTries := 0, 0
		for _, size := range badBatches {
			if size > 1 {
				wantSingle += size - 1
				wantTries++
			}
		}
		if len(single) != wantSingle || badTries != wantTries {
			t.Errorf("%d messages went one by one and Handler saw the bad one %d times, want %d and %d for bad batches %v",
				len(single), badTries, wantSingle, wantTries, badBatches)
		}
		if slices.Max(sizes) > 8 || slices.Max(sizes) < 2 {
			t.Errorf("batch sizes %v, want batches of 2 to 8 from a backlog", sizes)
		}
		if !slices.IsSorted(batched) {
			t.Errorf("batched values out of order: %v", batched)
		}
	})
}

// TestBatchLinger: messages arriving one by one, each within LingerGap of
// the one before and all within Linger, are handled in one batch, not a
// batch each.
func TestBatchLinger(t *testing.T) {
	bustest.ForEachBackend(t, func(t *testing.T, b *bus.Bus) {
		ctx := context.Background()
		sizes := make(chan int, 10)
		stop, err := b.Consume(ctx, bus.Consumer{
			Kind: bus.KindEvents, Durable: "linger", Linger: 10 * time.Second, LingerGap: time.Second,
			BatchHandler: func(_ context.Context, msgs []bus.Message) error {
				sizes <- len(msgs)
				return nil
			},
			Handler: func(context.Context, bus.Message) error { return nil },
		})
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		subject := b.Subject(bus.KindEvents, "ws1", "track")
		const n = 5
		for i := range n {
			if err := b.Publish(ctx, subject, fmt.Sprintf("l-%d", i), wrapperspb.String("v")); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		select {
		case size := <-sizes:
			if size != n {
				t.Errorf("the first batch held %d messages, want all %d published within the linger", size, n)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("timed out")
		}
	})
}
