package sqldb

import (
	"context"
	"database/sql"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// observePool reports the pool's database/sql statistics under the pool
// name (the schema, or the SQLite file's name) at every metrics collection:
// connections in use and idle, the pool limit, and how often and how long
// callers waited for a connection, the first sign of an undersized pool or
// a slow database.
func (db *DB) observePool(pool string) error {
	m := otel.GetMeterProvider().Meter("github.com/kizuna/kizuna/services/platform/sqldb")
	conns, err := m.Int64ObservableGauge("kizuna.db.pool.connections",
		metric.WithDescription("Open connections of the pool, by state (in_use, idle)."), metric.WithUnit("{connection}"))
	if err != nil {
		return err
	}
	maxOpen, err := m.Int64ObservableGauge("kizuna.db.pool.max_open",
		metric.WithDescription("Most connections the pool may open; 0 means no limit."), metric.WithUnit("{connection}"))
	if err != nil {
		return err
	}
	waits, err := m.Int64ObservableCounter("kizuna.db.pool.waits",
		metric.WithDescription("Times a caller waited for a free connection."), metric.WithUnit("{wait}"))
	if err != nil {
		return err
	}
	waited, err := m.Float64ObservableCounter("kizuna.db.pool.wait_duration",
		metric.WithDescription("Total time callers waited for a free connection."), metric.WithUnit("s"))
	if err != nil {
		return err
	}
	poolAttr := attribute.String("pool", pool)
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := db.Stats()
		o.ObserveInt64(conns, int64(s.InUse), metric.WithAttributes(poolAttr, attribute.String("state", "in_use")))
		o.ObserveInt64(conns, int64(s.Idle), metric.WithAttributes(poolAttr, attribute.String("state", "idle")))
		o.ObserveInt64(maxOpen, int64(s.MaxOpenConnections), metric.WithAttributes(poolAttr))
		o.ObserveInt64(waits, s.WaitCount, metric.WithAttributes(poolAttr))
		o.ObserveFloat64(waited, s.WaitDuration.Seconds(), metric.WithAttributes(poolAttr))
		return nil
	}, conns, maxOpen, waits, waited)
	if err != nil {
		return fmt.Errorf("register pool metrics: %w", err)
	}
	db.unobserve = reg.Unregister
	return nil
}

// Close stops reporting the pool's metrics and the checkpoints, closes the
// writer connection and the cached statements, and closes the pool.
func (db *DB) Close() error {
	if db.unobserve != nil {
		_ = db.unobserve()
	}
	if db.stopCheckpoints != nil {
		db.stopCheckpoints()
	}
	if db.writer != nil {
		db.writer.Lock()
		if db.writeConn != nil {
			_ = db.writeConn.Close()
			db.writeConn = nil
		}
		db.writer.Unlock()
	}
	db.stmts.Range(func(_, st any) bool {
		_ = st.(*sql.Stmt).Close()
		return true
	})
	return db.DB.Close()
}
