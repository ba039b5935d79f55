package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/bus/bustest"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/platform/testenv"
)

// TestReplicasExactlyOnce runs ingestion and the gateway in one process and
// two replicas of segmentation, metrics and campaign in two more (each its
// own `kizuna run --services=…` process), against one PostgreSQL and one
// NATS JetStream, and checks that a stream of events has exactly the
// effects one replica would give: every customer in the segment once, every
// order counted once, every journey message sent once — from an event entry
// and from a segment entry (the membership stream into campaign).
func TestReplicasExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and starts three processes")
	}
	pg, natsURL := testenv.URL(t, sqldbtest.PostgresURLVar), testenv.URL(t, bustest.NATSURLVar)
	bin := build(t)
	id := randomHex(t, 4)
	schemaPrefix, busPrefix := "rep_"+id+"_", "rep"+id
	t.Cleanup(func() { dropDeployment(t, pg, schemaPrefix, natsURL, busPrefix) })
	const key = "kz_replica_test_key"
	env := []string{"KIZUNA_DATABASE_URL=" + pg, "KIZUNA_DATABASE_SCHEMA_PREFIX=" + schemaPrefix, "KIZUNA_NATS_URL=" + natsURL,
		"KIZUNA_BUS_PREFIX=" + busPrefix, "KIZUNA_SERVICE_SECRET=" + randomHex(t, 32), "KIZUNA_SECRET_KEY=" + randomHex(t, 32),
		"KIZUNA_DEV_API_KEY=" + key, "KIZUNA_LOG_LEVEL=warn"}
	httpAddr, ingAddr := freeAddr(t), freeAddr(t)
	type replica struct{ seg, met, cmp string }
	reps := []replica{{freeAddr(t), freeAddr(t), freeAddr(t)}, {freeAddr(t), freeAddr(t), freeAddr(t)}}
	start(t, bin, env, "-services=ingestion,gateway", "-http-addr", httpAddr, "-ingestion-addr", ingAddr,
		"-segmentation-target", reps[0].seg, "-metrics-target", reps[0].met, "-campaign-target", reps[0].cmp)
	for _, r := range reps {
		start(t, bin, env, "-services=segmentation,metrics,campaign", "-ingestion-target", ingAddr,
			"-segmentation-addr", r.seg, "-metrics-addr", r.met, "-campaign-addr", r.cmp)
	}

	c := &restClient{t: t, base: "http://" + httpAddr, key: key}
	within(t, 60*time.Second, "gateway ready", func() bool { return c.status("GET", "/readyz") == 200 })
	var seg struct{ Segment struct{ SegmentID string } }
	c.call("POST", "/v1/segments", `{"displayName":"Buyers","rule":{"all":[{"event":{"event":"Order Completed","minCount":1,"withinDays":30}}]}}`, &seg)
	welcome, buyers := newCounter(t), newCounter(t)
	journey := func(name, entry string, sink *counter) {
		var ch struct{ Channel struct{ ChannelID string } }
		c.call("POST", "/v1/channels", fmt.Sprintf(`{"displayName":%q,"webhook":{"url":%q}}`, name, sink.URL), &ch)
		var j struct{ Journey struct{ JourneyID string } }
		c.call("POST", "/v1/journeys", fmt.Sprintf(`{"displayName":%q,"entry":%s,"reentry":"REENTRY_NEVER",
			"steps":[{"id":"hook","send":{"channelId":%q,"text":"{{ customer.traits.name }}"}}]}`, name, entry, ch.Channel.ChannelID), &j)
		c.call("POST", "/v1/journeys/"+j.Journey.JourneyID+":activate", "{}", nil)
	}
	journey("Welcome", `{"event":{"event":"Signed Up"}}`, welcome)
	journey("Thanks", fmt.Sprintf(`{"segmentEntered":{"segmentId":%q}}`, seg.Segment.SegmentID), buyers)

	// 120 customers: identify, sign up, one order each, in batches of 30
	// messages, concurrently.
	const n = 120
	var msgs []string
	wantRevenue := 0.0
	for i := range n {
		revenue := 100 + i
		wantRevenue += float64(revenue)
		msgs = append(msgs,
			fmt.Sprintf(`{"type":"identify","messageId":"r-id-%d","userId":"u%d","traits":{"name":"客%d"}}`, i, i, i),
			fmt.Sprintf(`{"type":"track","messageId":"r-su-%d","userId":"u%d","event":"Signed Up"}`, i, i),
			fmt.Sprintf(`{"type":"track","messageId":"r-oc-%d","userId":"u%d","event":"Order Completed","properties":{"order_id":"O-%d","revenue":%d}}`, i, i, i, revenue))
	}
	var wg sync.WaitGroup
	for start := 0; start < len(msgs); start += 30 {
		batch := msgs[start:min(start+30, len(msgs))]
		wg.Go(func() { c.track(`{"batch":[` + strings.Join(batch, ",") + `]}`) })
	}
	wg.Wait()

	var m struct {
		Value      float64
		OrderCount string
	}
	within(t, 90*time.Second, "every order counted", func() bool {
		c.call("POST", "/v1/metrics:compute", `{"kpi":"revenue"}`, &m)
		return m.OrderCount == fmt.Sprint(n)
	})
	within(t, 90*time.Second, "every journey message sent", func() bool {
		return welcome.customers() == n && buyers.customers() == n
	})
	time.Sleep(3 * time.Second) // late duplicates, if any, arrive now
	c.call("POST", "/v1/metrics:compute", `{"kpi":"revenue"}`, &m)
	if m.OrderCount != fmt.Sprint(n) || m.Value != wantRevenue {
		t.Errorf("revenue = %v over %s orders, want %v over %d (each order once)", m.Value, m.OrderCount, wantRevenue, n)
	}
	var size struct{ Segment struct{ Size string } }
	c.call("GET", "/v1/segments/"+seg.Segment.SegmentID, "", &size)
	if size.Segment.Size != fmt.Sprint(n) {
		t.Errorf("segment size %s, want %d", size.Segment.Size, n)
	}
	for name, sink := range map[string]*counter{"Welcome": welcome, "Thanks": buyers} {
		if dup := sink.duplicates(); len(dup) != 0 || sink.customers() != n {
			t.Errorf("%s journey: %d customers, sent twice to %v; want %d customers, each once", name, sink.customers(), dup, n)
		}
	}
}

// start runs the binary with args until the test ends (SIGTERM, then a
// clean exit is expected, unless the test killed it) and waits until it
// says it is running.
func start(t *testing.T, bin string, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(cmd.Environ(), env...)
	cmd.Env = append(cmd.Env, "KIZUNA_DATA_DIR="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &lockedWriter{w: &stderr}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, exited: make(chan error, 1)}
	p.terminate = func() {
		if p.ended {
			return
		}
		p.ended = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-p.exited:
			if err != nil {
				t.Errorf("%v: exit after SIGTERM: %v\n%s", args[0], err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("%v: still running 30s after SIGTERM", args[0])
		}
	}
	t.Cleanup(p.terminate)
	running := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		said := false
		for sc.Scan() {
			if !said && strings.HasPrefix(sc.Text(), "Kizuna is running") {
				said = true
				running <- true
			}
		}
		if !said {
			running <- false
		}
		p.exited <- cmd.Wait()
	}()
	select {
	case ok := <-running:
		if !ok {
			t.Fatalf("%v exited before running:\n%s", args, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("%v not running after 60s:\n%s", args, stderr.String())
	}
	return p
}

// process is a running binary started by start.
type process struct {
	cmd    *exec.Cmd
	exited chan error
	ended  bool // stopped or killed
	// terminate sends SIGTERM and expects a clean exit within 30 s.
	terminate func()
}

// stop drains the process as Kubernetes does (SIGTERM) and fails the test
// unless it exits cleanly.
func (p *process) stop() { p.terminate() }

// kill ends the process with SIGKILL, as the kernel's OOM killer or a
// lost node does: no drain, no lease released, and waits for it to exit.
func (p *process) kill(t *testing.T) {
	t.Helper()
	p.ended = true
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("process still there 10s after SIGKILL")
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// counter is a webhook endpoint counting calls per customer.
type counter struct {
	*httptest.Server
	mu    sync.Mutex
	calls map[string]int
}

func newCounter(t *testing.T) *counter {
	c := &counter{calls: map[string]int{}}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			CustomerID string `json:"customer_id"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.CustomerID == "" {
			http.Error(w, "bad body", 400)
			return
		}
		c.mu.Lock()
		c.calls[body.CustomerID]++
		c.mu.Unlock()
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *counter) customers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.calls)
}

func (c *counter) duplicates() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]int{}
	for id, n := range c.calls {
		if n > 1 {
			out[id] = n
		}
	}
	return out
}

type restClient struct {
	t         *testing.T
	base, key string
}

func (c *restClient) do(method, path, body string, header http.Header) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header = header
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (c *restClient) status(method, path string) int {
	code, _ := c.do(method, path, "", http.Header{})
	return code
}

func (c *restClient) call(method, path, body string, out any) {
	c.t.Helper()
	code, b := c.do(method, path, body, http.Header{"Authorization": {"Bearer " + c.key}})
	if code != 200 {
		c.t.Fatalf("%s %s: %d %s", method, path, code, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// track posts a Segment batch with the write key as Basic user.
func (c *restClient) track(body string) {
	c.t.Helper()
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(c.key+":"))
	if code, b := c.do("POST", "/v1/batch", body, http.Header{"Authorization": {auth}}); code != 200 {
		c.t.Errorf("POST /v1/batch: %d %s", code, b)
	}
}

func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting: %s", d, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// dropDeployment removes the test's schemas and streams.
func dropDeployment(t *testing.T, pg, schemaPrefix, natsURL, busPrefix string) {
	ctx := context.Background()
	db, err := sqldb.Open(ctx, sqldb.Options{URL: pg})
	if err == nil {
		for _, svc := range []string{"ingestion", "segmentation", "metrics", "campaign"} {
			if _, err := db.ExecContext(ctx, `DROP SCHEMA IF EXISTS "`+schemaPrefix+svc+`" CASCADE`); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		_ = db.Close()
	}
	b, err := bus.Connect(ctx, bus.ConnectOptions{URL: natsURL, Prefix: busPrefix})
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer b.Close()
	if err := b.DeleteStreams(ctx); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}
