package suite_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/kizuna/kizuna/services/suite"
)

// TestKeyScopesREST drives scoped API keys through the gateway as a user
// would: a write key only tracks, a read-only secret key reads but does not
// change, a revoked key stops working, and nobody probes keys with
// /v1/apiKeys:verify.
func TestKeyScopesREST(t *testing.T) {
	a := startSuite(t, suite.Config{DataDir: t.TempDir()})
	c := &client{t: t, base: "http://" + a.HTTP}
	eventually(t, "ready", func() bool { return c.status("GET", "/readyz", "", nil) == 200 })

	type created struct {
		APIKey struct {
			APIKeyID   string   `json:"apiKeyId"`
			Scopes     []string `json:"scopes"`
			KeyPrefix  string   `json:"keyPrefix"`
			RevokeTime string   `json:"revokeTime"`
		} `json:"apiKey"`
		Key string `json:"key"`
	}
	var write, read created
	c.call("POST", "/v1/apiKeys", `{"displayName":"website","kind":"API_KEY_KIND_WRITE"}`, nil, &write)
	c.call("POST", "/v1/apiKeys", `{"displayName":"BI","kind":"API_KEY_KIND_SECRET","scopes":["profiles:read","segments:read"]}`, nil, &read)
	if write.Key == "" || !strings.HasPrefix(write.Key, write.APIKey.KeyPrefix) || len(write.APIKey.Scopes) != 1 || write.APIKey.Scopes[0] != "track" {
		t.Fatalf("write key = %+v", write)
	}
	asWrite := map[string]string{"Authorization": "Bearer " + write.Key}
	asWriteBasic := map[string]string{"Authorization": "Basic " + b64(write.Key+":")}
	asRead := map[string]string{"Authorization": "Bearer " + read.Key}

	expect := func(what, method, path, body string, headers map[string]string, want int, wantText string) []byte {
		t.Helper()
		code, b := c.do(method, path, body, headers)
		if code != want || !strings.Contains(string(b), wantText) {
			t.Errorf("%s: %s %s = %d %s; want %d containing %q", what, method, path, code, b, want, wantText)
		}
		return b
	}

	// The write key tracks, as Basic (Segment's libraries) and as Bearer...
	var tracked struct{ CustomerID string }
	b := expect("write key, Basic", "POST", "/v1/track", `{"userId":"u-keys","event":"Signed Up","messageId":"k-1"}`, asWriteBasic, 200, "")
	_ = json.Unmarshal(b, &tracked)
	expect("write key, Bearer", "POST", "/v1/identify", `{"userId":"u-keys","traits":{"name":"鍵"},"messageId":"k-2"}`, asWrite, 200, "")
	// ...and does nothing else.
	expect("write key reads a customer", "GET", "/v1/customers:lookup?userId=u-keys", "", asWrite, 403, `lacks scope \"profiles:read\"`)
	expect("write key lists segments", "GET", "/v1/segments", "", asWrite, 403, "lacks scope")
	expect("write key exports", "GET", "/v1/customers/"+tracked.CustomerID+":export", "", asWrite, 403, "lacks scope")
	expect("write key reads a summary", "GET", "/v1/initiatives/ini_x/summary?format=markdown", "", asWrite, 403, "lacks scope")
	expect("write key lists keys", "GET", "/v1/apiKeys", "", asWrite, 403, `lacks scope \"admin\"`)

	// The read-only key reads across services, the gateway's own export
	// included, and changes nothing.
	expect("read key reads a customer", "GET", "/v1/customers:lookup?userId=u-keys", "", asRead, 200, "u-keys")
	expect("read key lists segments", "GET", "/v1/segments", "", asRead, 200, "")
	expect("read key exports", "GET", "/v1/customers/"+tracked.CustomerID+":export", "", asRead, 200, tracked.CustomerID)
	expect("read key defines a segment", "POST", "/v1/segments", `{"displayName":"x"}`, asRead, 403, `lacks scope \"segments:write\"`)
	expect("read key tracks", "POST", "/v1/track", `{"userId":"u-keys","event":"x","messageId":"k-3"}`, asRead, 403, `lacks scope \"track\"`)
	expect("read key sets consent", "PUT", "/v1/customers/"+tracked.CustomerID+"/consent", `{}`, asRead, 403, "profiles:write")
	expect("read key reads a summary", "GET", "/v1/initiatives/ini_x/summary?format=markdown", "", asRead, 403, `lacks scope \"metrics:read\"`)
	expect("read key creates a campaign", "POST", "/v1/campaigns", `{}`, asRead, 403, "campaigns:write")

	// A service acts as the caller's workspace towards the others: a
	// metrics-only key reads a campaign's results, which metrics asks
	// campaign about (an unknown campaign: 404, not 403).
	var metricsKey created
	c.call("POST", "/v1/apiKeys", `{"displayName":"dashboard","kind":"API_KEY_KIND_SECRET","scopes":["metrics:read"]}`, nil, &metricsKey)
	asMetrics := map[string]string{"Authorization": "Bearer " + metricsKey.Key}
	expect("metrics key reads campaign results", "GET", "/v1/campaigns/cmp_unknown/results", "", asMetrics, 404, "")
	expect("metrics key reads a campaign", "GET", "/v1/campaigns/cmp_unknown", "", asMetrics, 403, `lacks scope \"campaigns:read\"`)

	// Keys are listed without the keys themselves.
	var listed struct {
		APIKeys []struct{ APIKeyID, DisplayName string } `json:"apiKeys"`
	}
	c.call("GET", "/v1/apiKeys", "", nil, &listed)
	raw, _ := json.Marshal(listed)
	if len(listed.APIKeys) != 4 || strings.Contains(string(raw), read.Key) {
		t.Errorf("listed keys = %s", raw)
	}

	// Nobody probes keys.
	expect("another key probes", "POST", "/v1/apiKeys:verify", `{"apiKey":"`+read.Key+`"}`, bearer, 403, "for Kizuna's services")
	expect("a key verifies itself", "POST", "/v1/apiKeys:verify", `{"apiKey":"`+read.Key+`"}`, asRead, 200, `"profiles:read"`)
	expect("a service token from outside", "POST", "/v1/apiKeys:verify", `{"apiKey":"`+read.Key+`"}`,
		map[string]string{"Authorization": "Bearer kzsvc_d3NfMQ.AAAA"}, 401, "service tokens are not accepted")
	expect("verify without a key", "POST", "/v1/apiKeys:verify", `{"apiKey":"`+read.Key+`"}`, nil, 401, "")

	// Bad input names the field.
	expect("unknown scope", "POST", "/v1/apiKeys", `{"displayName":"x","kind":"API_KEY_KIND_SECRET","scopes":["everything"]}`, bearer, 400, "api_key.scopes[0]")
	expect("no name", "POST", "/v1/apiKeys", `{"kind":"API_KEY_KIND_WRITE"}`, bearer, 400, "api_key.display_name")

	// Revoked: ingestion refuses the key at once.
	c.call("POST", "/v1/apiKeys/"+read.APIKey.APIKeyID+":revoke", `{}`, nil, nil)
	expect("revoked key", "GET", "/v1/customers:lookup?userId=u-keys", "", asRead, 401, "")
	// The dev key cannot revoke itself, and keeps working.
	var devID string
	for _, k := range listed.APIKeys {
		if k.DisplayName == "default" {
			devID = k.APIKeyID
		}
	}
	expect("self-revoke", "POST", "/v1/apiKeys/"+devID+":revoke", `{}`, bearer, 400, "cannot revoke itself")
	expect("dev key still tracks as Basic", "POST", "/v1/track", `{"userId":"u-keys","event":"x","messageId":"k-4"}`, basic, 200, "")
	if code := c.status("GET", "/v1/segments", "", bearer); code != http.StatusOK {
		t.Errorf("dev key lists segments: %d", code)
	}
}
