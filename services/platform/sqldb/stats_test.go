package sqldb_test

import (
	"context"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// TestPoolMetrics holds a connection and expects the pool gauge to count it
// in use, under the schema's name; after Close the pool is no longer reported.
func TestPoolMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	prev := otel.GetMeterProvider()
	otel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	t.Cleanup(func() { otel.SetMeterProvider(prev) })

	ctx := context.Background()
	db, err := sqldb.Open(ctx, sqldb.Options{URL: "sqlite:" + filepath.Join(t.TempDir(), "x.db"), Schema: "billing"})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	inUse := func() (int64, bool) {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(ctx, &rm); err != nil {
			t.Fatal(err)
		}
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				g, ok := m.Data.(metricdata.Gauge[int64])
				if m.Name != "kizuna.db.pool.connections" || !ok {
					continue
				}
				for _, p := range g.DataPoints {
					pool, _ := p.Attributes.Value("pool")
					state, _ := p.Attributes.Value("state")
					if pool == attribute.StringValue("billing") && state == attribute.StringValue("in_use") {
						return p.Value, true
					}
				}
			}
		}
		return 0, false
	}
	if n, ok := inUse(); !ok || n != 1 {
		t.Errorf("in_use = %d (reported %v), want 1", n, ok)
	}
	_ = conn.Close()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if n, ok := inUse(); ok {
		t.Errorf("closed pool still reported (in_use %d)", n)
	}
}
