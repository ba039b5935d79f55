package gateway

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
)

// segmentExtras are fields Segment libraries send that the contract does not
// model; every request below carries them and must still map cleanly.
const segmentExtras = `"writeKey":"not-the-auth","_metadata":{"bundled":["Segment.io"],"unbundled":[]},` +
	`"library":"analytics-python","version":2,"channel":"server"`

func TestSegmentMessagesMapToRequests(t *testing.T) {
	e := newEnv(t)
	ctxStruct := mustStruct(t, map[string]any{"ip": "203.0.113.9", "library": map[string]any{"name": "analytics.js", "version": "2.1"}})
	integrations := mustStruct(t, map[string]any{"All": true, "Mixpanel": false})
	tests := []struct {
		name   string
		path   string
		body   string
		method string
		want   proto.Message
	}{
		{
			name: "identify",
			path: "/v1/identify",
			body: `{"type":"identify","messageId":"m-1","userId":"u-1","anonymousId":"a-1",
				"timestamp":"2026-11-23T10:00:00Z","sentAt":"2026-11-23T10:00:01Z","originalTimestamp":"2026-11-23T09:59:59Z",
				"context":{"ip":"203.0.113.9","library":{"name":"analytics.js","version":"2.1"}},
				"integrations":{"All":true,"Mixpanel":false},
				"traits":{"email":"Hanako@Example.com","plan":"pro","logins":3},` + segmentExtras + `}`,
			method: "Identify",
			want: &ingestionv1.IdentifyRequest{
				MessageId: "m-1", UserId: "u-1", AnonymousId: "a-1",
				Timestamp: "2026-11-23T10:00:00Z", SentAt: "2026-11-23T10:00:01Z", OriginalTimestamp: "2026-11-23T09:59:59Z",
				Context: ctxStruct, Integrations: integrations,
				Traits: mustStruct(t, map[string]any{"email": "Hanako@Example.com", "plan": "pro", "logins": 3}),
			},
		},
		{
			name: "track",
			path: "/v1/track",
			body: `{"type":"track","messageId":"m-2","userId":"u-1","event":"Order Completed",
				"properties":{"revenue":42.5,"currency":"JPY","products":[{"sku":"A1"}]},
				"context":{"ip":"203.0.113.9","library":{"name":"analytics.js","version":"2.1"}},
				"integrations":{"All":true,"Mixpanel":false},` + segmentExtras + `}`,
			method: "Track",
			want: &ingestionv1.TrackRequest{
				MessageId: "m-2", UserId: "u-1", Event: "Order Completed",
				Properties: mustStruct(t, map[string]any{"revenue": 42.5, "currency": "JPY", "products": []any{map[string]any{"sku": "A1"}}}),
				Context:    ctxStruct, Integrations: integrations,
			},
		},
		{
			name:   "page",
			path:   "/v1/page",
			body:   `{"anonymousId":"a-1","name":"Pricing","category":"Docs","properties":{"url":"https://example.com/pricing"},` + segmentExtras + `}`,
			method: "Page",
			want: &ingestionv1.PageRequest{
				AnonymousId: "a-1", Name: "Pricing", Category: "Docs",
				Properties: mustStruct(t, map[string]any{"url": "https://example.com/pricing"}),
			},
		},
		{
			name:   "screen",
			path:   "/v1/screen",
			body:   `{"userId":"u-1","name":"Home","properties":{"variant":"b"},` + segmentExtras + `}`,
			method: "Screen",
			want: &ingestionv1.ScreenRequest{
				UserId: "u-1", Name: "Home", Properties: mustStruct(t, map[string]any{"variant": "b"}),
			},
		},
		{
			name:   "group",
			path:   "/v1/group",
			body:   `{"userId":"u-1","groupId":"g-9","traits":{"name":"Kizuna KK","employees":120},` + segmentExtras + `}`,
			method: "Group",
			want: &ingestionv1.GroupRequest{
				UserId: "u-1", GroupId: "g-9", Traits: mustStruct(t, map[string]any{"name": "Kizuna KK", "employees": 120}),
			},
		},
		{
			name:   "alias",
			path:   "/v1/alias",
			body:   `{"userId":"u-1","previousId":"a-1",` + segmentExtras + `}`,
			method: "Alias",
			want:   &ingestionv1.AliasRequest{UserId: "u-1", PreviousId: "a-1"},
		},
		{
			name: "batch",
			path: "/v1/batch",
			body: `{"batch":[
					{"type":"identify","messageId":"b-1","userId":"u-1","traits":{"email":"a@example.com"},"_metadata":{"x":1}},
					{"type":"track","messageId":"b-2","userId":"u-1","event":"Signed Up","properties":{"plan":"pro"},"writeKey":"w"},
					{"type":"alias","messageId":"b-3","userId":"u-1","previousId":"a-1"},
					{"type":"group","messageId":"b-4","userId":"u-1","groupId":"g-9"},
					{"type":"page","messageId":"b-5","anonymousId":"a-1","name":"Home","category":"Top"}
				],
				"sentAt":"2026-11-23T10:00:02Z","context":{"library":{"name":"analytics-go","version":"3.3.0"}},
				"integrations":{"All":true},"messageId":"batch-envelope-id",` + segmentExtras + `}`,
			method: "Batch",
			want: &ingestionv1.BatchRequest{
				Batch: []*ingestionv1.BatchMessage{
					{Type: "identify", MessageId: "b-1", UserId: "u-1", Traits: mustStruct(t, map[string]any{"email": "a@example.com"})},
					{Type: "track", MessageId: "b-2", UserId: "u-1", Event: "Signed Up", Properties: mustStruct(t, map[string]any{"plan": "pro"})},
					{Type: "alias", MessageId: "b-3", UserId: "u-1", PreviousId: "a-1"},
					{Type: "group", MessageId: "b-4", UserId: "u-1", GroupId: "g-9"},
					{Type: "page", MessageId: "b-5", AnonymousId: "a-1", Name: "Home", Category: "Top"},
				},
				SentAt:       "2026-11-23T10:00:02Z",
				Context:      mustStruct(t, map[string]any{"library": map[string]any{"name": "analytics-go", "version": "3.3.0"}}),
				Integrations: mustStruct(t, map[string]any{"All": true}),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.rec.all())
			res := e.do(t, http.MethodPost, tt.path, []byte(tt.body), map[string]string{
				"Authorization": basic(testKey, ""),
				"Content-Type":  "application/json",
			})
			if res.status != http.StatusOK {
				t.Fatalf("status = %d, body %s", res.status, res.body)
			}
			var ack map[string]any
			if err := json.Unmarshal(res.body, &ack); err != nil || ack["success"] != true {
				t.Fatalf("body = %s, want {\"success\":true,...} (%v)", res.body, err)
			}
			calls := e.rec.all()[before:]
			if len(calls) != 1 || calls[0].method != tt.method {
				t.Fatalf("backend calls = %+v, want one %s", calls, tt.method)
			}
			if calls[0].workspace != testWorkspace {
				t.Errorf("workspace = %q, want %q", calls[0].workspace, testWorkspace)
			}
			if !proto.Equal(calls[0].req, tt.want) {
				t.Errorf("backend got\n%v\nwant\n%v", calls[0].req, tt.want)
			}
		})
	}
}

func TestResponsesEmitZeroValues(t *testing.T) {
	e := newEnv(t)
	res := e.do(t, http.MethodPost, "/v1/batch", []byte(`{"batch":[]}`), map[string]string{"Authorization": bearer(testKey)})
	if res.status != http.StatusOK {
		t.Fatalf("status = %d, body %s", res.status, res.body)
	}
	// Exact keys matter: lowerCamelCase names, and zero counts present.
	var got map[string]any
	if err := json.Unmarshal(res.body, &got); err != nil {
		t.Fatalf("body %s: %v", res.body, err)
	}
	want := map[string]any{"success": true, "accepted": 0.0, "duplicates": 0.0}
	if len(got) != len(want) {
		t.Fatalf("body = %s, want keys %v", res.body, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (body %s)", k, got[k], v, res.body)
		}
	}
}

func TestSegmentAuthentication(t *testing.T) {
	e := newEnv(t)
	track := `{"userId":"u-1","event":"Viewed"}`
	tests := []struct {
		name       string
		path       string
		body       string
		header     map[string]string
		wantStatus int
	}{
		{"basic write key", "/v1/track", track, map[string]string{"Authorization": basic(testKey, "")}, http.StatusOK},
		{"basic scheme is case-insensitive", "/v1/track", track, map[string]string{"Authorization": strings.Replace(basic(testKey, ""), "Basic", "basic", 1)}, http.StatusOK},
		{"bearer", "/v1/track", track, map[string]string{"Authorization": bearer(testKey)}, http.StatusOK},
		{"writeKey in body", "/v1/track", `{"userId":"u-1","event":"Viewed","writeKey":"` + testKey + `"}`, nil, http.StatusOK},
		{"writeKey in batch body", "/v1/batch", `{"batch":[{"type":"track","userId":"u-1","event":"Viewed"}],"writeKey":"` + testKey + `"}`, nil, http.StatusOK},
		{"header wins over body writeKey", "/v1/track", `{"userId":"u-1","event":"Viewed","writeKey":"` + testKey + `"}`, map[string]string{"Authorization": basic("wrong", "")}, http.StatusUnauthorized},
		{"missing key", "/v1/track", track, nil, http.StatusUnauthorized},
		{"wrong basic key", "/v1/track", track, map[string]string{"Authorization": basic("kz_wrong", "")}, http.StatusUnauthorized},
		{"key only as basic password", "/v1/track", track, map[string]string{"Authorization": basic("", testKey)}, http.StatusUnauthorized},
		{"malformed basic", "/v1/track", track, map[string]string{"Authorization": "Basic %%%"}, http.StatusUnauthorized},
		{"wrong bearer", "/v1/batch", `{"batch":[]}`, map[string]string{"Authorization": bearer("kz_wrong")}, http.StatusUnauthorized},
		{"empty writeKey", "/v1/track", `{"userId":"u-1","event":"Viewed","writeKey":""}`, nil, http.StatusUnauthorized},
		// Basic and body keys are a Segment convenience only.
		{"bearer on the REST API", "/v1/segments", `{}`, map[string]string{"Authorization": bearer(testKey)}, http.StatusOK},
		{"basic on the REST API", "/v1/segments", `{}`, map[string]string{"Authorization": basic(testKey, "")}, http.StatusUnauthorized},
		// Not a field of CreateSegment: refused before any backend sees it.
		{"writeKey on the REST API", "/v1/segments", `{"writeKey":"` + testKey + `"}`, nil, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.rec.all())
			res := e.do(t, http.MethodPost, tt.path, []byte(tt.body), tt.header)
			if res.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", res.status, tt.wantStatus, res.body)
			}
			reached := len(e.rec.all()) - before
			if tt.wantStatus == http.StatusOK {
				if reached != 1 {
					t.Fatalf("backend calls = %d, want 1", reached)
				}
				if c := e.rec.all()[before]; c.workspace != testWorkspace {
					t.Errorf("workspace = %q, want %q", c.workspace, testWorkspace)
				}
				return
			}
			if reached != 0 {
				t.Errorf("a rejected request reached the handler %d times", reached)
			}
			got := decodeError(t, res).Code
			if tt.wantStatus != http.StatusUnauthorized {
				return
			}
			if got != 16 {
				t.Errorf("code = %d, want 16 (Unauthenticated)", got)
			}
			if got := res.header.Get("WWW-Authenticate"); got != `Bearer realm="kizuna"` {
				t.Errorf("WWW-Authenticate = %q", got)
			}
		})
	}
}

func TestBodyLimitsAndEncoding(t *testing.T) {
	e := newEnv(t)
	auth := map[string]string{"Authorization": basic(testKey, "")}
	gzipAuth := map[string]string{"Authorization": basic(testKey, ""), "Content-Encoding": "gzip"}
	tests := []struct {
		name        string
		path        string
		body        []byte
		header      map[string]string
		wantStatus  int
		wantMessage string // substring of the error message
		wantPad     int    // length of the pad property the backend must get
	}{
		{"batch at the limit", "/v1/batch", padded(t, batchPadPrefix, batchPadSuffix, batchBodyLimit), auth, http.StatusOK, "", batchBodyLimit - batchPadOverhead},
		{"batch over the limit", "/v1/batch", padded(t, batchPadPrefix, batchPadSuffix, batchBodyLimit+1), auth, http.StatusBadRequest, "request body exceeds 500 KB", 0},
		{"track at the limit", "/v1/track", padded(t, trackPadPrefix, trackPadSuffix, messageBodyLimit), auth, http.StatusOK, "", messageBodyLimit - trackPadOverhead},
		{"track over the limit", "/v1/track", padded(t, trackPadPrefix, trackPadSuffix, messageBodyLimit+1), auth, http.StatusBadRequest, "request body exceeds 32 KB", 0},
		{"gzip batch", "/v1/batch", gzipped(t, padded(t, batchPadPrefix, batchPadSuffix, 1000)), gzipAuth, http.StatusOK, "", 1000 - batchPadOverhead},
		{"gzip under the limit only when compressed", "/v1/batch", gzipped(t, padded(t, batchPadPrefix, batchPadSuffix, batchBodyLimit+1)), gzipAuth, http.StatusBadRequest, "request body exceeds 500 KB", 0},
		{"x-gzip", "/v1/track", gzipped(t, padded(t, trackPadPrefix, trackPadSuffix, 100)), map[string]string{"Authorization": basic(testKey, ""), "Content-Encoding": "x-gzip"}, http.StatusOK, "", 100 - trackPadOverhead},
		{"not actually gzip", "/v1/track", padded(t, trackPadPrefix, trackPadSuffix, 100), gzipAuth, http.StatusBadRequest, "malformed gzip body", 0},
		{"truncated gzip", "/v1/track", gzipped(t, padded(t, trackPadPrefix, trackPadSuffix, 100))[:20], gzipAuth, http.StatusBadRequest, "malformed gzip body", 0},
		{"unsupported encoding", "/v1/track", padded(t, trackPadPrefix, trackPadSuffix, 100), map[string]string{"Authorization": basic(testKey, ""), "Content-Encoding": "br"}, http.StatusUnsupportedMediaType, `unsupported Content-Encoding "br"`, 0},
		{"REST body over 4 MiB", "/v1/segments", []byte(`{"displayName":"` + strings.Repeat("x", defaultBodyLimit) + `"}`), map[string]string{"Authorization": bearer(testKey)}, http.StatusBadRequest, "request body exceeds 4096 KB", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.rec.all())
			res := e.do(t, http.MethodPost, tt.path, tt.body, tt.header)
			if res.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %.300s)", res.status, tt.wantStatus, res.body)
			}
			calls := e.rec.all()[before:]
			if tt.wantStatus != http.StatusOK {
				if len(calls) != 0 {
					t.Errorf("a rejected body reached the backend")
				}
				got := decodeError(t, res)
				if got.Code != 3 || !strings.Contains(got.Message, tt.wantMessage) {
					t.Errorf("error = %+v, want code 3 with %q", got, tt.wantMessage)
				}
				return
			}
			if len(calls) != 1 {
				t.Fatalf("backend calls = %d, want 1", len(calls))
			}
			if got := len(padOf(t, calls[0].req)); got != tt.wantPad {
				t.Errorf("pad length at the backend = %d, want %d", got, tt.wantPad)
			}
		})
	}
}

// padOf returns the "pad" property of a track or single-message batch request.
func padOf(t testing.TB, m proto.Message) string {
	t.Helper()
	var props *structpb.Struct
	switch r := m.(type) {
	case *ingestionv1.TrackRequest:
		props = r.GetProperties()
	case *ingestionv1.BatchRequest:
		if len(r.GetBatch()) != 1 {
			t.Fatalf("batch has %d messages, want 1", len(r.GetBatch()))
		}
		props = r.GetBatch()[0].GetProperties()
	default:
		t.Fatalf("unexpected request %T", m)
	}
	return props.GetFields()["pad"].GetStringValue()
}

func TestMalformedJSON(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name        string
		path        string
		body        string
		wantMessage string
	}{
		{"truncated", "/v1/track", `{"userId":"u-1",`, "unexpected EOF"},
		{"syntax error", "/v1/track", `{"userId":"u-1",}`, "invalid character"},
		{"not an object", "/v1/batch", `[1,2]`, "syntax error"},
		{"wrong type names the field", "/v1/track", `{"userId":42,"event":"x"}`, "userId"},
		{"wrong type in a batch message", "/v1/batch", `{"batch":[{"type":"track","event":{"no":"object"}}]}`, "event"},
		{"REST endpoint", "/v1/segments", `{"displayName":`, "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do(t, http.MethodPost, tt.path, []byte(tt.body), map[string]string{"Authorization": bearer(testKey)})
			if res.status != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400 (body %s)", res.status, res.body)
			}
			got := decodeError(t, res)
			if got.Code != 3 || !strings.HasPrefix(got.Message, "malformed JSON body: ") || !strings.Contains(got.Message, tt.wantMessage) {
				t.Errorf("error = %+v, want code 3, \"malformed JSON body: ...%s...\"", got, tt.wantMessage)
			}
			if n := len(e.rec.all()); n != 0 {
				t.Errorf("malformed JSON reached the backend (%d calls)", n)
			}
		})
	}
}

func TestSegmentCORS(t *testing.T) {
	e := newEnv(t)
	pre := e.do(t, http.MethodOptions, "/v1/batch", nil, map[string]string{
		"Origin":                         "https://shop.example.com",
		"Access-Control-Request-Method":  "POST",
		"Access-Control-Request-Headers": "authorization,content-type",
	})
	if pre.status != http.StatusNoContent {
		t.Fatalf("preflight status = %d, want 204", pre.status)
	}
	for k, want := range map[string]string{
		"Access-Control-Allow-Origin":  "*",
		"Access-Control-Allow-Methods": "POST, OPTIONS",
	} {
		if got := pre.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if got := pre.header.Get("Access-Control-Allow-Headers"); !strings.Contains(got, "Authorization") {
		t.Errorf("Access-Control-Allow-Headers = %q, want Authorization allowed", got)
	}

	// A browser's simple request: text/plain, key in the body, no preflight.
	res := e.do(t, http.MethodPost, "/v1/page", []byte(`{"anonymousId":"a-1","name":"Home","writeKey":"`+testKey+`"}`), map[string]string{
		"Origin":       "https://shop.example.com",
		"Content-Type": "text/plain",
	})
	if res.status != http.StatusOK || res.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("status = %d, allow-origin %q, body %s", res.status, res.header.Get("Access-Control-Allow-Origin"), res.body)
	}
	e.rec.only(t, "Page")

	// The REST API is not opened to browsers.
	rest := e.do(t, http.MethodGet, "/v1/segments", nil, map[string]string{"Origin": "https://evil.example.com", "Authorization": bearer(testKey)})
	if got := rest.header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("REST Access-Control-Allow-Origin = %q, want none", got)
	}
}
