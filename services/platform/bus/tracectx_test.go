package bus_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/kizuna/kizuna/services/platform/bus"
)

func TestEncodeDecodeTrace(t *testing.T) {
	prev := otel.GetTextMapPropagator()
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTextMapPropagator(prev) })

	ctx, span := sdktrace.NewTracerProvider().Tracer("t").Start(context.Background(), "request")
	defer span.End()
	tests := []struct {
		name    string
		encoded string
		want    trace.TraceID
	}{
		{name: "a request's trace", encoded: bus.EncodeTrace(ctx), want: span.SpanContext().TraceID()},
		{name: "no span", encoded: bus.EncodeTrace(context.Background())},
		{name: "unreadable", encoded: "{not json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := trace.SpanContextFromContext(bus.DecodeTrace(context.Background(), tt.encoded))
			if got.TraceID() != tt.want || got.IsRemote() != tt.want.IsValid() {
				t.Errorf("decoded %q → trace %s (remote %v), want %s", tt.encoded, got.TraceID(), got.IsRemote(), tt.want)
			}
		})
	}
	if bus.EncodeTrace(context.Background()) != "" {
		t.Errorf("a context without a span encodes to %q, want empty", bus.EncodeTrace(context.Background()))
	}
}
