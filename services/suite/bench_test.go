package suite_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/suite"
)

// BenchmarkBatchREST measures events accepted per second through
// POST /v1/batch on the embedded defaults (SQLite + in-process NATS), with
// the outbox relayed to the bus as in production. Each batch holds 500
// track events from 50 customers.
func BenchmarkBatchREST(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan suite.Addrs, 1)
	done := make(chan error, 1)
	cfg := suite.Config{DataDir: b.TempDir(), HTTPAddr: "127.0.0.1:0", IngestionAddr: "127.0.0.1:0", SegmentationAddr: "127.0.0.1:0",
		MetricsAddr: "127.0.0.1:0", CampaignAddr: "127.0.0.1:0", DevAPIKey: devKey, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	go func() { done <- suite.Run(ctx, cfg, func(a suite.Addrs, _ string) { addrs <- a }) }()
	defer func() { cancel(); <-done }()
	var a suite.Addrs
	select {
	case a = <-addrs:
	case err := <-done:
		b.Fatal(err)
	case <-time.After(30 * time.Second):
		b.Fatal("suite did not start")
	}
	const perBatch = 500
	url := "http://" + a.HTTP + "/v1/batch"
	b.ResetTimer()
	for i := range b.N {
		var sb strings.Builder
		sb.WriteString(`{"batch":[`)
		for j := range perBatch {
			if j > 0 {
				sb.WriteByte(',')
			}
			fmt.Fprintf(&sb, `{"type":"track","messageId":"b%d-%d","userId":"u%d","event":"Product Viewed","properties":{"sku":"SKU-%d","price":1200}}`, i, j, j%50, j)
		}
		sb.WriteString(`]}`)
		req, _ := http.NewRequest("POST", url, strings.NewReader(sb.String()))
		req.SetBasicAuth(devKey, "")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.ReportMetric(float64(b.N*perBatch)/b.Elapsed().Seconds(), "events/s")
}
