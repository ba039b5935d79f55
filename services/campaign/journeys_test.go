package campaign_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	segmentationv1 "github.com/kizuna/kizuna/gen/kizuna/segmentation/v1"
	"github.com/kizuna/kizuna/services/campaign"
	"github.com/kizuna/kizuna/services/campaign/linetest"
	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/bus/bustest"
	"github.com/kizuna/kizuna/services/platform/grpctest"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// fakeWorkspaces serves GetWorkspace: loopback URLs allowed (the sink) and
// a frequency cap on webhooks, so every send is checked against it.
type fakeWorkspaces struct {
	ingestionv1.UnimplementedWorkspaceServiceServer
	requireConsent bool
}

func (f fakeWorkspaces) GetWorkspace(ctx context.Context, req *ingestionv1.GetWorkspaceRequest) (*ingestionv1.GetWorkspaceResponse, error) {
	return &ingestionv1.GetWorkspaceResponse{Workspace: &ingestionv1.Workspace{
		WorkspaceId: req.GetWorkspaceId(), Timezone: "Asia/Tokyo", AllowLoopbackUrls: true, RequireConsent: f.requireConsent,
		FrequencyCaps: []*ingestionv1.FrequencyCap{{ChannelType: ingestionv1.ChannelType_WEBHOOK, MaxSends: 100, Period: durationpb.New(24 * time.Hour)}},
	}}, nil
}

// journeyEnv is a running campaign service, over fakes of ingestion and
// segmentation, with clients of its journey and channel APIs.
type journeyEnv struct {
	channels campaignv1.ChannelServiceClient
	journeys campaignv1.JourneyServiceClient
}

func startJourneys(tb testing.TB, db *sqldb.DB, bs *bus.Bus, segments *fakeSegments, customers *fakeCustomers) journeyEnv {
	tb.Helper()
	return startJourneysIn(tb, db, bs, segments, customers, fakeWorkspaces{})
}

// startJourneysIn is startJourneys with the workspace settings of ws.
func startJourneysIn(tb testing.TB, db *sqldb.DB, bs *bus.Bus, segments *fakeSegments, customers *fakeCustomers, ws fakeWorkspaces) journeyEnv {
	tb.Helper()
	fakes := grpctest.Start(tb, func(s *grpc.Server) {
		segmentationv1.RegisterSegmentServiceServer(s, segments)
		ingestionv1.RegisterCustomerServiceServer(s, customers)
		ingestionv1.RegisterWorkspaceServiceServer(s, ws)
	}, grpctest.WithVerifier(testTokens(tb).Verifier(keys)))
	fakeConn := grpctest.Dial(tb, fakes)
	ctx := context.Background()
	svc, err := campaign.New(ctx, campaign.Options{
		DB: db, Bus: bs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Segmentation: fakeConn, Ingestion: fakeConn, PollInterval: 50 * time.Millisecond,
		RetryBackoff: 10 * time.Millisecond, LineBackoff: time.Millisecond,
		ServiceTokens: testTokens(tb), SecretKey: bytes.Repeat([]byte("k"), 32),
	})
	if err != nil {
		tb.Fatal(err)
	}
	addr := grpctest.Start(tb, svc.Register, grpctest.WithVerifier(keys))
	conn := grpctest.Dial(tb, addr)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()
	tb.Cleanup(func() { stop(); <-done })
	return journeyEnv{channels: campaignv1.NewChannelServiceClient(conn), journeys: campaignv1.NewJourneyServiceClient(conn)}
}

// broadcast creates and activates a journey sending text over channelID
// to the segment's members, and waits until none of its sends is pending.
func (e journeyEnv) broadcast(t *testing.T, segmentID, channelID, text string) *campaignv1.JourneyStats {
	t.Helper()
	_, st := e.run(t, &campaignv1.Journey{
		DisplayName: "Broadcast",
		Entry:       &campaignv1.Entry{Kind: &campaignv1.Entry_Broadcast{Broadcast: &campaignv1.BroadcastEntry{SegmentId: segmentID}}},
		Steps:       []*campaignv1.Step{{Id: "send", Kind: &campaignv1.Step_Send{Send: &campaignv1.SendStep{ChannelId: channelID, Text: text}}}},
	})
	return st
}

// run creates and activates a broadcast journey and waits until every
// member entered, none is in progress and no send is pending.
func (e journeyEnv) run(t *testing.T, def *campaignv1.Journey) (string, *campaignv1.JourneyStats) {
	t.Helper()
	j, err := e.journeys.CreateJourney(as(keyA), &campaignv1.CreateJourneyRequest{Journey: def})
	if err != nil {
		t.Fatal(err)
	}
	id := j.GetJourney().GetJourneyId()
	if _, err := e.journeys.ActivateJourney(as(keyA), &campaignv1.ActivateJourneyRequest{JourneyId: id}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := e.journeys.GetJourneyStats(as(keyA), &campaignv1.GetJourneyStatsRequest{JourneyId: id})
		if err != nil {
			t.Fatal(err)
		}
		var pending, total int64
		for _, c := range st.GetStats().GetSends() {
			total += c.GetCount()
			if c.GetStatus() == campaignv1.SendStatus_PENDING {
				pending += c.GetCount()
			}
		}
		if st.GetStats().GetActive() == 0 && st.GetStats().GetEntered() > 0 && total > 0 && pending == 0 {
			return id, st.GetStats()
		}
		if time.Now().After(deadline) {
			t.Fatalf("journey %s not done: %v", id, st.GetStats())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// lineChannel starts a fake LINE API and creates a LINE channel of
// workspace A calling it.
func (env journeyEnv) lineChannel(t *testing.T) (*linetest.Server, string) {
	t.Helper()
	lineAPI := linetest.Start(t, "token-1")
	ch, err := env.channels.CreateChannel(as(keyA), &campaignv1.CreateChannelRequest{Channel: &campaignv1.Channel{
		DisplayName: "LINE OA",
		Config:      &campaignv1.Channel_Line{Line: &campaignv1.LineChannel{ChannelAccessToken: "token-1", ChannelSecret: "s", ApiBaseUrl: lineAPI.URL}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return lineAPI, ch.GetChannel().GetChannelId()
}

// TestLineRetries sends two broadcasts over LINE while the API answers
// 429 and then 500: push (different texts) and multicast (one text) are
// retried with the same X-Line-Retry-Key, and every friend gets each
// message exactly once.
func TestLineRetries(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqldb.DB, b *bus.Bus) {
		friends := []string{"cus_1", "cus_2", "cus_3"}
		traits := map[string]map[string]any{}
		for _, id := range friends {
			traits[id] = map[string]any{"name": "N" + id, "lineUserId": "U" + id}
		}
		env := startJourneys(t, db, b,
			&fakeSegments{members: map[string]map[string][]string{wsA: {"seg_1": friends}}},
			&fakeCustomers{traits: map[string]map[string]map[string]any{wsA: traits}})
		lineAPI, chID := env.lineChannel(t)

		lineAPI.FailNext(2, 429)
		env.broadcast(t, "seg_1", chID, "{{ customer.traits.name }}さん、こんにちは")
		lineAPI.FailNext(1, 500)
		env.broadcast(t, "seg_1", chID, "セールのお知らせ")

		for _, id := range friends {
			want := []string{"N" + id + "さん、こんにちは", "セールのお知らせ"}
			if got := lineAPI.Accepted()["U"+id]; !slices.Equal(got, want) {
				t.Errorf("%s received %q, want %q", id, got, want)
			}
		}
		// Three pushes and one multicast; the 3 failed calls were retries
		// of those, with their keys.
		if keys, n := len(lineAPI.RetryKeys()), lineAPI.Requests(); keys != 4 || n != 7 {
			t.Errorf("%d retry keys over %d requests, want 4 over 7", keys, n)
		}
	})
}

// TestTemplateReadsFeatures broadcasts a template reading segmentation's
// features of each customer (computed and predicted traits, lifecycle
// stage, RFM scores): each friend gets its own values; a customer
// segmentation has not seen renders them empty.
func TestTemplateReadsFeatures(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqldb.DB, b *bus.Bus) {
		friends := []string{"cus_1", "cus_2", "cus_3"}
		traits := map[string]map[string]any{}
		for _, id := range friends {
			traits[id] = map[string]any{"lineUserId": "U" + id}
		}
		computed := func(cat string) *structpb.Struct {
			s, err := structpb.NewStruct(map[string]any{"favourite_category": cat})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		clv := 4200.0
		segs := &fakeSegments{members: map[string]map[string][]string{wsA: {"seg_1": friends}}, features: map[string]*segmentationv1.CustomerFeatures{
			"cus_1": {CustomerId: "cus_1", ComputedTraits: computed("靴"), LifecycleStage: segmentationv1.LifecycleStage_LIFECYCLE_STAGE_DORMANT,
				RecencyScore: 2, Predicted: &segmentationv1.PredictedTraits{ProbabilityAlive: 0.25, PredictedClv_12M: &clv}},
			"cus_2": {CustomerId: "cus_2", ComputedTraits: computed("鞄"), LifecycleStage: segmentationv1.LifecycleStage_LIFECYCLE_STAGE_F2, RecencyScore: 5},
		}}
		env := startJourneys(t, db, b, segs, &fakeCustomers{traits: map[string]map[string]map[string]any{wsA: traits}})
		lineAPI, chID := env.lineChannel(t)
		env.broadcast(t, "seg_1", chID,
			"{{ customer.computed_traits.favourite_category }}|{{ customer.lifecycle_stage }}|R{{ customer.rfm.recency }}|{{ customer.predicted.probability_alive }}|{{ customer.predicted.predicted_clv_12m }}")
		for id, want := range map[string]string{"cus_1": "靴|dormant|R2|0.25|4200", "cus_2": "鞄|f2|R5||", "cus_3": "||R||"} {
			if got := lineAPI.Accepted()["U"+id]; !slices.Equal(got, []string{want}) {
				t.Errorf("%s received %q, want %q", id, got, want)
			}
		}
	})
}

// TestHoldoutAndVariants broadcasts to 400 customers with a 25 % holdout
// and an A/B step: held-out customers get nothing and are recorded as
// skipped (HOLDOUT); the others get their variant's message; each
// customer's journey and sends show the variant; the split is within
// tolerance of the weights.
func TestHoldoutAndVariants(t *testing.T) {
	forEachBackend(t, func(t *testing.T, db *sqldb.DB, b *bus.Bus) {
		var members []string
		traits := map[string]map[string]any{}
		for i := range 400 {
			id := fmt.Sprintf("cus_%03d", i)
			members = append(members, id)
			traits[id] = map[string]any{}
		}
		env := startJourneys(t, db, b,
			&fakeSegments{members: map[string]map[string][]string{wsA: {"seg_1": members}}, pageSize: 1000},
			&fakeCustomers{traits: map[string]map[string]map[string]any{wsA: traits}})
		sink := newSink(t, always(200))
		ch, err := env.channels.CreateChannel(as(keyA), &campaignv1.CreateChannelRequest{Channel: &campaignv1.Channel{
			DisplayName: "hook", Config: &campaignv1.Channel_Webhook{Webhook: &campaignv1.WebhookChannel{Url: sink.srv.URL}},
		}})
		if err != nil {
			t.Fatal(err)
		}
		id, _ := env.run(t, &campaignv1.Journey{
			DisplayName: "Win-back test",
			Entry:       &campaignv1.Entry{Kind: &campaignv1.Entry_Broadcast{Broadcast: &campaignv1.BroadcastEntry{SegmentId: "seg_1"}}},
			Holdout:     &campaignv1.Holdout{Percent: 25},
			Steps: []*campaignv1.Step{{Id: "offer", Kind: &campaignv1.Step_Send{Send: &campaignv1.SendStep{
				ChannelId: ch.GetChannel().GetChannelId(),
				Variants: []*campaignv1.Variant{
					{Name: "A", Weight: 50, Text: "A:{{ customer.customer_id }}"},
					{Name: "B", Weight: 50, Text: "B:{{ customer.customer_id }}"},
				},
			}}}},
		})
		variants := map[string]string{}
		token := ""
		for {
			resp, err := env.journeys.ListJourneySends(as(keyA), &campaignv1.ListJourneySendsRequest{JourneyId: id, PageSize: 1000, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, sd := range resp.GetSends() {
				variants[sd.GetCustomerId()] = sd.GetVariant()
				held := sd.GetVariant() == "holdout"
				if held != (sd.GetStatus() == campaignv1.SendStatus_SKIPPED && sd.GetReason() == campaignv1.SkipReason_HOLDOUT) ||
					(!held && sd.GetStatus() != campaignv1.SendStatus_SENT) {
					t.Errorf("send %v", sd)
				}
			}
			if token = resp.GetNextPageToken(); token == "" {
				break
			}
		}
		calls := sink.calls()
		count := map[string]int{}
		for _, c := range members {
			v := variants[c]
			count[v]++
			switch got := calls[c]; {
			case v == "holdout" && len(got) != 0:
				t.Errorf("held-out %s was sent %v", c, got)
			case v != "holdout" && (len(got) != 1 || got[0].Message != v+":"+c):
				t.Errorf("%s (variant %q) got %v", c, v, got)
			}
		}
		if count["holdout"] < 72 || count["holdout"] > 128 || count["A"] < 110 || count["B"] < 110 || count["A"]+count["B"]+count["holdout"] != 400 {
			t.Errorf("split %v, want about 100 held out and 150 each of A and B", count)
		}
		for _, c := range []string{members[0], members[1]} {
			resp, err := env.journeys.ListCustomerJourneys(as(keyA), &campaignv1.ListCustomerJourneysRequest{CustomerId: c})
			if err != nil || len(resp.GetJourneys()) != 1 || resp.GetJourneys()[0].GetVariant() != variants[c] {
				t.Errorf("%s's journeys = %v, %v; want variant %q", c, resp.GetJourneys(), err, variants[c])
			}
		}
	})
}

// TestSendCounter checks the sends counter an on-call alerts on: final
// outcomes by channel type, status and reason.
func TestSendCounter(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	prev := otel.GetMeterProvider()
	otel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	t.Cleanup(func() { otel.SetMeterProvider(prev) })

	members := []string{"cus_1", "cus_2", "cus_3"}
	traits := map[string]map[string]any{"cus_1": {}, "cus_2": {}} // cus_3 has no profile
	env := startJourneys(t, sqldbtest.SQLite(t), bustest.Embedded(t),
		&fakeSegments{members: map[string]map[string][]string{wsA: {"seg_1": members}}},
		&fakeCustomers{traits: map[string]map[string]map[string]any{wsA: traits}})
	sink := newSink(t, always(200))
	ch, err := env.channels.CreateChannel(as(keyA), &campaignv1.CreateChannelRequest{Channel: &campaignv1.Channel{
		DisplayName: "hook", Config: &campaignv1.Channel_Webhook{Webhook: &campaignv1.WebhookChannel{Url: sink.srv.URL}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	env.broadcast(t, "seg_1", ch.GetChannel().GetChannelId(), "hi")

	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != "kizuna.campaign.sends" {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				status, _ := dp.Attributes.Value("status")
				reason, _ := dp.Attributes.Value("reason")
				got[status.AsString()+"/"+reason.AsString()] += dp.Value
			}
		}
	}
	if want := map[string]int64{"sent/": 2, "skipped/NO_PROFILE": 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("kizuna.campaign.sends = %v, want %v", got, want)
	}
}
