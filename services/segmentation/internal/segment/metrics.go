package segment

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// counters are segmentation's business counters: how much evaluating the
// engine does and how many memberships it changes, which an on-call
// compares with the events flowing in (a sweep that changes nothing for
// hours, or churn far above the traffic, is a rule worth a look).
type counters struct {
	evaluations metric.Int64Counter
	changes     metric.Int64Counter
}

// Triggers of an evaluation, the trigger label of
// kizuna.segmentation.evaluations.
const (
	triggerEvent = "event" // a customer's own event, merge or unmerge
	triggerBulk  = "bulk"  // a sweep, or a segment created or changed
)

// newCounters uses the global meter provider (telemetry.Setup's); the
// instruments are no-ops where none is installed.
func newCounters() *counters {
	m := otel.Meter("github.com/kizuna/kizuna/services/segmentation")
	var c counters
	// Errors only come from invalid instrument names, fixed here: the
	// returned no-op instruments are fine then.
	c.evaluations, _ = m.Int64Counter("kizuna.segmentation.evaluations",
		metric.WithDescription("Customers evaluated against their workspace's segments, by trigger: event (the customer's own event, merge or unmerge), bulk (a sweep, a segment created or changed)."),
		metric.WithUnit("{customer}"))
	c.changes, _ = m.Int64Counter("kizuna.segmentation.membership_changes",
		metric.WithDescription("Segment memberships changed by evaluation, by change: entered, exited. Each is one message on the membership stream."),
		metric.WithUnit("{change}"))
	return &c
}

func (c *counters) evaluated(ctx context.Context, trigger string, n int) {
	if n > 0 {
		c.evaluations.Add(ctx, int64(n), metric.WithAttributes(attribute.String("trigger", trigger)))
	}
}

func (c *counters) applied(ctx context.Context, changes []MembershipChange) {
	var entered, exited int64
	for _, ch := range changes {
		if ch.Joined {
			entered++
		} else {
			exited++
		}
	}
	if entered > 0 {
		c.changes.Add(ctx, entered, metric.WithAttributes(attribute.String("change", "entered")))
	}
	if exited > 0 {
		c.changes.Add(ctx, exited, metric.WithAttributes(attribute.String("change", "exited")))
	}
}
