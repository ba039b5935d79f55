package metrics_test

import (
	"context"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	metricsv1 "github.com/kizuna/kizuna/gen/kizuna/metrics/v1"
	segmentationv1 "github.com/kizuna/kizuna/gen/kizuna/segmentation/v1"
	"github.com/kizuna/kizuna/services/metrics"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/bus/bustest"
	"github.com/kizuna/kizuna/services/platform/grpctest"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

const (
	keyA = "kz_keyA"
	keyB = "kz_keyB"
	wsA  = "ws_a"
	wsB  = "ws_b"
)

var (
	keys = auth.StaticKeys{keyA: wsA, keyB: wsB}
	t0   = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

func day(n int) time.Time { return t0.AddDate(0, 0, n) }

// fakeSegments serves ListSegmentMembers from a fixed table per workspace,
// authenticated like the real service, in pages of at most two members so
// the client's paging is exercised.
type fakeSegments struct {
	segmentationv1.UnimplementedSegmentServiceServer
	members map[string]map[string][]string // workspace → segment → customer ids

	mu        sync.Mutex
	pageSizes []int32
}

const fakePageSize = 2

func (f *fakeSegments) ListSegmentMembers(ctx context.Context, req *segmentationv1.ListSegmentMembersRequest) (*segmentationv1.ListSegmentMembersResponse, error) {
	f.mu.Lock()
	f.pageSizes = append(f.pageSizes, req.GetPageSize())
	f.mu.Unlock()
	ws, ok := auth.WorkspaceID(ctx)
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "no workspace")
	}
	all, ok := f.members[ws][req.GetSegmentId()]
	if !ok {
		return nil, status.Error(codes.NotFound, "no such segment")
	}
	from := 0
	if req.GetPageToken() != "" {
		n, err := strconv.Atoi(req.GetPageToken())
		if err != nil || n < 0 || n > len(all) {
			return nil, status.Error(codes.InvalidArgument, "bad page token")
		}
		from = n
	}
	to := min(from+fakePageSize, len(all))
	resp := &segmentationv1.ListSegmentMembersResponse{TotalSize: int64(len(all))}
	for _, id := range all[from:to] {
		resp.Members = append(resp.Members, &segmentationv1.SegmentMember{CustomerId: id})
	}
	if to < len(all) {
		resp.NextPageToken = strconv.Itoa(to)
	}
	return resp, nil
}

func (f *fakeSegments) requestedPageSizes() []int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int32(nil), f.pageSizes...)
}

// fakeWorkspaces serves each workspace's time zone, to its own key only.
type fakeWorkspaces map[string]string

type workspaceServer struct {
	ingestionv1.UnimplementedWorkspaceServiceServer
	zones fakeWorkspaces
}

func (f fakeWorkspaces) server() ingestionv1.WorkspaceServiceServer {
	return &workspaceServer{zones: f}
}

func (w *workspaceServer) GetWorkspace(ctx context.Context, req *ingestionv1.GetWorkspaceRequest) (*ingestionv1.GetWorkspaceResponse, error) {
	ws, ok := auth.WorkspaceID(ctx)
	if !ok || ws != req.GetWorkspaceId() {
		return nil, status.Error(codes.PermissionDenied, "not your workspace")
	}
	return &ingestionv1.GetWorkspaceResponse{Workspace: &ingestionv1.Workspace{WorkspaceId: ws, Timezone: w.zones[ws]}}, nil
}

// env is a running metrics service with its dependencies.
type env struct {
	bus      *bus.Bus
	client   metricsv1.MetricsServiceClient
	segments *fakeSegments
	campaign *fakeCampaign
	// addr is the service's gRPC address.
	addr string
}

// busBackend connects a Bus for a test; each gets fresh streams.
type busBackend func(t testing.TB) *bus.Bus

func start(t testing.TB, db *sqldb.DB, b *bus.Bus, segs *fakeSegments) *env {
	t.Helper()
	camp := &fakeCampaign{}
	segAddr := grpctest.Start(t, func(s *grpc.Server) {
		segmentationv1.RegisterSegmentServiceServer(s, segs)
		ingestionv1.RegisterWorkspaceServiceServer(s, fakeWorkspaces{wsB: "Asia/Tokyo"}.server())
		campaignv1.RegisterJourneyServiceServer(s, camp)
		campaignv1.RegisterCampaignServiceServer(s, camp)
	}, grpctest.WithVerifier(keys))
	peers := grpctest.Dial(t, segAddr)
	svc, err := metrics.New(context.Background(), metrics.Options{
		DB:           db,
		Bus:          b,
		Segmentation: peers,
		Ingestion:    peers,
		Campaign:     peers,
		Logger:       slog.New(slog.DiscardHandler),
		Now:          func() time.Time { return day(365) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	addr := grpctest.Start(t, svc.Register, grpctest.WithVerifier(keys))
	return &env{bus: b, client: metricsv1.NewMetricsServiceClient(grpctest.Dial(t, addr)), segments: segs, campaign: camp, addr: addr}
}

// publish sends m with a workspace-qualified message id: JetStream
// deduplicates by Nats-Msg-Id across the whole stream, and event ids are
// unique only per workspace.
func (e *env) publish(t testing.TB, ws, kind, id string, m *ingestionv1.IngestionBusMessage) {
	t.Helper()
	if err := e.bus.Publish(context.Background(), e.bus.Subject(bus.KindEvents, ws, kind), ws+"/"+id, m); err != nil {
		t.Fatal(err)
	}
}

func eventMsg(ws, id, customer string, at time.Time, order *ingestionv1.Order) *ingestionv1.IngestionBusMessage {
	return &ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_EventRecorded{EventRecorded: &ingestionv1.Event{
		EventId: id, WorkspaceId: ws, CustomerId: customer, Type: ingestionv1.EventType_EVENT_TYPE_TRACK,
		Name: "Order Completed", Timestamp: timestamppb.New(at), ReceiveTime: timestamppb.New(at), Order: order,
	}}}
}

func mergeMsg(ws, id, survivor string, merged ...string) *ingestionv1.IngestionBusMessage {
	return &ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_CustomerMerged{CustomerMerged: &ingestionv1.CustomerMerged{
		MergeId: id, WorkspaceId: ws, SurvivorCustomerId: survivor, MergedCustomerIds: merged, MergeTime: timestamppb.New(day(30)),
	}}}
}

func unmergeMsg(ws, id, mergeID, survivor, restored string, restoredFirst time.Time, events ...string) *ingestionv1.IngestionBusMessage {
	return &ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_CustomerUnmerged{CustomerUnmerged: &ingestionv1.CustomerUnmerged{
		UnmergeId: id, WorkspaceId: ws, MergeId: mergeID, SurvivorCustomerId: survivor, RestoredCustomerId: restored, EventIds: events,
		UndoTime: timestamppb.New(day(40)), RestoredFirstSeenTime: timestamppb.New(restoredFirst), SurvivorFirstSeenTime: timestamppb.New(day(5)),
	}}}
}

func purchase(id string, revenue float64) *ingestionv1.Order {
	return &ingestionv1.Order{OrderId: id, Revenue: revenue, Currency: "JPY"}
}

// publishHistory publishes, like ingestion does, this history:
//
//	ws_a: a orders o1 day 1 (100), o2 day 10 (50); b orders o3 day 5 (30),
//	      then o3 again under a new event id; c visits day 2; e orders o5
//	      day 7 (80) and is merged into b; an unusable event (no customer)
//	      sits in the middle and must not block the stream.
//	ws_b: a orders o1 day 1 (1000).
func publishHistory(t testing.TB, e *env) {
	t.Helper()
	type pub struct {
		ws, kind, id string
		msg          *ingestionv1.IngestionBusMessage
	}
	for _, p := range []pub{
		{wsA, "track", "ev1", eventMsg(wsA, "ev1", "a", day(1), purchase("o1", 100))},
		{wsB, "track", "ev1", eventMsg(wsB, "ev1", "a", day(1), purchase("o1", 1000))},
		{wsA, "track", "ev2", eventMsg(wsA, "ev2", "a", day(10), purchase("o2", 50))},
		{wsA, "track", "bad", eventMsg(wsA, "bad", "", day(3), purchase("o9", 9999))},
		{wsA, "track", "ev3", eventMsg(wsA, "ev3", "b", day(5), purchase("o3", 30))},
		{wsA, "track", "ev4", eventMsg(wsA, "ev4", "b", day(5), purchase("o3", 30))},
		{wsA, "page", "ev5", eventMsg(wsA, "ev5", "c", day(2), nil)},
		{wsA, "track", "ev6", eventMsg(wsA, "ev6", "e", day(7), purchase("o5", 80))},
		{wsA, "customer_merged", "m1", mergeMsg(wsA, "m1", "b", "e")},
	} {
		e.publish(t, p.ws, p.kind, p.id, p.msg)
	}
}

// waitFor polls ComputeMetric until it reports want customers and orders,
// i.e. until the consumer has applied everything published before.
func waitFor(t testing.TB, c metricsv1.MetricsServiceClient, key string, customers, orders int64) {
	t.Helper()
	ctx := auth.WithBearer(context.Background(), key)
	deadline := time.Now().Add(20 * time.Second)
	var last *metricsv1.ComputeMetricResponse
	for time.Now().Before(deadline) {
		resp, err := c.ComputeMetric(ctx, &metricsv1.ComputeMetricRequest{Kpi: "order_count"})
		if err != nil {
			t.Fatal(err)
		}
		last = resp
		if resp.GetCustomerCount() == customers && resp.GetOrderCount() == orders {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("timed out: last %v, want %d customers and %d orders", last, customers, orders)
}

func TestService(t *testing.T) {
	backends := []struct {
		name string
		bus  busBackend
	}{
		{name: "embedded nats", bus: bustest.Embedded},
		{name: "external nats", bus: bustest.External},
	}
	for _, bb := range backends {
		t.Run(bb.name, func(t *testing.T) {
			sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
				testService(t, start(t, db, bb.bus(t), &fakeSegments{members: map[string]map[string][]string{
					wsA: {"vip": {"a", "c", "e", "x1", "x2"}, "empty": {}},
				}}))
			})
		})
	}
}

func testService(t *testing.T, e *env) {
	publishHistory(t, e)
	waitFor(t, e.client, keyA, 3, 4)
	waitFor(t, e.client, keyB, 1, 1)

	first6 := func(r *metricsv1.ComputeMetricRequest) *metricsv1.ComputeMetricRequest {
		r.StartTime, r.EndTime = timestamppb.New(day(0)), timestamppb.New(day(6))
		return r
	}
	tests := []struct {
		name string
		key  string
		req  *metricsv1.ComputeMetricRequest
		// want's kpi, value and counts are compared; segment and times are
		// checked to echo the request.
		want *metricsv1.ComputeMetricResponse
	}{
		{
			name: "revenue all time",
			key:  keyA,
			req:  &metricsv1.ComputeMetricRequest{Kpi: "revenue"},
			want: &metricsv1.ComputeMetricResponse{Kpi: "revenue", Value: 260, CustomerCount: 3, PurchasingCustomerCount: 2, OrderCount: 4},
		},
		{
			name: "repeat rate all time (b's orders include merged e's)",
			key:  keyA,
			req:  &metricsv1.ComputeMetricRequest{Kpi: "repeat_purchase_rate"},
			want: &metricsv1.ComputeMetricResponse{Kpi: "repeat_purchase_rate", Value: 1, CustomerCount: 3, PurchasingCustomerCount: 2, OrderCount: 4},
		},
		{
			name: "aov in the first six days",
			key:  keyA,
			req:  first6(&metricsv1.ComputeMetricRequest{Kpi: "aov"}),
			want: &metricsv1.ComputeMetricResponse{Kpi: "aov", Value: 65, CustomerCount: 3, PurchasingCustomerCount: 2, OrderCount: 2},
		},
		{
			name: "repeat rate in the first six days",
			key:  keyA,
			req:  first6(&metricsv1.ComputeMetricRequest{Kpi: "repeat_purchase_rate"}),
			want: &metricsv1.ComputeMetricResponse{Kpi: "repeat_purchase_rate", Value: 0, CustomerCount: 3, PurchasingCustomerCount: 2, OrderCount: 2},
		},
		{
			// x1 and x2 were never seen in an event: customer_count counts
			// customers by their first-seen time, which they lack.
			name: "segment ltv (members a, c, e→b, and two never seen)",
			key:  keyA,
			req:  &metricsv1.ComputeMetricRequest{Kpi: "historical_ltv", SegmentId: "vip"},
			want: &metricsv1.ComputeMetricResponse{Kpi: "historical_ltv", Value: 130, CustomerCount: 3, PurchasingCustomerCount: 2, OrderCount: 4},
		},
		{
			name: "empty segment",
			key:  keyA,
			req:  &metricsv1.ComputeMetricRequest{Kpi: "purchase_frequency", SegmentId: "empty"},
			want: &metricsv1.ComputeMetricResponse{Kpi: "purchase_frequency"},
		},
		{
			name: "other workspace sees only its own orders",
			key:  keyB,
			req:  &metricsv1.ComputeMetricRequest{Kpi: "revenue"},
			want: &metricsv1.ComputeMetricResponse{Kpi: "revenue", Value: 1000, CustomerCount: 1, PurchasingCustomerCount: 1, OrderCount: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.client.ComputeMetric(auth.WithBearer(context.Background(), tt.key), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got.GetKpi() != tt.want.GetKpi() || math.Abs(got.GetValue()-tt.want.GetValue()) > 1e-9 ||
				got.GetCustomerCount() != tt.want.GetCustomerCount() ||
				got.GetPurchasingCustomerCount() != tt.want.GetPurchasingCustomerCount() ||
				got.GetOrderCount() != tt.want.GetOrderCount() {
				t.Errorf("got %v\nwant %v", got, tt.want)
			}
			if got.GetSegmentId() != tt.req.GetSegmentId() ||
				!proto.Equal(got.GetStartTime(), tt.req.GetStartTime()) || !proto.Equal(got.GetEndTime(), tt.req.GetEndTime()) ||
				!got.GetComputeTime().AsTime().Equal(day(365)) {
				t.Errorf("response %v does not echo request %v and the clock", got, tt.req)
			}
		})
	}

	errTests := []struct {
		name       string
		key        string
		req        *metricsv1.ComputeMetricRequest
		wantCode   codes.Code
		wantFields []string
	}{
		{name: "unknown kpi", key: keyA, req: &metricsv1.ComputeMetricRequest{Kpi: "ltv"}, wantCode: codes.InvalidArgument, wantFields: []string{"kpi"}},
		{
			name:       "start after end",
			key:        keyA,
			req:        &metricsv1.ComputeMetricRequest{Kpi: "revenue", StartTime: timestamppb.New(day(2)), EndTime: timestamppb.New(day(1))},
			wantCode:   codes.InvalidArgument,
			wantFields: []string{"start_time"},
		},
		{
			name:       "invalid timestamp",
			key:        keyA,
			req:        &metricsv1.ComputeMetricRequest{Kpi: "revenue", EndTime: &timestamppb.Timestamp{Seconds: math.MaxInt64}},
			wantCode:   codes.InvalidArgument,
			wantFields: []string{"end_time"},
		},
		{
			name:       "zero time",
			key:        keyA,
			req:        &metricsv1.ComputeMetricRequest{Kpi: "revenue", StartTime: timestamppb.New(time.Time{})},
			wantCode:   codes.InvalidArgument,
			wantFields: []string{"start_time"},
		},
		{name: "unknown segment", key: keyA, req: &metricsv1.ComputeMetricRequest{Kpi: "revenue", SegmentId: "nope"}, wantCode: codes.NotFound, wantFields: []string{"segment_id"}},
		{
			name:       "another workspace's segment is not found",
			key:        keyB,
			req:        &metricsv1.ComputeMetricRequest{Kpi: "revenue", SegmentId: "vip"},
			wantCode:   codes.NotFound,
			wantFields: []string{"segment_id"},
		},
		{name: "bad key", key: "kz_nope", req: &metricsv1.ComputeMetricRequest{Kpi: "revenue"}, wantCode: codes.Unauthenticated},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.client.ComputeMetric(auth.WithBearer(context.Background(), tt.key), tt.req)
			st := status.Convert(err)
			if st.Code() != tt.wantCode {
				t.Fatalf("code = %v (%v), want %v", st.Code(), err, tt.wantCode)
			}
			var fields []string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.GetFieldViolations() {
						fields = append(fields, v.GetField())
					}
				}
			}
			if len(fields) != len(tt.wantFields) || (len(fields) > 0 && fields[0] != tt.wantFields[0]) {
				t.Errorf("field violations on %v, want %v", fields, tt.wantFields)
			}
		})
	}

	for _, size := range e.segments.requestedPageSizes() {
		if size != 10_000 {
			t.Errorf("ListSegmentMembers page_size = %d, want 10000", size)
		}
	}

	list, err := e.client.ListKpis(auth.WithBearer(context.Background(), keyA), &metricsv1.ListKpisRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetKpis()) < 25 {
		t.Errorf("ListKpis returned %d KPIs, want at least 25", len(list.GetKpis()))
	}
	for _, k := range list.GetKpis() {
		if _, err := e.client.ComputeMetric(auth.WithBearer(context.Background(), keyA), &metricsv1.ComputeMetricRequest{Kpi: k.GetName()}); err != nil {
			t.Errorf("listed KPI %q does not compute: %v", k.GetName(), err)
		}
	}

	// Undoing m1 gives e back its order o5; an unusable unmerge ahead of it
	// must not block the stream.
	e.publish(t, wsA, "customer_unmerged", "u0", unmergeMsg(wsA, "u0", "m1", "b", "b", day(7), "ev6"))
	e.publish(t, wsA, "customer_unmerged", "u1", unmergeMsg(wsA, "u1", "m1", "b", "e", day(7), "ev6"))
	waitFor(t, e.client, keyA, 4, 4)
	for _, tt := range []struct {
		req  *metricsv1.ComputeMetricRequest
		want float64
	}{
		// a repeats; b (o3) and e (o5) bought once.
		{req: &metricsv1.ComputeMetricRequest{Kpi: "repeat_purchase_rate"}, want: 1.0 / 3},
		// e is a vip member again with its own order: (100+50+80) / 2.
		{req: &metricsv1.ComputeMetricRequest{Kpi: "historical_ltv", SegmentId: "vip"}, want: 115},
	} {
		got, err := e.client.ComputeMetric(auth.WithBearer(context.Background(), keyA), tt.req)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got.GetValue()-tt.want) > 1e-9 {
			t.Errorf("after the unmerge, %v = %v, want %v", tt.req, got.GetValue(), tt.want)
		}
	}
}

func TestNewRequiresDependencies(t *testing.T) {
	db := sqldbtest.SQLite(t)
	tests := []struct {
		name string
		opts metrics.Options
	}{
		{name: "no db", opts: metrics.Options{}},
		{name: "no bus", opts: metrics.Options{DB: db}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := metrics.New(context.Background(), tt.opts); err == nil {
				t.Fatal("New succeeded, want error")
			}
		})
	}
}
