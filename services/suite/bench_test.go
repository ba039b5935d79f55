package suite_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/platform/auth"
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

// BenchmarkBatchRESTParallel is the shape of the shared wrk batch script
// (shared/bench/batch.lua): 32 concurrent clients posting 100 track events
// per request over 5,000 users, each with a user id and an anonymous id.
// One op is one request; with group commit the concurrent requests share
// transactions.
func BenchmarkBatchRESTParallel(b *testing.B) {
	a := startSuite(b, suite.Config{DataDir: b.TempDir()})
	const perBatch = 100
	url := "http://" + a.HTTP + "/v1/batch"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var seq atomic.Int64
	b.SetParallelism(16) // 32 clients on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var sb strings.Builder
		for pb.Next() {
			n := int(seq.Add(1))
			sb.Reset()
			sb.WriteString(`{"batch":[`)
			for i := range perBatch {
				if i > 0 {
					sb.WriteByte(',')
				}
				u := (n*7 + i) % 5000
				fmt.Fprintf(&sb, `{"type":"track","event":"Product Viewed","userId":"user-%d","anonymousId":"anon-%d","messageId":"p-%d-%d","properties":{"sku":"SKU-%d","price":980,"currency":"JPY"},"context":{"library":{"name":"bench","version":"1.0"}},"timestamp":"2026-11-23T00:00:00.000Z"}`, u, u, n, i, i)
			}
			sb.WriteString(`]}`)
			req, _ := http.NewRequest("POST", url, strings.NewReader(sb.String()))
			req.SetBasicAuth(devKey, "")
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*perBatch)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkBatchGRPCParallel is BenchmarkBatchRESTParallel over gRPC
// (TrackingService.Batch on the ingestion address, the write key as
// Bearer): 32 concurrent callers, 100 track events per call. It reports
// the events the responses say were stored (accepted), which must be all
// of them.
func BenchmarkBatchGRPCParallel(b *testing.B) {
	a := startSuite(b, suite.Config{DataDir: b.TempDir()})
	conn, err := grpc.NewClient(a.Ingestion, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	client := ingestionv1.NewTrackingServiceClient(conn)
	ctx := auth.WithBearer(context.Background(), devKey)
	const perBatch = 100
	var seq, accepted atomic.Int64
	b.SetParallelism(16) // 32 callers on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := int(seq.Add(1))
			req := &ingestionv1.BatchRequest{Batch: make([]*ingestionv1.BatchMessage, perBatch)}
			for i := range perBatch {
				u := (n*7 + i) % 5000
				props, _ := structpb.NewStruct(map[string]any{"sku": fmt.Sprintf("SKU-%d", i), "price": 980, "currency": "JPY"})
				lib, _ := structpb.NewStruct(map[string]any{"library": map[string]any{"name": "bench", "version": "1.0"}})
				req.Batch[i] = &ingestionv1.BatchMessage{Type: "track", Event: "Product Viewed",
					UserId: fmt.Sprintf("user-%d", u), AnonymousId: fmt.Sprintf("anon-%d", u), MessageId: fmt.Sprintf("g-%d-%d", n, i),
					Properties: props, Context: lib, Timestamp: "2026-11-23T00:00:00.000Z"}
			}
			resp, err := client.Batch(ctx, req)
			if err != nil {
				b.Error(err)
				return
			}
			accepted.Add(int64(resp.GetAccepted()))
		}
	})
	b.StopTimer()
	if got, want := accepted.Load(), int64(b.N*perBatch); got != want {
		b.Errorf("%d events accepted, want all %d", got, want)
	}
	b.ReportMetric(float64(b.N*perBatch)/b.Elapsed().Seconds(), "events/s")
}
