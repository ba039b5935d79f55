package bus

import (
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	busv1 "github.com/kizuna/kizuna/gen/kizuna/bus/v1"
)

// A burst of messages to one subject goes out as one JetStream message, a
// kizuna.bus.v1.Pack: the stream stores, delivers and acknowledges it once
// per consumer instead of once per message. Per event, the JetStream
// server, the client and the acknowledgements were about a fifth of the
// suite's CPU under sustained load (docs/BENCHMARKS.md). Consumers see the
// messages one by one (messagesOf).
const (
	// PackCountHeader holds the number of messages in a pack, so a
	// batch can be sized without decoding it.
	PackCountHeader = "Kizuna-Pack-Count"
	// packMax bounds the messages of a pack: a consumer's batch is cut
	// at pack boundaries, so this is also how far a batch can overrun
	// Consumer.MaxBatch (DefaultMaxBatch).
	packMax = DefaultMaxBatch
	// packMaxBytes bounds the payloads of a pack, well under NATS's
	// default 1 MiB max_payload.
	packMaxBytes = 256 << 10
)

// packType is a pack's TypeHeader.
var packType = string((&busv1.Pack{}).ProtoReflect().Descriptor().FullName())

// packLen returns how many messages from the start of msgs go out
// together: those of the first one's subject, up to packMax and
// packMaxBytes (at least one), stopping before a message without an id.
func packLen(msgs []Outgoing) int {
	n, size := 1, len(msgs[0].Data)
	for n < len(msgs) && n < packMax {
		o := msgs[n]
		if o.Subject != msgs[0].Subject || o.MsgID == "" || size+len(o.Data) > packMaxBytes {
			break
		}
		n++
		size += len(o.Data)
	}
	return n
}

// packID is a pack's message id for JetStream's deduplication: the same
// messages packed again (a relay retrying) get the same id.
func packID(msgs []Outgoing) string {
	return fmt.Sprintf("pack:%d:%s:%s", len(msgs), msgs[0].MsgID, msgs[len(msgs)-1].MsgID)
}

// deliveredCount is how many messages a delivery carries.
func deliveredCount(m jetstream.Msg) int {
	if m == nil {
		return 1
	}
	if n, err := strconv.Atoi(m.Headers().Get(PackCountHeader)); err == nil && n > 0 {
		return n
	}
	return 1
}

// messagesOf reads a delivery: the messages of a pack, or the delivery
// itself.
func messagesOf(m jetstream.Msg) ([]Message, error) {
	var delivery uint64 = 1
	if md, err := m.Metadata(); err == nil {
		delivery = md.NumDelivered
	}
	headers := m.Headers()
	if headers == nil {
		headers = nats.Header{}
	}
	if headers.Get(TypeHeader) != packType {
		return []Message{{
			Subject: m.Subject(), Data: m.Data(), MsgID: headers.Get(jetstream.MsgIDHeader), Headers: headers,
			Delivery: delivery,
		}}, nil
	}
	var p busv1.Pack
	if err := proto.Unmarshal(m.Data(), &p); err != nil {
		return nil, fmt.Errorf("read pack %s: %w", headers.Get(jetstream.MsgIDHeader), err)
	}
	msgs := make([]Message, len(p.GetMessages()))
	for i, pm := range p.GetMessages() {
		h := make(nats.Header, len(pm.GetHeaders())+1)
		for k, v := range pm.GetHeaders() {
			h[k] = []string{v}
		}
		h[TypeHeader] = []string{pm.GetTypeName()}
		msgs[i] = Message{
			Subject: m.Subject(), Data: pm.GetData(), MsgID: pm.GetMsgId(), Headers: h,
			Delivery: delivery,
		}
	}
	return msgs, nil
}
