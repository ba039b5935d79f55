package openapi

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestServed(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			Consumes []string `json:"consumes"`
			Tags     []string `json:"tags"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(Served, &doc); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if _, ok := doc.Paths[p]["get"]; !ok {
			t.Errorf("%s is not listed", p)
		}
	}
	tests := []struct {
		path, method string
		want         []string
	}{
		// Segment's tracking calls take text/plain too (browsers send it
		// to avoid a CORS preflight).
		{"/v1/batch", "post", []string{"application/json", "text/plain"}},
		{"/v1/track", "post", []string{"application/json", "text/plain"}},
		{"/v1/identify", "post", []string{"application/json", "text/plain"}},
		// Everything else keeps the document's JSON only.
		{"/v1/segments", "post", nil},
	}
	for _, tt := range tests {
		op, ok := doc.Paths[tt.path][tt.method]
		if !ok {
			t.Errorf("%s %s missing", tt.method, tt.path)
			continue
		}
		if !slices.Equal(op.Consumes, tt.want) {
			t.Errorf("%s %s consumes %v, want %v", tt.method, tt.path, op.Consumes, tt.want)
		}
	}
}
