package bus

import (
	"context"
	"encoding/json"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// EncodeTrace returns the trace context of ctx (W3C traceparent and
// tracestate, through the global propagator) as a string to store with a
// transactional-outbox row; "" when ctx carries no span. The relay passes it
// to DecodeTrace before publishing, so the message, and every consumer that
// handles it, stay in the trace of the request that wrote the row instead of
// starting a new one.
func EncodeTrace(ctx context.Context) string {
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	if len(carrier) == 0 {
		return ""
	}
	b, err := json.Marshal(carrier)
	if err != nil {
		return ""
	}
	return string(b)
}

// DecodeTrace returns ctx carrying the remote span context EncodeTrace
// stored; ctx unchanged when s is empty or unreadable (a trace is worth
// less than the message).
func DecodeTrace(ctx context.Context, s string) context.Context {
	if s == "" {
		return ctx
	}
	carrier := propagation.MapCarrier{}
	if err := json.Unmarshal([]byte(s), &carrier); err != nil {
		return ctx
	}
	return otel.GetTextMapPropagator().Extract(ctx, carrier)
}
