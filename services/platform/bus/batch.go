package bus

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// DefaultMaxBatch bounds a BatchHandler call when Consumer.MaxBatch is 0.
const DefaultMaxBatch = 100

// DefaultLinger bounds how long a batch waits for more messages when
// Consumer.Linger is 0. A consumer that keeps up would otherwise commit a
// transaction per message or two: under 450 single tracking calls a second
// the consumers took a third of the suite's CPU, mostly in commits. 20 ms
// is a fifth of the 100 ms a segment membership may take to follow an
// event.
const DefaultLinger = 20 * time.Millisecond

// DefaultLingerGap ends a linger once deliveries stop coming, when
// Consumer.LingerGap is 0: a batch waits at most this long for the next
// one. The outbox relays publish what they read in bursts, at most one
// pass per few milliseconds (outbox.Options.MinGap), so a batch still
// takes a burst whole rather than a message at a time; what it no longer
// does is wait out the rest of the linger for the next burst. With the
// whole 20 ms, at 3,000 events/s an event took about 25 ms (p50) to join
// its segment through the REST gateway; with the gap, 7 ms (docs/
// BENCHMARKS.md, "Membership latency under sustained load"). The price is
// more, smaller commits: up to one per relay pass instead of one per
// Linger.
const DefaultLingerGap = 2 * time.Millisecond

// batcher hands a BatchHandler the deliveries waiting: the client's
// callback queues them, one goroutine takes what is queued and handles it.
type batcher struct {
	in   chan jetstream.Msg
	done chan struct{}
	once sync.Once
}

func (b *Bus) startBatcher(ctx context.Context, log *slog.Logger, c Consumer) *batcher {
	max := c.MaxBatch
	if max <= 0 {
		max = DefaultMaxBatch
	}
	linger := c.Linger
	if linger == 0 {
		linger = DefaultLinger
	}
	gap := c.LingerGap
	if gap <= 0 {
		gap = DefaultLingerGap
	}
	bt := &batcher{in: make(chan jetstream.Msg, max), done: make(chan struct{})}
	go func() {
		defer close(bt.done)
		for m := range bt.in {
			batch := fill(ctx, bt.in, []jetstream.Msg{m}, max, linger, gap)
			if ctx.Err() != nil { // stopping: hand back what was queued
				for _, m := range batch {
					handBack(ctx, log, m)
				}
				continue
			}
			b.handleBatch(ctx, log, c, batch)
		}
	}()
	return bt
}

// fill adds deliveries to batch until it holds max messages, a pack
// counting as its messages (so a batch may exceed max by less than a
// pack): those queued, then
// those that keep arriving once the queue ran empty, each within gap of
// the one before and all within linger of the queue first running empty
// (none when linger < 0).
func fill(ctx context.Context, in <-chan jetstream.Msg, batch []jetstream.Msg, max int, linger, gap time.Duration) []jetstream.Msg {
	size := 0 // messages, a pack counting its own
	for _, m := range batch {
		size += deliveredCount(m)
	}
	var until time.Time // the end of the linger
	var wait *time.Timer
	defer func() {
		if wait != nil {
			wait.Stop()
		}
	}()
	for size < max {
		var m jetstream.Msg
		ok := true
		select {
		case m, ok = <-in:
		default:
			if linger < 0 {
				return batch
			}
			now := time.Now()
			if until.IsZero() {
				until = now.Add(linger)
			}
			d := min(until.Sub(now), gap)
			if d <= 0 {
				return batch
			}
			if wait == nil {
				wait = time.NewTimer(d)
			} else {
				wait.Reset(d)
			}
			select {
			case m, ok = <-in:
			case <-wait.C:
				return batch
			case <-ctx.Done():
				return batch
			}
		}
		if !ok {
			return batch
		}
		batch = append(batch, m)
		size += deliveredCount(m)
	}
	return batch
}

// add queues a delivery; it blocks while a full batch waits, which holds
// back the client's prefetch.
func (bt *batcher) add(m jetstream.Msg) { bt.in <- m }

// close stops taking deliveries and waits for the batch in hand. Call it
// once the client has stopped calling add.
func (bt *batcher) close() {
	bt.once.Do(func() { close(bt.in) })
	<-bt.done
}

func (b *Bus) handleBatch(ctx context.Context, log *slog.Logger, c Consumer, batch []jetstream.Msg) {
	var read []jetstream.Msg
	var msgs []Message
	for _, m := range batch {
		ms, err := messagesOf(m)
		if err != nil { // an unreadable pack: retried, then dropped
			b.settle(ctx, log, c, m, err, 0)
			continue
		}
		read = append(read, m)
		msgs = append(msgs, ms...)
	}
	if len(msgs) == 0 { // nothing to handle (empty packs)
		for _, m := range read {
			b.settle(ctx, log, c, m, nil, 0)
		}
		return
	}
	// The batch continues the first message's trace; each message's own
	// trace is kept when it falls back to Handler.
	bctx := b.propagator.Extract(ctx, headerCarrier(msgs[0].Headers))
	bctx, span := b.tracer.Start(bctx, "process batch "+b.StreamName(c.Kind),
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.consumer.group.name", c.Durable),
			attribute.Int("messaging.batch.message_count", len(msgs)),
		))
	start := time.Now()
	err := callBatchHandler(bctx, c.BatchHandler, msgs)
	span.End()
	if err == nil || len(msgs) == 1 {
		// Each message's share of the batch is its handler time.
		took := time.Since(start) / time.Duration(len(msgs))
		for _, m := range read {
			b.settle(ctx, log, c, m, err, took)
		}
		return
	}
	log.WarnContext(ctx, "bus batch failed; handling its messages one by one", slog.Int("messages", len(msgs)), slog.Any("error", err))
	for _, m := range read {
		b.handle(ctx, log, c, m)
	}
}

// callBatchHandler is callHandler for batches.
func callBatchHandler(ctx context.Context, h func(context.Context, []Message) error, msgs []Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("batch handler panic: %v\n%s", p, debug.Stack())
		}
	}()
	return h(ctx, msgs)
}
