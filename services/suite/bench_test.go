package suite_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/kizuna/kizuna/services/platform/telemetry"
	"github.com/kizuna/kizuna/services/suite"
)

// BenchmarkBatchREST measures events accepted per second through
// POST /v1/batch on the embedded defaults (SQLite + in-process NATS), with
// the outbox relayed to the bus as in production. Each batch holds 500
// track events from 50 customers.
func BenchmarkBatchREST(b *testing.B) {
	benchmarkBatchREST(b)
}

// BenchmarkBatchRESTWithMetrics is BenchmarkBatchREST with the meter
// provider the binaries install (Prometheus exporter), so every RPC, HTTP
// request, bus message and counter is recorded: the cost of /metrics. It
// runs after BenchmarkBatchREST, since the provider stays installed.
func BenchmarkBatchRESTWithMetrics(b *testing.B) {
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{ServiceName: "kizuna-bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	benchmarkBatchREST(b)
}

func benchmarkBatchREST(b *testing.B) {
	a := startSuite(b, suite.Config{DataDir: b.TempDir()})
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
