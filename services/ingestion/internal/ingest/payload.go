package ingest

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/ingestion/internal/customer"
	"github.com/kizuna/kizuna/services/ingestion/internal/tracking"
)

// An event's bus message is encoded in two parts so that the costly one
// is done by each caller in parallel, before the single group writer runs
// (encoding was a fifth of the writer's time): everything the message
// says, by the caller (eventPart), and what only the write decides — the
// customer and the receive time — by the writer (eventPayload). Protobuf
// reads concatenated encodings of a message as one message with the
// fields of both, and the parts set disjoint fields.

// eventPart encodes the event m becomes in workspace ws, without its
// customer and receive time.
func eventPart(ws string, m *tracking.Message) ([]byte, error) {
	pb, err := EventProto(eventOf(ws, "", m, time.Time{}))
	if err != nil {
		return nil, err
	}
	pb.ReceiveTime = nil
	b, err := proto.Marshal(pb)
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	return b, nil
}

// eventRecordedField is the field of IngestionBusMessage holding an
// EventRecorded event.
var eventRecordedField = (&ingestionv1.IngestionBusMessage{}).ProtoReflect().Descriptor().Fields().ByName("event_recorded").Number()

// eventPayload completes part (from eventPart) with the customer and the
// receive time into the bus message of an EventRecorded event.
func eventPayload(part []byte, customerID string, receiveTime time.Time) ([]byte, error) {
	rest, err := proto.Marshal(&ingestionv1.Event{CustomerId: customerID, ReceiveTime: timestamppb.New(receiveTime)})
	if err != nil {
		return nil, fmt.Errorf("encode event: %w", err)
	}
	out := protowire.AppendTag(make([]byte, 0, len(part)+len(rest)+12), eventRecordedField, protowire.BytesType)
	out = protowire.AppendVarint(out, uint64(len(part)+len(rest)))
	return append(append(out, part...), rest...), nil
}

// eventOf is the event m becomes as customerID's, received at now.
func eventOf(ws, customerID string, m *tracking.Message, now time.Time) customer.Event {
	ev := customer.Event{
		WorkspaceID: ws, EventID: m.MessageID, CustomerID: customerID, Type: string(m.Type), Name: m.Name,
		UserID: m.UserID, AnonymousID: m.AnonymousID, Time: m.Timestamp, ReceiveTime: now,
		Properties: m.Properties, Traits: m.Traits, Context: m.Context, GroupID: m.GroupID, PreviousID: m.PreviousID,
	}
	if m.Order != nil {
		ev.OrderID, ev.Revenue, ev.Currency = m.Order.OrderID, m.Order.Revenue, m.Order.Currency
	}
	return ev
}
