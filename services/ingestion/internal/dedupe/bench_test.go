package dedupe_test

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/dedupe"
	"github.com/kizuna/kizuna/services/ingestion/internal/ingest"
	"github.com/kizuna/kizuna/services/ingestion/internal/match/matchtest"
	"github.com/kizuna/kizuna/services/ingestion/internal/store"
	"github.com/kizuna/kizuna/services/ingestion/internal/tracking"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// BenchmarkScan times a duplicate scan through the service (load from
// SQLite, normalise, match, store suggestions) over generated customers sent
// as identify calls; strong identifiers have already been merged by identity
// resolution on the way in, as in production. Loading the data is not
// timed.
func BenchmarkScan(b *testing.B) {
	for _, n := range []int{20_000, 100_000} {
		b.Run(strconv.Itoa(n/1000)+"k", func(b *testing.B) { benchmarkScan(b, n) })
	}
}

func benchmarkScan(b *testing.B, n int) {
	ctx := context.Background()
	st, err := store.Open(ctx, sqldbtest.SQLite(b))
	if err != nil {
		b.Fatal(err)
	}
	in := ingest.New(store.For[ingest.Tx](st), time.Now, nil)
	rows := matchtest.Generate(7, n)
	for start := 0; start < len(rows); start += 500 {
		var msgs []tracking.Message
		for _, r := range rows[start:min(start+500, len(rows))] {
			msgs = append(msgs, tracking.Message{
				Type: tracking.Identify, MessageID: "m-" + r.ID, AnonymousID: "a-" + r.ID, Timestamp: time.Now(),
				Traits: map[string]any{"name": r.Name, "name_kana": r.NameKana, "email": r.Email, "phone": r.Phone,
					"company": r.Company, "postal_code": r.PostalCode, "address": r.Address},
			})
		}
		if _, err := in.Ingest(ctx, "ws", msgs); err != nil {
			b.Fatal(err)
		}
	}
	dd := dedupe.New(store.For[dedupe.Tx](st), time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)), func() {})
	b.Cleanup(dd.Close)
	b.ResetTimer()
	for b.Loop() {
		sc, err := dd.StartScan(ctx, "ws", false)
		if err != nil {
			b.Fatal(err)
		}
		for sc.State == dedupe.ScanRunning {
			time.Sleep(5 * time.Millisecond)
			if sc, err = dd.Scan(ctx, "ws", sc.ID); err != nil {
				b.Fatal(err)
			}
		}
		if sc.State != dedupe.ScanSucceeded {
			b.Fatalf("scan = %+v", sc)
		}
		b.ReportMetric(float64(sc.CustomersScanned), "customers")
		b.ReportMetric(float64(sc.PairsCompared), "pairs")
	}
}
