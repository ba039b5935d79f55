package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	metricsv1 "github.com/kizuna/kizuna/gen/kizuna/metrics/v1"
	segmentationv1 "github.com/kizuna/kizuna/gen/kizuna/segmentation/v1"
	"github.com/kizuna/kizuna/services/platform/grpctest"
)

func TestNewRequiresEveryConnection(t *testing.T) {
	// Never dialled: grpc.NewClient connects lazily.
	conn, err := grpc.NewClient("127.0.0.1:1", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	full := Options{Ingestion: conn, Segmentation: conn, Metrics: conn, Campaign: conn}
	tests := []struct {
		name    string
		edit    func(*Options)
		wantErr string
	}{
		{"all present", func(*Options) {}, ""},
		{"no ingestion", func(o *Options) { o.Ingestion = nil }, "Options.Ingestion"},
		{"no segmentation", func(o *Options) { o.Segmentation = nil }, "Options.Segmentation"},
		{"no metrics", func(o *Options) { o.Metrics = nil }, "Options.Metrics"},
		{"no campaign", func(o *Options) { o.Campaign = nil }, "Options.Campaign"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := full
			tt.edit(&opts)
			_, err := New(t.Context(), opts)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("New error = %v, want one naming %s", err, tt.wantErr)
			}
		})
	}
}

func TestRoutesReachEveryService(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name     string
		method   string
		path     string
		body     string
		auth     bool
		wantCall string
		wantReq  proto.Message
		wantBody map[string]any // exact top-level JSON of the answer
	}{
		{"customers", http.MethodGet, "/v1/customers/cus_123", "", true, "GetCustomer",
			&ingestionv1.GetCustomerRequest{CustomerId: "cus_123"}, nil},
		{"workspaces (public method)", http.MethodPost, "/v1/apiKeys:verify", `{"apiKey":"kz_x"}`, false, "VerifyAPIKey",
			&ingestionv1.VerifyAPIKeyRequest{ApiKey: "kz_x"}, map[string]any{"workspaceId": testWorkspace, "scopes": []any{}}},
		{"segments with query parameters", http.MethodGet, "/v1/segments?pageSize=5&pageToken=abc", "", true, "ListSegments",
			&segmentationv1.ListSegmentsRequest{PageSize: 5, PageToken: "abc"}, map[string]any{"segments": []any{}, "nextPageToken": ""}},
		{"metrics", http.MethodGet, "/v1/kpis", "", true, "ListKpis",
			&metricsv1.ListKpisRequest{}, map[string]any{"kpis": []any{}}},
		{"journey results", http.MethodGet, "/v1/journeys/jny_1/results?alpha=0.1&breakdown.rfm=true", "", true, "GetJourneyResults",
			&metricsv1.GetJourneyResultsRequest{JourneyId: "jny_1", Alpha: 0.1, Breakdown: &metricsv1.Breakdown{Rfm: true}}, nil},
		{"campaign results", http.MethodGet, "/v1/campaigns/cmp_9/results", "", true, "GetCampaignResults",
			&metricsv1.GetCampaignResultsRequest{CampaignId: "cmp_9"}, nil},
		{"create initiative (body is the resource)", http.MethodPost, "/v1/initiatives",
			`{"title":"Coupon","hypothesis":"h","kpi":"repeat_purchase_rate","segmentId":"seg_1","expectedEffect":{"absolute":0.03}}`, true, "CreateInitiative",
			&metricsv1.InitiativeServiceCreateInitiativeRequest{Initiative: &metricsv1.PdcaInitiative{Title: "Coupon", Hypothesis: "h",
				Kpi: "repeat_purchase_rate", SegmentId: "seg_1", ExpectedEffect: &metricsv1.ExpectedEffect{Absolute: 0.03}}}, nil},
		{"advance initiative", http.MethodPost, "/v1/initiatives/ini_1:advance",
			`{"review":{"keep":["k"],"problem":["p"],"try":["t"]},"decision":"ADOPT"}`, true, "AdvanceInitiative",
			&metricsv1.AdvanceInitiativeRequest{InitiativeId: "ini_1", Review: &metricsv1.Review{Keep: []string{"k"}, Problem: []string{"p"}, Try: []string{"t"}},
				Decision: metricsv1.Decision_ADOPT}, nil},
		{"list initiatives by state and kpi", http.MethodGet, "/v1/initiatives?state=CHECK&kpi=repeat_purchase_rate", "", true, "ListInitiatives",
			&metricsv1.InitiativeServiceListInitiativesRequest{State: metricsv1.InitiativeState_CHECK, Kpi: "repeat_purchase_rate"}, nil},
		// Two kinds of initiative, two places: GET /v1/initiatives/{id} is
		// the PDCA initiative's (issue 11), the KPI tree's notes stay under
		// their tree and have no route of their own under /v1/initiatives.
		{"get PDCA initiative", http.MethodGet, "/v1/initiatives/ini_1", "", true, "InitiativeService.GetInitiative",
			&metricsv1.GetInitiativeRequest{InitiativeId: "ini_1"}, nil},
		{"KPI tree initiatives are listed under their tree", http.MethodGet, "/v1/kpiTrees/kt_1/initiatives", "", true, "MetricsService.ListInitiatives",
			&metricsv1.ListInitiativesRequest{KpiTreeId: "kt_1"}, nil},
		{"KPI tree initiative created under its tree", http.MethodPost, "/v1/kpiTrees/kt_1/initiatives", `{"nodeId":"aov","title":"Bundle"}`, true,
			"MetricsService.CreateInitiative", &metricsv1.CreateInitiativeRequest{KpiTreeId: "kt_1", Initiative: &metricsv1.Initiative{NodeId: "aov", Title: "Bundle"}}, nil},
		{"initiative summary", http.MethodGet, "/v1/initiatives/ini_1/summary?format=markdown", "", true, "GetInitiativeSummary",
			&metricsv1.GetInitiativeSummaryRequest{InitiativeId: "ini_1", Format: "markdown"}, nil},
		{"campaigns", http.MethodGet, "/v1/campaigns/cmp_9", "", true, "GetCampaign",
			&campaignv1.GetCampaignRequest{CampaignId: "cmp_9"}, nil},
		{"channels", http.MethodGet, "/v1/channels?pageSize=10", "", true, "ListChannels",
			&campaignv1.ListChannelsRequest{PageSize: 10}, map[string]any{"channels": []any{}, "nextPageToken": ""}},
		{"journeys", http.MethodGet, "/v1/journeys", "", true, "ListJourneys",
			&campaignv1.ListJourneysRequest{}, nil},
		{"customer journeys", http.MethodGet, "/v1/customers/cus_7/journeys", "", true, "ListCustomerJourneys",
			&campaignv1.ListCustomerJourneysRequest{CustomerId: "cus_7"}, nil},
		{"unsubscribe JSON API (public method)", http.MethodPost, "/v1/unsubscribe", `{"token":"tok_1"}`, false, "Unsubscribe",
			&campaignv1.UnsubscribeRequest{Token: "tok_1"}, map[string]any{"channelType": "EMAIL", "changed": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.rec.all())
			header := map[string]string{}
			if tt.auth {
				header["Authorization"] = bearer(testKey)
			}
			var body []byte
			if tt.body != "" {
				body = []byte(tt.body)
			}
			res := e.do(t, tt.method, tt.path, body, header)
			if res.status != http.StatusOK {
				t.Fatalf("status = %d, body %s", res.status, res.body)
			}
			calls := e.rec.all()[before:]
			if len(calls) != 1 || calls[0].method != tt.wantCall {
				t.Fatalf("backend calls = %+v, want one %s", calls, tt.wantCall)
			}
			if !proto.Equal(calls[0].req, tt.wantReq) {
				t.Errorf("backend got %v, want %v", calls[0].req, tt.wantReq)
			}
			if tt.auth && calls[0].workspace != testWorkspace {
				t.Errorf("workspace = %q, want %q", calls[0].workspace, testWorkspace)
			}
			if tt.wantBody != nil {
				var got map[string]any
				if err := json.Unmarshal(res.body, &got); err != nil {
					t.Fatalf("body %s: %v", res.body, err)
				}
				gotJSON, _ := json.Marshal(got)
				wantJSON, _ := json.Marshal(tt.wantBody)
				if string(gotJSON) != string(wantJSON) {
					t.Errorf("body = %s, want %s", gotJSON, wantJSON)
				}
			}
		})
	}

	t.Run("unknown route", func(t *testing.T) {
		res := e.do(t, http.MethodGet, "/v1/nope", nil, map[string]string{"Authorization": bearer(testKey)})
		if res.status != http.StatusNotFound {
			t.Fatalf("status = %d, want 404", res.status)
		}
		decodeError(t, res)
	})
	t.Run("REST call without a key", func(t *testing.T) {
		res := e.do(t, http.MethodGet, "/v1/kpis", nil, nil)
		if res.status != http.StatusUnauthorized {
			t.Fatalf("status = %d, want 401", res.status)
		}
	})
}

func TestOpenAPI(t *testing.T) {
	e := newEnv(t)
	res := e.do(t, http.MethodGet, "/openapi.json", nil, nil)
	if res.status != http.StatusOK {
		t.Fatalf("status = %d", res.status)
	}
	if ct := res.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var doc struct {
		Swagger string `json:"swagger"`
		Info    struct {
			Title, Version string
		} `json:"info"`
		SecurityDefinitions map[string]struct {
			Type, In, Name string
		} `json:"securityDefinitions"`
		Paths map[string]map[string]struct {
			Responses map[string]json.RawMessage `json:"responses"`
			Security  []map[string][]string      `json:"security"`
		} `json:"paths"`
		Definitions map[string]struct {
			Required   []string `json:"required"`
			Properties map[string]struct {
				ReadOnly bool `json:"readOnly"`
			} `json:"properties"`
		} `json:"definitions"`
	}
	if err := json.Unmarshal(res.body, &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	if doc.Swagger != "2.0" {
		t.Errorf("swagger = %q, want 2.0", doc.Swagger)
	}
	// Enough for a generated client: a real title, the auth schemes and
	// the error answers described.
	if doc.Info.Title != "Kizuna REST API" || doc.Info.Version == "" || doc.Info.Version == "version not set" {
		t.Errorf("info = %+v", doc.Info)
	}
	if b := doc.SecurityDefinitions["Bearer"]; b.Type != "apiKey" || b.In != "header" || b.Name != "Authorization" {
		t.Errorf("Bearer security definition = %+v", b)
	}
	if doc.SecurityDefinitions["Basic"].Type != "basic" {
		t.Errorf("Basic security definition = %+v", doc.SecurityDefinitions["Basic"])
	}
	for _, code := range []string{"400", "401", "403", "404"} {
		if _, ok := doc.Paths["/v1/journeys"]["post"].Responses[code]; !ok {
			t.Errorf("POST /v1/journeys does not describe %s", code)
		}
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if _, ok := doc.Paths[p]["get"]; !ok {
			t.Errorf("paths lack GET %s", p)
		}
	}
	if sec := doc.Paths["/v1/batch"]["post"].Security; len(sec) != 2 {
		t.Errorf("/v1/batch security = %v, want Bearer or Basic", sec)
	}
	for _, p := range []string{
		"/v1/batch", "/v1/track", "/v1/segments", "/v1/kpis", "/v1/campaigns",
		"/v1/channels", "/v1/channels/{channelId}", "/v1/channels/{channelId}/line:webhook",
		"/v1/journeys", "/v1/journeys/{journeyId}", "/v1/customers/{customerId}/journeys",
		"/v1/customers/{customerId}/consents", "/v1/unsubscribe",
		"/v1/journeys/{journeyId}/results", "/v1/campaigns/{campaignId}/results",
		"/v1/initiatives", "/v1/initiatives/{initiativeId}", "/v1/initiatives/{initiativeId}:advance", "/v1/initiatives/{initiativeId}/summary",
	} {
		if _, ok := doc.Paths[p]; !ok {
			t.Errorf("paths lack %s", p)
		}
	}
	if _, ok := doc.Paths["/v1/batch"]["post"]; !ok {
		t.Errorf("/v1/batch has no post operation")
	}
	// google.api.field_behavior reaches the document: what the server
	// assigns is readOnly, what a create needs is required.
	for _, f := range []struct{ def, field string }{
		{"v1Segment", "segmentId"}, {"v1Segment", "size"}, {"v1Journey", "journeyId"}, {"v1Journey", "state"},
		{"v1Customer", "customerId"}, {"v1Channel", "createTime"}, {"v1KpiTree", "kpiTreeId"},
	} {
		if !doc.Definitions[f.def].Properties[f.field].ReadOnly {
			t.Errorf("%s.%s is not readOnly", f.def, f.field)
		}
	}
	for _, f := range []struct{ def, field string }{
		{"v1Segment", "rule"}, {"v1Channel", "displayName"}, {"v1TrackRequest", "event"}, {"v1ComputeMetricRequest", "kpi"},
	} {
		if !slices.Contains(doc.Definitions[f.def].Required, f.field) {
			t.Errorf("%s.%s is not required (required: %v)", f.def, f.field, doc.Definitions[f.def].Required)
		}
	}
}

func TestConsoleIsServed(t *testing.T) {
	e := newEnv(t)
	// The client follows the redirect from /console to /console/.
	for _, path := range []string{"/console", "/console/"} {
		res := e.do(t, http.MethodGet, path, nil, nil)
		if res.status != http.StatusOK || !strings.Contains(string(res.body), `<div id="app">`) {
			t.Fatalf("GET %s = %d %.200s", path, res.status, res.body)
		}
	}
	if res := e.do(t, http.MethodDelete, "/console/", nil, nil); res.status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE /console/ = %d, want 405", res.status)
	}
}

func TestHealth(t *testing.T) {
	allServing := map[string]string{"ingestion": "SERVING", "segmentation": "SERVING", "metrics": "SERVING", "campaign": "SERVING"}
	tests := []struct {
		name    string
		opts    []envOption
		verbose readiness
	}{
		{"all backends up", nil, readiness{Status: "ok", Dependencies: "ok", Services: allServing}},
		{"campaign down", []envOption{withBackendDown("campaign")}, readiness{
			Status: "ok", Dependencies: "degraded",
			Services: map[string]string{"ingestion": "SERVING", "segmentation": "SERVING", "metrics": "SERVING", "campaign": "UNREACHABLE"},
		}},
		{"two down", []envOption{withBackendDown("ingestion"), withBackendDown("metrics")}, readiness{
			Status: "ok", Dependencies: "degraded",
			Services: map[string]string{"ingestion": "UNREACHABLE", "segmentation": "SERVING", "metrics": "UNREACHABLE", "campaign": "SERVING"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.opts...)
			live := e.do(t, http.MethodGet, "/healthz", nil, nil)
			if live.status != http.StatusOK {
				t.Errorf("/healthz = %d, want 200 regardless of backends", live.status)
			}
			// The probe: ready whatever the backends say, and says nothing of them.
			res := e.do(t, http.MethodGet, "/readyz", nil, nil)
			if res.status != http.StatusOK || strings.TrimSpace(string(res.body)) != `{"status":"ok"}` {
				t.Errorf("/readyz = %d %s, want 200 {\"status\":\"ok\"}", res.status, res.body)
			}

			start := time.Now()
			res = e.do(t, http.MethodGet, "/readyz?verbose", nil, nil)
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("/readyz?verbose took %v", d)
			}
			if res.status != http.StatusOK {
				t.Fatalf("/readyz?verbose = %d, want 200 (body %s)", res.status, res.body)
			}
			var got readiness
			if err := json.Unmarshal(res.body, &got); err != nil {
				t.Fatalf("body %s: %v", res.body, err)
			}
			if got.Status != tt.verbose.Status || got.Dependencies != tt.verbose.Dependencies || len(got.Services) != len(tt.verbose.Services) {
				t.Fatalf("body = %+v, want %+v", got, tt.verbose)
			}
			for name, want := range tt.verbose.Services {
				if got.Services[name] != want {
					t.Errorf("services[%s] = %q, want %q", name, got.Services[name], want)
				}
			}
		})
	}
}

func TestRequestLogAndTracePropagation(t *testing.T) {
	// W3C trace context must flow HTTP → otelhttp → grpc-gateway → the gRPC
	// client's otel handler → backend metadata. Set before New so both
	// instrumentations resolve the global propagator.
	otel.SetTextMapPropagator(propagation.TraceContext{})
	e := newEnv(t)
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	res := e.do(t, http.MethodGet, "/v1/campaigns/cmp_1", nil, map[string]string{
		"Authorization": bearer(testKey),
		"Traceparent":   "00-" + traceID + "-00f067aa0ba902b7-01",
	})
	if res.status != http.StatusOK {
		t.Fatalf("status = %d, body %s", res.status, res.body)
	}
	c := e.rec.only(t, "GetCampaign")
	if tp := c.md.Get("traceparent"); len(tp) != 1 || !strings.Contains(tp[0], traceID) {
		t.Errorf("backend traceparent = %v, want trace %s", tp, traceID)
	}
	if got := c.md.Get("grpcgateway-authorization"); len(got) != 0 {
		t.Errorf("authorization duplicated into metadata: %v", got)
	}

	var line map[string]any
	for _, l := range e.logs.lines(t) {
		if l["msg"] == "http request" {
			line = l
		}
	}
	if line == nil {
		t.Fatalf("no request log line in %v", e.logs.lines(t))
	}
	want := map[string]any{
		"method":   "GET",
		"path":     "/v1/campaigns/cmp_1",
		"route":    "/v1/campaigns/{campaign_id=*}",
		"status":   200.0,
		"trace_id": traceID,
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("log %s = %v, want %v (line %v)", k, line[k], v, line)
		}
	}
	if _, ok := line["duration"]; !ok {
		t.Errorf("log line lacks duration: %v", line)
	}
}

func TestServeDrainsInFlightRequests(t *testing.T) {
	e := newEnv(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- e.gw.Serve(ctx, lis) }()
	base := "http://" + lis.Addr().String()

	type result struct {
		status int
		body   string
		err    error
	}
	slow := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/track", strings.NewReader(`{"userId":"u-1","event":"slow"}`))
		req.Header.Set("Authorization", bearer(testKey))
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			slow <- result{err: err}
			return
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		slow <- result{status: res.StatusCode, body: string(b), err: err}
	}()

	select {
	case <-e.tracking.started:
	case <-time.After(5 * time.Second):
		t.Fatal("slow request never reached the backend")
	}
	cancel()

	// While draining, Serve must not return and readiness must fail.
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v with a request in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	if res := e.do(t, http.MethodGet, "/readyz", nil, nil); res.status != http.StatusServiceUnavailable {
		t.Errorf("/readyz while draining = %d, want 503", res.status)
	}

	close(e.tracking.release)
	select {
	case r := <-slow:
		if r.err != nil || r.status != http.StatusOK || !strings.Contains(r.body, `"success":true`) {
			t.Errorf("in-flight request = %+v, want 200 success", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("in-flight request never finished")
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve = %v, want nil after graceful shutdown", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after the drain")
	}
	if _, err := net.DialTimeout("tcp", lis.Addr().String(), time.Second); err == nil {
		t.Error("listener still accepts after shutdown")
	}
}

func TestServeReportsListenerFailure(t *testing.T) {
	e := newEnv(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_ = lis.Close()
	err = e.gw.Serve(t.Context(), lis)
	if err == nil || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve on a closed listener = %v, want net.ErrClosed", err)
	}
}

func TestConcurrentRequests(t *testing.T) {
	e := newEnv(t)
	const n = 32
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range n {
		wg.Go(func() {
			body := `{"userId":"u-` + string(rune('a'+i%26)) + `","event":"Viewed"}`
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/track", strings.NewReader(body))
			req.Header.Set("Authorization", basic(testKey, ""))
			res, err := e.srv.Client().Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			_ = res.Body.Close()
			if res.StatusCode != http.StatusOK {
				errs <- res.Status
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := len(e.rec.all()); got != n {
		t.Errorf("backend calls = %d, want %d", got, n)
	}
}

// TestBackendDownIsPlainUnavailable checks that a REST call to a backend
// that is down answers 503 with a plain message: the dial error, which
// names an internal address, goes to the log only.
func TestBackendDownIsPlainUnavailable(t *testing.T) {
	e := newEnv(t, withBackendDown("metrics"))
	res := e.do(t, http.MethodGet, "/v1/kpis", nil, map[string]string{"Authorization": "Bearer " + grpctest.Key})
	if res.status != http.StatusServiceUnavailable {
		t.Fatalf("GET /v1/kpis with metrics down = %d %s, want 503", res.status, res.body)
	}
	var body struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(res.body, &body); err != nil {
		t.Fatalf("body %s: %v", res.body, err)
	}
	if body.Code != int(codes.Unavailable) || body.Message != "kizuna.metrics.v1.MetricsService is unavailable; try again later" {
		t.Errorf("body = %s", res.body)
	}
	if strings.Contains(string(res.body), "127.0.0.1") || strings.Contains(string(res.body), "dial") {
		t.Errorf("body leaks the dial error: %s", res.body)
	}
	logged := false
	for _, l := range e.logs.lines(t) {
		if l["msg"] == "backend unavailable" && l["route"] == "/v1/kpis" && strings.Contains(fmt.Sprint(l["error"]), "127.0.0.1") {
			logged = true
		}
	}
	if !logged {
		t.Errorf("no log line with the dial error in %v", e.logs.lines(t))
	}
}

// TestResultsJSON pins the REST shape of a results read-out, the names
// the contract and the console use: the Results object itself (not
// wrapped), lift fields in camelCase, and an undefined relative lift left
// out with its reason rather than "NaN".
func TestResultsJSON(t *testing.T) {
	e := newEnv(t)
	res := e.do(t, http.MethodGet, "/v1/journeys/jny_1/results", nil, map[string]string{"Authorization": bearer(testKey)})
	if res.status != http.StatusOK {
		t.Fatalf("status = %d, body %s", res.status, res.body)
	}
	var got struct {
		Variants []map[string]any `json:"variants"`
		Srm      map[string]any   `json:"srm"`
	}
	if err := json.Unmarshal(res.body, &got); err != nil {
		t.Fatalf("body %s: %v", res.body, err)
	}
	if len(got.Variants) != 2 || got.Srm["pValue"] != 0.9 || got.Srm["warning"] != false {
		t.Fatalf("body %s", res.body)
	}
	for _, k := range []string{"name", "exposed", "converted", "conversionRate", "revenue", "revenuePerExposed"} {
		if _, ok := got.Variants[1][k]; !ok {
			t.Errorf("variant lacks %q: %v", k, got.Variants[1])
		}
	}
	lift, _ := got.Variants[1]["lift"].(map[string]any)
	for _, k := range []string{"absolute", "ciLow", "ciHigh", "pValue", "probabilityToBeatControl", "expectedLoss", "relativeUnavailableReason"} {
		if _, ok := lift[k]; !ok {
			t.Errorf("lift lacks %q: %v", k, lift)
		}
	}
	if _, ok := lift["relative"]; ok {
		t.Errorf("undefined relative lift present: %v", lift["relative"])
	}
	if l := got.Variants[0]["lift"]; l != nil {
		t.Errorf("control has a lift: %v", got.Variants[0]["lift"])
	}
}
