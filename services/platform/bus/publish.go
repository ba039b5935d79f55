package bus

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
)

// TypeHeader names the header holding the payload's protobuf full name, so
// a consumer (or a human with `nats sub`) can tell what the bytes are.
const TypeHeader = "Kizuna-Type"

// Publish sends msg to subject and waits for JetStream to store it. msgID
// becomes Nats-Msg-Id: a second publish with the same id inside the
// duplicate window is acknowledged but not stored again, so retrying a
// publish is safe. Use the id of the fact being published (e.g. event id).
func (b *Bus) Publish(ctx context.Context, subject, msgID string, msg proto.Message) error {
	data, err := proto.Marshal(msg)
	if err != nil {
		return fmt.Errorf("publish %s: marshal: %w", subject, err)
	}
	return b.PublishEncoded(ctx, subject, msgID, string(msg.ProtoReflect().Descriptor().FullName()), data)
}

// PublishEncoded is Publish for a payload already marshalled, such as a
// transactional-outbox row: typeName is the message's protobuf full name.
func (b *Bus) PublishEncoded(ctx context.Context, subject, msgID, typeName string, data []byte) error {
	if msgID == "" {
		return errors.New("publish: empty msgID (needed for deduplication)")
	}
	ctx, span := b.tracer.Start(ctx, "publish "+subject,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", subject),
			attribute.String("messaging.message.id", msgID),
		))
	defer span.End()

	m := nats.NewMsg(subject)
	m.Data = data
	m.Header.Set(TypeHeader, typeName)
	b.propagator.Inject(ctx, headerCarrier(m.Header))
	_, err := b.js.PublishMsg(ctx, m, jetstream.WithMsgID(msgID))
	b.recordPublish(ctx, subject, err)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "publish failed")
		return fmt.Errorf("publish %s (msg id %s): %w", subject, msgID, err)
	}
	return nil
}

// Outgoing is one message of PublishBatch, its payload already marshalled.
type Outgoing struct {
	Ctx      context.Context // carries the trace the message continues
	Subject  string
	MsgID    string
	TypeName string
	Data     []byte
}

// PublishBatch publishes msgs in order without waiting for each
// acknowledgement before sending the next (JetStream keeps one
// connection's order), then waits for them all: one round trip for the
// batch instead of one per message. It returns how many messages from the
// start were acknowledged; on an error the rest may or may not be stored,
// and publishing them again is safe because the stream deduplicates by
// message id.
func (b *Bus) PublishBatch(ctx context.Context, msgs []Outgoing) (int, error) {
	type sent struct {
		ack  jetstream.PubAckFuture
		span trace.Span
	}
	pending := make([]sent, 0, len(msgs))
	endAll := func(from int, err error) {
		for _, p := range pending[from:] {
			if err != nil {
				p.span.RecordError(err)
				p.span.SetStatus(codes.Error, "publish failed")
			}
			p.span.End()
		}
	}
	var sendErr error
	for _, o := range msgs {
		if o.MsgID == "" {
			sendErr = errors.New("publish: empty msgID (needed for deduplication)")
			break
		}
		mctx := o.Ctx
		if mctx == nil {
			mctx = ctx
		}
		mctx, span := b.tracer.Start(mctx, "publish "+o.Subject,
			trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(
				attribute.String("messaging.system", "nats"),
				attribute.String("messaging.destination.name", o.Subject),
				attribute.String("messaging.message.id", o.MsgID),
			))
		m := nats.NewMsg(o.Subject)
		m.Data = o.Data
		m.Header.Set(TypeHeader, o.TypeName)
		b.propagator.Inject(mctx, headerCarrier(m.Header))
		ack, err := b.js.PublishMsgAsync(m, jetstream.WithMsgID(o.MsgID))
		if err != nil {
			span.End()
			sendErr = fmt.Errorf("publish %s (msg id %s): %w", o.Subject, o.MsgID, err)
			break
		}
		pending = append(pending, sent{ack: ack, span: span})
	}
	for i, p := range pending {
		var err error
		select {
		case <-p.ack.Ok():
		case err = <-p.ack.Err():
		case <-ctx.Done():
			err = ctx.Err()
		}
		b.recordPublish(ctx, msgs[i].Subject, err)
		if err != nil {
			endAll(i, err)
			return i, fmt.Errorf("publish %s (msg id %s): %w", msgs[i].Subject, msgs[i].MsgID, err)
		}
		p.span.End()
	}
	return len(pending), sendErr
}
