package suite_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/platform/bus/bustest"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/platform/testenv"
	"github.com/kizuna/kizuna/services/suite"
)

// BenchmarkMembershipLatencyREST measures how soon an event changes a
// segment membership, end to end through the REST gateway, while other
// events arrive at a sustained rate: a load generator posts
// KIZUNA_BENCH_RATE events/s (5,000 by default) as /v1/batch calls of 100
// product views from 10,000 customers; every 50 ms a probe posts one
// "Probe" track event for a new customer to /v1/track, and the probe
// segment (`Probe` at least once) must gain that customer. The latency of
// a probe is from its /v1/track call being acknowledged to the join time
// segmentation stamps on the membership (read back over
// /v1/segments/{id}/members at the end; the same process's clock), and
// (visible-*) to when a watcher polling that list every 20 ms first saw
// the member: the join time is taken before evaluation and commit, so it
// reads low, and the poll adds up to 20 ms, so visible-* reads high. The
// workspace also has segments reading product views with a property
// filter, orders and lifecycle stages, and its 18 built-ins, so each
// event is evaluated against 22 segments. The run lasts
// KIZUNA_BENCH_SECONDS (20 by default); use -benchtime 1x. With
// KIZUNA_BENCH_BACKEND=postgres it runs on PostgreSQL and NATS JetStream
// (KIZUNA_TEST_POSTGRES_URL, KIZUNA_TEST_NATS_URL).
func BenchmarkMembershipLatencyREST(b *testing.B) {
	rate := benchEnvInt("KIZUNA_BENCH_RATE", 5000)
	seconds := benchEnvInt("KIZUNA_BENCH_SECONDS", 20)
	cfg := suite.Config{DataDir: b.TempDir()}
	if os.Getenv("KIZUNA_BENCH_BACKEND") == "postgres" {
		id := randomID(b)
		cfg.DatabaseURL, cfg.NATSURL = testenv.URL(b, sqldbtest.PostgresURLVar), testenv.URL(b, bustest.NATSURLVar)
		cfg.SchemaPrefix, cfg.BusPrefix = "lat_"+id+"_", "lat"+id
		b.Cleanup(func() { dropExternal(b, cfg) })
	}
	a := startSuite(b, cfg)
	base := "http://" + a.HTTP
	for _, rule := range []string{
		`{"event":{"event":"Viewed Product","minCount":3,"withinDays":30,"where":[{"property":"category","op":"EQUALS","value":"A"}]}}`,
		`{"all":[{"event":{"event":"Order Completed","minCount":1}},{"not":{"event":{"event":"Order Completed","withinDays":90}}}]}`,
		`{"lifecycle":{"stages":["LIFECYCLE_STAGE_F2"]}}`,
	} {
		benchPost(b, base, "/v1/segments", `{"displayName":"load","rule":`+rule+`}`, nil)
	}
	var probe struct{ Segment struct{ SegmentID string } }
	benchPost(b, base, "/v1/segments", `{"displayName":"probe","rule":{"event":{"event":"Probe","minCount":1}}}`, &probe)

	for range b.N {
		run := fmt.Sprint(time.Now().UnixNano())
		var sent atomic.Int64
		stop := make(chan struct{})
		var load sync.WaitGroup
		load.Add(1)
		go func() { // the sustained load, in batches of 100, up to 8 calls in flight
			defer load.Done()
			const perBatch = 100
			tick := time.NewTicker(time.Second * perBatch / time.Duration(rate))
			defer tick.Stop()
			inflight := make(chan struct{}, 8)
			var calls sync.WaitGroup
			defer calls.Wait()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				select {
				case inflight <- struct{}{}:
				default:
					continue // the gateway is behind: this batch is not sent (the achieved rate is reported)
				}
				calls.Add(1)
				go func(i int) {
					defer func() { <-inflight; calls.Done() }()
					var sb strings.Builder
					sb.WriteString(`{"batch":[`)
					for j := range perBatch {
						if j > 0 {
							sb.WriteByte(',')
						}
						fmt.Fprintf(&sb, `{"type":"track","messageId":"l%s-%d-%d","userId":"load-%d","event":"Viewed Product","properties":{"category":%q,"revenue":1200}}`,
							run, i, j, (i*perBatch+j)%10000, []string{"A", "B", "C"}[j%3])
					}
					sb.WriteString(`]}`)
					if code, _ := benchDo("POST", base+"/v1/batch", sb.String()); code == 200 {
						sent.Add(perBatch)
					}
				}(i)
			}
		}()

		// The join time is stamped before evaluation and the membership's
		// commit, so the watcher also records when each member is first
		// seen through REST (polled every 20 ms).
		seen := map[string]time.Time{} // customer id → first seen
		var seenMu sync.Mutex
		unwatch := make(chan struct{})
		var watch sync.WaitGroup
		watch.Go(func() {
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-unwatch:
					return
				case <-tick.C:
				}
				code, resp := benchDo("GET", base+"/v1/segments/"+probe.Segment.SegmentID+"/members?pageSize=10000", "")
				now := time.Now()
				var m struct{ Members []struct{ CustomerID string } }
				if code != 200 || json.Unmarshal(resp, &m) != nil {
					continue
				}
				seenMu.Lock()
				for _, x := range m.Members {
					if _, ok := seen[x.CustomerID]; !ok {
						seen[x.CustomerID] = now
					}
				}
				seenMu.Unlock()
			}
		})
		stopWatch := sync.OnceFunc(func() { close(unwatch); watch.Wait() })
		b.Cleanup(stopWatch) // also when the run fails

		acked := map[string]time.Time{}
		started := time.Now()
		probeTick := time.NewTicker(50 * time.Millisecond)
		for n := 0; time.Since(started) < time.Duration(seconds)*time.Second; n++ {
			<-probeTick.C
			user := fmt.Sprintf("probe-%s-%d", run, n)
			code, body := benchDo("POST", base+"/v1/track", fmt.Sprintf(`{"messageId":"p%s-%d","userId":%q,"event":"Probe"}`, run, n, user))
			if code != 200 {
				b.Fatalf("probe: status %d: %s", code, body)
			}
			acked[user] = time.Now()
		}
		probeTick.Stop()
		elapsed := time.Since(started)
		close(stop)
		load.Wait()
		b.ReportMetric(float64(sent.Load())/elapsed.Seconds(), "load-events/s")

		// Every probe must join; then their latencies are read back.
		ids := map[string]string{} // customer id → user id
		for user := range acked {
			var p struct{ Customer struct{ CustomerID string } }
			benchGet(b, base, "/v1/customers:lookup?user_id="+user, &p)
			ids[p.Customer.CustomerID] = user
		}
		var lat []time.Duration
		deadline := time.Now().Add(2 * time.Minute)
		for {
			var m struct {
				Members []struct {
					CustomerID string
					JoinTime   time.Time
				}
			}
			benchGet(b, base, "/v1/segments/"+probe.Segment.SegmentID+"/members?pageSize=10000", &m)
			lat = lat[:0]
			for _, x := range m.Members {
				if user, ok := ids[x.CustomerID]; ok {
					lat = append(lat, x.JoinTime.Sub(acked[user]))
				}
			}
			if len(lat) == len(acked) {
				logSlowestProbes(b, m.Members, ids, acked, started)
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d probes joined within 2 minutes of the run", len(lat), len(acked))
			}
			time.Sleep(200 * time.Millisecond)
		}
		var visible []time.Duration
		for len(visible) < len(acked) {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d probes seen by the watcher within 2 minutes of the run", len(visible), len(acked))
			}
			time.Sleep(50 * time.Millisecond)
			visible = visible[:0]
			seenMu.Lock()
			for id, user := range ids {
				if t, ok := seen[id]; ok {
					visible = append(visible, t.Sub(acked[user]))
				}
			}
			seenMu.Unlock()
		}
		stopWatch()
		slices.Sort(lat)
		slices.Sort(visible)
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		b.ReportMetric(ms(lat[len(lat)/2]), "p50-ms")
		b.ReportMetric(ms(lat[len(lat)*99/100]), "p99-ms")
		b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
		b.ReportMetric(ms(visible[len(visible)/2]), "visible-p50-ms")
		b.ReportMetric(ms(visible[len(visible)*99/100]), "visible-p99-ms")
		b.ReportMetric(float64(len(lat)), "probes")
	}
}

// logSlowestProbes logs the slowest probes with when each was acknowledged
// into the run, so a p99 can be told apart as stalls (several probes in a
// row, one cause) or scattered delays.
func logSlowestProbes(b *testing.B, members []struct {
	CustomerID string
	JoinTime   time.Time
}, ids map[string]string, acked map[string]time.Time, started time.Time) {
	type probe struct{ at, lat time.Duration }
	var ps []probe
	for _, x := range members {
		if user, ok := ids[x.CustomerID]; ok {
			ps = append(ps, probe{acked[user].Sub(started), x.JoinTime.Sub(acked[user])})
		}
	}
	slices.SortFunc(ps, func(a, b probe) int { return int(b.lat - a.lat) })
	for _, p := range ps[:min(len(ps), 10)] {
		b.Logf("slow probe: acked at %6.2f s, joined after %6.1f ms", p.at.Seconds(), float64(p.lat.Microseconds())/1000)
	}
}

func benchEnvInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func benchDo(method, url, body string) (int, []byte) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, []byte(err.Error())
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+devKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, out
}

func benchPost(b *testing.B, base, path, body string, out any) {
	b.Helper()
	code, resp := benchDo("POST", base+path, body)
	if code != 200 {
		b.Fatalf("POST %s: status %d: %s", path, code, resp)
	}
	if out != nil {
		if err := json.NewDecoder(bytes.NewReader(resp)).Decode(out); err != nil {
			b.Fatalf("POST %s: %v", path, err)
		}
	}
}

func benchGet(b *testing.B, base, path string, out any) {
	b.Helper()
	code, resp := benchDo("GET", base+path, "")
	if code != 200 {
		b.Fatalf("GET %s: status %d: %s", path, code, resp)
	}
	if err := json.Unmarshal(resp, out); err != nil {
		b.Fatalf("GET %s: %v", path, err)
	}
}
