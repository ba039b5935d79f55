package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/kizuna/kizuna/services/platform/telemetry"
)

func TestLoggerAddsTraceIDs(t *testing.T) {
	traced, span := sdktrace.NewTracerProvider().Tracer("t").Start(context.Background(), "op")
	defer span.End()
	tests := []struct {
		name      string
		ctx       context.Context
		wantTrace string
	}{
		{name: "with span", ctx: traced, wantTrace: span.SpanContext().TraceID().String()},
		{name: "without span", ctx: context.Background()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			telemetry.NewLogger(&buf, slog.LevelInfo, true).With("k", "v").InfoContext(tt.ctx, "hello")
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatal(err)
			}
			got, _ := rec["trace_id"].(string)
			if got != tt.wantTrace || rec["k"] != "v" {
				t.Errorf("record = %v, want trace_id %q and k=v", rec, tt.wantTrace)
			}
		})
	}
}

func TestNewLoggerText(t *testing.T) {
	var buf bytes.Buffer
	telemetry.NewLogger(&buf, slog.LevelWarn, false).Info("dropped")
	telemetry.NewLogger(&buf, slog.LevelWarn, false).Warn("kept")
	if out := buf.String(); strings.Contains(out, "dropped") || !strings.Contains(out, "msg=kept") {
		t.Errorf("output = %q", out)
	}
}

func TestSetup(t *testing.T) {
	tests := []struct {
		name    string
		opts    telemetry.Options
		wantSDK bool // the global tracer provider is the SDK's
	}{
		// No assertion on the providers here: otel cannot unset them, so
		// they are the SDK's after "with endpoint" has run once (-count=2).
		{name: "no endpoint", opts: telemetry.Options{ServiceName: "test"}},
		// Exporters connect lazily, so an unreachable endpoint still sets up.
		{name: "with endpoint", opts: telemetry.Options{ServiceName: "test", OTLPEndpoint: "127.0.0.1:1"}, wantSDK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tel, err := telemetry.Setup(context.Background(), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if fields := otel.GetTextMapPropagator().Fields(); !strings.Contains(strings.Join(fields, ","), "traceparent") {
				t.Errorf("propagator fields = %v", fields)
			}
			if tt.wantSDK {
				if tp := otel.GetTracerProvider(); !isType[*sdktrace.TracerProvider](tp) {
					t.Errorf("tracer provider = %T, want *sdktrace.TracerProvider", tp)
				}
			}
			if mp := otel.GetMeterProvider(); !isType[*sdkmetric.MeterProvider](mp) {
				t.Errorf("meter provider = %T, want *sdkmetric.MeterProvider", mp)
			}
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // do not wait for the unreachable collector
			_ = tel.Shutdown(ctx)
		})
	}
}

func isType[T any](v any) bool {
	_, ok := v.(T)
	return ok
}

// TestMetricsHandler checks that a counter recorded through the global meter
// provider is served in the Prometheus format with the Go runtime metrics.
func TestMetricsHandler(t *testing.T) {
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{ServiceName: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	counter, err := otel.Meter("test").Int64Counter("kizuna.test.things", metric.WithDescription("things"))
	if err != nil {
		t.Fatal(err)
	}
	counter.Add(context.Background(), 3, metric.WithAttributes(attribute.String("kind", "a")))

	rec := httptest.NewRecorder()
	tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{`kizuna_test_things_total{kind="a",otel_scope_name="test"`, "go_goroutines"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
}
