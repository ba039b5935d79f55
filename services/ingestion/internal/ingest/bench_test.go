package ingest_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/ingest"
	"github.com/kizuna/kizuna/services/ingestion/internal/store"
	"github.com/kizuna/kizuna/services/ingestion/internal/tracking"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// BenchmarkIngestParallel stores 100-message track batches from 32
// concurrent callers, the shape of the shared wrk batch script (5,000
// users, each with a user id and an anonymous id), through the ingest path
// alone: parsing, HTTP and the bus are left out. One op is one batch.
// With KIZUNA_TEST_POSTGRES_URL set it also runs on PostgreSQL.
func BenchmarkIngestParallel(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchmarkIngest(b, sqldbtest.SQLite(b), 100) })
	if os.Getenv(sqldbtest.PostgresURLVar) != "" {
		b.Run("postgres", func(b *testing.B) { benchmarkIngest(b, sqldbtest.Postgres(b), 100) })
	}
}

// BenchmarkIngestParallelSingle is BenchmarkIngestParallel with one
// message per call, the shape of single /v1/track calls.
func BenchmarkIngestParallelSingle(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchmarkIngest(b, sqldbtest.SQLite(b), 1) })
	if os.Getenv(sqldbtest.PostgresURLVar) != "" {
		b.Run("postgres", func(b *testing.B) { benchmarkIngest(b, sqldbtest.Postgres(b), 1) })
	}
}

func benchmarkIngest(b *testing.B, db *sqldb.DB, perCall int) {
	ctx := context.Background()
	in := ingest.New(store.For[ingest.Tx](openStore(b, db)), time.Now, nil)
	var seq atomic.Int64
	at := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	b.SetParallelism(16) // 32 callers on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		msgs := make([]tracking.Message, perCall)
		for pb.Next() {
			n := seq.Add(1)
			for i := range msgs {
				u := (int(n)*7 + i) % 5000
				msgs[i] = tracking.Message{
					Type: tracking.Track, MessageID: fmt.Sprintf("m-%d-%d", n, i), Name: "Product Viewed",
					UserID: fmt.Sprintf("user-%d", u), AnonymousID: fmt.Sprintf("anon-%d", u), Timestamp: at,
					Properties: map[string]any{"sku": fmt.Sprintf("SKU-%d", i), "price": 980.0, "currency": "JPY"},
					Context:    map[string]any{"library": map[string]any{"name": "bench", "version": "1.0"}},
				}
			}
			res, err := in.Ingest(ctx, "ws_bench", msgs)
			if err != nil {
				b.Error(err)
				return
			}
			if res.Accepted != perCall {
				b.Errorf("accepted %d of %d", res.Accepted, perCall)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*perCall)/b.Elapsed().Seconds(), "events/s")
}
