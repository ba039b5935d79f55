package gateway

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	metricsv1 "github.com/kizuna/kizuna/gen/kizuna/metrics/v1"
	segmentationv1 "github.com/kizuna/kizuna/gen/kizuna/segmentation/v1"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpctest"
	"github.com/kizuna/kizuna/services/platform/telemetry"
)

// The backends authenticate with grpctest's default verifier, which accepts
// only grpctest.Key, as grpctest.Workspace.
const (
	testKey       = grpctest.Key
	testWorkspace = grpctest.Workspace
)

// call is one RPC a fake backend received, after its auth interceptor ran.
type call struct {
	method    string
	workspace string
	req       proto.Message
	md        metadata.MD
}

// recorder collects the calls of every fake backend.
type recorder struct {
	mu    sync.Mutex
	calls []call
}

func (r *recorder) record(ctx context.Context, method string, req proto.Message) {
	ws, _ := auth.WorkspaceID(ctx)
	md, _ := metadata.FromIncomingContext(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call{method: method, workspace: ws, req: proto.Clone(req), md: md})
}

// all returns a copy of the calls so far.
func (r *recorder) all() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

// only returns the single call received, failing the test unless there was
// exactly one with that method.
func (r *recorder) only(t testing.TB, method string) call {
	t.Helper()
	calls := r.all()
	if len(calls) != 1 || calls[0].method != method {
		var got []string
		for _, c := range calls {
			got = append(got, c.method)
		}
		t.Fatalf("backend calls = %v, want exactly one %s", got, method)
	}
	return calls[0]
}

// fakeTracking is TrackingService recording what reaches it. A track call
// with event "slow" blocks until release is closed, for drain tests.
type fakeTracking struct {
	ingestionv1.UnimplementedTrackingServiceServer
	rec     *recorder
	started chan struct{}
	release chan struct{}
}

func (f *fakeTracking) Batch(ctx context.Context, req *ingestionv1.BatchRequest) (*ingestionv1.BatchResponse, error) {
	f.rec.record(ctx, "Batch", req)
	return &ingestionv1.BatchResponse{Success: true, Accepted: int32(len(req.GetBatch()))}, nil
}

func (f *fakeTracking) Identify(ctx context.Context, req *ingestionv1.IdentifyRequest) (*ingestionv1.IdentifyResponse, error) {
	f.rec.record(ctx, "Identify", req)
	return &ingestionv1.IdentifyResponse{Success: true, CustomerId: "cus_1"}, nil
}

func (f *fakeTracking) Track(ctx context.Context, req *ingestionv1.TrackRequest) (*ingestionv1.TrackResponse, error) {
	f.rec.record(ctx, "Track", req)
	if req.GetEvent() == "slow" {
		close(f.started)
		select {
		case <-f.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &ingestionv1.TrackResponse{Success: true, CustomerId: "cus_1"}, nil
}

func (f *fakeTracking) Page(ctx context.Context, req *ingestionv1.PageRequest) (*ingestionv1.PageResponse, error) {
	f.rec.record(ctx, "Page", req)
	return &ingestionv1.PageResponse{Success: true}, nil
}

func (f *fakeTracking) Screen(ctx context.Context, req *ingestionv1.ScreenRequest) (*ingestionv1.ScreenResponse, error) {
	f.rec.record(ctx, "Screen", req)
	return &ingestionv1.ScreenResponse{Success: true}, nil
}

func (f *fakeTracking) Group(ctx context.Context, req *ingestionv1.GroupRequest) (*ingestionv1.GroupResponse, error) {
	f.rec.record(ctx, "Group", req)
	return &ingestionv1.GroupResponse{Success: true}, nil
}

func (f *fakeTracking) Alias(ctx context.Context, req *ingestionv1.AliasRequest) (*ingestionv1.AliasResponse, error) {
	f.rec.record(ctx, "Alias", req)
	return &ingestionv1.AliasResponse{Success: true}, nil
}

type fakeCustomers struct {
	ingestionv1.UnimplementedCustomerServiceServer
	rec *recorder
}

func (f *fakeCustomers) GetCustomer(ctx context.Context, req *ingestionv1.GetCustomerRequest) (*ingestionv1.GetCustomerResponse, error) {
	f.rec.record(ctx, "GetCustomer", req)
	return &ingestionv1.GetCustomerResponse{}, nil
}

type fakeWorkspaces struct {
	ingestionv1.UnimplementedWorkspaceServiceServer
	rec *recorder
}

func (f *fakeWorkspaces) VerifyAPIKey(ctx context.Context, req *ingestionv1.VerifyAPIKeyRequest) (*ingestionv1.VerifyAPIKeyResponse, error) {
	f.rec.record(ctx, "VerifyAPIKey", req)
	return &ingestionv1.VerifyAPIKeyResponse{WorkspaceId: testWorkspace}, nil
}

type fakeSegments struct {
	segmentationv1.UnimplementedSegmentServiceServer
	rec *recorder
}

func (f *fakeSegments) ListSegments(ctx context.Context, req *segmentationv1.ListSegmentsRequest) (*segmentationv1.ListSegmentsResponse, error) {
	f.rec.record(ctx, "ListSegments", req)
	return &segmentationv1.ListSegmentsResponse{}, nil
}

func (f *fakeSegments) CreateSegment(ctx context.Context, req *segmentationv1.CreateSegmentRequest) (*segmentationv1.CreateSegmentResponse, error) {
	f.rec.record(ctx, "CreateSegment", req)
	return &segmentationv1.CreateSegmentResponse{}, nil
}

type fakeMetrics struct {
	metricsv1.UnimplementedMetricsServiceServer
	rec *recorder
}

func (f *fakeMetrics) ListKpis(ctx context.Context, req *metricsv1.ListKpisRequest) (*metricsv1.ListKpisResponse, error) {
	f.rec.record(ctx, "ListKpis", req)
	return &metricsv1.ListKpisResponse{}, nil
}

type fakeCampaigns struct {
	campaignv1.UnimplementedCampaignServiceServer
	rec *recorder
}

func (f *fakeCampaigns) GetCampaign(ctx context.Context, req *campaignv1.GetCampaignRequest) (*campaignv1.GetCampaignResponse, error) {
	f.rec.record(ctx, "GetCampaign", req)
	return &campaignv1.GetCampaignResponse{}, nil
}

// fakeChannels is ChannelService. ReceiveLineWebhook, public as on the
// campaign side, refuses a missing signature or "bad" (Unauthenticated), the channel
// "ch_missing" (NotFound) and the channel "ch_invalid" (InvalidArgument).
type fakeChannels struct {
	campaignv1.UnimplementedChannelServiceServer
	rec *recorder
}

func (f *fakeChannels) ListChannels(ctx context.Context, req *campaignv1.ListChannelsRequest) (*campaignv1.ListChannelsResponse, error) {
	f.rec.record(ctx, "ListChannels", req)
	return &campaignv1.ListChannelsResponse{}, nil
}

func (f *fakeChannels) ReceiveLineWebhook(ctx context.Context, req *campaignv1.ReceiveLineWebhookRequest) (*campaignv1.ReceiveLineWebhookResponse, error) {
	f.rec.record(ctx, "ReceiveLineWebhook", req)
	switch {
	case req.GetSignature() == "" || req.GetSignature() == "bad":
		return nil, status.Error(codes.Unauthenticated, "bad X-Line-Signature")
	case req.GetChannelId() == "ch_missing":
		return nil, status.Error(codes.NotFound, "channel not found")
	case req.GetChannelId() == "ch_invalid":
		return nil, status.Error(codes.InvalidArgument, "not a LINE channel")
	}
	return &campaignv1.ReceiveLineWebhookResponse{Recorded: 1}, nil
}

type fakeJourneys struct {
	campaignv1.UnimplementedJourneyServiceServer
	rec *recorder
}

func (f *fakeJourneys) ListJourneys(ctx context.Context, req *campaignv1.ListJourneysRequest) (*campaignv1.ListJourneysResponse, error) {
	f.rec.record(ctx, "ListJourneys", req)
	return &campaignv1.ListJourneysResponse{}, nil
}

func (f *fakeJourneys) ListCustomerJourneys(ctx context.Context, req *campaignv1.ListCustomerJourneysRequest) (*campaignv1.ListCustomerJourneysResponse, error) {
	f.rec.record(ctx, "ListCustomerJourneys", req)
	return &campaignv1.ListCustomerJourneysResponse{}, nil
}

// fakeConsent is ConsentService. Unsubscribe, public as on the campaign
// side, refuses the token "bad" (InvalidArgument), fails on "down"
// (Unavailable), and reports "again" as already unsubscribed.
type fakeConsent struct {
	campaignv1.UnimplementedConsentServiceServer
	rec *recorder
}

func (f *fakeConsent) Unsubscribe(ctx context.Context, req *campaignv1.UnsubscribeRequest) (*campaignv1.UnsubscribeResponse, error) {
	f.rec.record(ctx, "Unsubscribe", req)
	switch req.GetToken() {
	case "bad":
		return nil, status.Error(codes.InvalidArgument, "invalid unsubscribe token")
	case "down":
		return nil, status.Error(codes.Unavailable, "database unavailable")
	case "again":
		return &campaignv1.UnsubscribeResponse{ChannelType: ingestionv1.ChannelType_EMAIL}, nil
	}
	return &campaignv1.UnsubscribeResponse{ChannelType: ingestionv1.ChannelType_EMAIL, Changed: true}, nil
}

// env is a gateway in front of four in-process fake backends.
type env struct {
	gw       *Gateway
	srv      *httptest.Server
	rec      *recorder
	tracking *fakeTracking
	logs     *syncBuffer
}

// envConfig selects which backends newEnv leaves unreachable.
type envConfig struct {
	down        map[string]bool
	corsOrigins []string
}

// envOption adjusts newEnv.
type envOption func(*envConfig)

// withBackendDown makes the named backend's connection point at a closed port.
func withBackendDown(name string) envOption {
	return func(c *envConfig) { c.down[name] = true }
}

// withCORSOrigins sets Options.CORSOrigins.
func withCORSOrigins(origins ...string) envOption {
	return func(c *envConfig) { c.corsOrigins = origins }
}

// newEnv starts the fake backends through grpctest (so the platform's auth
// interceptor checks the bearer key exactly as in production) and a
// gateway over real client connections to them.
func newEnv(t testing.TB, opts ...envOption) *env {
	t.Helper()
	cfg := envConfig{down: map[string]bool{}}
	for _, o := range opts {
		o(&cfg)
	}
	rec := &recorder{}
	tracking := &fakeTracking{rec: rec, started: make(chan struct{}), release: make(chan struct{})}

	addrs := map[string]string{
		"ingestion": grpctest.Start(t, func(s *grpc.Server) {
			ingestionv1.RegisterTrackingServiceServer(s, tracking)
			ingestionv1.RegisterCustomerServiceServer(s, &fakeCustomers{rec: rec})
			ingestionv1.RegisterWorkspaceServiceServer(s, &fakeWorkspaces{rec: rec})
		}, grpctest.WithPublicMethods(ingestionv1.WorkspaceService_VerifyAPIKey_FullMethodName)),
		"segmentation": grpctest.Start(t, func(s *grpc.Server) {
			segmentationv1.RegisterSegmentServiceServer(s, &fakeSegments{rec: rec})
		}),
		"metrics": grpctest.Start(t, func(s *grpc.Server) {
			metricsv1.RegisterMetricsServiceServer(s, &fakeMetrics{rec: rec})
			metricsv1.RegisterInitiativeServiceServer(s, &fakeInitiatives{rec: rec})
		}),
		"campaign": grpctest.Start(t, func(s *grpc.Server) {
			campaignv1.RegisterCampaignServiceServer(s, &fakeCampaigns{rec: rec})
			campaignv1.RegisterChannelServiceServer(s, &fakeChannels{rec: rec})
			campaignv1.RegisterJourneyServiceServer(s, &fakeJourneys{rec: rec})
			campaignv1.RegisterConsentServiceServer(s, &fakeConsent{rec: rec})
		}, grpctest.WithPublicMethods(
			campaignv1.ChannelService_ReceiveLineWebhook_FullMethodName,
			campaignv1.ConsentService_Unsubscribe_FullMethodName,
		)),
	}
	for name := range cfg.down {
		addrs[name] = closedAddr(t)
	}

	logs := &syncBuffer{}
	gw, err := New(t.Context(), Options{
		Ingestion:    grpctest.Dial(t, addrs["ingestion"]),
		Segmentation: grpctest.Dial(t, addrs["segmentation"]),
		Metrics:      grpctest.Dial(t, addrs["metrics"]),
		Campaign:     grpctest.Dial(t, addrs["campaign"]),
		Logger:       telemetry.NewLogger(logs, slog.LevelInfo, true),
		CORSOrigins:  cfg.corsOrigins,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(srv.Close)
	return &env{gw: gw, srv: srv, rec: rec, tracking: tracking, logs: logs}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t testing.TB) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := lis.Addr().String()
	if err := lis.Close(); err != nil {
		t.Fatalf("close listener: %v", err)
	}
	return addr
}

// response is an HTTP answer read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request to the gateway. header values are set verbatim.
func (e *env) do(t testing.TB, method, path string, body []byte, header map[string]string) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, e.srv.URL+path, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read %s %s: %v", method, path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

// errorBody is grpc-gateway's error shape.
type errorBody struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []any  `json:"details"`
}

// decodeError parses an error answer, failing on anything else.
func decodeError(t testing.TB, r response) errorBody {
	t.Helper()
	var e errorBody
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatalf("error body %q is not JSON: %v", r.body, err)
	}
	if e.Code == 0 || e.Message == "" {
		t.Fatalf("error body %s lacks code or message", r.body)
	}
	return e
}

func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

func bearer(key string) string { return "Bearer " + key }

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatalf("gzip: %v", err)
	}
	if err := zw.Close(); err != nil {
		t.Fatalf("gzip: %v", err)
	}
	return buf.Bytes()
}

func mustStruct(t testing.TB, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatalf("structpb: %v", err)
	}
	return s
}

// The JSON around the pad in padded bodies for /v1/batch and /v1/track.
const (
	batchPadPrefix = `{"batch":[{"type":"track","userId":"u1","event":"Pad","properties":{"pad":"`
	batchPadSuffix = `"}}]}`
	trackPadPrefix = `{"userId":"u1","event":"Pad","properties":{"pad":"`
	trackPadSuffix = `"}}`
	// batchPadOverhead and trackPadOverhead are a body's size minus its pad.
	batchPadOverhead = len(batchPadPrefix) + len(batchPadSuffix)
	trackPadOverhead = len(trackPadPrefix) + len(trackPadSuffix)
)

// padded returns a body of exactly size bytes: prefix, then a "pad"
// property value that fills the rest, then suffix.
func padded(t testing.TB, prefix, suffix string, size int) []byte {
	t.Helper()
	n := size - len(prefix) - len(suffix)
	if n < 0 {
		t.Fatalf("padded: size %d too small", size)
	}
	return []byte(prefix + strings.Repeat("x", n) + suffix)
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

// lines returns the JSON log records written so far.
func (s *syncBuffer) lines(t testing.TB) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(s.buf.Bytes()), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// fakeResults is the read-out GetJourneyResults and GetCampaignResults
// answer: a holdout control and variant B whose relative lift is
// undefined (zero control rate).
var fakeResults = &metricsv1.Results{
	Control: "holdout", GoalEvent: "Order Completed", Alpha: 0.05,
	Variants: []*metricsv1.VariantResult{
		{Name: "holdout", Exposed: 200, Converted: 0, ConversionRate: 0},
		{Name: "B", Exposed: 800, Converted: 40, ConversionRate: 0.05, Revenue: 40000, RevenuePerExposed: 50,
			Lift: &metricsv1.Lift{Absolute: 0.05, CiLow: 0.035, CiHigh: 0.065, PValue: 0.001, ProbabilityToBeatControl: 0.999,
				ExpectedLoss: 0.0001, RelativeUnavailableReason: "undefined: a conversion rate of 0 in the control or this arm"}},
	},
	Srm: &metricsv1.Srm{PValue: 0.9, Warning: false},
}

func (f *fakeMetrics) GetJourneyResults(ctx context.Context, req *metricsv1.GetJourneyResultsRequest) (*metricsv1.GetJourneyResultsResponse, error) {
	f.rec.record(ctx, "GetJourneyResults", req)
	return &metricsv1.GetJourneyResultsResponse{Results: fakeResults}, nil
}

func (f *fakeMetrics) GetCampaignResults(ctx context.Context, req *metricsv1.GetCampaignResultsRequest) (*metricsv1.GetCampaignResultsResponse, error) {
	f.rec.record(ctx, "GetCampaignResults", req)
	return &metricsv1.GetCampaignResultsResponse{Results: fakeResults}, nil
}

type fakeInitiatives struct {
	metricsv1.UnimplementedInitiativeServiceServer
	rec *recorder
}

func (f *fakeInitiatives) CreateInitiative(ctx context.Context, req *metricsv1.InitiativeServiceCreateInitiativeRequest) (*metricsv1.InitiativeServiceCreateInitiativeResponse, error) {
	f.rec.record(ctx, "CreateInitiative", req)
	return &metricsv1.InitiativeServiceCreateInitiativeResponse{Initiative: &metricsv1.PdcaInitiative{InitiativeId: "ini_1", State: metricsv1.InitiativeState_PLAN}}, nil
}

func (f *fakeInitiatives) AdvanceInitiative(ctx context.Context, req *metricsv1.AdvanceInitiativeRequest) (*metricsv1.AdvanceInitiativeResponse, error) {
	f.rec.record(ctx, "AdvanceInitiative", req)
	return &metricsv1.AdvanceInitiativeResponse{}, nil
}

func (f *fakeInitiatives) ListInitiatives(ctx context.Context, req *metricsv1.InitiativeServiceListInitiativesRequest) (*metricsv1.InitiativeServiceListInitiativesResponse, error) {
	f.rec.record(ctx, "ListInitiatives", req)
	return &metricsv1.InitiativeServiceListInitiativesResponse{}, nil
}

func (f *fakeInitiatives) GetInitiative(ctx context.Context, req *metricsv1.GetInitiativeRequest) (*metricsv1.GetInitiativeResponse, error) {
	f.rec.record(ctx, "InitiativeService.GetInitiative", req)
	return &metricsv1.GetInitiativeResponse{Initiative: &metricsv1.PdcaInitiative{InitiativeId: req.GetInitiativeId()}}, nil
}

// The KPI trees' older initiatives (MetricsService) live under their tree;
// recorded with the service's name so a test tells them from the PDCA ones.
func (f *fakeMetrics) CreateInitiative(ctx context.Context, req *metricsv1.CreateInitiativeRequest) (*metricsv1.CreateInitiativeResponse, error) {
	f.rec.record(ctx, "MetricsService.CreateInitiative", req)
	return &metricsv1.CreateInitiativeResponse{Initiative: req.GetInitiative()}, nil
}

func (f *fakeMetrics) ListInitiatives(ctx context.Context, req *metricsv1.ListInitiativesRequest) (*metricsv1.ListInitiativesResponse, error) {
	f.rec.record(ctx, "MetricsService.ListInitiatives", req)
	return &metricsv1.ListInitiativesResponse{}, nil
}

func (f *fakeInitiatives) GetInitiativeSummary(ctx context.Context, req *metricsv1.GetInitiativeSummaryRequest) (*metricsv1.GetInitiativeSummaryResponse, error) {
	f.rec.record(ctx, "GetInitiativeSummary", req)
	return &metricsv1.GetInitiativeSummaryResponse{Markdown: "# x"}, nil
}
