package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
)

// Consumer describes a durable subscription to one stream.
type Consumer struct {
	// Kind selects the stream (KindEvents, …).
	Kind string
	// Durable names the consumer; the server remembers its position, so a
	// restarted service resumes where it stopped. Use one name per
	// service and purpose (e.g. "segmentation-features"); replicas sharing
	// the name share the work.
	Durable string
	// FilterSubject narrows the stream (e.g. "kizuna.events.*.customer");
	// empty means the whole stream.
	FilterSubject string
	// Handler processes one message. Returning nil acks it; an error
	// redelivers it after a growing delay, up to MaxDeliver attempts, after
	// which it is logged and dropped. Handlers must be idempotent.
	Handler func(ctx context.Context, m Message) error
	// BatchHandler, when set, is handed the messages already waiting, up
	// to MaxBatch (default 100; a batch is cut between deliveries, so a
	// pack can take it up to packMax-1 over), and those that keep
	// arriving after them (each within LingerGap of the one before, all
	// within Linger), in one call, so it can apply them in one
	// transaction: a consumer that keeps up commits about once per burst
	// its publisher sends (an outbox relay's pass), one that falls behind
	// catches up in fewer, larger commits. Returning nil acks them all; on
	// an error each delivery goes to Handler, message by message, with its
	// retry rules, so one bad message cannot hold up the others. Handler
	// is required all the same.
	BatchHandler func(ctx context.Context, msgs []Message) error
	MaxBatch     int
	// Linger bounds how long a BatchHandler call waits for more messages
	// once none is waiting: 0 means DefaultLinger, a negative value not at
	// all.
	Linger time.Duration
	// LingerGap ends that wait early when no message came for this long:
	// 0 means DefaultLingerGap.
	LingerGap time.Duration
	// MaxDeliver bounds attempts per message; default 5.
	MaxDeliver int
	// RetryDelay is the delay before the first redelivery, doubling per
	// attempt up to MaxRetryDelay; default 1s.
	RetryDelay time.Duration
}

// Defaults and limits for Consumer.
const (
	DefaultMaxDeliver = 5
	DefaultRetryDelay = time.Second
	MaxRetryDelay     = time.Minute
	// AckWait is how long the server waits for an ack before redelivering
	// to another replica; handlers must finish well within it.
	AckWait = 30 * time.Second
)

// Message is one delivery handed to a Consumer's Handler.
type Message struct {
	Subject string
	Data    []byte
	// MsgID is the publisher's Nats-Msg-Id: the idempotency key.
	MsgID   string
	Headers nats.Header
	// Delivery counts attempts, starting at 1.
	Delivery uint64
}

// Unmarshal decodes the protobuf payload into dst.
func (m Message) Unmarshal(dst proto.Message) error {
	if err := proto.Unmarshal(m.Data, dst); err != nil {
		return fmt.Errorf("unmarshal %s message %s: %w", dst.ProtoReflect().Descriptor().FullName(), m.MsgID, err)
	}
	return nil
}

// Consume creates (or updates) the durable pull consumer c and processes its
// messages one at a time until ctx is cancelled or stop is called. stop
// waits for the handler in flight; do not call it from inside a handler.
// A ctx that ends while the consumer is being created is a stop, not an
// error.
func (b *Bus) Consume(ctx context.Context, c Consumer) (stop func(), err error) {
	if c.Handler == nil {
		return nil, errors.New("consume: nil Handler")
	}
	if !nameRE.MatchString(c.Durable) {
		return nil, fmt.Errorf("consume: invalid durable name %q", c.Durable)
	}
	if c.MaxDeliver <= 0 {
		c.MaxDeliver = DefaultMaxDeliver
	}
	if c.RetryDelay <= 0 {
		c.RetryDelay = DefaultRetryDelay
	}
	stream := b.StreamName(c.Kind)
	cons, err := b.js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable:       c.Durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		FilterSubject: c.FilterSubject,
		MaxDeliver:    c.MaxDeliver,
		AckWait:       AckWait,
	})
	if err != nil {
		if ctx.Err() != nil {
			// Stopped while the consumer was being created: nothing to
			// consume and nothing went wrong, as for a stop just after.
			return func() {}, nil
		}
		return nil, fmt.Errorf("consume %s/%s: create consumer: %w", stream, c.Durable, err)
	}
	log := b.logger.With(slog.String("stream", stream), slog.String("consumer", c.Durable))
	handle := func(m jetstream.Msg) { b.handle(ctx, log, c, m) }
	var batches *batcher
	if c.BatchHandler != nil {
		batches = b.startBatcher(ctx, log, c)
		handle = batches.add
	}
	// Once ctx ends, deliveries the client had prefetched are handed back
	// at once (a plain nak): left unacked they would wait out AckWait
	// before another replica got them, on every rolling restart.
	deliver := func(m jetstream.Msg) {
		if ctx.Err() != nil {
			handBack(ctx, log, m)
			return
		}
		handle(m)
	}
	cc, err := cons.Consume(
		deliver,
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			log.WarnContext(ctx, "bus consume error", slog.Any("error", err))
		}),
	)
	if err != nil {
		if batches != nil {
			batches.close()
		}
		return nil, fmt.Errorf("consume %s/%s: %w", stream, c.Durable, err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			// Drain, not Stop: Stop drops the prefetched deliveries
			// (unacked until AckWait); Drain passes them to deliver.
			cc.Drain()
			<-cc.Closed()
			if batches != nil {
				batches.close()
			}
		})
	}
	go func() {
		select {
		case <-ctx.Done():
			stop()
		case <-cc.Closed():
		}
	}()
	return stop, nil
}

// handBack returns a delivery unhandled, for immediate redelivery.
func handBack(ctx context.Context, log *slog.Logger, m jetstream.Msg) {
	if err := m.Nak(); err != nil {
		log.WarnContext(ctx, "bus nak at shutdown failed; the message is redelivered after AckWait", slog.Any("error", err))
	}
}

// handle hands a delivery to Handler, a pack's messages one by one in
// order (each tried, even after one failed), and settles it: a failed
// message has the whole delivery redelivered, and the others, applied
// again, change nothing (handlers are idempotent).
func (b *Bus) handle(ctx context.Context, log *slog.Logger, c Consumer, m jetstream.Msg) {
	msgs, err := messagesOf(m)
	start := time.Now()
	for _, msg := range msgs {
		if herr := b.handleOne(ctx, c, msg); herr != nil && err == nil {
			err = herr
		}
	}
	b.settle(ctx, log, c, m, err, time.Since(start)/time.Duration(max(len(msgs), 1)))
}

// handleOne calls Handler for msg in a span of the trace msg continues.
func (b *Bus) handleOne(ctx context.Context, c Consumer, msg Message) error {
	ctx = b.propagator.Extract(ctx, headerCarrier(msg.Headers))
	ctx, span := b.tracer.Start(ctx, "process "+msg.Subject,
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", msg.Subject),
			attribute.String("messaging.message.id", msg.MsgID),
			attribute.String("messaging.consumer.group.name", c.Durable),
			attribute.Int64("messaging.nats.delivery", int64(msg.Delivery)),
		))
	defer span.End()
	err := callHandler(ctx, c.Handler, msg)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "handler failed")
	}
	return err
}

// settle acks a handled delivery, or has it redelivered after a growing
// delay, or drops it after MaxDeliver attempts, and records the outcome
// of its messages and took (the handler's time per message) in the bus
// metrics.
func (b *Bus) settle(ctx context.Context, log *slog.Logger, c Consumer, m jetstream.Msg, err error, took time.Duration) {
	var delivery, pending uint64 = 1, 0
	if md, err := m.Metadata(); err == nil {
		delivery, pending = md.NumDelivered, md.NumPending
	}
	msgID := m.Headers().Get(jetstream.MsgIDHeader)
	record := func(outcome string) {
		b.recordProcessed(ctx, b.StreamName(c.Kind), c.Durable, deliveredCount(m), delivery, pending, took, outcome)
	}
	if err == nil {
		record(outcomeAck)
		if err := m.Ack(); err != nil {
			log.WarnContext(ctx, "bus ack failed; message will be redelivered",
				slog.String("subject", m.Subject()), slog.String("msg_id", msgID), slog.Any("error", err))
		}
		return
	}
	attrs := []any{
		slog.String("subject", m.Subject()), slog.String("msg_id", msgID),
		slog.Uint64("delivery", delivery), slog.Any("error", err),
	}
	if delivery >= uint64(c.MaxDeliver) {
		record(outcomeDropped)
		log.ErrorContext(ctx, "bus handler failed; giving up on message", attrs...)
		if err := m.TermWithReason("max deliveries reached"); err != nil {
			log.WarnContext(ctx, "bus term failed", slog.Any("error", err))
		}
		return
	}
	record(outcomeRetry)
	delay := retryDelay(c.RetryDelay, delivery)
	log.WarnContext(ctx, "bus handler failed; will retry", append(attrs, slog.Duration("retry_in", delay))...)
	if err := m.NakWithDelay(delay); err != nil {
		log.WarnContext(ctx, "bus nak failed", slog.Any("error", err))
	}
}

// callHandler turns a handler panic into an error so one bad message cannot
// kill the consumer goroutine (and the process).
func callHandler(ctx context.Context, h func(context.Context, Message) error, m Message) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panic: %v\n%s", p, debug.Stack())
		}
	}()
	return h(ctx, m)
}

// retryDelay doubles base per attempt already made, capped at MaxRetryDelay.
func retryDelay(base time.Duration, delivery uint64) time.Duration {
	d := base
	for i := uint64(1); i < delivery && d < MaxRetryDelay; i++ {
		d *= 2
	}
	return min(d, MaxRetryDelay)
}
