package openapi

import (
	"encoding/json"
	"fmt"
	"slices"
)

// healthPaths describes the gateway's own health endpoints, which no proto
// declares; Served adds them to the generated document.
const healthPaths = `{
  "/healthz": {"get": {
    "operationId": "Gateway_Healthz", "tags": ["Health"], "security": [],
    "summary": "Liveness: 200 while the gateway process answers; it does not ask the backends.",
    "responses": {"200": {"description": "Alive.", "schema": {"$ref": "#/definitions/gatewayHealth"}}}
  }},
  "/readyz": {"get": {
    "operationId": "Gateway_Readyz", "tags": ["Health"], "security": [],
    "summary": "Readiness: 200 when every backend's gRPC health check reports SERVING, else 503 with each backend's state.",
    "responses": {
      "200": {"description": "Every backend serves.", "schema": {"$ref": "#/definitions/gatewayReadiness"}},
      "503": {"description": "A backend is not serving, or the gateway is draining.", "schema": {"$ref": "#/definitions/gatewayReadiness"}}
    }
  }}
}`

const healthDefinitions = `{
  "gatewayHealth": {"type": "object", "properties": {"status": {"type": "string", "description": "ok"}}},
  "gatewayReadiness": {"type": "object", "properties": {
    "status": {"type": "string", "description": "ok or unavailable"},
    "services": {"type": "object", "additionalProperties": {"type": "string"},
      "description": "Each backend's state: SERVING, NOT_SERVING, UNREACHABLE, GATEWAY_DRAINING…"}
  }}
}`

// trackingConsumes is what Segment's tracking endpoints accept: JSON, and
// the same JSON sent as text/plain, which browsers use to avoid a CORS
// preflight (analytics.js does).
var trackingConsumes = json.RawMessage(`["application/json","text/plain"]`)

// Served is the document /openapi.json serves: Document with the health
// endpoints added and the tracking operations' text/plain body listed.
var Served = func() []byte {
	b, err := withHealth(Document)
	if err != nil {
		// Both inputs are fixed at build time; a test covers them.
		panic(err)
	}
	return b
}()

func withHealth(doc []byte) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil {
		return nil, fmt.Errorf("openapi: read document: %w", err)
	}
	for _, part := range []struct{ key, add string }{{"paths", healthPaths}, {"definitions", healthDefinitions}} {
		var into, add map[string]json.RawMessage
		if err := json.Unmarshal(top[part.key], &into); err != nil {
			return nil, fmt.Errorf("openapi: read %s: %w", part.key, err)
		}
		if err := json.Unmarshal([]byte(part.add), &add); err != nil {
			return nil, fmt.Errorf("openapi: health %s: %w", part.key, err)
		}
		for k, v := range add {
			into[k] = v
		}
		if part.key == "paths" {
			if err := markTracking(into); err != nil {
				return nil, err
			}
		}
		merged, err := json.Marshal(into)
		if err != nil {
			return nil, err
		}
		top[part.key] = merged
	}
	return json.MarshalIndent(top, "", "  ")
}

// markTracking sets consumes on every operation tagged TrackingService.
func markTracking(paths map[string]json.RawMessage) error {
	for p, raw := range paths {
		var item map[string]json.RawMessage
		if err := json.Unmarshal(raw, &item); err != nil {
			return fmt.Errorf("openapi: read path %s: %w", p, err)
		}
		changed := false
		for method, opRaw := range item {
			var op struct {
				Tags []string `json:"tags"`
			}
			if json.Unmarshal(opRaw, &op) != nil || !slices.Contains(op.Tags, "TrackingService") {
				continue // path-level parameters, or another service
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(opRaw, &fields); err != nil {
				return fmt.Errorf("openapi: read %s %s: %w", method, p, err)
			}
			fields["consumes"] = trackingConsumes
			b, err := json.Marshal(fields)
			if err != nil {
				return err
			}
			item[method], changed = b, true
		}
		if changed {
			b, err := json.Marshal(item)
			if err != nil {
				return err
			}
			paths[p] = b
		}
	}
	return nil
}
