package console

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Result()
}

func TestHandlerServesTheBuiltConsole(t *testing.T) {
	h := Handler()
	res := get(t, h, http.MethodGet, "/console/")
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /console/ = %d", res.StatusCode)
	}
	if got := res.Header.Get("Content-Type"); !strings.HasPrefix(got, "text/html") {
		t.Errorf("Content-Type = %q, want text/html", got)
	}
	if got := res.Header.Get("Cache-Control"); got != "no-cache" {
		t.Errorf("index Cache-Control = %q, want no-cache", got)
	}
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy = %q", csp)
	}
	// Every asset index.html names is served, cached for good.
	assets := regexp.MustCompile(`/console/assets/[^"]+`).FindAllString(string(body), -1)
	if len(assets) < 2 {
		t.Fatalf("index.html names %d assets, want the script and the style sheet: %s", len(assets), body)
	}
	for _, a := range assets {
		res := get(t, h, http.MethodGet, a)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d", a, res.StatusCode)
		}
		if got := res.Header.Get("Cache-Control"); !strings.Contains(got, "immutable") {
			t.Errorf("%s Cache-Control = %q", a, got)
		}
	}
}

func TestHandlerRefusesOtherMethodsAndUnknownFiles(t *testing.T) {
	h := Handler()
	res := get(t, h, http.MethodPost, "/console/")
	if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST /console/ = %d Allow %q, want 405 with Allow: GET, HEAD", res.StatusCode, res.Header.Get("Allow"))
	}
	for _, path := range []string{"/console/nope.js", "/console/assets/"} {
		if res := get(t, h, http.MethodGet, path); res.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, res.StatusCode)
		}
	}
}
