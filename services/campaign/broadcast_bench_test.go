package campaign_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/bus/bustest"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

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
	sink := &countingSink{unique: map[string]bool{}}
	srv := httptest.NewServer(sink)
	b.Cleanup(srv.Close)
	env := startJourneys(b, db, bs, segments, customers)
	channels, journeys := env.channels, env.journeys
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
