package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kizuna/kizuna/services/gateway/internal/openapi"
)

// readyTimeout bounds each backend health check, so /readyz answers well
// inside a Kubernetes probe's default 1 s timeout even when a backend hangs.
const readyTimeout = 800 * time.Millisecond

// Statuses /readyz reports besides grpc_health_v1's own names.
const (
	// statusUnreachable is a backend whose health check failed outright.
	statusUnreachable = "UNREACHABLE"
	// statusDraining is every backend's entry once the gateway is shutting down.
	statusDraining = "GATEWAY_DRAINING"
)

// readiness is the /readyz body.
type readiness struct {
	// Status is "ok" while the gateway serves, "draining" once it is
	// shutting down: the one thing the probe decides on.
	Status string `json:"status"`
	// Dependencies is "ok" when every backend serves, else "degraded";
	// only with ?verbose.
	Dependencies string `json:"dependencies,omitempty"`
	// Services maps a backend name to its serving status; only with ?verbose.
	Services map[string]string `json:"services,omitempty"`
}

// healthz answers 200 while the process can answer at all: liveness must not
// depend on the backends, or one slow service would restart every gateway.
func (g *Gateway) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 while this gateway can serve and 503 once it drains.
// A backend being down does not make it unready: every gateway pod would
// leave the load balancer at once and ingestion would stop with it, while
// the other services' routes still work. ?verbose asks every backend's gRPC
// health service (in parallel, bounded by readyTimeout) and reports them.
func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request) {
	verbose := r.URL.Query().Has("verbose")
	body := readiness{Status: "ok"}
	code := http.StatusOK
	if g.draining.Load() {
		body.Status, code = "draining", http.StatusServiceUnavailable
	}
	if !verbose {
		writeJSON(w, code, body)
		return
	}

	body.Dependencies = "ok"
	body.Services = make(map[string]string, len(g.backends))
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, b := range g.backends {
		wg.Go(func() {
			state := statusDraining
			if !g.draining.Load() {
				state = g.check(r.Context(), b)
			}
			mu.Lock()
			body.Services[b.name] = state
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, state := range body.Services {
		if state != grpc_health_v1.HealthCheckResponse_SERVING.String() {
			body.Dependencies = "degraded"
		}
	}
	writeJSON(w, code, body)
}

// check returns one backend's serving status name.
func (g *Gateway) check(ctx context.Context, b backend) string {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	resp, err := grpc_health_v1.NewHealthClient(b.conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{})
	if err != nil {
		g.logger.WarnContext(ctx, "backend health check failed", "backend", b.name, "error", err)
		return statusUnreachable
	}
	return resp.GetStatus().String()
}

// serveOpenAPI serves the merged OpenAPI document embedded at build time.
func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openapi.Served)
}

// writeJSON writes v as a JSON response. Health answers must never be
// cached by a proxy: a stale 200 would hide an outage.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
