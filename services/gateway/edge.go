package gateway

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kizuna/kizuna/services/platform/auth"
)

// Body limits. Segment's tracking API allows 500 KB per batch and 32 KB per
// single message; SDKs size their batches by those numbers (in decimal
// bytes), so accepting up to the binary KB never rejects a batch Segment
// would take. Other endpoints get gRPC's default 4 MiB receive limit: a
// larger body could not reach the backend anyway.
const (
	batchBodyLimit   = 500 << 10
	messageBodyLimit = 32 << 10
	defaultBodyLimit = 4 << 20
)

// segmentPaths are Segment's tracking endpoints and their body limits.
var segmentPaths = map[string]int64{
	"/v1/batch":    batchBodyLimit,
	"/v1/identify": messageBodyLimit,
	"/v1/track":    messageBodyLimit,
	"/v1/page":     messageBodyLimit,
	"/v1/screen":   messageBodyLimit,
	"/v1/group":    messageBodyLimit,
	"/v1/alias":    messageBodyLimit,
}

// errBodyTooLarge marks a body (compressed or not) over its limit.
var errBodyTooLarge = errors.New("request body too large")

// edge prepares a request for grpc-gateway: it gives it a deadline, reads
// and decompresses the body within its limit, and, on Segment's endpoints,
// turns the write key into the bearer form the backends authenticate and
// answers CORS so browser SDKs can call.
func (g *Gateway) edge() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit, segment := segmentPaths[r.URL.Path]
		next := g.trackingMux
		if !segment {
			limit, next = defaultBodyLimit, g.mux
		}
		if segment && r.Header.Get("Origin") != "" {
			// Write keys are public by design (they ship in web pages), so
			// any origin may send; credentials mode is never allowed.
			w.Header().Set("Access-Control-Allow-Origin", "*")
			if r.Method == http.MethodOptions {
				w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
				w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Content-Encoding")
				w.Header().Set("Access-Control-Max-Age", "86400")
				w.WriteHeader(http.StatusNoContent)
				return
			}
		}
		if !segment && g.cors(w, r) {
			return
		}
		if r.Method == http.MethodPatch {
			snakeUpdateMask(r)
		}

		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		r = r.WithContext(ctx)

		body, err := readBody(r, limit)
		if err != nil {
			g.bodyError(w, r, limit, err)
			return
		}
		if body != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			r.Header.Del("Content-Encoding")
			if r.Header.Get("Content-Length") != "" {
				r.Header.Set("Content-Length", strconv.Itoa(len(body)))
			}
		}
		if segment {
			segmentAuthorization(r, body)
		}
		if serviceTokenPresented(r) {
			runtime.HTTPError(r.Context(), g.mux, g.marshaler, w, r,
				status.Error(codes.Unauthenticated, "service tokens are not accepted from outside; use an API key"))
			return
		}
		if r.Method == http.MethodGet && isExportPath(r.URL.Path) {
			g.serveExport(w, r)
			return
		}
		if isMarkdownSummary(r) {
			g.serveMarkdownSummary(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// readBody reads the whole body, gunzipping it when Content-Encoding says
// so, and fails with errBodyTooLarge when it (or its decompressed form)
// exceeds limit. It returns nil for a request without a body.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	encoding := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding")))
	switch encoding {
	case "", "identity":
		if r.ContentLength > limit {
			return nil, errBodyTooLarge
		}
		body, err := io.ReadAll(&cappedReader{r: r.Body, n: limit})
		if err != nil {
			return nil, fmt.Errorf("read body: %w", err)
		}
		return body, nil
	case "gzip", "x-gzip":
		// The compressed stream is capped too, with room for gzip's framing
		// on incompressible data, so a slow client cannot stream forever.
		compressed := &cappedReader{r: r.Body, n: limit + limit/8 + 1024}
		zr, err := gzip.NewReader(compressed)
		if err != nil {
			if errors.Is(err, errBodyTooLarge) {
				return nil, err
			}
			return nil, &encodingError{msg: fmt.Sprintf("malformed gzip body: %v", err)}
		}
		defer zr.Close()
		body, err := io.ReadAll(&cappedReader{r: zr, n: limit})
		switch {
		case errors.Is(err, errBodyTooLarge):
			return nil, err
		case err != nil:
			return nil, &encodingError{msg: fmt.Sprintf("malformed gzip body: %v", err)}
		}
		return body, nil
	default:
		return nil, &encodingError{
			msg:         fmt.Sprintf("unsupported Content-Encoding %q: send gzip or an uncompressed body", encoding),
			unsupported: true,
		}
	}
}

// encodingError is a body the gateway cannot decode; its message is for the
// client. unsupported marks an encoding the gateway does not speak at all,
// which HTTP answers with 415 rather than 400.
type encodingError struct {
	msg         string
	unsupported bool
}

func (e *encodingError) Error() string { return e.msg }

// bodyError answers a body readBody rejected, in grpc-gateway's error shape
// ({"code":3,"message":...}) so clients parse one format.
func (g *Gateway) bodyError(w http.ResponseWriter, r *http.Request, limit int64, err error) {
	var encErr *encodingError
	switch {
	case errors.Is(err, errBodyTooLarge):
		msg := fmt.Sprintf("request body exceeds %d KB, the limit for %s", limit>>10, r.URL.Path)
		runtime.HTTPError(r.Context(), g.mux, g.marshaler, w, r, status.Error(codes.InvalidArgument, msg))
	case errors.As(err, &encErr) && encErr.unsupported:
		runtime.HTTPError(r.Context(), g.mux, g.marshaler, w, r, &runtime.HTTPStatusError{
			HTTPStatus: http.StatusUnsupportedMediaType,
			Err:        status.Error(codes.InvalidArgument, encErr.msg),
		})
	case errors.As(err, &encErr):
		runtime.HTTPError(r.Context(), g.mux, g.marshaler, w, r, status.Error(codes.InvalidArgument, encErr.msg))
	default:
		// The client went away or the connection broke mid-body.
		g.logger.DebugContext(r.Context(), "reading request body", "path", r.URL.Path, "error", err)
		runtime.HTTPError(r.Context(), g.mux, g.marshaler, w, r, status.Error(codes.InvalidArgument, "could not read the request body"))
	}
}

// segmentAuthorization turns Segment's ways of presenting a write key into
// `Authorization: Bearer <key>`: HTTP Basic with the key as user name (what
// analytics.js and the server libraries send), or a writeKey field in the
// JSON body when no header is present. A bearer header passes unchanged.
// Anything unusable is dropped, so the backend answers 401.
func segmentAuthorization(r *http.Request, body []byte) {
	header := r.Header.Get("Authorization")
	if header == "" {
		var envelope struct {
			WriteKey string `json:"writeKey"`
		}
		// A malformed body is grpc-gateway's to report, with a better message.
		if json.Unmarshal(body, &envelope) == nil && envelope.WriteKey != "" {
			r.Header.Set("Authorization", "Bearer "+envelope.WriteKey)
		}
		return
	}
	scheme, _, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return
	}
	if user, _, ok := r.BasicAuth(); ok && user != "" {
		r.Header.Set("Authorization", "Bearer "+user)
		return
	}
	r.Header.Del("Authorization")
}

// serviceTokenPresented reports whether the request authenticates with a
// service token. Those are minted inside a deployment for work no caller
// started and act as any workspace the secret names; no client outside
// holds a legitimate one, so one arriving here is leaked or forged and is
// refused before it can reach a backend.
func serviceTokenPresented(r *http.Request) bool {
	for _, v := range r.Header.Values("Authorization") {
		scheme, key, _ := strings.Cut(strings.TrimSpace(v), " ")
		if strings.EqualFold(scheme, "Bearer") && strings.HasPrefix(strings.TrimSpace(key), auth.ServiceTokenPrefix) {
			return true
		}
	}
	return false
}

// cappedReader reads at most n bytes from r and fails with errBodyTooLarge
// when more follow, unlike io.LimitReader, which truncates silently.
type cappedReader struct {
	r io.Reader
	n int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	if c.n <= 0 {
		var probe [1]byte
		k, err := c.r.Read(probe[:])
		if k > 0 {
			return 0, errBodyTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > c.n {
		p = p[:c.n]
	}
	k, err := c.r.Read(p)
	c.n -= int64(k)
	return k, err
}

// snakeUpdateMask rewrites the update mask of a PATCH query into the
// proto field names the services compare it with, so "quietHours" (the
// JSON name every body uses) works as well as "quiet_hours".
func snakeUpdateMask(r *http.Request) {
	q := r.URL.Query()
	changed := false
	for _, key := range []string{"updateMask", "update_mask"} {
		vals, ok := q[key]
		if !ok {
			continue
		}
		for i, v := range vals {
			paths := strings.Split(v, ",")
			for j, p := range paths {
				paths[j] = snakeCase(strings.TrimSpace(p))
			}
			if s := strings.Join(paths, ","); s != v {
				vals[i], changed = s, true
			}
		}
	}
	if changed {
		r.URL.RawQuery = q.Encode()
	}
}

// snakeCase turns lowerCamelCase into snake_case ("quietHours.start" →
// "quiet_hours.start"); snake_case passes unchanged.
func snakeCase(s string) string {
	var b strings.Builder
	for i, c := range s {
		if 'A' <= c && c <= 'Z' {
			if i > 0 && s[i-1] != '.' {
				b.WriteByte('_')
			}
			b.WriteRune(c - 'A' + 'a')
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}
