package campaign_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	segmentationv1 "github.com/kizuna/kizuna/gen/kizuna/segmentation/v1"
	"github.com/kizuna/kizuna/services/campaign"
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
}

func (fakeWorkspaces) GetWorkspace(ctx context.Context, req *ingestionv1.GetWorkspaceRequest) (*ingestionv1.GetWorkspaceResponse, error) {
	return &ingestionv1.GetWorkspaceResponse{Workspace: &ingestionv1.Workspace{
		WorkspaceId: req.GetWorkspaceId(), Timezone: "Asia/Tokyo", AllowLoopbackUrls: true,
		FrequencyCaps: []*ingestionv1.FrequencyCap{{ChannelType: ingestionv1.ChannelType_WEBHOOK, MaxSends: 100, Period: durationpb.New(24 * time.Hour)}},
	}}, nil
}

// countingSink answers 200 to every webhook call and counts distinct
// idempotency keys, so a duplicate send shows as calls > unique.
type countingSink struct {
	calls  atomic.Int64
	mu     sync.Mutex
	unique map[string]bool
}

func (s *countingSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	s.calls.Add(1)
	s.mu.Lock()
	s.unique[r.Header.Get("Idempotency-Key")] = true
	s.mu.Unlock()
}

// BenchmarkBroadcast measures a broadcast journey to a segment through the
// webhook channel to a loopback sink, from activation until every send's
// outcome is recorded, with consent and a frequency cap checked for each
// send. The segment holds KIZUNA_BENCH_CUSTOMERS customers (default
// 20,000); the sends/s metric is the figure in docs/BENCHMARKS.md.
// KIZUNA_BENCH_BACKEND=postgres runs it on PostgreSQL + NATS JetStream.
func BenchmarkBroadcast(b *testing.B) {
	n := 20000
	if v := os.Getenv("KIZUNA_BENCH_CUSTOMERS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatalf("KIZUNA_BENCH_CUSTOMERS: %v", err)
		}
	}
	var db *sqldb.DB
	var bs *bus.Bus
	if os.Getenv("KIZUNA_BENCH_BACKEND") == "postgres" {
		db, bs = sqldbtest.Postgres(b), bustest.External(b)
	} else {
		db, bs = sqldbtest.SQLite(b), bustest.Embedded(b)
	}
	members := make([]string, n)
	traits := map[string]map[string]any{}
	for i := range members {
		members[i] = fmt.Sprintf("cus_%07d", i)
		traits[members[i]] = map[string]any{"name": fmt.Sprintf("顧客%d", i)}
	}
	segments := &fakeSegments{members: map[string]map[string][]string{wsA: {"seg_all": members}}, pageSize: 10000}
	customers := &fakeCustomers{traits: map[string]map[string]map[string]any{wsA: traits}}
	fakes := grpctest.Start(b, func(s *grpc.Server) {
		segmentationv1.RegisterSegmentServiceServer(s, segments)
		ingestionv1.RegisterCustomerServiceServer(s, customers)
		ingestionv1.RegisterWorkspaceServiceServer(s, fakeWorkspaces{})
	}, grpctest.WithVerifier(testTokens(b).Verifier(keys)))
	fakeConn := grpctest.Dial(b, fakes)
	sink := &countingSink{unique: map[string]bool{}}
	srv := httptest.NewServer(sink)
	b.Cleanup(srv.Close)

	ctx := context.Background()
	svc, err := campaign.New(ctx, campaign.Options{
		DB: db, Bus: bs, Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Segmentation: fakeConn, Ingestion: fakeConn, PollInterval: 50 * time.Millisecond,
		ServiceTokens: testTokens(b), SecretKey: bytes.Repeat([]byte("k"), 32),
	})
	if err != nil {
		b.Fatal(err)
	}
	addr := grpctest.Start(b, svc.Register, grpctest.WithVerifier(keys))
	conn := grpctest.Dial(b, addr)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()
	b.Cleanup(func() { stop(); <-done })

	channels := campaignv1.NewChannelServiceClient(conn)
	journeys := campaignv1.NewJourneyServiceClient(conn)
	ch, err := channels.CreateChannel(as(keyA), &campaignv1.CreateChannelRequest{Channel: &campaignv1.Channel{
		DisplayName: "sink", Config: &campaignv1.Channel_Webhook{Webhook: &campaignv1.WebhookChannel{Url: srv.URL + "/hook"}},
	}})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		j, err := journeys.CreateJourney(as(keyA), &campaignv1.CreateJourneyRequest{Journey: &campaignv1.Journey{
			DisplayName: "Broadcast",
			Entry:       &campaignv1.Entry{Kind: &campaignv1.Entry_Broadcast{Broadcast: &campaignv1.BroadcastEntry{SegmentId: "seg_all"}}},
			Steps: []*campaignv1.Step{{Id: "hook", Kind: &campaignv1.Step_Send{Send: &campaignv1.SendStep{
				ChannelId: ch.GetChannel().GetChannelId(), Text: "{{ customer.traits.name }}さん、セールのお知らせです",
			}}}},
		}})
		if err != nil {
			b.Fatal(err)
		}
		id := j.GetJourney().GetJourneyId()
		if _, err := journeys.ActivateJourney(as(keyA), &campaignv1.ActivateJourneyRequest{JourneyId: id}); err != nil {
			b.Fatal(err)
		}
		waitRecorded(b, journeys, sink, id, int64(n*(i+1)), int64(n))
	}
	b.StopTimer()
	if got, want := sink.calls.Load(), int64(n*b.N); got != want || int64(len(sink.unique)) != want {
		b.Fatalf("sink got %d calls with %d distinct keys, want %d of each", got, len(sink.unique), want)
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "sends/s")
}

// waitRecorded waits until the sink has seen received calls, then polls
// the journey's stats (a scan of its sends, so rarely) until want sends are
// SENT.
func waitRecorded(b *testing.B, journeys campaignv1.JourneyServiceClient, sink *countingSink, id string, received, want int64) {
	deadline := time.Now().Add(10 * time.Minute)
	for sink.calls.Load() < received && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	for {
		st, err := journeys.GetJourneyStats(as(keyA), &campaignv1.GetJourneyStatsRequest{JourneyId: id})
		if err != nil {
			b.Fatal(err)
		}
		var sent, other int64
		for _, c := range st.GetStats().GetSends() {
			if c.GetStatus() == campaignv1.SendStatus_SENT {
				sent += c.GetCount()
			} else if c.GetStatus() != campaignv1.SendStatus_PENDING {
				other += c.GetCount()
			}
		}
		if other > 0 {
			b.Fatalf("journey %s: %d sends not sent: %v", id, other, st.GetStats().GetSends())
		}
		if sent >= want {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("journey %s: %d of %d sent after 10 minutes", id, sent, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
