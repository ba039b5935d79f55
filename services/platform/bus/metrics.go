package bus

import (
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Outcomes of a consumed message, the outcome label of
// kizuna.bus.messages.processed.
const (
	outcomeAck     = "ack"     // handled and acknowledged
	outcomeRetry   = "retry"   // handler failed; redelivered later
	outcomeDropped = "dropped" // handler failed MaxDeliver times; given up
)

// instruments are the bus's metrics, each labelled by stream (and consumer):
// what an on-call reads to see a consumer falling behind or failing.
type instruments struct {
	published   metric.Int64Counter
	processed   metric.Int64Counter
	redelivered metric.Int64Counter
	pending     metric.Int64Gauge
	duration    metric.Float64Histogram
}

func newInstruments(mp metric.MeterProvider) (*instruments, error) {
	m := mp.Meter("github.com/kizuna/kizuna/services/platform/bus")
	var (
		in  instruments
		err error
	)
	if in.published, err = m.Int64Counter("kizuna.bus.messages.published",
		metric.WithDescription("Messages published, by stream and outcome (ok, error)."), metric.WithUnit("{message}")); err != nil {
		return nil, err
	}
	if in.processed, err = m.Int64Counter("kizuna.bus.messages.processed",
		metric.WithDescription("Messages handled by a consumer, by outcome: ack, retry (handler failed, redelivered later), dropped (gave up after the last attempt)."),
		metric.WithUnit("{message}")); err != nil {
		return nil, err
	}
	if in.redelivered, err = m.Int64Counter("kizuna.bus.messages.redelivered",
		metric.WithDescription("Deliveries after the first of a message (handler failure, slow ack or a crashed replica)."), metric.WithUnit("{message}")); err != nil {
		return nil, err
	}
	if in.pending, err = m.Int64Gauge("kizuna.bus.consumer.pending",
		metric.WithDescription("Messages in the stream not yet delivered to the consumer, as of its latest delivery: the consumer's lag."),
		metric.WithUnit("{message}")); err != nil {
		return nil, err
	}
	if in.duration, err = m.Float64Histogram("kizuna.bus.handler.duration",
		metric.WithDescription("Time a consumer's handler took per message."), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)); err != nil {
		return nil, err
	}
	return &in, nil
}

// streamOfSubject returns the stream a subject of this bus belongs to
// ("kizuna.events.ws1.track" → "KIZUNA_EVENTS").
func (b *Bus) streamOfSubject(subject string) string {
	rest, ok := strings.CutPrefix(subject, b.prefix+".")
	if !ok {
		return "unknown"
	}
	kind, _, _ := strings.Cut(rest, ".")
	return b.StreamName(kind)
}

// recordPublish records n messages published to subject (a pack is
// several).
func (b *Bus) recordPublish(ctx context.Context, subject string, n int, err error) {
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	b.metrics.published.Add(ctx, int64(n), metric.WithAttributes(
		attribute.String("stream", b.streamOfSubject(subject)), attribute.String("outcome", outcome)))
}

// recordProcessed records a handled delivery of n messages (a pack is
// several); pending is the stream's count of deliveries not yet made to
// the consumer, took the handler's time per message.
func (b *Bus) recordProcessed(ctx context.Context, stream, consumer string, n int, delivery, pending uint64, took time.Duration, outcome string) {
	attrs := metric.WithAttributes(attribute.String("stream", stream), attribute.String("consumer", consumer))
	b.metrics.processed.Add(ctx, int64(n), metric.WithAttributes(
		attribute.String("stream", stream), attribute.String("consumer", consumer), attribute.String("outcome", outcome)))
	if delivery > 1 {
		b.metrics.redelivered.Add(ctx, int64(n), attrs)
	}
	b.metrics.pending.Record(ctx, int64(pending), attrs)
	b.metrics.duration.Record(ctx, took.Seconds(), attrs)
}
