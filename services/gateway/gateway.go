// Package gateway is Kizuna's HTTP front door: REST/JSON for every service
// through grpc-gateway, Segment-compatible tracking endpoints, the OpenAPI
// document and health endpoints.
//
// The gateway holds no state and makes no decisions about tenancy: it
// forwards the caller's credentials as gRPC metadata over real client
// connections, so each backend's interceptors authenticate the caller and
// the backend stays the authority on every key.
//
// Routes:
//
//	/v1/...            the REST mapping of every RPC (google.api.http annotations)
//	POST /v1/batch...  Segment's tracking API; also HTTP Basic and body writeKey
//	POST /v1/channels/{channelId}/line:webhook
//	                   LINE's webhook, raw body and X-Line-Signature passed through
//	/unsubscribe/{token}
//	                   the unsubscribe link of marketing mail: GET confirms,
//	                   POST (RFC 8058 one-click or the form) unsubscribes
//	GET /console/      the marketer's web console (embedded static files)
//	GET /openapi.json  the merged OpenAPI document
//	GET /metrics       Prometheus metrics, when Options.MetricsHandler is set
//	GET /healthz       200 while the process runs
//	GET /readyz        200 while serving, 503 once draining; ?verbose adds each
//	                   backend's gRPC health (reported, never failing the probe)
package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	metricsv1 "github.com/kizuna/kizuna/gen/kizuna/metrics/v1"
	segmentationv1 "github.com/kizuna/kizuna/gen/kizuna/segmentation/v1"
	"github.com/kizuna/kizuna/services/gateway/internal/console"
)

// Server timeouts. Requests get a deadline of requestTimeout, which grpc-go
// propagates to the backends, so no RPC outlives its HTTP request;
// WriteTimeout leaves room to write the answer after that deadline.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	requestTimeout    = 30 * time.Second
	writeTimeout      = requestTimeout + 10*time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	// shutdownTimeout fits inside Kubernetes' default 30 s grace period.
	shutdownTimeout = 25 * time.Second
)

// Options configures a Gateway. The connections are dialled by the caller
// (normally with platform/grpcclient, so trace context and the caller's
// authorization flow on to the backend); the gateway never closes them.
type Options struct {
	// Ingestion serves TrackingService, CustomerService and WorkspaceService.
	Ingestion *grpc.ClientConn
	// Segmentation serves SegmentService.
	Segmentation *grpc.ClientConn
	// Metrics serves MetricsService.
	Metrics *grpc.ClientConn
	// Campaign serves CampaignService, ChannelService, JourneyService and
	// ConsentService.
	Campaign *grpc.ClientConn
	// CORSOrigins may call the REST API from a browser: exact origins
	// ("https://app.example.jp") or "*" for any. None when empty; the
	// console at /console/ is same-origin and needs none.
	CORSOrigins []string
	// Logger receives one line per request; slog.Default() when nil. Build
	// it with telemetry.NewLogger for the lines to carry trace ids.
	Logger *slog.Logger
	// MetricsHandler, when set, is served at GET /metrics. The all-in-one binary
	// sets it; the gateway's own binary serves metrics on a separate port
	// (-prometheus-addr) that the chart keeps out of public reach.
	MetricsHandler http.Handler
}

// Gateway is the HTTP front door. Build it with New; it is safe for
// concurrent use.
type Gateway struct {
	logger *slog.Logger
	// mux serves every REST route but Segment's tracking API, whose
	// requests trackingMux decodes leniently (see New).
	mux         *runtime.ServeMux
	trackingMux *runtime.ServeMux
	marshaler   runtime.Marshaler
	backends    []backend
	handler     http.Handler
	// channels and consent serve the public routes the gateway answers
	// itself (LINE webhook, unsubscribe link) instead of grpc-gateway.
	channels campaignv1.ChannelServiceClient
	consent  campaignv1.ConsentServiceClient
	// export gathers a customer's data from every service for
	// GET /v1/customers/{id}:export.
	export *exporter
	// initiatives answers GET /v1/initiatives/{id}/summary?format=markdown
	// as text/markdown.
	initiatives metricsv1.InitiativeServiceClient
	corsOrigins []string
	// draining turns /readyz to 503 once Serve starts shutting down, so a
	// load balancer stops routing here while in-flight requests finish.
	draining atomic.Bool
}

// backend is one upstream service as /readyz reports it.
type backend struct {
	name string
	conn *grpc.ClientConn
}

// New builds the gateway's routes over the given connections. It fails when
// a connection is missing, since a gateway without one would answer that
// service's routes with confusing 404s.
func New(ctx context.Context, opts Options) (*Gateway, error) {
	backends := []backend{
		{"ingestion", opts.Ingestion},
		{"segmentation", opts.Segmentation},
		{"metrics", opts.Metrics},
		{"campaign", opts.Campaign},
	}
	for _, b := range backends {
		if b.conn == nil {
			return nil, fmt.Errorf("gateway: Options.%s connection is nil", exportedName(b.name))
		}
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}

	g := &Gateway{
		logger:      logger,
		backends:    backends,
		corsOrigins: opts.CORSOrigins,
		channels:    campaignv1.NewChannelServiceClient(opts.Campaign),
		consent:     campaignv1.NewConsentServiceClient(opts.Campaign),
		export:      newExporter(opts.Ingestion, opts.Segmentation, opts.Campaign),
		initiatives: metricsv1.NewInitiativeServiceClient(opts.Metrics),
		// A field the contract does not know is a mistake worth a 400
		// ({"users":1000} would otherwise plan for 0 trials)...
		marshaler: newMarshaler(false),
	}
	newMux := func(m runtime.Marshaler) *runtime.ServeMux {
		return runtime.NewServeMux(
			// The wildcard covers application/json and also text/plain, which
			// browsers use to send tracking calls without a CORS preflight.
			runtime.WithMarshalerOption(runtime.MIMEWildcard, m),
			runtime.WithIncomingHeaderMatcher(incomingHeaderMatcher),
			runtime.WithErrorHandler(g.errorHandler),
			runtime.WithRoutingErrorHandler(routingErrorHandler),
			runtime.WithMiddlewares(routeMiddleware),
		)
	}
	g.mux = newMux(g.marshaler)
	// ...except on Segment's tracking API: its clients send fields the
	// contract does not model (writeKey, _metadata, library...), and
	// ignoring them is the compatibility it promises.
	g.trackingMux = newMux(newMarshaler(true))

	registrations := []struct {
		name     string
		register func(context.Context, *runtime.ServeMux) error
	}{
		{"TrackingService", func(ctx context.Context, mux *runtime.ServeMux) error {
			return ingestionv1.RegisterTrackingServiceHandlerClient(ctx, g.trackingMux, ingestionv1.NewTrackingServiceClient(opts.Ingestion))
		}},
		{"CustomerService", func(ctx context.Context, mux *runtime.ServeMux) error {
			return ingestionv1.RegisterCustomerServiceHandlerClient(ctx, mux, ingestionv1.NewCustomerServiceClient(opts.Ingestion))
		}},
		{"WorkspaceService", func(ctx context.Context, mux *runtime.ServeMux) error {
			return ingestionv1.RegisterWorkspaceServiceHandlerClient(ctx, mux, ingestionv1.NewWorkspaceServiceClient(opts.Ingestion))
		}},
		{"DeduplicationService", func(ctx context.Context, mux *runtime.ServeMux) error {
			return ingestionv1.RegisterDeduplicationServiceHandlerClient(ctx, mux, ingestionv1.NewDeduplicationServiceClient(opts.Ingestion))
		}},
		{"RegulationService", func(ctx context.Context, mux *runtime.ServeMux) error {
			return ingestionv1.RegisterRegulationServiceHandlerClient(ctx, mux, g.export.regulations)
		}},
		{"ImportService", func(ctx context.Context, mux *runtime.ServeMux) error {
			return ingestionv1.RegisterImportServiceHandlerClient(ctx, mux, ingestionv1.NewImportServiceClient(opts.Ingestion))
		}},
		{"SegmentService", func(ctx context.Context, mux *runtime.ServeMux) error {
			return segmentationv1.RegisterSegmentServiceHandlerClient(ctx, mux, segmentationv1.NewSegmentServiceClient(opts.Segmentation))
		}},
		{"MetricsService", func(ctx context.Context, mux *runtime.ServeMux) error {
			return metricsv1.RegisterMetricsServiceHandlerClient(ctx, mux, metricsv1.NewMetricsServiceClient(opts.Metrics))
		}},
		{"InitiativeService", func(ctx context.Context, mux *runtime.ServeMux) error {
			return metricsv1.RegisterInitiativeServiceHandlerClient(ctx, mux, metricsv1.NewInitiativeServiceClient(opts.Metrics))
		}},
		{"CampaignService", func(ctx context.Context, mux *runtime.ServeMux) error {
			return campaignv1.RegisterCampaignServiceHandlerClient(ctx, mux, campaignv1.NewCampaignServiceClient(opts.Campaign))
		}},
		{"ChannelService", func(ctx context.Context, mux *runtime.ServeMux) error {
			return campaignv1.RegisterChannelServiceHandlerClient(ctx, mux, g.channels)
		}},
		{"JourneyService", func(ctx context.Context, mux *runtime.ServeMux) error {
			return campaignv1.RegisterJourneyServiceHandlerClient(ctx, mux, campaignv1.NewJourneyServiceClient(opts.Campaign))
		}},
		{"ConsentService", func(ctx context.Context, mux *runtime.ServeMux) error {
			return campaignv1.RegisterConsentServiceHandlerClient(ctx, mux, g.consent)
		}},
	}
	for _, r := range registrations {
		if err := r.register(ctx, g.mux); err != nil {
			return nil, fmt.Errorf("gateway: register %s: %w", r.name, err)
		}
	}

	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", g.healthz)
	root.HandleFunc("GET /readyz", g.readyz)
	root.HandleFunc("GET /openapi.json", serveOpenAPI)
	if opts.MetricsHandler != nil {
		root.Handle("GET /metrics", opts.MetricsHandler)
	}
	// The console is static files calling the public REST API with the
	// user's key, like any other client: it adds no way in.
	root.Handle(console.Prefix, console.Handler())
	root.Handle("GET /console", http.RedirectHandler(console.Prefix, http.StatusMovedPermanently))
	// Public routes that must not go through grpc-gateway: LINE signs the
	// raw body, which JSON transcoding would not keep, and the unsubscribe
	// link answers browsers and mail clients with HTML. Both patterns are
	// method-less so other methods get a 405 here rather than a 404 below.
	root.HandleFunc(lineWebhookRoute, g.lineWebhook)
	root.HandleFunc(unsubscribeRoute, g.unsubscribe)
	root.Handle("/", g.edge())

	// otelhttp is outermost so the span (and the trace id in the log line)
	// covers everything, and its context reaches the gRPC client calls.
	g.handler = otelhttp.NewHandler(g.logRequests(root), "kizuna-gateway",
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			// The route is only known after routing; logRequests renames the
			// span then. Never the raw path: ids would explode cardinality.
			return r.Method
		}),
		// A span per liveness probe would be most of the traces and say
		// nothing. Unsubscribe links get none either: the span would record
		// the token in url.path (the backend call is still traced).
		otelhttp.WithFilter(func(r *http.Request) bool {
			return !isProbe(r.URL.Path) && loggedPath(r.URL.Path) == r.URL.Path
		}),
	)
	return g, nil
}

// Handler returns the gateway's HTTP handler, for callers that run their own
// http.Server (tests, or a process that multiplexes listeners).
func (g *Gateway) Handler() http.Handler { return g.handler }

// Serve answers HTTP on lis until ctx ends, then shuts down gracefully:
// it stops accepting, lets in-flight requests finish (up to 25 s) and
// returns nil. Any other failure of the listener is returned.
func (g *Gateway) Serve(ctx context.Context, lis net.Listener) error {
	srv := &http.Server{
		Handler:           g.handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		// Request contexts keep ctx's values but not its cancellation:
		// cancelling ctx starts a drain, it must not abort the requests
		// being drained.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:    slog.NewLogLogger(g.logger.Handler(), slog.LevelWarn),
	}

	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(lis) }()

	select {
	case err := <-serveErr:
		return fmt.Errorf("gateway: serve on %s: %w", lis.Addr(), err)
	case <-ctx.Done():
	}

	g.draining.Store(true)
	g.logger.Info("gateway shutting down", "addr", lis.Addr().String())
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	shutdownErr := srv.Shutdown(shutdownCtx)
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("gateway: serve on %s: %w", lis.Addr(), err)
	}
	if shutdownErr != nil {
		// The drain ran out of time: cut the stragglers off.
		_ = srv.Close()
		return fmt.Errorf("gateway: shutdown: %w", shutdownErr)
	}
	return nil
}

// incomingHeaderMatcher decides which HTTP headers become gRPC metadata.
// grpc-gateway forwards Authorization as `authorization` by itself; that is
// the only credential a backend reads, and the edge refuses service tokens
// in it (see serviceTokenPresented). This matcher must never add another
// way in: the default would forward Authorization a second time (and
// cookies) under the grpcgateway- prefix, and a Grpc-Metadata- header
// (which runtime.LegacyHeaderMatcher, the default of earlier releases, maps
// to a bare metadata key) could set any key a backend trusts,
// `authorization` included. So only the standard request headers the
// default matcher knows pass, always under the grpcgateway- prefix.
func incomingHeaderMatcher(key string) (string, bool) {
	key = textproto.CanonicalMIMEHeaderKey(key)
	switch key {
	case "Authorization", "Proxy-Authorization", "Cookie":
		return "", false
	}
	if strings.HasPrefix(key, runtime.MetadataHeaderPrefix) {
		return "", false
	}
	h, ok := runtime.DefaultHeaderMatcher(key)
	if !ok || !strings.HasPrefix(h, runtime.MetadataPrefix) {
		return "", false
	}
	return h, true
}

// newMarshaler is the gateway's JSON: zero counts and empty lists are
// answers, not absent data, so they are emitted; unknown request fields are
// discarded only when lenient.
func newMarshaler(lenient bool) runtime.Marshaler {
	return &runtime.HTTPBodyMarshaler{Marshaler: jsonMarshaler{&runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: lenient},
	}}}
}

// jsonMarshaler is runtime.JSONPb with decode errors that say what went
// wrong: a truncated body otherwise reaches the client as a bare
// "unexpected EOF".
type jsonMarshaler struct {
	*runtime.JSONPb
}

// NewDecoder implements runtime.Marshaler.
func (m jsonMarshaler) NewDecoder(r io.Reader) runtime.Decoder {
	d := m.JSONPb.NewDecoder(r)
	return runtime.DecoderFunc(func(v any) error {
		err := d.Decode(v)
		if err == nil || errors.Is(err, io.EOF) {
			// io.EOF is an empty body, which grpc-gateway treats as {}.
			return err
		}
		return explainDecodeError(err)
	})
}

// exportedName turns a backend name into its Options field name.
func exportedName(name string) string {
	if name == "" {
		return name
	}
	return string(name[0]-'a'+'A') + name[1:]
}
