package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kizuna/kizuna/services/gateway/internal/openapi"
)

// routeTable knows which methods each REST path template takes, read from
// the OpenAPI document the gateway is built from (the same annotations
// grpc-gateway registers), to answer 405 with Allow and CORS preflights.
type routeTable []route

type route struct {
	segments []string
	methods  []string
}

func newRouteTable(doc []byte) (routeTable, error) {
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("gateway: read the OpenAPI paths: %w", err)
	}
	var t routeTable
	for p, ops := range d.Paths {
		r := route{segments: strings.Split(strings.Trim(p, "/"), "/")}
		for m := range ops {
			r.methods = append(r.methods, strings.ToUpper(m))
		}
		slices.Sort(r.methods)
		t = append(t, r)
	}
	return t, nil
}

// methods lists the methods path takes, nil when no route matches it.
func (t routeTable) methods(path string) []string {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var out []string
	for _, r := range t {
		if r.matches(segs) {
			out = append(out, r.methods...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// matches compares path segments with a template's: "{id}" takes any
// non-empty segment, "{id}:verb" any segment ending in ":verb" (and not
// only that), anything else itself.
func (r route) matches(segs []string) bool {
	if len(segs) != len(r.segments) {
		return false
	}
	for i, tmpl := range r.segments {
		seg := segs[i]
		if !strings.HasPrefix(tmpl, "{") {
			if tmpl != seg {
				return false
			}
			continue
		}
		_, verb, hasVerb := strings.Cut(tmpl[strings.Index(tmpl, "}")+1:], ":")
		switch {
		case seg == "":
			return false
		case hasVerb:
			v := ":" + verb
			if !strings.HasSuffix(seg, v) || len(seg) == len(v) {
				return false
			}
		case strings.Contains(seg, ":"):
			// A custom verb this template does not have.
			return false
		}
	}
	return true
}

var routes = func() routeTable {
	t, err := newRouteTable(openapi.Document)
	if err != nil {
		// The document is generated and embedded at build time.
		panic(err)
	}
	return t
}()

// routingErrorHandler answers a known path with a wrong method as 405 with
// Allow (grpc-gateway's default says 501 Not Implemented, which reads as
// "the server cannot do this at all"), and everything else as the default.
func routingErrorHandler(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
	if httpStatus == http.StatusMethodNotAllowed {
		if allowed := routes.methods(r.URL.Path); len(allowed) > 0 {
			allow := strings.Join(append(allowed, http.MethodOptions), ", ")
			w.Header().Set("Allow", allow)
			runtime.HTTPError(ctx, mux, m, w, r, &runtime.HTTPStatusError{
				HTTPStatus: http.StatusMethodNotAllowed,
				Err:        status.Errorf(codes.Unimplemented, "%s is not allowed on %s; use %s", r.Method, r.URL.Path, allow),
			})
			return
		}
	}
	runtime.DefaultRoutingErrorHandler(ctx, mux, m, w, r, httpStatus)
}

// unknownFieldRE finds the field protojson names when it refuses one.
var unknownFieldRE = regexp.MustCompile(`unknown field "([^"]+)"`)

// unknownFieldMessage is how the gateway words that refusal, and
// unknownFieldMessageRE reads it back (see withFieldViolation).
const unknownFieldMessage = "unknown field %q: the request has no such field (see /openapi.json)"

var unknownFieldMessageRE = regexp.MustCompile(`^unknown field "([^"]+)": `)

// explainDecodeError explains a JSON body the decoder refused.
func explainDecodeError(err error) error {
	if m := unknownFieldRE.FindStringSubmatch(err.Error()); m != nil {
		return fmt.Errorf(unknownFieldMessage, m[1])
	}
	return fmt.Errorf("malformed JSON body: %w", err)
}

// withFieldViolation adds the field of an unknown-field refusal as a
// google.rpc.BadRequest detail, where clients find every other bad field.
// grpc-gateway turns a decode error into a bare InvalidArgument with the
// error's text, so the text is the only place the field survives.
func withFieldViolation(err error) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument || len(st.Details()) > 0 {
		return err
	}
	m := unknownFieldMessageRE.FindStringSubmatch(st.Message())
	if m == nil {
		return err
	}
	d, derr := st.WithDetails(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{
		{Field: m[1], Description: "is not a field of this request"},
	}})
	if derr != nil {
		return err
	}
	return d.Err()
}
