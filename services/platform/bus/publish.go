package bus

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	busv1 "github.com/kizuna/kizuna/gen/kizuna/bus/v1"
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
	// One message is never packed, so building it cannot fail.
	m, _, spans, _ := b.outgoing(ctx, []Outgoing{{Subject: subject, MsgID: msgID, TypeName: typeName, Data: data}})
	_, err := b.js.PublishMsg(ctx, m, jetstream.WithMsgID(msgID))
	b.recordPublish(ctx, subject, 1, err)
	endSpans(spans, err)
	if err != nil {
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
// batch instead of one per message. Consecutive messages to one subject
// go out packed (kizuna.bus.v1.Pack, see packLen). It returns how many
// messages from the start were acknowledged; on an error the rest may or
// may not be stored, and publishing them again is safe: the stream
// deduplicates a lone message by its id, a pack by its first and last ids
// (and a pack holds an id once), and consumers key their effects by
// message id, so a message republished in a pack of other bounds changes
// nothing either.
func (b *Bus) PublishBatch(ctx context.Context, msgs []Outgoing) (int, error) {
	type sent struct {
		ack   jetstream.PubAckFuture
		spans []trace.Span
		first int // msgs[first:end] went out in this one
		end   int
		id    string
	}
	var pending []sent
	var sendErr error
	for start := 0; start < len(msgs); {
		if msgs[start].MsgID == "" {
			sendErr = errors.New("publish: empty msgID (needed for deduplication)")
			break
		}
		group := msgs[start : start+1]
		if !b.noPacks {
			group = msgs[start : start+packLen(msgs[start:])]
		}
		m, id, spans, err := b.outgoing(ctx, group)
		var ack jetstream.PubAckFuture
		if err == nil {
			ack, err = b.js.PublishMsgAsync(m, jetstream.WithMsgID(id))
		}
		if err == nil {
			pending = append(pending, sent{ack: ack, spans: spans, first: start, end: start + len(group), id: id})
			start += len(group)
			continue
		}
		endSpans(spans, err)
		sendErr = fmt.Errorf("publish %s (msg id %s): %w", group[0].Subject, id, err)
		break
	}
	for i, p := range pending {
		var err error
		select {
		case <-p.ack.Ok():
		case err = <-p.ack.Err():
		case <-ctx.Done():
			err = ctx.Err()
		}
		b.recordPublish(ctx, msgs[p.first].Subject, p.end-p.first, err)
		if err != nil {
			for _, q := range pending[i:] {
				endSpans(q.spans, err)
			}
			return p.first, fmt.Errorf("publish %s (msg id %s): %w", msgs[p.first].Subject, p.id, err)
		}
		endSpans(p.spans, nil)
	}
	if len(pending) == 0 {
		return 0, sendErr
	}
	return pending[len(pending)-1].end, sendErr
}

// outgoing builds the JetStream message for msgs (one, or a pack of
// several to one subject) and its id, with a publish span per message in
// the trace that message continues.
func (b *Bus) outgoing(ctx context.Context, msgs []Outgoing) (*nats.Msg, string, []trace.Span, error) {
	if len(msgs) == 1 {
		o := msgs[0]
		mctx, span := b.startPublish(ctx, o)
		m := nats.NewMsg(o.Subject)
		m.Data = o.Data
		m.Header.Set(TypeHeader, o.TypeName)
		b.propagator.Inject(mctx, headerCarrier(m.Header))
		return m, o.MsgID, []trace.Span{span}, nil
	}
	spans := make([]trace.Span, 0, len(msgs))
	var pack busv1.Pack
	ids := map[string]bool{} // JetStream would store a repeated id once
	for _, o := range msgs {
		if ids[o.MsgID] {
			continue
		}
		ids[o.MsgID] = true
		mctx, span := b.startPublish(ctx, o)
		spans = append(spans, span)
		headers := propagation.MapCarrier{}
		b.propagator.Inject(mctx, headers)
		pack.Messages = append(pack.Messages, &busv1.PackedMessage{MsgId: o.MsgID, TypeName: o.TypeName, Headers: headers, Data: o.Data})
	}
	id := packID(msgs)
	data, err := proto.Marshal(&pack) // fails on an id or header that is not UTF-8
	if err != nil {
		return nil, id, spans, fmt.Errorf("marshal pack: %w", err)
	}
	m := nats.NewMsg(msgs[0].Subject)
	m.Data = data
	m.Header.Set(TypeHeader, packType)
	m.Header.Set(PackCountHeader, strconv.Itoa(len(pack.Messages)))
	return m, id, spans, nil
}

// startPublish starts the span of publishing o, in the trace o continues
// (o.Ctx, else ctx).
func (b *Bus) startPublish(ctx context.Context, o Outgoing) (context.Context, trace.Span) {
	if o.Ctx != nil {
		ctx = o.Ctx
	}
	return b.tracer.Start(ctx, "publish "+o.Subject,
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", o.Subject),
			attribute.String("messaging.message.id", o.MsgID),
		))
}

// endSpans ends publish spans, marking them failed with err if any.
func endSpans(spans []trace.Span, err error) {
	for _, span := range spans {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "publish failed")
		}
		span.End()
	}
}
