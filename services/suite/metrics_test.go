package suite_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kizuna/kizuna/services/platform/bus/bustest"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/platform/telemetry"
	"github.com/kizuna/kizuna/services/platform/testenv"
	"github.com/kizuna/kizuna/services/suite"
)

// TestMetricsEndpoint scrapes /metrics around a few requests and checks the
// counters move by exactly what was sent: events by outcome, merges, RED
// per route, the bus. Deltas, since the meter provider is process-wide.
func TestMetricsEndpoint(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		scrapeDuringRequests(t, suite.Config{DataDir: t.TempDir()}, "KIZUNA")
	})
	t.Run("postgres+nats", func(t *testing.T) {
		pg, nats := testenv.URL(t, sqldbtest.PostgresURLVar), testenv.URL(t, bustest.NATSURLVar)
		id := randomID(t)
		cfg := suite.Config{DataDir: t.TempDir(), DatabaseURL: pg, SchemaPrefix: "metrics_" + id + "_", NATSURL: nats, BusPrefix: "met" + id}
		t.Cleanup(func() { dropExternal(t, cfg) })
		scrapeDuringRequests(t, cfg, strings.ToUpper(cfg.BusPrefix))
	})
}

func scrapeDuringRequests(t *testing.T, cfg suite.Config, streamPrefix string) {
	tel, err := telemetry.Setup(context.Background(), telemetry.Options{ServiceName: "kizuna-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	cfg.MetricsHandler = tel.MetricsHandler()
	a := startSuite(t, cfg)
	c := &client{t: t, base: "http://" + a.HTTP}
	scrape := func() []byte {
		code, body := c.do("GET", "/metrics", "", nil)
		if code != 200 {
			t.Fatalf("GET /metrics = %d", code)
		}
		return body
	}
	before := scrape()

	// An anonymous visitor and a signed-in user, then an identify naming
	// both: three events, one merge. Sent twice (three duplicates), then a
	// batch of two that is invalid as a whole.
	batch := `{"batch":[
		{"type":"page","messageId":"mx-1","anonymousId":"anon-mx","name":"Pricing"},
		{"type":"track","messageId":"mx-2","userId":"user-mx","event":"Order Completed","properties":{"revenue":100}},
		{"type":"identify","messageId":"mx-3","anonymousId":"anon-mx","userId":"user-mx"}]}`
	var br struct{ Accepted, Duplicates int }
	c.segment("/v1/batch", batch, &br)
	c.segment("/v1/batch", batch, &br)
	if code := c.status("POST", "/v1/batch", `{"batch":[{"type":"purchase","userId":"u"},{"type":"page","userId":"u","messageId":"mx-never"}]}`, basic); code != 400 {
		t.Errorf("invalid batch: status %d, want 400", code)
	}

	tests := []struct {
		what   string
		metric string
		labels []string
		want   float64
	}{
		{"accepted", `kizuna_ingestion_events_total{`, []string{`outcome="accepted"`}, 3},
		{"duplicates", `kizuna_ingestion_events_total{`, []string{`outcome="duplicate"`}, 3},
		{"rejected", `kizuna_ingestion_events_total{`, []string{`outcome="rejected"`}, 2},
		{"merges by resolution", `kizuna_ingestion_merges_total{`, []string{`source="resolution"`}, 1},
		{"REST requests to /v1/batch", `http_server_request_duration_seconds_count{`, []string{`http_route="/v1/batch"`}, 3},
		{"REST 400s", `http_server_request_duration_seconds_count{`, []string{`http_route="/v1/batch"`, `http_response_status_code="400"`}, 1},
		{"Batch RPCs", `rpc_server_call_duration_seconds_count{`, []string{`rpc_method="kizuna.ingestion.v1.TrackingService/Batch"`}, 3},
	}
	after := scrape()
	for _, tt := range tests {
		if got := sum(after, tt.metric, tt.labels) - sum(before, tt.metric, tt.labels); got != tt.want {
			t.Errorf("%s: %s%v grew by %v, want %v", tt.what, tt.metric, tt.labels, got, tt.want)
		}
	}

	// The relay publishes the three events, and segmentation's consumer
	// takes them, asynchronously.
	published := []string{`stream="` + streamPrefix + `_EVENTS"`, `outcome="ok"`}
	eventually(t, "events published and consumed", func() bool {
		now := scrape()
		consumed := func(consumer string) bool {
			labels := []string{`stream="` + streamPrefix + `_EVENTS"`, `consumer="` + consumer + `"`, `outcome="ack"`}
			return sum(now, `kizuna_bus_messages_processed_total{`, labels)-sum(before, `kizuna_bus_messages_processed_total{`, labels) >= 3
		}
		return sum(now, `kizuna_bus_messages_published_total{`, published)-sum(before, `kizuna_bus_messages_published_total{`, published) >= 3 &&
			consumed("segmentation") && consumed("metrics")
	})
	for _, m := range []string{`kizuna_db_pool_max_open{`, `kizuna_outbox_backlog{`} {
		if !bytes.Contains(after, []byte(m)) {
			t.Errorf("/metrics lacks %s…}", m)
		}
	}

	// Every metric the dashboard and the alerts query is served.
	var scan struct{ Scan struct{ ScanID string } }
	c.call("POST", "/v1/customers:findDuplicates", `{}`, bearer, &scan)
	served := scrape()
	for _, file := range []string{"../../deploy/grafana/kizuna.json", "../../deploy/prometheus/alerts.yaml"} {
		for _, name := range queriedMetrics(t, file) {
			if !bytes.Contains(served, []byte("\n"+name+"{")) && !bytes.Contains(served, []byte("\n"+name+" ")) && !notServedHere[name] {
				t.Errorf("%s queries %s, which /metrics does not serve", file, name)
			}
		}
	}

	underLoad(t, c, scrape, streamPrefix)
}

// underLoad sends a load of tracked events through the gateway — clients
// in parallel, then part of it again — and checks that the counters an
// on-call reads add up to exactly what was sent: events accepted and
// deduplicated, published to the events stream, consumed by segmentation
// and metrics, customers evaluated and memberships entered.
func underLoad(t *testing.T, c *client, scrape func() []byte, streamPrefix string) {
	const customers, batchSize, clients, resent = 400, 25, 8, 4 // resent: batches sent twice
	var seg struct{ Segment struct{ SegmentID string } }
	c.call("POST", "/v1/segments", `{"displayName":"Load buyers","rule":{"all":[{"event":{"event":"Load Order","minCount":1,"withinDays":30}}]}}`, nil, &seg)
	var batches []string
	for lo := 0; lo < customers; lo += batchSize {
		var msgs []string
		for i := lo; i < lo+batchSize; i++ {
			msgs = append(msgs, fmt.Sprintf(`{"type":"track","messageId":"load-%d","userId":"load-user-%d","event":"Load Order","properties":{"sku":"S-%d"}}`, i, i, i%7))
		}
		batches = append(batches, `{"batch":[`+strings.Join(msgs, ",")+`]}`)
	}
	before := scrape()
	post := func(body string) (accepted, duplicates int, err error) {
		req, _ := http.NewRequest("POST", c.base+"/v1/batch", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", basic["Authorization"])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, 0, err
		}
		defer resp.Body.Close()
		var br struct{ Accepted, Duplicates int }
		if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || json.Unmarshal(b, &br) != nil {
			return 0, 0, fmt.Errorf("POST /v1/batch: %d %s", resp.StatusCode, b)
		}
		return br.Accepted, br.Duplicates, nil
	}
	var accepted, duplicates atomic.Int64
	send := func(batches []string) {
		work := make(chan string)
		g, _ := errgroup.WithContext(context.Background())
		for range clients {
			g.Go(func() error {
				for body := range work {
					a, d, err := post(body)
					if err != nil {
						for range work { // let the feeder finish
						}
						return err
					}
					accepted.Add(int64(a))
					duplicates.Add(int64(d))
				}
				return nil
			})
		}
		for _, b := range batches {
			work <- b
		}
		close(work)
		if err := g.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	send(batches)
	send(batches[:resent])
	if accepted.Load() != customers || duplicates.Load() != resent*batchSize {
		t.Fatalf("answers: %d accepted, %d duplicates; want %d, %d", accepted.Load(), duplicates.Load(), customers, resent*batchSize)
	}

	grew := func(now []byte, metric string, labels ...string) float64 {
		return sum(now, metric+"{", labels) - sum(before, metric+"{", labels)
	}
	events := `stream="` + streamPrefix + `_EVENTS"`
	tests := []struct {
		what   string
		metric string
		labels []string
		want   float64
	}{
		{"events accepted", "kizuna_ingestion_events_total", []string{`outcome="accepted"`}, customers},
		{"events deduplicated", "kizuna_ingestion_events_total", []string{`outcome="duplicate"`}, resent * batchSize},
		{"events rejected", "kizuna_ingestion_events_total", []string{`outcome="rejected"`}, 0},
		{"REST 200s on /v1/batch", "http_server_request_duration_seconds_count", []string{`http_route="/v1/batch"`, `http_response_status_code="200"`}, float64(len(batches) + resent)},
		{"events published", "kizuna_bus_messages_published_total", []string{events, `outcome="ok"`}, customers},
		{"events consumed by segmentation", "kizuna_bus_messages_processed_total", []string{events, `consumer="segmentation"`, `outcome="ack"`}, customers},
		{"events consumed by metrics", "kizuna_bus_messages_processed_total", []string{events, `consumer="metrics"`, `outcome="ack"`}, customers},
	}
	// The relay and the consumers run behind the answers: wait until every
	// event went through, then for late extras.
	eventually(t, "the load published, consumed and evaluated", func() bool {
		now := scrape()
		return grew(now, "kizuna_bus_messages_processed_total", events, `consumer="segmentation"`, `outcome="ack"`) >= customers &&
			grew(now, "kizuna_bus_messages_processed_total", events, `consumer="metrics"`, `outcome="ack"`) >= customers &&
			c.segmentSize(seg.Segment.SegmentID) == fmt.Sprint(customers)
	})
	time.Sleep(500 * time.Millisecond)
	after := scrape()
	for _, tt := range tests {
		if got := grew(after, tt.metric, tt.labels...); got != tt.want {
			t.Errorf("%s: %s%v grew by %v, want %v", tt.what, tt.metric, tt.labels, got, tt.want)
		}
	}
	// Each load customer was evaluated and entered the segment; built-in
	// segments (lifecycle stages) may add evaluations and entries of their
	// own, never fewer.
	if got := grew(after, "kizuna_segmentation_evaluations_total", `trigger="event"`); got < customers {
		t.Errorf("customers evaluated after an event grew by %v, want at least %d", got, customers)
	}
	if got := grew(after, "kizuna_segmentation_membership_changes_total", `change="entered"`); got < customers {
		t.Errorf("memberships entered grew by %v, want at least %d", got, customers)
	}
	if got := grew(after, "kizuna_bus_messages_redelivered_total"); got != 0 {
		t.Errorf("%v redeliveries under load, want none", got)
	}
}

// notServedHere are metrics the dashboard or alerts use that this test
// cannot see: Prometheus' and kube-state-metrics' own, and counters that
// appear with the first redelivery or the first send (tested where they
// are made).
var notServedHere = map[string]bool{
	"up": true, "kube_deployment_status_replicas_available": true, "kube_deployment_spec_replicas": true,
	"kizuna_bus_messages_redelivered_total": true,
	// The first final send creates it; campaign's TestSendCounter checks it.
	"kizuna_campaign_sends_total": true,
}

// metricRE matches a metric name where a query uses it: before a label
// matcher or a range, or alone in an aggregation's parentheses.
var metricRE = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{\[]|\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\)`)

func queriedMetrics(t *testing.T, file string) []string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var names []string
	for _, m := range metricRE.FindAllSubmatchIndex(b, -1) {
		var name string
		switch {
		case m[2] >= 0:
			name = string(b[m[2]:m[3]])
		case bytes.HasSuffix(bytes.TrimRight(b[:m[0]], " "), []byte("by")):
			continue // "by (label)": a label, not a metric
		default:
			name = string(b[m[4]:m[5]])
		}
		// JSON and YAML keys before an object ("targets": [, labels: {)
		// are not metrics; metric names here all have an underscore.
		if !strings.Contains(name, "_") || strings.HasPrefix(name, "__") || seen[name] {
			continue
		}
		seen[name] = true
		names = append(names, name)
	}
	if len(names) < 5 {
		t.Fatalf("%s: found only %v", file, names)
	}
	return names
}

// sum adds the values of the samples whose line starts with prefix and
// contains every label.
func sum(exposition []byte, prefix string, labels []string) float64 {
	var total float64
	sc := bufio.NewScanner(bytes.NewReader(exposition))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(line, l)
		}
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
			total += v
		}
	}
	return total
}
