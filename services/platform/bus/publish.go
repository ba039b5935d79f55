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
