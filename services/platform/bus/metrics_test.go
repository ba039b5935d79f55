package bus_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/kizuna/kizuna/services/platform/bus"
)

// TestMetrics publishes two messages, fails the first delivery of one, and
// checks the counters an on-call reads.
func TestMetrics(t *testing.T) {
	ctx := context.Background()
	e, err := bus.StartEmbedded(bus.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	reader := sdkmetric.NewManualReader()
	b, err := bus.Connect(ctx, bus.ConnectOptions{Embedded: e, Prefix: "mtest", MeterProvider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.EnsureStreams(ctx); err != nil {
		t.Fatal(err)
	}

	var failed atomic.Bool
	acked := make(chan struct{}, 10)
	stop, err := b.Consume(ctx, bus.Consumer{Kind: bus.KindEvents, Durable: "metrics-test", RetryDelay: 10 * time.Millisecond,
		Handler: func(_ context.Context, m bus.Message) error {
			if m.MsgID == "m-2" && !failed.Swap(true) {
				return errors.New("transient")
			}
			acked <- struct{}{}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for _, id := range []string{"m-1", "m-2"} {
		if err := b.Publish(ctx, b.Subject(bus.KindEvents, "ws1", "track"), id, wrapperspb.String(id)); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		select {
		case <-acked:
		case <-time.After(10 * time.Second):
			t.Fatal("timed out waiting for the handler")
		}
	}
	time.Sleep(50 * time.Millisecond) // the counter is recorded just after the handler returns

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		metric string
		attrs  []attribute.KeyValue
		want   int64
	}{
		{"kizuna.bus.messages.published", []attribute.KeyValue{attribute.String("stream", "MTEST_EVENTS"), attribute.String("outcome", "ok")}, 2},
		{"kizuna.bus.messages.processed", []attribute.KeyValue{attribute.String("consumer", "metrics-test"), attribute.String("outcome", "ack")}, 2},
		{"kizuna.bus.messages.processed", []attribute.KeyValue{attribute.String("consumer", "metrics-test"), attribute.String("outcome", "retry")}, 1},
		{"kizuna.bus.messages.redelivered", []attribute.KeyValue{attribute.String("stream", "MTEST_EVENTS")}, 1},
		{"kizuna.bus.consumer.pending", []attribute.KeyValue{attribute.String("consumer", "metrics-test")}, 0},
	}
	for _, tt := range tests {
		if got, ok := value(rm, tt.metric, tt.attrs); !ok || got != tt.want {
			t.Errorf("%s%v = %d (found %v), want %d", tt.metric, tt.attrs, got, ok, tt.want)
		}
	}
}

// value returns the sum or gauge value of the data point of name whose
// attributes include attrs.
func value(rm metricdata.ResourceMetrics, name string, attrs []attribute.KeyValue) (int64, bool) {
	matches := func(set attribute.Set) bool {
		for _, kv := range attrs {
			if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
				return false
			}
		}
		return true
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					if matches(p.Attributes) {
						return p.Value, true
					}
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					if matches(p.Attributes) {
						return p.Value, true
					}
				}
			}
		}
	}
	return 0, false
}
