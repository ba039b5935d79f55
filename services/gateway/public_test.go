package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	"github.com/kizuna/kizuna/services/platform/auth"
)

// lineBody is a LINE webhook body as LINE might format it: spacing, key
// order, escapes and a trailing newline that a JSON round trip would all
// change, so only a byte-exact pass-through keeps the signature valid.
const lineBody = "{\"destination\":\"U0123\",  \"events\":[{\"type\":\"follow\",\"timestamp\":1700000000000," +
	"\"source\":{\"type\":\"user\",\"userId\":\"U4af4980629\"},\"message\":{\"text\":\"こんにちは \\u00e9\\/\"}}]}\n"

func TestLineWebhookPassesRawBody(t *testing.T) {
	e := newEnv(t)
	const sig = "u5A6bVxOqr0vuE/9Lr1Vg3dVbJ3IGF+6OYn6rdJk6Ms="
	res := e.do(t, http.MethodPost, "/v1/channels/ch_1/line:webhook", []byte(lineBody), map[string]string{
		"Content-Type":     "application/json; charset=utf-8",
		"X-Line-Signature": sig,
		// Whatever LINE (or anyone) sends here must not reach the backend.
		"Authorization": bearer(testKey),
	})
	if res.status != http.StatusOK {
		t.Fatalf("status = %d, body %s", res.status, res.body)
	}
	c := e.rec.only(t, "ReceiveLineWebhook")
	want := &campaignv1.ReceiveLineWebhookRequest{ChannelId: "ch_1", Signature: sig, Body: []byte(lineBody)}
	if !proto.Equal(c.req, want) {
		t.Errorf("backend got %v, want %v", c.req, want)
	}
	if got := c.req.(*campaignv1.ReceiveLineWebhookRequest).GetBody(); !bytes.Equal(got, []byte(lineBody)) {
		t.Errorf("body = %q, want the raw bytes %q", got, lineBody)
	}
	for _, k := range []string{"authorization", "grpcgateway-authorization"} {
		if v := c.md.Get(k); len(v) != 0 {
			t.Errorf("metadata %s = %v, want none on a public call", k, v)
		}
	}
	if ct := res.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	var got map[string]any
	if err := json.Unmarshal(res.body, &got); err != nil {
		t.Fatalf("body %s: %v", res.body, err)
	}
	if got["recorded"] != 1.0 || got["ignored"] != 0.0 {
		t.Errorf("body = %s, want recorded 1 and ignored 0", res.body)
	}
}

func TestLineWebhookErrors(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name       string
		method     string
		path       string
		body       []byte
		header     map[string]string
		wantStatus int
		wantCalls  int
	}{
		{"bad signature", http.MethodPost, "/v1/channels/ch_1/line:webhook", []byte(lineBody),
			map[string]string{"X-Line-Signature": "bad"}, http.StatusUnauthorized, 1},
		{"no signature", http.MethodPost, "/v1/channels/ch_1/line:webhook", []byte(lineBody),
			nil, http.StatusUnauthorized, 1},
		{"unknown channel", http.MethodPost, "/v1/channels/ch_missing/line:webhook", []byte(lineBody),
			map[string]string{"X-Line-Signature": "s"}, http.StatusNotFound, 1},
		{"invalid channel", http.MethodPost, "/v1/channels/ch_invalid/line:webhook", []byte(lineBody),
			map[string]string{"X-Line-Signature": "s"}, http.StatusBadRequest, 1},
		{"GET", http.MethodGet, "/v1/channels/ch_1/line:webhook", nil, nil, http.StatusMethodNotAllowed, 0},
		{"PUT", http.MethodPut, "/v1/channels/ch_1/line:webhook", []byte(lineBody), nil, http.StatusMethodNotAllowed, 0},
		{"over 1 MiB", http.MethodPost, "/v1/channels/ch_1/line:webhook", bytes.Repeat([]byte("x"), lineWebhookBodyLimit+1),
			map[string]string{"X-Line-Signature": "s"}, http.StatusRequestEntityTooLarge, 0},
		{"compressed", http.MethodPost, "/v1/channels/ch_1/line:webhook", gzipped(t, []byte(lineBody)),
			map[string]string{"X-Line-Signature": "s", "Content-Encoding": "gzip"}, http.StatusUnsupportedMediaType, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.rec.all())
			res := e.do(t, tt.method, tt.path, tt.body, tt.header)
			if res.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", res.status, tt.wantStatus, res.body)
			}
			decodeError(t, res)
			if got := len(e.rec.all()) - before; got != tt.wantCalls {
				t.Errorf("backend calls = %d, want %d", got, tt.wantCalls)
			}
			if tt.wantStatus == http.StatusMethodNotAllowed && res.header.Get("Allow") != http.MethodPost {
				t.Errorf("Allow = %q, want POST", res.header.Get("Allow"))
			}
		})
	}

	t.Run("exactly 1 MiB passes", func(t *testing.T) {
		before := len(e.rec.all())
		body := bytes.Repeat([]byte("y"), lineWebhookBodyLimit)
		res := e.do(t, http.MethodPost, "/v1/channels/ch_1/line:webhook", body, map[string]string{"X-Line-Signature": "s"})
		if res.status != http.StatusOK {
			t.Fatalf("status = %d, body %s", res.status, res.body)
		}
		calls := e.rec.all()[before:]
		if len(calls) != 1 || len(calls[0].req.(*campaignv1.ReceiveLineWebhookRequest).GetBody()) != lineWebhookBodyLimit {
			t.Fatalf("backend did not get the whole 1 MiB body")
		}
	})
}

func TestUnsubscribeGetShowsFormOnly(t *testing.T) {
	e := newEnv(t)
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		t.Run(method, func(t *testing.T) {
			res := e.do(t, method, "/unsubscribe/tok_abc", nil, nil)
			if res.status != http.StatusOK {
				t.Fatalf("status = %d, body %s", res.status, res.body)
			}
			checkPageHeaders(t, res)
			if method == http.MethodHead {
				return
			}
			body := string(res.body)
			for _, want := range []string{`<html lang="ja">`, "配信停止", "Unsubscribe", `<form method="post">`,
				`name="List-Unsubscribe" value="One-Click"`, `<button type="submit">`} {
				if !strings.Contains(body, want) {
					t.Errorf("page lacks %q:\n%s", want, body)
				}
			}
			if ja, en := strings.Index(body, "配信停止"), strings.Index(body, "Unsubscribe"); ja > en {
				t.Errorf("English comes before Japanese")
			}
			for _, asset := range []string{"<script", "<link", "<img", "src=", "http://", "https://"} {
				if strings.Contains(body, asset) {
					t.Errorf("page loads or links something (%q)", asset)
				}
			}
			checkStyleHash(t, res)
		})
	}
	if calls := e.rec.all(); len(calls) != 0 {
		t.Fatalf("GET called the backend: %+v", calls)
	}
}

func TestUnsubscribeOneClick(t *testing.T) {
	var multipartBody bytes.Buffer
	mw := multipart.NewWriter(&multipartBody)
	if err := mw.WriteField("List-Unsubscribe", "One-Click"); err != nil {
		t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		contentType string
		body        []byte
	}{
		{"urlencoded", "application/x-www-form-urlencoded", []byte("List-Unsubscribe=One-Click")},
		{"multipart", mw.FormDataContentType(), multipartBody.Bytes()},
		{"empty body", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			// An escaped token arrives unescaped, exactly as it was minted.
			const token = "v1.eyJ3cyI6IndzXzEifQ.c2ln-_~"
			header := map[string]string{"Authorization": bearer(testKey)}
			if tt.contentType != "" {
				header["Content-Type"] = tt.contentType
			}
			res := e.do(t, http.MethodPost, "/unsubscribe/"+url.PathEscape(token), tt.body, header)
			if res.status != http.StatusOK {
				t.Fatalf("status = %d, body %s", res.status, res.body)
			}
			checkPageHeaders(t, res)
			if !strings.Contains(string(res.body), "配信を停止しました") || !strings.Contains(string(res.body), "unsubscribed") {
				t.Errorf("done page lacks its text:\n%s", res.body)
			}
			c := e.rec.only(t, "Unsubscribe")
			if want := (&campaignv1.UnsubscribeRequest{Token: token}); !proto.Equal(c.req, want) {
				t.Errorf("backend got %v, want %v", c.req, want)
			}
			if v := c.md.Get("authorization"); len(v) != 0 {
				t.Errorf("authorization forwarded on a public call: %v", v)
			}
			for _, l := range e.logs.lines(t) {
				if b, _ := json.Marshal(l); strings.Contains(string(b), "c2ln") {
					t.Errorf("log line carries the token: %s", b)
				}
			}
		})
	}
}

func TestUnsubscribeFailures(t *testing.T) {
	e := newEnv(t)
	oneClick := []byte("List-Unsubscribe=One-Click")
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	tests := []struct {
		name       string
		method     string
		path       string
		body       []byte
		wantStatus int
		wantText   string
		wantCalls  int
	}{
		{"forged token", http.MethodPost, "/unsubscribe/bad", oneClick, http.StatusBadRequest, "このリンクは無効です", 1},
		{"backend down", http.MethodPost, "/unsubscribe/down", oneClick, http.StatusServiceUnavailable, "Temporarily unavailable", 1},
		{"already unsubscribed", http.MethodPost, "/unsubscribe/again", oneClick, http.StatusOK, "配信は停止済みです", 1},
		{"token over 1 KiB", http.MethodPost, "/unsubscribe/" + strings.Repeat("t", unsubscribeTokenLimit+1), oneClick,
			http.StatusBadRequest, "This link is not valid", 0},
		{"token of 1 KiB", http.MethodPost, "/unsubscribe/" + strings.Repeat("t", unsubscribeTokenLimit), oneClick,
			http.StatusOK, "配信を停止しました", 1},
		{"GET with token over 1 KiB", http.MethodGet, "/unsubscribe/" + strings.Repeat("t", unsubscribeTokenLimit+1), nil,
			http.StatusBadRequest, "This link is not valid", 0},
		{"body over 16 KiB", http.MethodPost, "/unsubscribe/tok", bytes.Repeat([]byte("a"), unsubscribeBodyLimit+1),
			http.StatusRequestEntityTooLarge, "Request too large", 0},
		{"PUT", http.MethodPut, "/unsubscribe/tok", oneClick, http.StatusMethodNotAllowed, "Method not allowed", 0},
		{"DELETE", http.MethodDelete, "/unsubscribe/tok", nil, http.StatusMethodNotAllowed, "Method not allowed", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.rec.all())
			res := e.do(t, tt.method, tt.path, tt.body, form)
			if res.status != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", res.status, tt.wantStatus, res.body)
			}
			checkPageHeaders(t, res)
			if !strings.Contains(string(res.body), tt.wantText) {
				t.Errorf("page lacks %q:\n%s", tt.wantText, res.body)
			}
			if strings.Contains(string(res.body), "<form") {
				t.Errorf("an answer to %s shows the form again", tt.method)
			}
			if got := len(e.rec.all()) - before; got != tt.wantCalls {
				t.Errorf("backend calls = %d, want %d", got, tt.wantCalls)
			}
			if tt.wantStatus == http.StatusMethodNotAllowed && res.header.Get("Allow") != "GET, HEAD, POST" {
				t.Errorf("Allow = %q", res.header.Get("Allow"))
			}
		})
	}
}

func TestUnsubscribePageEscapesAndReflectsNothing(t *testing.T) {
	e := newEnv(t)
	const token = `"><script>alert(1)</script>`
	res := e.do(t, http.MethodGet, "/unsubscribe/"+url.PathEscape(token), nil, nil)
	if res.status != http.StatusOK {
		t.Fatalf("status = %d", res.status)
	}
	if strings.Contains(string(res.body), "<script") || strings.Contains(string(res.body), "alert") {
		t.Fatalf("page reflects the token:\n%s", res.body)
	}
}

// checkPageHeaders checks the headers every unsubscribe page must carry.
func checkPageHeaders(t *testing.T, res response) {
	t.Helper()
	want := map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"Cache-Control":          "no-store",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "no-referrer",
		"X-Content-Type-Options": "nosniff",
	}
	for k, v := range want {
		if got := res.header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	csp := res.header.Get("Content-Security-Policy")
	for _, d := range []string{"default-src 'none'", "form-action 'self'", "frame-ancestors 'none'", "base-uri 'none'"} {
		if !strings.Contains(csp, d) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, d)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "*") {
		t.Errorf("Content-Security-Policy %q is not strict", csp)
	}
}

// checkStyleHash checks that the CSP's style hash matches the page's
// inline style, or browsers would drop it.
func checkStyleHash(t *testing.T, res response) {
	t.Helper()
	body := string(res.body)
	start, end := strings.Index(body, "<style>"), strings.Index(body, "</style>")
	if start < 0 || end < start {
		t.Fatalf("page has no style element")
	}
	sum := sha256.Sum256([]byte(body[start+len("<style>") : end]))
	want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	if csp := res.header.Get("Content-Security-Policy"); !strings.Contains(csp, want) {
		t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
	}
}

func TestHeadersCannotImpersonateAService(t *testing.T) {
	e := newEnv(t)
	tokens, err := auth.NewServiceTokens(bytes.Repeat([]byte("s"), auth.MinServiceSecretBytes))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("service token refused at the edge", func(t *testing.T) {
		before := len(e.rec.all())
		for _, h := range []map[string]string{
			{"Authorization": bearer(tokens.Token(testWorkspace))},
			{"Authorization": "bearer  " + tokens.Token(testWorkspace)},
		} {
			res := e.do(t, http.MethodGet, "/v1/kpis", nil, h)
			if res.status != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401 (body %s)", res.status, res.body)
			}
		}
		// Segment's Basic form is turned into a bearer first, then refused.
		res := e.do(t, http.MethodPost, "/v1/track", []byte(`{"userId":"u1","event":"E"}`),
			map[string]string{"Authorization": basic(tokens.Token(testWorkspace), "")})
		if res.status != http.StatusUnauthorized {
			t.Fatalf("status = %d, want 401 (body %s)", res.status, res.body)
		}
		if got := len(e.rec.all()) - before; got != 0 {
			t.Errorf("backend calls = %d, want none", got)
		}
	})
	t.Run("Grpc-Metadata headers are not forwarded", func(t *testing.T) {
		res := e.do(t, http.MethodGet, "/v1/kpis", nil, map[string]string{"Grpc-Metadata-Authorization": bearer(testKey)})
		if res.status != http.StatusUnauthorized {
			t.Fatalf("Grpc-Metadata-Authorization alone: status = %d, want 401", res.status)
		}
		before := len(e.rec.all())
		res = e.do(t, http.MethodGet, "/v1/kpis", nil, map[string]string{
			"Authorization":           bearer(testKey),
			"Grpc-Metadata-X-Role":    "service",
			"Grpc-Metadata-Workspace": "ws_other",
			"Cookie":                  "session=1",
			"Proxy-Authorization":     "Basic eDp5",
		})
		if res.status != http.StatusOK {
			t.Fatalf("status = %d, body %s", res.status, res.body)
		}
		c := e.rec.all()[before]
		for k := range c.md {
			if k != "authorization" && !strings.HasPrefix(k, "grpcgateway-") && !strings.HasPrefix(k, "x-forwarded-") &&
				!strings.HasPrefix(k, ":") && !strings.HasPrefix(k, "grpc-") && k != "content-type" && k != "user-agent" && k != "traceparent" {
				t.Errorf("unexpected metadata %s = %v", k, c.md.Get(k))
			}
		}
		for _, k := range []string{"x-role", "workspace", "grpcgateway-cookie", "grpcgateway-authorization", "grpcgateway-proxy-authorization"} {
			if v := c.md.Get(k); len(v) != 0 {
				t.Errorf("metadata %s = %v forwarded", k, v)
			}
		}
		if v := c.md.Get("authorization"); len(v) != 1 || v[0] != bearer(testKey) {
			t.Errorf("authorization = %v, want exactly the caller's key", v)
		}
	})
	t.Run("matcher", func(t *testing.T) {
		for _, k := range []string{"Authorization", "authorization", "Cookie", "Proxy-Authorization",
			"Grpc-Metadata-Authorization", "grpc-metadata-x-anything", "X-Custom"} {
			if h, ok := incomingHeaderMatcher(k); ok {
				t.Errorf("incomingHeaderMatcher(%q) = %q, want not forwarded", k, h)
			}
		}
		if h, ok := incomingHeaderMatcher("accept-language"); !ok || h != "grpcgateway-Accept-Language" {
			t.Errorf("incomingHeaderMatcher(Accept-Language) = %q, %v", h, ok)
		}
	})
}
