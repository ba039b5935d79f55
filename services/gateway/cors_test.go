package gateway

import (
	"net/http"
	"slices"
	"testing"
)

func TestParseOrigins(t *testing.T) {
	got, err := ParseOrigins(" https://app.example.jp/, http://localhost:5173 ,,*")
	if err != nil || !slices.Equal(got, []string{"https://app.example.jp", "http://localhost:5173", "*"}) {
		t.Errorf("ParseOrigins = %v, %v", got, err)
	}
	for _, bad := range []string{"app.example.jp", "https://app.example.jp/path", "ftp://x", "https://u@x"} {
		if _, err := ParseOrigins(bad); err == nil {
			t.Errorf("ParseOrigins(%q) accepted it", bad)
		}
	}
}

func TestCORS(t *testing.T) {
	const app = "https://app.example.jp"
	e := newEnv(t, withCORSOrigins(app))
	preflight := func(origin, path, method string) response {
		return e.do(t, http.MethodOptions, path, nil, map[string]string{
			"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": "authorization,content-type",
		})
	}
	// Every REST route answers a preflight from a listed origin.
	for _, tt := range []struct{ path, method, allow string }{
		{"/v1/journeys", "POST", "GET, POST, OPTIONS"},
		{"/v1/journeys/jrn_1:activate", "POST", "POST, OPTIONS"},
		{"/v1/channels/ch_1", "PATCH", "DELETE, GET, PATCH, OPTIONS"},
		{"/v1/metrics:compute", "POST", "POST, OPTIONS"},
	} {
		res := preflight(app, tt.path, tt.method)
		if res.status != http.StatusNoContent {
			t.Errorf("preflight %s = %d, want 204 (body %s)", tt.path, res.status, res.body)
			continue
		}
		h := res.header
		if h.Get("Access-Control-Allow-Origin") != app || h.Get("Access-Control-Allow-Methods") != tt.allow ||
			h.Get("Access-Control-Allow-Headers") != corsAllowedHeaders || h.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("preflight %s headers = %v", tt.path, h)
		}
	}
	// Another origin is refused, and gets no CORS headers.
	res := preflight("https://evil.example", "/v1/journeys", "POST")
	if res.status != http.StatusForbidden || res.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from an unlisted origin = %d %v, want 403 without CORS headers", res.status, res.header)
	}
	// An unknown path is still a 404.
	if res := preflight(app, "/v1/nothing", "GET"); res.status != http.StatusNotFound {
		t.Errorf("preflight of an unknown path = %d, want 404", res.status)
	}
	// The actual request carries the origin back; the key still decides.
	res = e.do(t, http.MethodGet, "/v1/journeys", nil, map[string]string{"Origin": app, "Authorization": bearer(testKey)})
	if res.status != http.StatusOK || res.header.Get("Access-Control-Allow-Origin") != app {
		t.Errorf("GET from the listed origin = %d ACAO %q", res.status, res.header.Get("Access-Control-Allow-Origin"))
	}
	res = e.do(t, http.MethodGet, "/v1/journeys", nil, map[string]string{"Origin": app})
	if res.status != http.StatusUnauthorized {
		t.Errorf("GET from the listed origin without a key = %d, want 401", res.status)
	}
	// A plain OPTIONS says what the route takes.
	res = e.do(t, http.MethodOptions, "/v1/journeys/jrn_1", nil, nil)
	if res.status != http.StatusNoContent || res.header.Get("Allow") != "GET, PATCH, OPTIONS" {
		t.Errorf("OPTIONS /v1/journeys/jrn_1 = %d Allow %q", res.status, res.header.Get("Allow"))
	}
	// Segment's endpoints keep answering any origin.
	res = preflight("https://shop.example", "/v1/track", "POST")
	if res.status != http.StatusNoContent || res.header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("tracking preflight = %d %v", res.status, res.header)
	}
}

func TestCORSNoneByDefault(t *testing.T) {
	e := newEnv(t)
	res := e.do(t, http.MethodOptions, "/v1/journeys", nil, map[string]string{
		"Origin": "http://localhost:5173", "Access-Control-Request-Method": "GET",
	})
	if res.status != http.StatusForbidden || res.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight without configured origins = %d %v, want 403", res.status, res.header)
	}
	res = e.do(t, http.MethodGet, "/v1/journeys", nil, map[string]string{"Origin": "http://localhost:5173", "Authorization": bearer(testKey)})
	if res.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("ACAO = %q without configured origins", res.header.Get("Access-Control-Allow-Origin"))
	}
}
