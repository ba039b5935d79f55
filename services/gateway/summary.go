package gateway

import (
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"

	metricsv1 "github.com/kizuna/kizuna/gen/kizuna/metrics/v1"
)

// summaryMethod is the RPC behind GET /v1/initiatives/{id}/summary.
const summaryMethod = "/kizuna.metrics.v1.InitiativeService/GetInitiativeSummary"

// isMarkdownSummary matches GET /v1/initiatives/{initiativeId}/summary
// with format=markdown, which is answered as a text/markdown page to paste
// into a weekly report rather than as JSON holding the page in a string
// (format=json keeps the JSON document, markdown field included).
func isMarkdownSummary(r *http.Request) bool {
	if r.Method != http.MethodGet || r.URL.Query().Get("format") != "markdown" {
		return false
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/initiatives/")
	id, ok2 := strings.CutSuffix(rest, "/summary")
	return ok && ok2 && id != "" && !strings.Contains(id, "/")
}

func (g *Gateway) serveMarkdownSummary(w http.ResponseWriter, r *http.Request) {
	ctx, err := runtime.AnnotateContext(r.Context(), g.mux, r, summaryMethod,
		runtime.WithHTTPPathPattern("/v1/initiatives/{initiative_id}/summary"))
	if err != nil {
		runtime.HTTPError(r.Context(), g.mux, g.marshaler, w, r, err)
		return
	}
	id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/initiatives/"), "/summary")
	resp, err := g.initiatives.GetInitiativeSummary(ctx, &metricsv1.GetInitiativeSummaryRequest{InitiativeId: id, Format: "markdown"})
	if err != nil {
		runtime.HTTPError(ctx, g.mux, g.marshaler, w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/markdown; charset=utf-8")
	_, _ = w.Write([]byte(resp.GetMarkdown()))
}
