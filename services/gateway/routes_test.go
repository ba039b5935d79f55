package gateway

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
)

func TestRouteTableMethods(t *testing.T) {
	tests := []struct {
		path string
		want []string
	}{
		{"/v1/journeys", []string{"GET", "POST"}},
		{"/v1/journeys/jrn_1", []string{"GET", "PATCH"}},
		{"/v1/journeys/jrn_1:activate", []string{"POST"}},
		{"/v1/journeys/jrn_1/stats", []string{"GET"}},
		{"/v1/channels/ch_1", []string{"DELETE", "GET", "PATCH"}},
		{"/v1/customers:lookup", []string{"GET"}},
		{"/v1/customers:search", []string{"GET"}},
		{"/v1/customers/cus_1", []string{"GET"}},
		{"/v1/merges/mrg_1:undo", []string{"POST"}},
		{"/v1/batch", []string{"POST"}},
		{"/v1/journeys/:activate", nil},
		{"/v1/journeys/jrn_1:explode", nil},
		{"/v1/nothing", nil},
		{"/v1/journeys/jrn_1/stats/more", nil},
	}
	for _, tt := range tests {
		if got := routes.methods(tt.path); !slices.Equal(got, tt.want) {
			t.Errorf("methods(%s) = %v, want %v", tt.path, got, tt.want)
		}
	}
}

func TestWrongMethodIs405WithAllow(t *testing.T) {
	e := newEnv(t)
	res := e.do(t, http.MethodPut, "/v1/journeys", []byte(`{}`), map[string]string{"Authorization": bearer(testKey)})
	if res.status != http.StatusMethodNotAllowed {
		t.Fatalf("PUT /v1/journeys = %d, want 405 (body %s)", res.status, res.body)
	}
	if got := res.header.Get("Allow"); got != "GET, POST, OPTIONS" {
		t.Errorf("Allow = %q", got)
	}
	if body := decodeError(t, res); !strings.Contains(body.Message, "use GET, POST") {
		t.Errorf("message = %q", body.Message)
	}
	if res := e.do(t, http.MethodGet, "/v1/no/such/route", nil, nil); res.status != http.StatusNotFound {
		t.Errorf("GET of an unknown route = %d, want 404", res.status)
	}
}

func TestUnknownFieldsAreRefused(t *testing.T) {
	e := newEnv(t)
	auth := map[string]string{"Authorization": bearer(testKey)}
	res := e.do(t, http.MethodPost, "/v1/experiments:planSampleSize", []byte(`{"users":1000}`), auth)
	if res.status != http.StatusBadRequest {
		t.Fatalf("status = %d, want 400 (body %s)", res.status, res.body)
	}
	var body struct {
		Message string `json:"message"`
		Details []struct {
			FieldViolations []struct {
				Field string `json:"field"`
			} `json:"fieldViolations"`
		} `json:"details"`
	}
	if err := json.Unmarshal(res.body, &body); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body.Message, `unknown field "users"`) {
		t.Errorf("message = %q", body.Message)
	}
	if len(body.Details) != 1 || len(body.Details[0].FieldViolations) != 1 || body.Details[0].FieldViolations[0].Field != "users" {
		t.Errorf("details = %s, want one violation of field users", res.body)
	}
	// Segment's clients send fields the contract does not model: kept lenient.
	res = e.do(t, http.MethodPost, "/v1/track", []byte(`{"userId":"u-1","event":"Viewed","_metadata":{"x":1},"library":"analytics.js"}`), auth)
	if res.status != http.StatusOK {
		t.Errorf("track with extra fields = %d, want 200 (body %s)", res.status, res.body)
	}
	// Malformed JSON still says so.
	res = e.do(t, http.MethodPost, "/v1/segments", []byte(`{"displayName":`), auth)
	if res.status != http.StatusBadRequest || !strings.Contains(decodeError(t, res).Message, "malformed JSON body") {
		t.Errorf("truncated body = %d %s", res.status, res.body)
	}
}

func TestSnakeUpdateMask(t *testing.T) {
	tests := []struct{ query, want string }{
		{"updateMask=quietHours,frequencyCaps", "updateMask=quiet_hours%2Cfrequency_caps"},
		{"update_mask=email.fromAddress", "update_mask=email.from_address"},
		{"updateMask=quiet_hours", "updateMask=quiet_hours"},
		{"other=camelCase", "other=camelCase"},
	}
	for _, tt := range tests {
		r, _ := http.NewRequest(http.MethodPatch, "/v1/workspaces/ws_1?"+tt.query, nil)
		snakeUpdateMask(r)
		if r.URL.RawQuery != tt.want {
			t.Errorf("%s → %s, want %s", tt.query, r.URL.RawQuery, tt.want)
		}
	}
}
