// Package openapi holds the merged OpenAPI (Swagger 2.0) document for the
// whole Kizuna REST API.
//
// kizuna.swagger.json is generated from proto/ by `make generate` and
// committed, so the gateway binary serves exactly the contract it was built
// from; never edit it by hand.
package openapi

import _ "embed"

// Document is the merged OpenAPI document, as JSON.
//
//go:embed kizuna.swagger.json
var Document []byte
