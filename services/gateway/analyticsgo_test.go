package gateway

import (
	"sync"
	"testing"
	"time"

	analytics "github.com/segmentio/analytics-go/v3"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
)

// tally is an analytics.Callback counting outcomes.
type tally struct {
	mu        sync.Mutex
	successes int
	failures  []error
}

func (c *tally) Success(analytics.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.successes++
}

func (c *tally) Failure(_ analytics.Message, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failures = append(c.failures, err)
}

// testLogger sends the client's log to the test log.
type testLogger struct{ t testing.TB }

func (l testLogger) Logf(format string, args ...any) { l.t.Logf("analytics-go: "+format, args...) }
func (l testLogger) Errorf(format string, args ...any) {
	l.t.Logf("analytics-go error: "+format, args...)
}

// newSegmentClient points Segment's own Go library at the gateway.
func newSegmentClient(t testing.TB, e *env, key string, cb analytics.Callback) analytics.Client {
	t.Helper()
	client, err := analytics.NewWithConfig(key, analytics.Config{
		Endpoint:  e.srv.URL,
		Interval:  time.Hour, // flush only on Close, so both messages share a batch
		BatchSize: 100,
		Callback:  cb,
		Logger:    testLogger{t},
		// Retries would only slow the rejection case down.
		RetryAfter: func(int) time.Duration { return time.Millisecond },
	})
	if err != nil {
		t.Fatalf("analytics client: %v", err)
	}
	return client
}

func TestSegmentGoLibrary(t *testing.T) {
	e := newEnv(t)
	cb := &tally{}
	client := newSegmentClient(t, e, testKey, cb)
	if err := client.Enqueue(analytics.Identify{
		UserId: "u-42",
		Traits: analytics.NewTraits().SetEmail("hanako@example.com").SetName("Hanako Sato").Set("plan", "pro"),
	}); err != nil {
		t.Fatalf("enqueue identify: %v", err)
	}
	if err := client.Enqueue(analytics.Track{
		UserId:     "u-42",
		Event:      "Order Completed",
		Properties: analytics.NewProperties().SetRevenue(129.5).SetCurrency("JPY").SetOrderId("o-1"),
	}); err != nil {
		t.Fatalf("enqueue track: %v", err)
	}
	if err := client.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if cb.successes != 2 || len(cb.failures) != 0 {
		t.Fatalf("callbacks: %d successes, failures %v; want 2 and none", cb.successes, cb.failures)
	}

	c := e.rec.only(t, "Batch")
	if c.workspace != testWorkspace {
		t.Errorf("workspace = %q, want %q (Basic auth → bearer)", c.workspace, testWorkspace)
	}
	batch := c.req.(*ingestionv1.BatchRequest)
	if len(batch.GetBatch()) != 2 {
		t.Fatalf("batch has %d messages, want 2: %v", len(batch.GetBatch()), batch)
	}
	if batch.GetContext().GetFields()["library"].GetStructValue().GetFields()["name"].GetStringValue() != "analytics-go" {
		t.Errorf("batch context = %v, want the library name", batch.GetContext())
	}
	if batch.GetSentAt() == "" {
		t.Error("batch sentAt is empty")
	}

	identify, track := batch.GetBatch()[0], batch.GetBatch()[1]
	for _, m := range []*ingestionv1.BatchMessage{identify, track} {
		if m.GetUserId() != "u-42" || m.GetMessageId() == "" {
			t.Errorf("message %v: want userId u-42 and a messageId", m)
		}
		if _, err := time.Parse(time.RFC3339Nano, m.GetTimestamp()); err != nil {
			t.Errorf("timestamp %q: %v", m.GetTimestamp(), err)
		}
	}
	if identify.GetType() != "identify" {
		t.Errorf("first message type = %q, want identify", identify.GetType())
	}
	traits := identify.GetTraits().GetFields()
	if traits["email"].GetStringValue() != "hanako@example.com" || traits["name"].GetStringValue() != "Hanako Sato" || traits["plan"].GetStringValue() != "pro" {
		t.Errorf("traits = %v", identify.GetTraits())
	}
	if track.GetType() != "track" || track.GetEvent() != "Order Completed" {
		t.Errorf("second message = %v, want track Order Completed", track)
	}
	props := track.GetProperties().GetFields()
	if props["revenue"].GetNumberValue() != 129.5 || props["currency"].GetStringValue() != "JPY" || props["orderId"].GetStringValue() != "o-1" {
		t.Errorf("properties = %v", track.GetProperties())
	}
}

func TestSegmentGoLibraryWrongKey(t *testing.T) {
	e := newEnv(t)
	cb := &tally{}
	client := newSegmentClient(t, e, "kz_not_a_key", cb)
	if err := client.Enqueue(analytics.Track{UserId: "u-1", Event: "Viewed"}); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	if err := client.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if cb.successes != 0 || len(cb.failures) != 1 {
		t.Fatalf("callbacks: %d successes, %d failures; want 0 and 1", cb.successes, len(cb.failures))
	}
	if n := len(e.rec.all()); n != 0 {
		t.Errorf("backend handled %d calls with a wrong key", n)
	}
}
