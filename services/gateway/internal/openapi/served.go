package openapi

import (
	"encoding/json"
	"fmt"
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

// Served is the document /openapi.json serves: Document with the health
// endpoints added.
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
		merged, err := json.Marshal(into)
		if err != nil {
			return nil, err
		}
		top[part.key] = merged
	}
	return json.MarshalIndent(top, "", "  ")
}
