package bus

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// ObserveOutbox reports the rows waiting in a transactional outbox as the
// gauge kizuna.outbox.backlog{outbox=name}, counted by count at each metrics
// collection (so keep it to one indexed COUNT). A backlog that grows means
// the relay cannot publish: the bus is down or rejecting. Call stop when the
// relay stops.
func ObserveOutbox(name string, count func(context.Context) (int64, error)) (stop func(), err error) {
	m := otel.GetMeterProvider().Meter("github.com/kizuna/kizuna/services/platform/bus")
	g, err := m.Int64ObservableGauge("kizuna.outbox.backlog",
		metric.WithDescription("Rows in a transactional outbox not yet published to the bus."), metric.WithUnit("{message}"))
	if err != nil {
		return nil, fmt.Errorf("outbox metrics: %w", err)
	}
	attrs := metric.WithAttributes(attribute.String("outbox", name))
	reg, err := m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		n, err := count(ctx)
		if err != nil {
			return fmt.Errorf("count outbox %s: %w", name, err)
		}
		o.ObserveInt64(g, n, attrs)
		return nil
	}, g)
	if err != nil {
		return nil, fmt.Errorf("outbox metrics: %w", err)
	}
	return func() { _ = reg.Unregister() }, nil
}
