package tracking

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
)

// benchBatchJSON is a batch of n track events shaped like those of the
// shared wrk script (shared/bench/batch.lua).
func benchBatchJSON(n int) string {
	ev := make([]string, n)
	for i := range ev {
		ev[i] = fmt.Sprintf(`{"type":"track","event":"Product Viewed","userId":"user-%d","anonymousId":"anon-%d","messageId":"p-t-1-%d","properties":{"sku":"SKU-%d","price":980,"currency":"JPY"},"context":{"library":{"name":"wrk-bench","version":"1.0"}},"timestamp":"2026-11-23T00:00:00.000Z"}`, i, i, i, i)
	}
	return `{"batch":[` + strings.Join(ev, ",") + `]}`
}

// BenchmarkParseBatch validates a 100-message batch as the Batch handler
// receives it: decoded from the wire, so its structs are fresh each op.
func BenchmarkParseBatch(b *testing.B) {
	wire, err := proto.Marshal(batch(b, benchBatchJSON(100)))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var req ingestionv1.BatchRequest
		if err := proto.Unmarshal(wire, &req); err != nil {
			b.Fatal(err)
		}
		if _, err := ParseBatch(&req, now); err != nil {
			b.Fatal(err)
		}
	}
}
