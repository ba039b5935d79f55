// Package bus carries Kizuna's asynchronous facts over NATS JetStream: one
// stream per kind (events, membership, deliveries), subjects named by
// workspace, protobuf payloads, OpenTelemetry context in headers.
//
// Delivery is at-least-once. A message can arrive twice (a redelivery after
// a crash or a slow ack), so every handler must be idempotent, keyed by the
// message id (Message.MsgID, which publishers set to the event's own id).
// Publishing the same msgID again within the streams' duplicate window
// (two minutes) is dropped by JetStream, so publishers may retry freely.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// The stream kinds. Each kind is one JetStream stream.
const (
	// KindEvents carries ingested events and customer changes.
	KindEvents = "events"
	// KindMembership carries segment membership changes.
	KindMembership = "membership"
	// KindDeliveries carries campaign deliveries.
	KindDeliveries = "deliveries"
	// KindRegulations carries each service's report that it applied a
	// data-rights regulation (the requests themselves travel on
	// KindEvents, in order with the events they concern).
	KindRegulations = "regulations"
)

// Kinds lists every stream kind EnsureStreams creates.
func Kinds() []string { return []string{KindEvents, KindMembership, KindDeliveries, KindRegulations} }

// DefaultPrefix namespaces streams and subjects when ConnectOptions.Prefix
// is empty.
const DefaultPrefix = "kizuna"

// Stream limits.
const (
	// MaxAge bounds how long streams keep messages.
	MaxAge = 7 * 24 * time.Hour
	// DuplicateWindow is how long a msgID is remembered for dedupe.
	DuplicateWindow = 2 * time.Minute
)

// ConnectOptions configures Connect.
type ConnectOptions struct {
	// URL of a NATS server or cluster (nats://host:4222, or several
	// comma-separated). Ignored when Embedded is set.
	URL string
	// CredsFile, when set, authenticates with a NATS credentials file (user
	// JWT and NKey seed), as a NATS account server or operator issues them.
	CredsFile string
	// Embedded, when set, connects in-process to that server.
	Embedded *Embedded
	// Prefix namespaces stream names (<PREFIX>_EVENTS) and subjects
	// (<prefix>.events.>), so several deployments or tests can share one
	// NATS. Letters, digits, '_' and '-' only. Default "kizuna".
	Prefix string
	// Name identifies the connection in NATS monitoring (the service name).
	Name string
	// Logger receives consumer failures; default slog.Default().
	Logger *slog.Logger
	// Replicas per stream on a cluster; default 1.
	Replicas int
	// NoPacks makes PublishBatch send every message alone, as releases
	// before packs did: while consumers of such a release still run (a
	// rolling upgrade), since they do not read packs.
	NoPacks bool
	// TracerProvider, MeterProvider and Propagator default to the otel
	// globals, which telemetry.Setup configures.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Propagator     propagation.TextMapPropagator
}

// Bus is a connection to JetStream, namespaced by a prefix. It is safe for
// concurrent use.
type Bus struct {
	nc         *nats.Conn
	js         jetstream.JetStream
	closed     chan struct{}
	prefix     string
	logger     *slog.Logger
	replicas   int
	noPacks    bool
	tracer     trace.Tracer
	propagator propagation.TextMapPropagator
	metrics    *instruments
}

// nameRE matches valid prefixes and durable consumer names.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Connect dials NATS (or the embedded server) and returns a Bus. Call
// EnsureStreams once at startup before publishing.
func Connect(ctx context.Context, opts ConnectOptions) (*Bus, error) {
	b := &Bus{
		closed:     make(chan struct{}),
		prefix:     opts.Prefix,
		logger:     opts.Logger,
		replicas:   opts.Replicas,
		noPacks:    opts.NoPacks,
		propagator: opts.Propagator,
	}
	if b.prefix == "" {
		b.prefix = DefaultPrefix
	}
	if !nameRE.MatchString(b.prefix) {
		return nil, fmt.Errorf("connect bus: invalid prefix %q", b.prefix)
	}
	if b.logger == nil {
		b.logger = slog.Default()
	}
	if b.replicas <= 0 {
		b.replicas = 1
	}
	tp := opts.TracerProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	b.tracer = tp.Tracer("github.com/kizuna/kizuna/services/platform/bus")
	if b.propagator == nil {
		b.propagator = otel.GetTextMapPropagator()
	}
	mp := opts.MeterProvider
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	var err error
	if b.metrics, err = newInstruments(mp); err != nil {
		return nil, fmt.Errorf("connect bus: metrics: %w", err)
	}

	natsOpts := []nats.Option{
		nats.Name(opts.Name),
		nats.MaxReconnects(-1), // a NATS restart must not kill the service
		nats.ClosedHandler(func(*nats.Conn) { close(b.closed) }),
	}
	if opts.CredsFile != "" {
		natsOpts = append(natsOpts, nats.UserCredentials(opts.CredsFile))
	}
	url := opts.URL
	if opts.Embedded != nil {
		natsOpts = append(natsOpts, nats.InProcessServer(opts.Embedded.srv))
		url = ""
	} else if url == "" {
		return nil, errors.New("connect bus: neither URL nor Embedded set")
	}
	nc, err := nats.Connect(url, natsOpts...)
	if err != nil {
		return nil, fmt.Errorf("connect bus: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect bus: jetstream: %w", err)
	}
	b.nc, b.js = nc, js
	if _, err := js.AccountInfo(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("connect bus: jetstream not available: %w", err)
	}
	return b, nil
}

// Close drains the connection: in-flight handlers finish and pending
// publishes flush before it closes.
func (b *Bus) Close() error {
	if err := b.nc.Drain(); err != nil {
		if errors.Is(err, nats.ErrConnectionClosed) {
			return nil
		}
		return fmt.Errorf("close bus: %w", err)
	}
	<-b.closed // bounded by the connection's drain timeout
	return nil
}

// StreamName returns the JetStream stream name for kind, e.g. KIZUNA_EVENTS.
func (b *Bus) StreamName(kind string) string {
	return strings.ToUpper(b.prefix + "_" + kind)
}

// EnsureStreams creates or updates the stream of every kind. It is
// idempotent, so every service calls it at startup.
func (b *Bus) EnsureStreams(ctx context.Context) error {
	for _, kind := range Kinds() {
		cfg := jetstream.StreamConfig{
			Name:       b.StreamName(kind),
			Subjects:   []string{b.prefix + "." + kind + ".>"},
			Storage:    jetstream.FileStorage,
			Retention:  jetstream.LimitsPolicy,
			MaxAge:     MaxAge,
			Duplicates: DuplicateWindow,
			Replicas:   b.replicas,
		}
		if _, err := b.js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// DeleteStreams deletes every stream of this prefix and all their messages.
// It exists for tests sharing an external NATS and for operators; services
// never call it.
func (b *Bus) DeleteStreams(ctx context.Context) error {
	var errs []error
	for _, kind := range Kinds() {
		err := b.js.DeleteStream(ctx, b.StreamName(kind))
		if err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			errs = append(errs, fmt.Errorf("delete stream %s: %w", b.StreamName(kind), err))
		}
	}
	return errors.Join(errs...)
}

// Subject returns <prefix>.<kind>.<workspaceID>.<parts…>. Characters NATS
// gives meaning to ('.', '*', '>', whitespace) and '%' are percent-escaped
// in each token, and an empty token becomes "%", so any workspace id or part
// yields exactly one literal token and cannot address other subjects.
func (b *Bus) Subject(kind, workspaceID string, parts ...string) string {
	tokens := make([]string, 0, 3+len(parts))
	tokens = append(tokens, b.prefix, EscapeToken(kind), EscapeToken(workspaceID))
	for _, p := range parts {
		tokens = append(tokens, EscapeToken(p))
	}
	return strings.Join(tokens, ".")
}

// EscapeToken makes s safe as one NATS subject token (see Subject).
func EscapeToken(s string) string {
	if s == "" {
		return "%"
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == 0x7f || c == '.' || c == '*' || c == '>' || c == '%' {
			fmt.Fprintf(&sb, "%%%02X", c)
			continue
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

// headerCarrier adapts nats.Header to otel's TextMapCarrier.
type headerCarrier nats.Header

var _ propagation.TextMapCarrier = headerCarrier{}

func (c headerCarrier) Get(key string) string { return nats.Header(c).Get(key) }
func (c headerCarrier) Set(key, value string) { nats.Header(c).Set(key, value) }
func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
