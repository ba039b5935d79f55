package api

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Event outcomes, the outcome label of kizuna.ingestion.events.
const (
	outcomeAccepted  = "accepted"  // stored
	outcomeDuplicate = "duplicate" // a message id seen before: stored once already
	// outcomeSuppressed: carries a suppressed identity, dropped unstored.
	outcomeSuppressed = "suppressed"
	outcomeRejected   = "rejected" // invalid: the client got InvalidArgument
)

// counters are the business counters an on-call compares with the traffic:
// events by outcome, merges by source, duplicate scans started.
type counters struct {
	events metric.Int64Counter
	merges metric.Int64Counter
	scans  metric.Int64Counter
}

// newCounters uses the global meter provider (telemetry.Setup's); the
// instruments are no-ops where none is installed.
func newCounters() *counters {
	m := otel.Meter("github.com/kizuna/kizuna/services/ingestion")
	var c counters
	// Errors only come from invalid instrument names, fixed here: the
	// returned no-op instruments are fine then.
	c.events, _ = m.Int64Counter("kizuna.ingestion.events",
		metric.WithDescription("Tracking messages received, by outcome: accepted, duplicate (message id seen before), rejected (invalid)."),
		metric.WithUnit("{event}"))
	c.merges, _ = m.Int64Counter("kizuna.ingestion.merges",
		metric.WithDescription("Customers merged into another, by source: resolution (shared identity), manual, suggestion; and merges undone (source undo)."),
		metric.WithUnit("{customer}"))
	c.scans, _ = m.Int64Counter("kizuna.ingestion.duplicate_scans",
		metric.WithDescription("Duplicate scans requested (a request while a scan runs gets that scan)."), metric.WithUnit("{scan}"))
	return &c
}

func (c *counters) addEvents(ctx context.Context, outcome string, n int) {
	if n > 0 {
		c.events.Add(ctx, int64(n), metric.WithAttributes(attribute.String("outcome", outcome)))
	}
}

// rejected counts n messages as rejected when err tells the client they
// were invalid; other failures are the server's and show in the RPC metrics.
func (c *counters) rejected(ctx context.Context, err error, n int) {
	if status.Code(err) == codes.InvalidArgument {
		c.addEvents(ctx, outcomeRejected, n)
	}
}

func (c *counters) addMerges(ctx context.Context, source string, n int) {
	if n > 0 {
		c.merges.Add(ctx, int64(n), metric.WithAttributes(attribute.String("source", source)))
	}
}
