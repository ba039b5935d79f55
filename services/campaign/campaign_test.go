package campaign_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	segmentationv1 "github.com/kizuna/kizuna/gen/kizuna/segmentation/v1"
	"github.com/kizuna/kizuna/services/campaign"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/bus/bustest"
	"github.com/kizuna/kizuna/services/platform/grpctest"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// Two workspaces and their keys; the fakes and the campaign server accept
// both, so every test can check one workspace cannot see the other.
const (
	keyA = "kz_keyA"
	keyB = "kz_keyB"
	wsA  = "ws_a"
	wsB  = "ws_b"
)

var keys = auth.StaticKeys{keyA: wsA, keyB: wsB}

// fakeSegments serves ListSegmentMembers from a map, per workspace, paging
// by index so the launch must follow page tokens.
type fakeSegments struct {
	segmentationv1.UnimplementedSegmentServiceServer
	members map[string]map[string][]string // workspace → segment → customer ids
	// pageSize is the most ids a page holds; 0 means 3, to exercise paging.
	pageSize int
	// features answers GetCustomerFeatures by customer id (any workspace);
	// others are NotFound.
	features map[string]*segmentationv1.CustomerFeatures
}

func (f *fakeSegments) GetCustomerFeatures(_ context.Context, req *segmentationv1.GetCustomerFeaturesRequest) (*segmentationv1.GetCustomerFeaturesResponse, error) {
	cf, ok := f.features[req.GetCustomerId()]
	if !ok {
		return nil, status.Error(codes.NotFound, "customer not found")
	}
	return &segmentationv1.GetCustomerFeaturesResponse{Features: cf}, nil
}

func (f *fakeSegments) GetSegment(ctx context.Context, req *segmentationv1.GetSegmentRequest) (*segmentationv1.GetSegmentResponse, error) {
	ws, _ := auth.WorkspaceID(ctx)
	if _, ok := f.members[ws][req.GetSegmentId()]; !ok {
		return nil, status.Error(codes.NotFound, "segment not found")
	}
	return &segmentationv1.GetSegmentResponse{Segment: &segmentationv1.Segment{SegmentId: req.GetSegmentId()}}, nil
}

func (f *fakeSegments) ListSegmentMembers(ctx context.Context, req *segmentationv1.ListSegmentMembersRequest) (*segmentationv1.ListSegmentMembersResponse, error) {
	ws, _ := auth.WorkspaceID(ctx)
	ids, ok := f.members[ws][req.GetSegmentId()]
	if !ok {
		return nil, status.Error(codes.NotFound, "segment not found")
	}
	if req.GetPageSize() <= 0 || req.GetPageSize() > 10000 {
		return nil, status.Errorf(codes.InvalidArgument, "page_size %d", req.GetPageSize())
	}
	start := 0
	if req.GetPageToken() != "" {
		n, err := strconv.Atoi(req.GetPageToken())
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, "page_token")
		}
		start = n
	}
	page := f.pageSize
	if page == 0 {
		page = 3
	}
	end := min(start+page, len(ids))
	resp := &segmentationv1.ListSegmentMembersResponse{TotalSize: int64(len(ids))}
	for _, id := range ids[start:end] {
		resp.Members = append(resp.Members, &segmentationv1.SegmentMember{CustomerId: id})
	}
	if end < len(ids) {
		resp.NextPageToken = strconv.Itoa(end)
	}
	return resp, nil
}

// fakeCustomers serves BatchGetCustomers from a map, per workspace.
type fakeCustomers struct {
	ingestionv1.UnimplementedCustomerServiceServer
	traits map[string]map[string]map[string]any // workspace → customer → traits
	// consents holds a customer's standing consent per purpose.
	consents map[string]map[string]bool
}

func (f *fakeCustomers) BatchGetCustomers(ctx context.Context, req *ingestionv1.BatchGetCustomersRequest) (*ingestionv1.BatchGetCustomersResponse, error) {
	ws, _ := auth.WorkspaceID(ctx)
	if len(req.GetCustomerIds()) > 1000 {
		return nil, status.Error(codes.InvalidArgument, "too many ids")
	}
	resp := &ingestionv1.BatchGetCustomersResponse{}
	for _, id := range req.GetCustomerIds() {
		t, ok := f.traits[ws][id]
		if !ok {
			continue
		}
		s, err := structpb.NewStruct(t)
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		cus := &ingestionv1.Customer{CustomerId: id, Traits: s}
		for _, p := range slices.Sorted(maps.Keys(f.consents[id])) {
			cus.Consents = append(cus.Consents, &ingestionv1.Consent{Purpose: p, Granted: f.consents[id][p], Source: "test"})
		}
		if line, ok := t["lineUserId"].(string); ok {
			// As ingestion resolves it: an identity of its own.
			cus.Identities = append(cus.Identities, &ingestionv1.Identity{Kind: "line_user_id", Value: line})
		}
		resp.Customers = append(resp.Customers, cus)
	}
	return resp, nil
}

// post is one webhook call the sink received.
type post struct {
	SendID         string `json:"send_id"`
	JourneyID      string `json:"journey_id"`
	StepID         string `json:"step_id"`
	CustomerID     string `json:"customer_id"`
	WorkspaceID    string `json:"workspace_id"`
	Message        string `json:"message"`
	UnsubscribeURL string `json:"unsubscribe_url"`
	idempotencyKey string
	contentType    string
	userAgent      string
}

// sink is a webhook receiver recording every call; answer picks the HTTP
// status for the n-th (1-based) call for a customer.
type sink struct {
	mu     sync.Mutex
	posts  map[string][]post // customer id → calls
	answer func(customerID string, n int) int
	srv    *httptest.Server
}

func newSink(t testing.TB, answer func(customerID string, n int) int) *sink {
	t.Helper()
	s := &sink{posts: map[string][]post{}, answer: answer}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p post
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("sink: body %q: %v", body, err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		p.idempotencyKey = r.Header.Get("Idempotency-Key")
		p.contentType = r.Header.Get("Content-Type")
		p.userAgent = r.Header.Get("User-Agent")
		s.mu.Lock()
		s.posts[p.CustomerID] = append(s.posts[p.CustomerID], p)
		n := len(s.posts[p.CustomerID])
		s.mu.Unlock()
		w.WriteHeader(s.answer(p.CustomerID, n))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sink) calls() map[string][]post {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]post, len(s.posts))
	for k, v := range s.posts {
		out[k] = slices.Clone(v)
	}
	return out
}

func always(code int) func(string, int) int {
	return func(string, int) int { return code }
}

// env is a running campaign service with fakes around it.
type env struct {
	client campaignv1.CampaignServiceClient
	sink   *sink
	bus    *bus.Bus
}

func newEnv(t *testing.T, db *sqldb.DB, b *bus.Bus, segments *fakeSegments, customers *fakeCustomers, answer func(string, int) int) *env {
	t.Helper()
	fakes := grpctest.Start(t, func(s *grpc.Server) {
		segmentationv1.RegisterSegmentServiceServer(s, segments)
		ingestionv1.RegisterCustomerServiceServer(s, customers)
		ingestionv1.RegisterWorkspaceServiceServer(s, fakeWorkspaces{})
	}, grpctest.WithVerifier(testTokens(t).Verifier(keys)))
	fakeConn := grpctest.Dial(t, fakes)
	sk := newSink(t, answer)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc, err := campaign.New(ctx, campaign.Options{
		DB:            db,
		Bus:           b,
		Logger:        slog.New(slog.NewTextHandler(io.Discard, nil)),
		Segmentation:  fakeConn,
		Ingestion:     fakeConn,
		RetryBackoff:  10 * time.Millisecond,
		PollInterval:  50 * time.Millisecond,
		ServiceTokens: testTokens(t),
		SecretKey:     bytes.Repeat([]byte("k"), 32),
	})
	if err != nil {
		t.Fatal(err)
	}
	addr := grpctest.Start(t, svc.Register, grpctest.WithVerifier(keys))
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return &env{client: campaignv1.NewCampaignServiceClient(grpctest.Dial(t, addr)), sink: sk, bus: b}
}

func testTokens(t testing.TB) *auth.ServiceTokens {
	t.Helper()
	tokens, err := auth.NewServiceTokens(bytes.Repeat([]byte("s"), auth.MinServiceSecretBytes))
	if err != nil {
		t.Fatal(err)
	}
	return tokens
}

// forEachBackend runs fn on SQLite with an embedded NATS and on PostgreSQL
// with the external NATS (see sqldbtest and bustest for when that runs).
func forEachBackend(t *testing.T, fn func(t *testing.T, db *sqldb.DB, b *bus.Bus)) {
	t.Run("sqlite+embedded", func(t *testing.T) { fn(t, sqldbtest.SQLite(t), bustest.Embedded(t)) })
	t.Run("postgres+external", func(t *testing.T) { fn(t, sqldbtest.Postgres(t), bustest.External(t)) })
}

func as(key string) context.Context {
	return auth.WithBearer(context.Background(), key)
}

func create(t testing.TB, e *env, key string, c *campaignv1.Campaign) *campaignv1.Campaign {
	t.Helper()
	resp, err := e.client.CreateCampaign(as(key), &campaignv1.CreateCampaignRequest{Campaign: c})
	if err != nil {
		t.Fatalf("CreateCampaign: %v", err)
	}
	return resp.GetCampaign()
}

func newCampaign(e *env, segmentID, template string) *campaignv1.Campaign {
	return &campaignv1.Campaign{
		DisplayName:     "Spring sale",
		SegmentId:       segmentID,
		Channel:         &campaignv1.Campaign_Webhook{Webhook: &campaignv1.WebhookChannel{Url: e.sink.srv.URL + "/hook"}},
		MessageTemplate: template,
	}
}

// waitCompleted polls until the campaign is COMPLETED.
func waitCompleted(t testing.TB, e *env, key, id string) *campaignv1.Campaign {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := e.client.GetCampaign(as(key), &campaignv1.GetCampaignRequest{CampaignId: id})
		if err != nil {
			t.Fatalf("GetCampaign: %v", err)
		}
		if resp.GetCampaign().GetState() == campaignv1.CampaignState_CAMPAIGN_STATE_COMPLETED {
			return resp.GetCampaign()
		}
		if time.Now().After(deadline) {
			t.Fatalf("campaign %s still %s with counts %v", id, resp.GetCampaign().GetState(), resp.GetCampaign().GetDeliveryCounts())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func deliveriesByCustomer(t testing.TB, e *env, key, campaignID string) map[string]*campaignv1.Delivery {
	t.Helper()
	out := map[string]*campaignv1.Delivery{}
	token := ""
	for {
		resp, err := e.client.ListDeliveries(as(key), &campaignv1.ListDeliveriesRequest{CampaignId: campaignID, PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatalf("ListDeliveries: %v", err)
		}
		for _, d := range resp.GetDeliveries() {
			if _, dup := out[d.GetCustomerId()]; dup {
				t.Errorf("customer %s has two deliveries", d.GetCustomerId())
			}
			out[d.GetCustomerId()] = d
		}
		if token = resp.GetNextPageToken(); token == "" {
			return out
		}
	}
}

// TestLaunchDeliversOnce launches a campaign concurrently and repeatedly
// and checks every member gets exactly one POST with their message, members
// without a profile or with unrenderable traits fail alone, the campaign
// completes and every final outcome is published.
func TestLaunchDeliversOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqldb.DB, b *bus.Bus) {
		members := []string{"cus_01", "cus_02", "cus_03", "cus_04", "cus_05", "cus_06", "cus_07", "cus_bad", "cus_gone"}
		traits := map[string]map[string]any{}
		for i, id := range members {
			switch id {
			case "cus_gone": // in the segment, but no profile
			case "cus_bad":
				traits[id] = map[string]any{"name": "Bad", "bad": 1}
			default:
				if i%2 == 0 {
					traits[id] = map[string]any{"name": "N" + id}
				} else {
					traits[id] = map[string]any{}
				}
			}
		}
		e := newEnv(t, db, b,
			&fakeSegments{members: map[string]map[string][]string{wsA: {"seg_1": members}, wsB: {"seg_1": {"cus_b1"}}}},
			&fakeCustomers{traits: map[string]map[string]map[string]any{wsA: traits, wsB: {"cus_b1": {}}}},
			always(http.StatusOK))
		outcomes := consumeOutcomes(t, e.bus)

		tmpl := "Hello {{ customer.traits.name | default: 'there' }} ({{ customer.customer_id }})" +
			"{% if customer.traits.bad %}{{ customer.traits.bad | divided_by: 0 }}{% endif %}"
		c := create(t, e, keyA, newCampaign(e, "seg_1", tmpl))
		if c.GetState() != campaignv1.CampaignState_CAMPAIGN_STATE_DRAFT || len(c.GetCampaignId()) < 10 || c.GetCampaignId()[:4] != "cmp_" {
			t.Fatalf("created campaign = %v", c)
		}

		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				resp, err := e.client.LaunchCampaign(as(keyA), &campaignv1.LaunchCampaignRequest{CampaignId: c.GetCampaignId()})
				if err != nil {
					t.Errorf("LaunchCampaign: %v", err)
					return
				}
				if st := resp.GetCampaign().GetState(); st == campaignv1.CampaignState_CAMPAIGN_STATE_DRAFT {
					t.Errorf("launched campaign state = %s", st)
				}
			})
		}
		wg.Wait()
		done := waitCompleted(t, e, keyA, c.GetCampaignId())
		// Launching a completed campaign changes nothing.
		again, err := e.client.LaunchCampaign(as(keyA), &campaignv1.LaunchCampaignRequest{CampaignId: c.GetCampaignId()})
		if err != nil {
			t.Fatal(err)
		}
		if again.GetCampaign().GetState() != campaignv1.CampaignState_CAMPAIGN_STATE_COMPLETED {
			t.Errorf("relaunch state = %s, want COMPLETED", again.GetCampaign().GetState())
		}
		if done.GetLaunchTime() == nil || done.GetCreateTime() == nil {
			t.Errorf("times = launch %v create %v", done.GetLaunchTime(), done.GetCreateTime())
		}
		// The broadcast journey is named, for the metrics service's results.
		if j := done.GetJourneyId(); len(j) < 5 || j[:4] != "jny_" || c.GetJourneyId() != "" {
			t.Errorf("journey id %q after launch, %q before", j, c.GetJourneyId())
		}
		wantCounts := &campaignv1.DeliveryCounts{Total: 9, Sent: 7, Failed: 2}
		if got := done.GetDeliveryCounts(); got.GetTotal() != wantCounts.Total || got.GetSent() != wantCounts.Sent || got.GetFailed() != wantCounts.Failed || got.GetPending() != 0 {
			t.Errorf("counts = %v, want %v", got, wantCounts)
		}
		time.Sleep(200 * time.Millisecond) // a second send would land by now

		calls := e.sink.calls()
		deliveries := deliveriesByCustomer(t, e, keyA, c.GetCampaignId())
		for _, id := range members {
			t.Run(id, func(t *testing.T) {
				d := deliveries[id]
				switch id {
				case "cus_gone", "cus_bad":
					if len(calls[id]) != 0 {
						t.Errorf("%d POSTs, want none", len(calls[id]))
					}
					reason := map[string]string{"cus_gone": "NO_PROFILE", "cus_bad": "RENDER_FAILED"}[id]
					if d.GetStatus() != campaignv1.DeliveryStatus_DELIVERY_STATUS_FAILED || !strings.HasPrefix(d.GetLastError(), reason) || d.GetAttempts() != 0 {
						t.Errorf("delivery = %v, want FAILED with reason %s and no attempts", d, reason)
					}
					return
				}
				if len(calls[id]) != 1 {
					t.Fatalf("%d POSTs, want exactly 1", len(calls[id]))
				}
				p := calls[id][0]
				name := "there"
				if n, ok := traits[id]["name"]; ok {
					name = n.(string)
				}
				want := post{
					SendID: d.GetDeliveryId(), JourneyID: p.JourneyID, StepID: "message", CustomerID: id, WorkspaceID: wsA,
					Message:        fmt.Sprintf("Hello %s (%s)", name, id),
					UnsubscribeURL: p.UnsubscribeURL,
					idempotencyKey: d.GetDeliveryId(), contentType: "application/json", userAgent: "kizuna-campaign/1",
				}
				if p != want || !strings.HasPrefix(p.JourneyID, "jny_") || !strings.Contains(p.UnsubscribeURL, "/unsubscribe/") {
					t.Errorf("POST = %+v, want %+v", p, want)
				}
				if d.GetStatus() != campaignv1.DeliveryStatus_DELIVERY_STATUS_SENT || d.GetAttempts() != 1 ||
					d.GetSendTime() == nil || d.GetMessage() != want.Message {
					t.Errorf("delivery = %v", d)
				}
			})
		}
		if len(calls) != 7 {
			t.Errorf("sink saw %d customers, want 7: workspace B's members must not be sent", len(calls))
		}

		// Every final outcome is published once per delivery id.
		want := map[string]string{}
		for _, d := range deliveries {
			want[d.GetDeliveryId()] = map[campaignv1.DeliveryStatus]string{
				campaignv1.DeliveryStatus_DELIVERY_STATUS_SENT: "SENT", campaignv1.DeliveryStatus_DELIVERY_STATUS_FAILED: "SKIPPED",
			}[d.GetStatus()]
		}
		got := outcomes.waitFor(t, len(want))
		for id, st := range want {
			if got[id] != st {
				t.Errorf("published outcome of %s = %q, want %q", id, got[id], st)
			}
		}
	})
}

// outcomes collects delivery outcomes from the bus by message id.
type outcomes struct {
	mu  sync.Mutex
	got map[string]string
}

func consumeOutcomes(t testing.TB, b *bus.Bus) *outcomes {
	t.Helper()
	o := &outcomes{got: map[string]string{}}
	ctx, cancel := context.WithCancel(context.Background())
	stop, err := b.Consume(ctx, bus.Consumer{
		Kind:          bus.KindDeliveries,
		Durable:       "campaign_test",
		FilterSubject: b.Subject(bus.KindDeliveries, wsA) + ".*",
		Handler: func(_ context.Context, m bus.Message) error {
			var out campaignv1.SendOutcome
			if err := m.Unmarshal(&out); err != nil {
				return err
			}
			if out.GetSendId() != m.MsgID || out.GetWorkspaceId() != wsA {
				t.Errorf("outcome %s = %v", m.MsgID, &out)
			}
			o.mu.Lock()
			o.got[m.MsgID] = out.GetStatus().String()
			o.mu.Unlock()
			return nil
		},
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); stop() })
	return o
}

func (o *outcomes) waitFor(t testing.TB, n int) map[string]string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		o.mu.Lock()
		got := len(o.got)
		o.mu.Unlock()
		if got >= n || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.got) != n {
		t.Errorf("received %d outcomes, want %d", len(o.got), n)
	}
	out := make(map[string]string, len(o.got))
	for k, v := range o.got {
		out[k] = v
	}
	return out
}

// TestRetries checks the webhook answer handling of a campaign's sends:
// 5xx then 2xx is sent on a later attempt, 4xx fails at once, endless 5xx
// fails after 5 attempts.
// TestCampaignHoldout: a broadcast with a holdout sends to the rest of the
// segment only; the held-out members' deliveries say why, and the holdout
// and goal are kept on the campaign for its results.
func TestCampaignHoldout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqldb.DB, b *bus.Bus) {
		var members []string
		traits := map[string]map[string]any{}
		for i := range 40 {
			id := fmt.Sprintf("cus_%02d", i)
			members = append(members, id)
			traits[id] = map[string]any{}
		}
		e := newEnv(t, db, b,
			&fakeSegments{members: map[string]map[string][]string{wsA: {"seg_1": members}}},
			&fakeCustomers{traits: map[string]map[string]map[string]any{wsA: traits}},
			always(http.StatusOK))
		in := newCampaign(e, "seg_1", "Hi {{ customer.customer_id }}")
		in.Holdout = &campaignv1.Holdout{Percent: 50}
		in.Goal = &campaignv1.Goal{Event: &campaignv1.EventMatch{Event: "Signed Up"}}
		c := create(t, e, keyA, in)
		if c.GetHoldout().GetPercent() != 50 || c.GetGoal().GetEvent().GetEvent() != "Signed Up" {
			t.Fatalf("created campaign holdout %v goal %v", c.GetHoldout(), c.GetGoal())
		}
		if _, err := e.client.LaunchCampaign(as(keyA), &campaignv1.LaunchCampaignRequest{CampaignId: c.GetCampaignId()}); err != nil {
			t.Fatal(err)
		}
		done := waitCompleted(t, e, keyA, c.GetCampaignId())
		if done.GetHoldout().GetPercent() != 50 {
			t.Errorf("holdout after launch = %v", done.GetHoldout())
		}
		calls := e.sink.calls()
		held := 0
		for id, d := range deliveriesByCustomer(t, e, keyA, c.GetCampaignId()) {
			if strings.Contains(d.GetLastError(), "HOLDOUT") {
				held++
				if len(calls[id]) != 0 {
					t.Errorf("%s is held out but got %d POSTs", id, len(calls[id]))
				}
			}
		}
		// 50 % of 40: every split but all-or-nothing (odds 2^-39) passes.
		if sent := len(calls); held == 0 || sent == 0 || held+sent != len(members) {
			t.Errorf("held out %d, sent to %d, of %d members", held, sent, len(members))
		}
	})
}

func TestRetries(t *testing.T) {
	answers := map[string]func(n int) int{
		"cus_flaky":    func(n int) int { return map[bool]int{true: 500, false: 200}[n <= 2] },
		"cus_rejected": func(int) int { return 400 },
		"cus_throttle": func(n int) int { return map[bool]int{true: 429, false: 204}[n == 1] },
		"cus_timeout":  func(n int) int { return map[bool]int{true: 408, false: 200}[n == 1] },
		"cus_down":     func(int) int { return 503 },
		"cus_gone404":  func(int) int { return 404 },
	}
	members := make([]string, 0, len(answers))
	traits := map[string]map[string]any{}
	for id := range answers {
		members = append(members, id)
		traits[id] = map[string]any{}
	}
	slices.Sort(members)
	e := newEnv(t, sqldbtest.SQLite(t), bustest.Embedded(t),
		&fakeSegments{members: map[string]map[string][]string{wsA: {"seg_1": members}}},
		&fakeCustomers{traits: map[string]map[string]map[string]any{wsA: traits}},
		func(customerID string, n int) int { return answers[customerID](n) })
	c := create(t, e, keyA, newCampaign(e, "seg_1", "Hi"))
	if _, err := e.client.LaunchCampaign(as(keyA), &campaignv1.LaunchCampaignRequest{CampaignId: c.GetCampaignId()}); err != nil {
		t.Fatal(err)
	}
	waitCompleted(t, e, keyA, c.GetCampaignId())
	deliveries := deliveriesByCustomer(t, e, keyA, c.GetCampaignId())
	calls := e.sink.calls()

	tests := []struct {
		customer string
		status   campaignv1.DeliveryStatus
		attempts int32
		// lastError is what the last error starts with ("" for none).
		lastError string
	}{
		{customer: "cus_flaky", status: campaignv1.DeliveryStatus_DELIVERY_STATUS_SENT, attempts: 3},
		{customer: "cus_throttle", status: campaignv1.DeliveryStatus_DELIVERY_STATUS_SENT, attempts: 2},
		{customer: "cus_timeout", status: campaignv1.DeliveryStatus_DELIVERY_STATUS_SENT, attempts: 2},
		{customer: "cus_rejected", status: campaignv1.DeliveryStatus_DELIVERY_STATUS_FAILED, attempts: 1, lastError: "HTTP 400"},
		{customer: "cus_gone404", status: campaignv1.DeliveryStatus_DELIVERY_STATUS_FAILED, attempts: 1, lastError: "HTTP 404"},
		{customer: "cus_down", status: campaignv1.DeliveryStatus_DELIVERY_STATUS_FAILED, attempts: 5, lastError: "gave up after 5 attempts: HTTP 503"},
	}
	for _, tt := range tests {
		t.Run(tt.customer, func(t *testing.T) {
			d := deliveries[tt.customer]
			if d.GetStatus() != tt.status || d.GetAttempts() != tt.attempts || !strings.HasPrefix(d.GetLastError(), tt.lastError) ||
				(tt.lastError == "") != (d.GetStatus() == campaignv1.DeliveryStatus_DELIVERY_STATUS_SENT) {
				t.Errorf("delivery = %v, want %s after %d attempts, last error %q", d, tt.status, tt.attempts, tt.lastError)
			}
			if got := len(calls[tt.customer]); got != int(tt.attempts) {
				t.Errorf("sink saw %d POSTs, want %d", got, tt.attempts)
			}
		})
	}
}

// violations returns the field names of an InvalidArgument error.
func violations(t testing.TB, err error) []string {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("error = %v, want InvalidArgument", err)
	}
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	slices.Sort(fields)
	return fields
}

func TestValidation(t *testing.T) {
	e := newEnv(t, sqldbtest.SQLite(t), bustest.Embedded(t), &fakeSegments{members: map[string]map[string][]string{wsA: {"seg_1": nil}}}, &fakeCustomers{}, always(200))
	valid := func() *campaignv1.Campaign { return newCampaign(e, "seg_1", "Hi {{ customer.customer_id }}") }
	with := func(edit func(c *campaignv1.Campaign)) *campaignv1.Campaign {
		c := valid()
		edit(c)
		return c
	}
	long := func(n int) string { return string(make([]byte, n)) }
	createTests := []struct {
		name     string
		campaign *campaignv1.Campaign
		fields   []string
	}{
		{name: "missing campaign", campaign: nil, fields: []string{"campaign"}},
		{name: "empty campaign", campaign: &campaignv1.Campaign{},
			fields: []string{"campaign.display_name", "campaign.message_template", "campaign.segment_id", "campaign.webhook.url"}},
		{name: "display name too long", campaign: with(func(c *campaignv1.Campaign) {
			c.DisplayName = string(slices.Repeat([]rune("あ"), 201))
		}), fields: []string{"campaign.display_name"}},
		{name: "no channel", campaign: with(func(c *campaignv1.Campaign) { c.Channel = nil }), fields: []string{"campaign.webhook.url"}},
		{name: "relative url", campaign: with(func(c *campaignv1.Campaign) {
			c.Channel = &campaignv1.Campaign_Webhook{Webhook: &campaignv1.WebhookChannel{Url: "/hook"}}
		}), fields: []string{"campaign.webhook.url"}},
		{name: "ftp url", campaign: with(func(c *campaignv1.Campaign) {
			c.Channel = &campaignv1.Campaign_Webhook{Webhook: &campaignv1.WebhookChannel{Url: "ftp://example.com/x"}}
		}), fields: []string{"campaign.webhook.url"}},
		{name: "template does not parse", campaign: with(func(c *campaignv1.Campaign) { c.MessageTemplate = "{% if x %}" }),
			fields: []string{"campaign.message_template"}},
		{name: "template unknown filter", campaign: with(func(c *campaignv1.Campaign) { c.MessageTemplate = "{{ customer.customer_id | shout }}" }),
			fields: []string{"campaign.message_template"}},
		{name: "template too large", campaign: with(func(c *campaignv1.Campaign) { c.MessageTemplate = "a" + long(64<<10) }),
			fields: []string{"campaign.message_template"}},
		{name: "holdout over 90 percent", campaign: with(func(c *campaignv1.Campaign) { c.Holdout = &campaignv1.Holdout{Percent: 150} }),
			fields: []string{"campaign.holdout.percent"}},
		{name: "goal without event", campaign: with(func(c *campaignv1.Campaign) { c.Goal = &campaignv1.Goal{} }),
			fields: []string{"campaign.goal.event"}},
		{name: "segment id too long", campaign: with(func(c *campaignv1.Campaign) { c.SegmentId = "s" + long(200) }),
			fields: []string{"campaign.segment_id"}},
		{name: "unknown segment", campaign: with(func(c *campaignv1.Campaign) { c.SegmentId = "seg_missing" }),
			fields: []string{"campaign.segment_id"}},
	}
	for _, tt := range createTests {
		t.Run("create/"+tt.name, func(t *testing.T) {
			_, err := e.client.CreateCampaign(as(keyA), &campaignv1.CreateCampaignRequest{Campaign: tt.campaign})
			if got := violations(t, err); !slices.Equal(got, tt.fields) {
				t.Errorf("violations = %v, want %v", got, tt.fields)
			}
		})
	}

	c := create(t, e, keyA, valid())
	otherTests := []struct {
		name   string
		call   func() error
		fields []string
	}{
		{name: "get without id", call: func() error {
			_, err := e.client.GetCampaign(as(keyA), &campaignv1.GetCampaignRequest{})
			return err
		}, fields: []string{"campaign_id"}},
		{name: "launch without id", call: func() error {
			_, err := e.client.LaunchCampaign(as(keyA), &campaignv1.LaunchCampaignRequest{})
			return err
		}, fields: []string{"campaign_id"}},
		{name: "negative page size", call: func() error {
			_, err := e.client.ListCampaigns(as(keyA), &campaignv1.ListCampaignsRequest{PageSize: -1})
			return err
		}, fields: []string{"page_size"}},
		{name: "forged page token", call: func() error {
			_, err := e.client.ListCampaigns(as(keyA), &campaignv1.ListCampaignsRequest{PageToken: "not-a-token"})
			return err
		}, fields: []string{"page_token"}},
		{name: "deliveries: bad id, size and token", call: func() error {
			_, err := e.client.ListDeliveries(as(keyA), &campaignv1.ListDeliveriesRequest{PageSize: -5, PageToken: "%%"})
			return err
		}, fields: []string{"campaign_id", "page_size", "page_token"}},
		{name: "deliveries: campaign token is not a delivery token", call: func() error {
			create(t, e, keyA, valid()) // so a next page exists
			page, err := e.client.ListCampaigns(as(keyA), &campaignv1.ListCampaignsRequest{PageSize: 1})
			if err != nil {
				return err
			}
			_, err = e.client.ListDeliveries(as(keyA), &campaignv1.ListDeliveriesRequest{CampaignId: c.GetCampaignId(), PageToken: page.GetNextPageToken()})
			return err
		}, fields: []string{"page_token"}},
	}
	for _, tt := range otherTests {
		t.Run(tt.name, func(t *testing.T) {
			if got := violations(t, tt.call()); !slices.Equal(got, tt.fields) {
				t.Errorf("violations = %v, want %v", got, tt.fields)
			}
		})
	}
}

// TestWorkspaceIsolation checks one workspace can neither see nor act on
// another's campaigns, and that calls without a key are refused.
func TestWorkspaceIsolation(t *testing.T) {
	e := newEnv(t, sqldbtest.SQLite(t), bustest.Embedded(t),
		&fakeSegments{members: map[string]map[string][]string{wsA: {"seg_1": {"cus_a1"}}}},
		&fakeCustomers{traits: map[string]map[string]map[string]any{wsA: {"cus_a1": {}}}},
		always(200))
	c := create(t, e, keyA, newCampaign(e, "seg_1", "Hi"))
	id := c.GetCampaignId()
	tests := []struct {
		name string
		ctx  context.Context
		call func(ctx context.Context) error
		want codes.Code
	}{
		{name: "get", ctx: as(keyB), want: codes.NotFound, call: func(ctx context.Context) error {
			_, err := e.client.GetCampaign(ctx, &campaignv1.GetCampaignRequest{CampaignId: id})
			return err
		}},
		{name: "launch", ctx: as(keyB), want: codes.NotFound, call: func(ctx context.Context) error {
			_, err := e.client.LaunchCampaign(ctx, &campaignv1.LaunchCampaignRequest{CampaignId: id})
			return err
		}},
		{name: "list deliveries", ctx: as(keyB), want: codes.NotFound, call: func(ctx context.Context) error {
			_, err := e.client.ListDeliveries(ctx, &campaignv1.ListDeliveriesRequest{CampaignId: id})
			return err
		}},
		{name: "list campaigns is empty", ctx: as(keyB), want: codes.OK, call: func(ctx context.Context) error {
			resp, err := e.client.ListCampaigns(ctx, &campaignv1.ListCampaignsRequest{})
			if err == nil && len(resp.GetCampaigns()) != 0 {
				return fmt.Errorf("workspace B lists %d campaigns", len(resp.GetCampaigns()))
			}
			return err
		}},
		{name: "no key", ctx: context.Background(), want: codes.Unauthenticated, call: func(ctx context.Context) error {
			_, err := e.client.GetCampaign(ctx, &campaignv1.GetCampaignRequest{CampaignId: id})
			return err
		}},
		{name: "unknown segment refused at create", ctx: as(keyA), want: codes.InvalidArgument, call: func(ctx context.Context) error {
			_, err := e.client.CreateCampaign(ctx, &campaignv1.CreateCampaignRequest{Campaign: newCampaign(e, "seg_missing", "Hi")})
			return err
		}},
		{name: "another workspace's segment is unknown", ctx: as(keyB), want: codes.InvalidArgument, call: func(ctx context.Context) error {
			_, err := e.client.CreateCampaign(ctx, &campaignv1.CreateCampaignRequest{Campaign: newCampaign(e, "seg_1", "Hi")})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(tt.ctx); status.Code(err) != tt.want {
				t.Errorf("error = %v, want %s", err, tt.want)
			}
		})
	}
	// The campaign B tried to launch is still A's untouched draft.
	got, err := e.client.GetCampaign(as(keyA), &campaignv1.GetCampaignRequest{CampaignId: id})
	if err != nil || got.GetCampaign().GetState() != campaignv1.CampaignState_CAMPAIGN_STATE_DRAFT {
		t.Errorf("A's campaign = %v, %v; want a draft", got.GetCampaign(), err)
	}
}

// TestListCampaignsPaging walks every page and checks newest-first order.
func TestListCampaignsPaging(t *testing.T) {
	e := newEnv(t, sqldbtest.SQLite(t), bustest.Embedded(t), &fakeSegments{members: map[string]map[string][]string{wsA: {"seg_1": nil}, wsB: {"seg_1": nil}}},
		&fakeCustomers{}, always(200))
	var created []string
	for i := range 5 {
		c := newCampaign(e, "seg_1", "Hi")
		c.DisplayName = fmt.Sprintf("c%d", i)
		created = append(created, create(t, e, keyA, c).GetCampaignId())
	}
	create(t, e, keyB, newCampaign(e, "seg_1", "Hi"))
	slices.Reverse(created)

	tests := []struct {
		name     string
		pageSize int32
		pages    int
	}{
		{name: "pages of 2", pageSize: 2, pages: 3},
		{name: "exact fit", pageSize: 5, pages: 1},
		{name: "default size", pageSize: 0, pages: 1},
		{name: "above the maximum is lowered", pageSize: 5000, pages: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			token, pages := "", 0
			for {
				resp, err := e.client.ListCampaigns(as(keyA), &campaignv1.ListCampaignsRequest{PageSize: tt.pageSize, PageToken: token})
				if err != nil {
					t.Fatal(err)
				}
				pages++
				for _, c := range resp.GetCampaigns() {
					got = append(got, c.GetCampaignId())
				}
				if token = resp.GetNextPageToken(); token == "" {
					break
				}
			}
			if !slices.Equal(got, created) || pages != tt.pages {
				t.Errorf("got %v in %d pages, want %v in %d", got, pages, created, tt.pages)
			}
		})
	}
}
