package suite_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/bus/bustest"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/platform/testenv"
	"github.com/kizuna/kizuna/services/suite"
)

const devKey = "kz_e2e_test_key"

// TestWalkthrough drives the whole suite over REST the way the README's
// walkthrough does, on the embedded defaults and, when configured, on
// PostgreSQL with an external NATS.
func TestWalkthrough(t *testing.T) {
	t.Run("embedded", func(t *testing.T) {
		walk(t, suite.Config{DataDir: t.TempDir()})
	})
	t.Run("postgres+nats", func(t *testing.T) {
		pg, nats := testenv.URL(t, sqldbtest.PostgresURLVar), testenv.URL(t, bustest.NATSURLVar)
		id := randomID(t)
		cfg := suite.Config{DataDir: t.TempDir(), DatabaseURL: pg, SchemaPrefix: "e2e_" + id + "_", NATSURL: nats, BusPrefix: "e2e" + id}
		t.Cleanup(func() { dropExternal(t, cfg) })
		walk(t, cfg)
	})
}

// dropExternal removes what a run left on the shared PostgreSQL and NATS, so
// repeated runs start clean. Cleanups run last-in first-out: this one runs
// after the suite has stopped.
func dropExternal(t testing.TB, cfg suite.Config) {
	ctx := context.Background()
	db, err := sqldb.Open(ctx, sqldb.Options{URL: cfg.DatabaseURL})
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer db.Close()
	for _, svc := range []string{"ingestion", "segmentation", "metrics", "campaign"} {
		if _, err := db.ExecContext(ctx, `DROP SCHEMA IF EXISTS `+cfg.SchemaPrefix+svc+` CASCADE`); err != nil {
			t.Errorf("cleanup: drop schema: %v", err)
		}
	}
	b, err := bus.Connect(ctx, bus.ConnectOptions{URL: cfg.NATSURL, Prefix: cfg.BusPrefix})
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer b.Close()
	if err := b.DeleteStreams(ctx); err != nil {
		t.Errorf("cleanup: delete streams: %v", err)
	}
}

// startSuite runs the suite on cfg with every listener on a free loopback
// port, devKey as the API key and a quiet logger, stops it on cleanup and
// returns its addresses once it is up.
func startSuite(tb testing.TB, cfg suite.Config) suite.Addrs {
	tb.Helper()
	a, stop := runSuite(tb, cfg)
	tb.Cleanup(stop)
	return a
}

// runSuite is startSuite with the stop (a drain, as on SIGTERM) returned
// instead of left to the cleanup; calling it again does nothing.
func runSuite(tb testing.TB, cfg suite.Config) (suite.Addrs, func()) {
	tb.Helper()
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.IngestionAddr, cfg.SegmentationAddr, cfg.MetricsAddr, cfg.CampaignAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.DevAPIKey = devKey
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan suite.Addrs, 1)
	done := make(chan error, 1)
	go func() { done <- suite.Run(ctx, cfg, func(a suite.Addrs, _ string) { addrs <- a }) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				tb.Errorf("suite.Run: %v", err)
			}
		})
	}
	select {
	case a := <-addrs:
		return a, stop
	case err := <-done:
		done <- nil // reported here; the stop must not wait for it again
		stop()
		tb.Fatalf("suite did not start: %v", err)
	case <-time.After(30 * time.Second):
		tb.Cleanup(stop)
		tb.Fatal("suite did not start in 30s")
	}
	return suite.Addrs{}, stop
}

func walk(t *testing.T, cfg suite.Config) {
	a := startSuite(t, cfg)
	c := &client{t: t, base: "http://" + a.HTTP}

	eventually(t, "ready", func() bool { return c.status("GET", "/readyz", "", nil) == 200 })

	if code := c.status("GET", "/v1/segments", "", nil); code != http.StatusUnauthorized {
		t.Errorf("no key: status %d, want 401", code)
	}
	var openapi struct{ Paths map[string]any }
	c.call("GET", "/openapi.json", "", nil, &openapi)
	if openapi.Paths["/v1/batch"] == nil {
		t.Error("/openapi.json does not describe /v1/batch")
	}

	batch := `{"batch":[
		{"type":"page","messageId":"w-1","anonymousId":"anon-42","name":"Pricing"},
		{"type":"identify","messageId":"w-2","anonymousId":"anon-42","userId":"hanako","traits":{"email":"hanako@example.jp","name":"山田花子"}},
		{"type":"track","messageId":"w-3","userId":"hanako","event":"Order Completed","properties":{"order_id":"A-1","revenue":12000,"currency":"JPY"}},
		{"type":"track","messageId":"w-4","userId":"hanako","event":"Order Completed","properties":{"order_id":"A-2","revenue":8000,"currency":"JPY"}},
		{"type":"identify","messageId":"w-5","userId":"taro","traits":{"name":"佐藤太郎"}},
		{"type":"track","messageId":"w-6","userId":"taro","event":"Order Completed","properties":{"order_id":"B-1","revenue":5000}},
		{"type":"page","messageId":"w-7","anonymousId":"anon-7","name":"Home"}
	]}`
	var br struct{ Accepted, Duplicates int }
	c.segment("/v1/batch", batch, &br)
	if br.Accepted != 7 {
		t.Fatalf("batch accepted %d, want 7", br.Accepted)
	}
	c.segment("/v1/batch", batch, &br)
	if br.Accepted != 0 || br.Duplicates != 7 {
		t.Errorf("resent batch: accepted %d duplicates %d, want 0 and 7", br.Accepted, br.Duplicates)
	}
	if code := c.status("POST", "/v1/batch", `{"batch":[{"type":"purchase","userId":"u"},{"type":"page","userId":"u","messageId":"never"}]}`, basic); code != 400 {
		t.Errorf("unknown type: status %d, want 400", code)
	}

	var profile struct {
		Customer struct {
			CustomerID string
			EventCount string
			Identities []struct{ Kind, Value string }
		}
	}
	c.call("GET", "/v1/customers:lookup?email=hanako@example.jp", "", nil, &profile)
	hanako := profile.Customer.CustomerID
	if profile.Customer.EventCount != "4" || len(profile.Customer.Identities) != 3 {
		t.Errorf("hanako = %+v, want 4 events under 3 identities (anonymous visit joined)", profile.Customer)
	}
	if code := c.status("GET", "/v1/customers:lookup?user_id=never-seen", "", bearer); code != 404 {
		t.Errorf("unknown user: status %d, want 404", code)
	}

	var seg struct {
		Segment struct{ SegmentID, Size string }
	}
	c.call("POST", "/v1/segments", `{"displayName":"Buyers","rule":{"all":[{"event":{"event":"Order Completed","minCount":1,"withinDays":30}}]}}`, nil, &seg)
	segID := seg.Segment.SegmentID
	eventually(t, "segment holds both buyers", func() bool { return c.segmentSize(segID) == "2" })

	// A new purchase joins the segment from the event stream, no recompute.
	c.segment("/v1/track", `{"userId":"jiro","event":"Order Completed","properties":{"order_id":"C-1","revenue":1000}}`, nil)
	eventually(t, "segment grows from the event stream", func() bool { return c.segmentSize(segID) == "3" })

	var members struct{ Members []struct{ CustomerID string } }
	c.call("GET", "/v1/segments/"+segID+"/members", "", nil, &members)
	if got := members.Members; len(got) != 3 || !slices.ContainsFunc(got, func(m struct{ CustomerID string }) bool { return m.CustomerID == hanako }) {
		t.Errorf("segment members = %+v, want 3 including hanako (%s)", got, hanako)
	}
	var segs struct {
		Segments []struct {
			SegmentID string
			BuiltIn   bool
		}
	}
	c.call("GET", "/v1/customers/"+hanako+"/segments", "", nil, &segs)
	own := slices.DeleteFunc(slices.Clone(segs.Segments), func(s struct {
		SegmentID string
		BuiltIn   bool
	}) bool {
		return s.BuiltIn
	})
	if len(own) != 1 || own[0].SegmentID != segID {
		t.Errorf("hanako's segments = %+v", segs)
	}

	var m struct {
		Value      float64
		OrderCount string
	}
	c.call("POST", "/v1/metrics:compute", `{"kpi":"revenue","segmentId":"`+segID+`"}`, nil, &m)
	if m.Value != 26000 || m.OrderCount != "4" {
		t.Errorf("segment revenue = %+v, want 26000 over 4 orders", m)
	}
	c.call("POST", "/v1/metrics:compute", `{"kpi":"repeat_purchase_rate"}`, nil, &m)
	if m.Value != 1.0/3 {
		t.Errorf("repeat purchase rate = %v, want 1/3", m.Value)
	}

	// CLV fitting is served over REST; three customers are too few for the
	// model, which must say so (FailedPrecondition → 400), not fail.
	if code, body := c.do("POST", "/v1/clv:fit", `{"period":"week"}`, bearer); code != 200 && !(code == 400 && strings.Contains(string(body), `"code":9`)) {
		t.Errorf("POST /v1/clv:fit: status %d: %s", code, body)
	}

	var nps struct{ Score float64 }
	c.call("POST", "/v1/surveys:computeNps", `{"answers":[10,9,8,7,0]}`, nil, &nps)
	if nps.Score != 20 {
		t.Errorf("NPS = %v, want 20", nps.Score)
	}
	var cohorts struct{ Cohorts []struct{ Size string } }
	c.call("GET", "/v1/cohorts:retention", "", nil, &cohorts)
	if len(cohorts.Cohorts) != 1 || cohorts.Cohorts[0].Size != "3" {
		t.Errorf("cohorts = %+v, want one cohort of the 3 buyers", cohorts)
	}

	sink := newSink(t)
	var cmp struct{ Campaign struct{ CampaignID string } }
	c.call("POST", "/v1/campaigns", fmt.Sprintf(`{"displayName":"Thanks","segmentId":%q,"webhook":{"url":%q},"messageTemplate":"{{ customer.traits.name | default: 'お客様' }}様"}`, segID, sink.URL), nil, &cmp)
	var wg sync.WaitGroup
	for range 3 { // launching again, even concurrently, sends nothing twice
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.call("POST", "/v1/campaigns/"+cmp.Campaign.CampaignID+":launch", "", nil, nil)
		}()
	}
	wg.Wait()
	eventually(t, "all deliveries sent", func() bool {
		var got struct {
			Campaign struct{ DeliveryCounts struct{ Total, Sent string } }
		}
		c.call("GET", "/v1/campaigns/"+cmp.Campaign.CampaignID, "", nil, &got)
		return got.Campaign.DeliveryCounts.Total == "3" && got.Campaign.DeliveryCounts.Sent == "3"
	})
	if got := sink.received(); len(got) != 3 {
		t.Errorf("webhook got %d customers, want 3: %v", len(got), got)
	} else {
		for id, posts := range got {
			if len(posts) != 1 {
				t.Errorf("customer %s got %d posts, want 1", id, len(posts))
			}
		}
		if msg := got[hanako]; len(msg) == 0 || msg[0] != "山田花子様" {
			t.Errorf("hanako's message = %q", msg)
		}
	}

	walkDeduplication(t, c, segID)
	walkSegments(t, c)
}

// walkDeduplication finds one buyer entered twice under different
// spellings, merges them on review, and undoes the merge: segments and
// metrics follow both ways.
func walkDeduplication(t *testing.T, c *client, segID string) {
	repeatRate := func() float64 {
		var m struct{ Value float64 }
		c.call("POST", "/v1/metrics:compute", `{"kpi":"repeat_purchase_rate"}`, nil, &m)
		return m.Value
	}
	c.segment("/v1/batch", `{"batch":[
		{"type":"identify","messageId":"d-1","userId":"kenji","traits":{"name":"鈴木 健二","phone":"045-111-2222"}},
		{"type":"track","messageId":"d-2","userId":"kenji","event":"Order Completed","properties":{"order_id":"K-1","revenue":3000}},
		{"type":"identify","messageId":"d-3","anonymousId":"paper-1","traits":{"name":"鈴木健二","phone":"０４５（１１１）２２２２"}},
		{"type":"track","messageId":"d-4","anonymousId":"paper-1","event":"Order Completed","properties":{"order_id":"K-2","revenue":2000}}
	]}`, nil)
	eventually(t, "both spellings are buyers", func() bool { return c.segmentSize(segID) == "5" })
	eventually(t, "one repeat buyer of five", func() bool { return repeatRate() == 0.2 })

	var profile struct {
		Customer struct {
			CustomerID     string
			IdentityTraits []struct{ Trait, Original, Normalized string }
		}
	}
	c.call("GET", "/v1/customers:lookup?user_id=kenji", "", nil, &profile)
	kenji := profile.Customer.CustomerID
	if tr := profile.Customer.IdentityTraits; len(tr) != 2 || tr[0].Trait != "phone" || tr[0].Normalized != "+81451112222" {
		t.Errorf("kenji's identity traits = %+v", tr)
	}

	var scan struct {
		Scan struct {
			ScanID, State, SuggestionsCreated string
			ProgressPercent                   int
		}
	}
	c.call("POST", "/v1/customers:findDuplicates", `{}`, nil, &scan)
	eventually(t, "scan done", func() bool {
		c.call("GET", "/v1/duplicateScans/"+scan.Scan.ScanID, "", nil, &scan)
		return scan.Scan.State != "DUPLICATE_SCAN_STATE_RUNNING"
	})
	if scan.Scan.State != "DUPLICATE_SCAN_STATE_SUCCEEDED" || scan.Scan.SuggestionsCreated != "1" || scan.Scan.ProgressPercent != 100 {
		t.Fatalf("scan = %+v, want one suggestion", scan.Scan)
	}
	var sugs struct {
		Suggestions []struct {
			SuggestionID, CustomerIDA, CustomerIDB string
			Score                                  float64
			Reasons                                []string
		}
	}
	c.call("GET", "/v1/mergeSuggestions", "", nil, &sugs)
	if len(sugs.Suggestions) != 1 || len(sugs.Suggestions[0].Reasons) == 0 {
		t.Fatalf("suggestions = %+v", sugs)
	}
	var accepted struct {
		Merge struct {
			MergeID, SurvivorCustomerID, State string
			MergedCustomerIDs                  []string
		}
	}
	c.call("POST", "/v1/mergeSuggestions/"+sugs.Suggestions[0].SuggestionID+":accept", `{}`, nil, &accepted)
	if accepted.Merge.SurvivorCustomerID != kenji || accepted.Merge.State != "MERGE_STATE_APPLIED" {
		t.Fatalf("accept = %+v", accepted)
	}
	eventually(t, "segment sees one customer", func() bool { return c.segmentSize(segID) == "4" })
	eventually(t, "metrics see a repeat buyer", func() bool { return repeatRate() == 0.5 })

	// The paper form's device comes back while merged: the survivor takes
	// the event, and the undo gives it back.
	c.segment("/v1/page", `{"anonymousId":"paper-1","name":"Campaign LP"}`, nil)
	c.call("GET", "/v1/customers:lookup?anonymous_id=paper-1", "", nil, &profile)
	if profile.Customer.CustomerID != kenji {
		t.Errorf("while merged, paper-1 is %s, want %s", profile.Customer.CustomerID, kenji)
	}
	var undone struct{ Merge struct{ State string } }
	c.call("POST", "/v1/merges/"+accepted.Merge.MergeID+":undo", `{}`, nil, &undone)
	if undone.Merge.State != "MERGE_STATE_UNDONE" {
		t.Errorf("undo = %+v", undone)
	}
	var paper struct {
		Customer struct{ CustomerID, EventCount string }
	}
	c.call("GET", "/v1/customers:lookup?anonymous_id=paper-1", "", nil, &paper)
	if paper.Customer.CustomerID != accepted.Merge.MergedCustomerIDs[0] || paper.Customer.EventCount != "3" {
		t.Errorf("after undo paper-1 = %+v, want %s with 3 events", paper.Customer, accepted.Merge.MergedCustomerIDs[0])
	}
	eventually(t, "segment sees two customers again", func() bool { return c.segmentSize(segID) == "5" })
	eventually(t, "metrics see two single buyers again", func() bool { return repeatRate() == 0.2 })

	if code, body := c.do("POST", "/v1/merges/"+accepted.Merge.MergeID+":undo", `{}`, bearer); code != 400 || !strings.Contains(string(body), `"code":9`) {
		t.Errorf("undo twice: status %d: %s, want FailedPrecondition", code, body)
	}
	if code := c.status("GET", "/v1/mergeSuggestions?pageSize=5000", "", bearer); code != 400 {
		t.Errorf("page size 5000: status %d, want 400", code)
	}
	var merges struct{ Merges []struct{ MergeID string } }
	c.call("GET", "/v1/merges?customerId="+kenji, "", nil, &merges)
	if len(merges.Merges) != 1 || merges.Merges[0].MergeID != accepted.Merge.MergeID {
		t.Errorf("kenji's merges = %+v", merges)
	}
}

var bearer = map[string]string{"Authorization": "Bearer " + devKey}

var basic = map[string]string{"Authorization": "Basic " + b64(devKey+":")}

type client struct {
	t    *testing.T
	base string
}

func (c *client) do(method, path, body string, headers map[string]string) (int, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (c *client) status(method, path, body string, headers map[string]string) int {
	code, _ := c.do(method, path, body, headers)
	return code
}

// call sends an authenticated request and decodes a 200 answer into out.
func (c *client) call(method, path, body string, headers map[string]string, out any) {
	c.t.Helper()
	if headers == nil {
		headers = map[string]string{"Authorization": "Bearer " + devKey}
	}
	code, b := c.do(method, path, body, headers)
	if code != 200 {
		c.t.Fatalf("%s %s: status %d: %s", method, path, code, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, path, b, err)
		}
	}
}

// segment posts to a Segment-compatible endpoint with the write key as
// HTTP Basic user, as Segment's libraries do.
func (c *client) segment(path, body string, out any) {
	c.t.Helper()
	c.call("POST", path, body, basic, out)
}

func (c *client) segmentSize(id string) string {
	var s struct{ Segment struct{ Size string } }
	c.call("GET", "/v1/segments/"+id, "", nil, &s)
	return s.Segment.Size
}

type sink struct {
	*httptest.Server
	mu    sync.Mutex
	posts map[string][]string
}

func newSink(t *testing.T) *sink {
	s := &sink{posts: map[string][]string{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct{ CustomerID, Message string }
		var raw map[string]string
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &raw); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		p.CustomerID, p.Message = raw["customer_id"], raw["message"]
		s.mu.Lock()
		s.posts[p.CustomerID] = append(s.posts[p.CustomerID], p.Message)
		s.mu.Unlock()
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *sink) received() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]string, len(s.posts))
	for k, v := range s.posts {
		out[k] = append([]string(nil), v...)
	}
	return out
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func randomID(t testing.TB) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
