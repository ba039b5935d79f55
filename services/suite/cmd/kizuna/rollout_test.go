package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/platform/bus/bustest"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/platform/testenv"
)

// TestRollingRestartEachService restarts, one replica at a time as a
// Kubernetes rolling update does (SIGTERM, then a new process), two
// gateway replicas and two replicas of segmentation, metrics and campaign,
// each its own process against one PostgreSQL and one NATS JetStream, while
// clients post events through the gateways without pause. No request may
// fail, and the effects must be exactly those of the events sent: every
// order counted once, every buyer in the segment, every welcome message
// sent once. (Ingestion's replicas are restarted the same way in
// services/suite's TestRollingRestartIngestion.)
func TestRollingRestartEachService(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts several processes")
	}
	pg, natsURL := testenv.URL(t, sqldbtest.PostgresURLVar), testenv.URL(t, bustest.NATSURLVar)
	bin := build(t)
	id := randomHex(t, 4)
	schemaPrefix, busPrefix := "rollall_"+id+"_", "rollall"+id
	t.Cleanup(func() { dropDeployment(t, pg, schemaPrefix, natsURL, busPrefix) })
	const key = "kz_rollout_test_key"
	env := []string{"KIZUNA_DATABASE_URL=" + pg, "KIZUNA_DATABASE_SCHEMA_PREFIX=" + schemaPrefix, "KIZUNA_NATS_URL=" + natsURL,
		"KIZUNA_BUS_PREFIX=" + busPrefix, "KIZUNA_SERVICE_SECRET=" + randomHex(t, 32), "KIZUNA_SECRET_KEY=" + randomHex(t, 32),
		"KIZUNA_DEV_API_KEY=" + key, "KIZUNA_LOG_LEVEL=error", "KIZUNA_LEASE_TTL=2s"}

	ingAddr := freeAddr(t)
	type backend struct{ seg, met, cmp string }
	backends := []backend{{freeAddr(t), freeAddr(t), freeAddr(t)}, {freeAddr(t), freeAddr(t), freeAddr(t)}}
	startBackend := func(b backend) *process {
		return start(t, bin, env, "-services=segmentation,metrics,campaign", "-ingestion-target", ingAddr,
			"-segmentation-addr", b.seg, "-metrics-addr", b.met, "-campaign-addr", b.cmp)
	}
	gateways := []string{freeAddr(t), freeAddr(t)}
	startGateway := func(addr string) *process {
		return start(t, bin, env, "-services=gateway", "-http-addr", addr, "-ingestion-target", ingAddr,
			"-segmentation-target", backends[0].seg, "-metrics-target", backends[0].met, "-campaign-target", backends[0].cmp)
	}
	start(t, bin, env, "-services=ingestion", "-ingestion-addr", ingAddr)
	procs := map[string]*process{}
	for i, b := range backends {
		procs[fmt.Sprint("backend", i)] = startBackend(b)
	}
	for i, addr := range gateways {
		procs[fmt.Sprint("gateway", i)] = startGateway(addr)
	}
	c := &restClient{t: t, base: "http://" + gateways[0], key: key}
	within(t, 30*time.Second, "gateway ready", func() bool { return c.status("GET", "/readyz") == 200 })
	var seg struct{ Segment struct{ SegmentID string } }
	c.call("POST", "/v1/segments", `{"displayName":"Buyers","rule":{"all":[{"event":{"event":"Order Completed","minCount":1,"withinDays":30}}]}}`, &seg)
	welcome := newCounter(t)
	var ch struct{ Channel struct{ ChannelID string } }
	c.call("POST", "/v1/channels", fmt.Sprintf(`{"displayName":"Hook","webhook":{"url":%q}}`, welcome.URL), &ch)
	var j struct{ Journey struct{ JourneyID string } }
	c.call("POST", "/v1/journeys", fmt.Sprintf(`{"displayName":"Welcome","entry":{"event":{"event":"Signed Up"}},"reentry":"REENTRY_NEVER",
		"steps":[{"id":"hook","send":{"channelId":%q,"text":"welcome"}}]}`, ch.Channel.ChannelID), &j)
	c.call("POST", "/v1/journeys/"+j.Journey.JourneyID+":activate", "{}", nil)

	// The load balancer: requests go round-robin to the gateways in
	// rotation; a gateway leaves it before its SIGTERM (its /readyz turns
	// 503 and the pre-stop pause lets the balancer notice) and comes back
	// once the new process is ready. Requests already sent to it must
	// still be answered.
	var (
		lbMu     sync.Mutex
		inLB     = map[string]bool{gateways[0]: true, gateways[1]: true}
		next     atomic.Int64
		failures []string
		done     = make(chan struct{})
		load     sync.WaitGroup
		sent     atomic.Int64 // customers, each one sign-up and one order
	)
	pick := func() string {
		lbMu.Lock()
		defer lbMu.Unlock()
		var live []string
		for _, g := range gateways {
			if inLB[g] {
				live = append(live, g)
			}
		}
		return live[int(next.Add(1))%len(live)]
	}
	setLB := func(addr string, in bool) {
		lbMu.Lock()
		defer lbMu.Unlock()
		inLB[addr] = in
	}
	const revenue = 100
	for w := range 4 {
		load.Go(func() {
			for seq := 0; ; seq++ {
				select {
				case <-done:
					return
				default:
				}
				u := fmt.Sprintf("c-%d-%d", w, seq)
				body := fmt.Sprintf(`{"batch":[{"type":"track","messageId":"su-%s","userId":%q,"event":"Signed Up"},
					{"type":"track","messageId":"oc-%s","userId":%q,"event":"Order Completed","properties":{"order_id":"O-%s","revenue":%d}}]}`, u, u, u, u, u, revenue)
				req, _ := http.NewRequest("POST", "http://"+pick()+"/v1/batch", strings.NewReader(body))
				req.SetBasicAuth(key, "")
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("%d %s", resp.StatusCode, b)
					}
				}
				if err != nil {
					lbMu.Lock()
					failures = append(failures, err.Error())
					lbMu.Unlock()
					continue
				}
				sent.Add(1)
			}
		})
	}

	began := time.Now()
	pause := func() { time.Sleep(700 * time.Millisecond) }
	const preStop = 500 * time.Millisecond
	for i, addr := range gateways {
		pause()
		setLB(addr, false)
		time.Sleep(preStop) // as the chart's preStop hook: requests already routed to it arrive before SIGTERM
		procs[fmt.Sprint("gateway", i)].stop()
		procs[fmt.Sprint("gateway", i)] = startGateway(addr)
		within(t, 30*time.Second, "restarted gateway ready", func() bool {
			return (&restClient{t: t, base: "http://" + addr}).status("GET", "/readyz") == 200
		})
		setLB(addr, true)
	}
	for i, b := range backends {
		pause()
		procs[fmt.Sprint("backend", i)].stop()
		procs[fmt.Sprint("backend", i)] = startBackend(b)
	}
	pause()
	close(done)
	load.Wait()
	restarted := time.Since(began)

	if len(failures) > 0 {
		t.Fatalf("%d requests failed during the rollout, e.g. %s", len(failures), failures[0])
	}
	n := sent.Load()
	if n < 50 {
		t.Fatalf("only %d customers sent: the load did not run", n)
	}
	var m struct {
		Value      float64
		OrderCount string
	}
	within(t, 60*time.Second, "every order counted", func() bool {
		c.call("POST", "/v1/metrics:compute", `{"kpi":"revenue"}`, &m)
		return m.OrderCount == fmt.Sprint(n)
	})
	within(t, 60*time.Second, "every welcome sent", func() bool { return welcome.customers() == int(n) })
	settled := time.Since(began) - restarted
	time.Sleep(time.Second) // late duplicates, if any, arrive now
	c.call("POST", "/v1/metrics:compute", `{"kpi":"revenue"}`, &m)
	if m.OrderCount != fmt.Sprint(n) || m.Value != float64(revenue*n) {
		t.Errorf("revenue %v over %s orders, want %d over %d (each once)", m.Value, m.OrderCount, revenue*n, n)
	}
	if dup := welcome.duplicates(); len(dup) != 0 || welcome.customers() != int(n) {
		t.Errorf("welcome sent to %d customers, twice to %v; want %d, each once", welcome.customers(), dup, n)
	}
	var size struct{ Segment struct{ Size string } }
	c.call("GET", "/v1/segments/"+seg.Segment.SegmentID, "", &size)
	if size.Segment.Size != fmt.Sprint(n) {
		t.Errorf("segment size %s, want %d", size.Segment.Size, n)
	}
	t.Logf("%d customers (%d events) through a rolling restart of 2 gateways and 2 segmentation+metrics+campaign replicas in %v, none failed; every effect in place %v later",
		n, 2*n, restarted.Round(100*time.Millisecond), settled.Round(100*time.Millisecond))
}
