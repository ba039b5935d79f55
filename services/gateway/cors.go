package gateway

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// corsAllowedHeaders are the request headers a browser client may send.
const corsAllowedHeaders = "Authorization, Content-Type, Content-Encoding"

// cors answers CORS for the REST API (Segment's tracking endpoints have
// their own, open to any origin) and reports whether it answered the
// request itself. Only the configured origins get CORS headers: by default
// none, since the console is served from the gateway's own origin and
// needs none. Credentials mode is never allowed — clients send their key
// in Authorization, which a page of another origin cannot read — so even a
// listed origin gains nothing a key does not give it.
//
// OPTIONS is answered here on every REST route: a preflight from a listed
// origin with the route's methods, one from another origin with 403, and a
// plain OPTIONS with Allow. An unknown path falls through to the 404.
func (g *Gateway) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	allowed := origin != "" && g.originAllowed(origin)
	if allowed {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Expose-Headers", "Allow, WWW-Authenticate")
	}
	if r.Method != http.MethodOptions {
		return false
	}
	methods := routes.methods(r.URL.Path)
	if len(methods) == 0 {
		return false
	}
	allow := strings.Join(append(methods, http.MethodOptions), ", ")
	w.Header().Set("Allow", allow)
	if r.Header.Get("Access-Control-Request-Method") == "" {
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	if !allowed {
		runtime.HTTPError(r.Context(), g.mux, g.marshaler, w, r, &runtime.HTTPStatusError{
			HTTPStatus: http.StatusForbidden,
			Err:        status.Errorf(codes.PermissionDenied, "origin %q may not call this API from a browser; list it in -cors-origins", origin),
		})
		return true
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", allow)
	h.Set("Access-Control-Allow-Headers", corsAllowedHeaders)
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
	return true
}

func (g *Gateway) originAllowed(origin string) bool {
	return slices.Contains(g.corsOrigins, "*") || slices.Contains(g.corsOrigins, strings.TrimSuffix(origin, "/"))
}

// ParseOrigins reads a comma-separated list of origins for
// Options.CORSOrigins: each "*" or scheme://host[:port], nothing after.
func ParseOrigins(list string) ([]string, error) {
	var out []string
	for _, o := range strings.Split(list, ",") {
		o = strings.TrimSuffix(strings.TrimSpace(o), "/")
		if o == "" {
			continue
		}
		if o != "*" {
			u, err := url.Parse(o)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
				return nil, fmt.Errorf("CORS origin %q: want * or scheme://host[:port]", o)
			}
		}
		out = append(out, o)
	}
	return out, nil
}
