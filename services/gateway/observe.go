package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// requestInfo carries what inner layers learn about a request (its route
// template) back out to logRequests, which logs after they return.
type requestInfo struct {
	route string
}

type requestInfoKey struct{}

// logRequests writes one structured line per request and names the span
// after the route template. The line is logged with the request's context,
// so a logger from telemetry.NewLogger adds its trace_id and span_id.
func (g *Gateway) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{}
		rec := &statusRecorder{ResponseWriter: w}
		r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))

		next.ServeHTTP(rec, r)

		route := info.route
		if route == "" && r.Pattern != "" && r.Pattern != "/" {
			// Routes of the root ServeMux: "GET /healthz" → "/healthz".
			_, route, _ = strings.Cut(r.Pattern, " ")
			if route == "" {
				route = r.Pattern
			}
		}
		span := trace.SpanFromContext(r.Context())
		if route != "" {
			span.SetName(r.Method + " " + route)
			span.SetAttributes(attribute.String("http.route", route))
			// RED metrics per route template, never per raw path.
			if labeler, ok := otelhttp.LabelerFromContext(r.Context()); ok {
				labeler.Add(attribute.String("http.route", route))
			}
		}
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		level := slog.LevelInfo
		switch {
		case status >= http.StatusInternalServerError:
			level = slog.LevelError
		case isProbe(r.URL.Path):
			// Kubernetes probes every few seconds; at Info they would drown
			// the traffic. A failing backend is logged by the check itself.
			level = slog.LevelDebug
		}
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", loggedPath(r.URL.Path)),
			slog.String("route", route),
			slog.Int("status", status),
			slog.Duration("duration", time.Since(start)),
			slog.Int64("bytes", rec.bytes),
		}
		g.logger.LogAttrs(r.Context(), level, "http request", attrs...)
	})
}

// loggedPath is the path as the request log shows it: an unsubscribe link's
// token is left out, since anyone holding it can unsubscribe its customer.
func loggedPath(path string) string {
	if strings.HasPrefix(path, "/unsubscribe/") {
		return unsubscribeRoute
	}
	return path
}

// isProbe reports whether path is a health or metrics endpoint polled by
// the platform.
func isProbe(path string) bool {
	return path == "/healthz" || path == "/readyz" || path == "/metrics"
}

// routeMiddleware runs inside grpc-gateway, the only place that knows which
// route template matched; it hands the template to logRequests.
func routeMiddleware(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		if info, ok := r.Context().Value(requestInfoKey{}).(*requestInfo); ok {
			if p, ok := runtime.HTTPPattern(r.Context()); ok {
				info.route = p.String()
			}
		}
		next(w, r, params)
	}
}

// statusRecorder remembers the status code and body size written.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(p)
	s.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// errorHandler is grpc-gateway's default error handler with two fixes. The
// default puts the status message into WWW-Authenticate on 401, which is not
// a valid challenge (RFC 9110 §11.6.1). It is always Bearer, even on
// Segment's endpoints, which also take Basic: a Basic challenge would make
// browsers pop a login dialog over pages that embed a tracking SDK. And an
// unreachable backend is logged with its cause here, since the client only
// sees a plain Unavailable (platform/grpcclient keeps addresses out of it).
func (g *Gateway) errorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if status.Code(err) == codes.Unavailable {
		route := r.URL.Path
		if p, ok := runtime.HTTPPattern(ctx); ok {
			route = p.String()
		}
		g.logger.WarnContext(ctx, "backend unavailable", "route", route, "error", err)
	}
	runtime.DefaultHTTPErrorHandler(ctx, mux, m, &challengeWriter{ResponseWriter: w}, r, withFieldViolation(err))
}

// challengeWriter rewrites WWW-Authenticate just before a 401 goes out.
type challengeWriter struct {
	http.ResponseWriter
}

func (c *challengeWriter) WriteHeader(code int) {
	if code == http.StatusUnauthorized {
		c.Header().Set("WWW-Authenticate", `Bearer realm="kizuna"`)
	}
	c.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (c *challengeWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
