package campaign_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
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
	db, bs := benchBackend(b)
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

// latencySink answers 200 and records when each customer's first call
// arrived.
type latencySink struct {
	mu    sync.Mutex
	first map[string]time.Time
}

func (s *latencySink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p struct {
		CustomerID string `json:"customer_id"`
	}
	_ = json.NewDecoder(r.Body).Decode(&p)
	now := time.Now()
	s.mu.Lock()
	if _, ok := s.first[p.CustomerID]; !ok {
		s.first[p.CustomerID] = now
	}
	s.mu.Unlock()
}

func (s *latencySink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.first)
}

// BenchmarkEventToFirstSend measures the time from an event on the bus
// (as ingestion publishes it) to the first send of an event-entry journey
// reaching a webhook sink, with events arriving at 1,000 a second for
// KIZUNA_BENCH_SECONDS seconds (default 5). It reports the 50th and 99th
// percentiles and the worst case in milliseconds.
func BenchmarkEventToFirstSend(b *testing.B) {
	seconds := 5
	if v := os.Getenv("KIZUNA_BENCH_SECONDS"); v != "" {
		var err error
		if seconds, err = strconv.Atoi(v); err != nil {
			b.Fatalf("KIZUNA_BENCH_SECONDS: %v", err)
		}
	}
	const rate = 1000
	n := seconds * rate
	db, bs := benchBackend(b)
	traits := map[string]map[string]any{}
	for i := range n {
		traits[fmt.Sprintf("cus_%07d", i)] = map[string]any{"name": "顧客"}
	}
	env := startJourneys(b, db, bs, &fakeSegments{}, &fakeCustomers{traits: map[string]map[string]map[string]any{wsA: traits}})
	sink := &latencySink{first: map[string]time.Time{}}
	srv := httptest.NewServer(sink)
	b.Cleanup(srv.Close)
	ch, err := env.channels.CreateChannel(as(keyA), &campaignv1.CreateChannelRequest{Channel: &campaignv1.Channel{
		DisplayName: "sink", Config: &campaignv1.Channel_Webhook{Webhook: &campaignv1.WebhookChannel{Url: srv.URL + "/hook"}},
	}})
	if err != nil {
		b.Fatal(err)
	}
	j, err := env.journeys.CreateJourney(as(keyA), &campaignv1.CreateJourneyRequest{Journey: &campaignv1.Journey{
		DisplayName: "Welcome",
		Entry:       &campaignv1.Entry{Kind: &campaignv1.Entry_Event{Event: &campaignv1.EventMatch{Event: "Signed Up"}}},
		Steps: []*campaignv1.Step{{Id: "hello", Kind: &campaignv1.Step_Send{Send: &campaignv1.SendStep{
			ChannelId: ch.GetChannel().GetChannelId(), Text: "{{ customer.traits.name }}さん、ようこそ",
		}}}},
	}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := env.journeys.ActivateJourney(as(keyA), &campaignv1.ActivateJourneyRequest{JourneyId: j.GetJourney().GetJourneyId()}); err != nil {
		b.Fatal(err)
	}
	subject := bs.Subject(bus.KindEvents, wsA, "track")
	published := make([]time.Time, n)
	b.ResetTimer()
	start := time.Now()
	for i := range n {
		// Paced, not bursty: event i goes out at start + i ms.
		if d := time.Until(start.Add(time.Duration(i) * time.Second / rate)); d > 0 {
			time.Sleep(d)
		}
		id := fmt.Sprintf("evt_%07d", i)
		published[i] = time.Now()
		msg := &ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_EventRecorded{EventRecorded: &ingestionv1.Event{
			EventId: id, WorkspaceId: wsA, CustomerId: fmt.Sprintf("cus_%07d", i), Type: ingestionv1.EventType_EVENT_TYPE_TRACK,
			Name: "Signed Up", ReceiveTime: timestamppb.New(published[i]),
		}}}
		if err := bs.Publish(context.Background(), subject, id, msg); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(2 * time.Minute)
	for sink.count() < n {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d first sends arrived", sink.count(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	lat := make([]float64, n)
	for i := range n {
		lat[i] = float64(sink.first[fmt.Sprintf("cus_%07d", i)].Sub(published[i])) / float64(time.Millisecond)
	}
	slices.Sort(lat)
	b.ReportMetric(lat[n/2], "p50_ms")
	b.ReportMetric(lat[n*99/100], "p99_ms")
	b.ReportMetric(lat[n-1], "max_ms")
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
}

// benchBackend is SQLite with an embedded NATS, or PostgreSQL with the
// external NATS when KIZUNA_BENCH_BACKEND=postgres.
func benchBackend(b *testing.B) (*sqldb.DB, *bus.Bus) {
	if os.Getenv("KIZUNA_BENCH_BACKEND") == "postgres" {
		return sqldbtest.Postgres(b), bustest.External(b)
	}
	return sqldbtest.SQLite(b), bustest.Embedded(b)
}
