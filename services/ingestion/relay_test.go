package ingestion

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/bus/bustest"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// queueOutbox writes n outbox rows for workspace ws, ids prefix-0 …
func queueOutbox(t testing.TB, db *sqldb.DB, ws, prefix string, n int, payload []byte) {
	t.Helper()
	err := db.InTx(context.Background(), func(tx *sqldb.Tx) error {
		for i := range n {
			if _, err := tx.ExecPrepared(context.Background(),
				`INSERT INTO outbox (workspace_id, kind, msg_id, payload, create_time, trace_context) VALUES ($1, 'track', $2, $3, 0, '')`,
				ws, fmt.Sprintf("%s-%05d", prefix, i), payload); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRelayPublishesAllInOrder: the relay publishes an outbox of several
// batches (the last one partial) to the bus in the order it was written,
// each message once, and empties it.
func TestRelayPublishesAllInOrder(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		b := bustest.Embedded(t)
		s, err := New(ctx, Options{DB: db, Bus: b})
		if err != nil {
			t.Fatal(err)
		}
		const n = 2*relayBatch + 321
		queueOutbox(t, db, "ws1", "m", n, []byte("x"))

		var mu sync.Mutex
		var got []string
		stop, err := b.Consume(ctx, bus.Consumer{Kind: bus.KindEvents, Durable: "relay-test", Handler: func(_ context.Context, m bus.Message) error {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, m.MsgID)
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		defer stop()

		if err := s.relayAll(ctx); err != nil {
			t.Fatal(err)
		}
		if left, err := s.store.OutboxBacklog(ctx); err != nil || left != 0 {
			t.Fatalf("outbox holds %d rows after the relay (%v)", left, err)
		}
		want := make([]string, n)
		for i := range want {
			want[i] = fmt.Sprintf("ws1/m-%05d", i)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			mu.Lock()
			done := len(got) >= n
			mu.Unlock()
			if done || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(got, want) {
			t.Errorf("received %d messages, want %d in order; first differences: %v", len(got), n, firstDiff(got, want))
		}
	})
}

func firstDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			return fmt.Sprintf("at %d got %s want %s", i, got[i], want[i])
		}
	}
	return "one is a prefix of the other"
}

// BenchmarkRelay drains 20,000 queued outbox rows of 600 bytes to the
// embedded bus (SQLite): the relay alone, without the load it competes
// with in the suite.
func BenchmarkRelay(b *testing.B) {
	ctx := context.Background()
	db := sqldbtest.SQLite(b)
	s, err := New(ctx, Options{DB: db, Bus: bustest.Embedded(b)})
	if err != nil {
		b.Fatal(err)
	}
	payload := []byte(strings.Repeat("x", 600))
	const n = 20000
	round := 0
	for b.Loop() {
		b.StopTimer()
		round++
		queueOutbox(b, db, "ws1", fmt.Sprintf("r%d", round), n, payload)
		b.StartTimer()
		if err := s.relayAll(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "msgs/s")
}
