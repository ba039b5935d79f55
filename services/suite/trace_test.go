package suite_test

import (
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/kizuna/kizuna/services/platform/bus/bustest"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/platform/testenv"
	"github.com/kizuna/kizuna/services/suite"
)

// TestTraceAcrossTheBus sends one POST /v1/track with tracing exported to
// memory and checks the span tree: the gateway's request, ingestion's RPC,
// the publish (made later by the outbox relay, still in the request's
// trace) and the segmentation and metrics consumers handling it, all one
// trace with each span under the one before.
func TestTraceAcrossTheBus(t *testing.T) {
	t.Run("embedded", func(t *testing.T) { traceOneTrack(t, suite.Config{DataDir: t.TempDir()}) })
	t.Run("postgres+nats", func(t *testing.T) {
		pg, nats := testenv.URL(t, sqldbtest.PostgresURLVar), testenv.URL(t, bustest.NATSURLVar)
		id := randomID(t)
		cfg := suite.Config{DataDir: t.TempDir(), DatabaseURL: pg, SchemaPrefix: "trace_" + id + "_", NATSURL: nats, BusPrefix: "trc" + id}
		t.Cleanup(func() { dropExternal(t, cfg) })
		traceOneTrack(t, cfg)
	})
}

func traceOneTrack(t *testing.T, cfg suite.Config) {
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() {
		otel.SetTracerProvider(prevTP)
		otel.SetTextMapPropagator(prevProp)
		_ = tp.Shutdown(t.Context())
	})

	a := startSuite(t, cfg)
	c := &client{t: t, base: "http://" + a.HTTP}
	c.call("POST", "/v1/track", `{"userId":"traced","event":"Order Completed","messageId":"trace-1","properties":{"revenue":10}}`, basic, nil)

	byID := func() map[trace.SpanID]tracetest.SpanStub {
		m := map[trace.SpanID]tracetest.SpanStub{}
		for _, s := range spans.GetSpans() {
			m[s.SpanContext.SpanID()] = s
		}
		return m
	}
	// consumer finds the span of durable handling the message in the
	// request's trace.
	var root tracetest.SpanStub
	consumer := func(all map[trace.SpanID]tracetest.SpanStub, durable string) (tracetest.SpanStub, bool) {
		for _, s := range all {
			if s.SpanKind == trace.SpanKindConsumer && s.SpanContext.TraceID() == root.SpanContext.TraceID() &&
				hasAttr(s.Attributes, "messaging.consumer.group.name", durable) {
				return s, true
			}
		}
		return tracetest.SpanStub{}, false
	}
	eventually(t, "the consumers' spans", func() bool {
		all := byID()
		for _, s := range all {
			if s.Name == "POST /v1/track" && s.SpanKind == trace.SpanKindServer {
				root = s
			}
		}
		if !root.SpanContext.IsValid() {
			return false
		}
		_, seg := consumer(all, "segmentation")
		_, met := consumer(all, "metrics")
		return seg && met
	})

	all := byID()
	// path walks from s up to the root, returning the names on the way.
	path := func(s tracetest.SpanStub) []string {
		var names []string
		for s.SpanContext.IsValid() {
			names = append(names, s.Name)
			if s.SpanContext.SpanID() == root.SpanContext.SpanID() {
				return names
			}
			s = all[s.Parent.SpanID()]
		}
		return append(names, "(broken: no parent span)")
	}
	for _, durable := range []string{"segmentation", "metrics"} {
		s, _ := consumer(all, durable)
		names := path(s)
		want := []string{"publish", "kizuna.ingestion.v1.TrackingService/Track", "POST /v1/track"}
		if !containsInOrder(names, want) {
			t.Errorf("%s: span path %q, want it to pass through %q", durable, names, want)
		}
	}
}

// containsInOrder reports whether each of want is a prefix of an element of
// names, in order.
func containsInOrder(names, want []string) bool {
	i := 0
	for _, n := range names {
		if i < len(want) && len(n) >= len(want[i]) && n[:len(want[i])] == want[i] {
			i++
		}
	}
	return i == len(want)
}

func hasAttr(attrs []attribute.KeyValue, key, value string) bool {
	for _, kv := range attrs {
		if string(kv.Key) == key && kv.Value.AsString() == value {
			return true
		}
	}
	return false
}
