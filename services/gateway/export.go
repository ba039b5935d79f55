package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	segmentationv1 "github.com/kizuna/kizuna/gen/kizuna/segmentation/v1"
)

// exporter answers GET /v1/customers/{customerId}:export: ingestion's part
// from its ExportCustomer RPC, the other services' parts from their own
// per-customer RPCs, over the same authenticated connections, as one
// document (the contract's ExportCustomerResponse) or NDJSON. Metrics holds
// nothing about a person that ingestion's orders and events do not already
// show.
type exporter struct {
	regulations ingestionv1.RegulationServiceClient
	segments    segmentationv1.SegmentServiceClient
	journeys    campaignv1.JourneyServiceClient
	consents    campaignv1.ConsentServiceClient
}

func newExporter(ingestion, segmentation, campaign *grpc.ClientConn) *exporter {
	return &exporter{
		regulations: ingestionv1.NewRegulationServiceClient(ingestion),
		segments:    segmentationv1.NewSegmentServiceClient(segmentation),
		journeys:    campaignv1.NewJourneyServiceClient(campaign),
		consents:    campaignv1.NewConsentServiceClient(campaign),
	}
}

// exportMethod is the RPC whose REST route the export answers.
const exportMethod = "/kizuna.ingestion.v1.RegulationService/ExportCustomer"

// isExportPath matches /v1/customers/{customerId}:export.
func isExportPath(p string) bool {
	rest, ok := strings.CutPrefix(p, "/v1/customers/")
	return ok && strings.HasSuffix(rest, ":export") && len(rest) > len(":export") && !strings.Contains(rest, "/")
}

// maxExportPages bounds the pages read from one list RPC.
const maxExportPages = 1000

func (g *Gateway) serveExport(w http.ResponseWriter, r *http.Request) {
	ctx, err := runtime.AnnotateContext(r.Context(), g.mux, r, exportMethod, runtime.WithHTTPPathPattern("/v1/customers/{customer_id}:export"))
	if err != nil {
		runtime.HTTPError(r.Context(), g.mux, g.marshaler, w, r, err)
		return
	}
	id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/customers/"), ":export")
	format := r.URL.Query().Get("format")
	resp, err := g.export.gather(ctx, id, format)
	if err != nil {
		runtime.HTTPError(ctx, g.mux, g.marshaler, w, r, err)
		return
	}
	if format == "ndjson" {
		w.Header().Set("Content-Type", "application/x-ndjson")
		writeNDJSON(w, resp)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	b, err := g.marshaler.Marshal(resp)
	if err != nil {
		runtime.HTTPError(ctx, g.mux, g.marshaler, w, r, err)
		return
	}
	_, _ = w.Write(b)
}

// gather asks every service for its part.
func (e *exporter) gather(ctx context.Context, id, format string) (*ingestionv1.ExportCustomerResponse, error) {
	resp, err := e.regulations.ExportCustomer(ctx, &ingestionv1.ExportCustomerRequest{CustomerId: id, Format: format})
	if err != nil {
		return nil, err
	}
	live := resp.GetCustomer().GetCustomerId()
	segs, err := e.segments.ListCustomerSegments(ctx, &segmentationv1.ListCustomerSegmentsRequest{CustomerId: live})
	if err != nil {
		return nil, err
	}
	feats, err := e.segments.GetCustomerFeatures(ctx, &segmentationv1.GetCustomerFeaturesRequest{CustomerId: live})
	if status.Code(err) == codes.NotFound {
		// Segmentation has not seen the customer yet (its consumer follows
		// ingestion by a moment): it holds nothing about them. An export
		// right after the first event failed with NotFound.
		feats, err = &segmentationv1.GetCustomerFeaturesResponse{}, nil
	}
	if err != nil {
		return nil, err
	}
	if resp.Segmentation, err = structOf(map[string]proto.Message{"segments": segs, "features": feats}); err != nil {
		return nil, err
	}
	var sends []*campaignv1.Send
	for page, token := 0, ""; page < maxExportPages; page++ {
		p, err := e.journeys.ListCustomerSends(ctx, &campaignv1.ListCustomerSendsRequest{CustomerId: live, PageSize: 1000, PageToken: token})
		if err != nil {
			return nil, err
		}
		sends = append(sends, p.GetSends()...)
		if token = p.GetNextPageToken(); token == "" {
			break
		}
	}
	var journeys []*campaignv1.CustomerJourney
	for page, token := 0, ""; page < maxExportPages; page++ {
		p, err := e.journeys.ListCustomerJourneys(ctx, &campaignv1.ListCustomerJourneysRequest{CustomerId: live, PageSize: 1000, PageToken: token})
		if err != nil {
			return nil, err
		}
		journeys = append(journeys, p.GetJourneys()...)
		if token = p.GetNextPageToken(); token == "" {
			break
		}
	}
	consents, err := e.consents.ListCustomerConsents(ctx, &campaignv1.ListCustomerConsentsRequest{CustomerId: live})
	if err != nil {
		return nil, err
	}
	if resp.Campaign, err = structOf(map[string]proto.Message{
		"sends":    &campaignv1.ListCustomerSendsResponse{Sends: sends},
		"journeys": &campaignv1.ListCustomerJourneysResponse{Journeys: journeys},
		"consents": consents,
	}); err != nil {
		return nil, err
	}
	return resp, nil
}

// structOf turns each named response into JSON (protojson, camelCase like
// the rest of the API) and the whole into a Struct.
func structOf(parts map[string]proto.Message) (*structpb.Struct, error) {
	out := map[string]any{}
	for name, m := range parts {
		b, err := protojson.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("export %s: %w", name, err)
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, fmt.Errorf("export %s: %w", name, err)
		}
		// A list response's one field is the list itself.
		if len(v) == 1 {
			for _, only := range v {
				out[name] = only
			}
			continue
		}
		out[name] = v
	}
	return structpb.NewStruct(out)
}

// writeNDJSON writes one {"kind": …, "record": …} line per record.
func writeNDJSON(w http.ResponseWriter, resp *ingestionv1.ExportCustomerResponse) {
	enc := json.NewEncoder(w)
	line := func(kind string, m proto.Message) {
		b, err := protojson.Marshal(m)
		if err != nil {
			return
		}
		_ = enc.Encode(map[string]any{"kind": kind, "record": json.RawMessage(b)})
	}
	line("customer", resp.GetCustomer())
	for _, i := range resp.GetIdentities() {
		line("identity", i)
	}
	for _, e := range resp.GetEvents() {
		line("event", e)
	}
	for _, o := range resp.GetOrders() {
		line("order", o)
	}
	for _, r := range resp.GetRegulations() {
		line("regulation", r)
	}
	for _, part := range []struct {
		service string
		s       *structpb.Struct
	}{{"segmentation", resp.GetSegmentation()}, {"campaign", resp.GetCampaign()}} {
		for name, v := range part.s.GetFields() {
			if l := v.GetListValue(); l != nil {
				for _, item := range l.GetValues() {
					line(part.service+"."+name, item)
				}
				continue
			}
			line(part.service+"."+name, v)
		}
	}
}
