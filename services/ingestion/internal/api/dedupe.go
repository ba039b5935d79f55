package api

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/ingestion/internal/customer"
	"github.com/kizuna/kizuna/services/ingestion/internal/dedupe"
	"github.com/kizuna/kizuna/services/ingestion/internal/tracking"

	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpcstatus"
)

type dedupeServer struct {
	ingestionv1.UnimplementedDeduplicationServiceServer
	s *Server
}

func requireID(field, v string) error {
	switch {
	case v == "":
		return grpcstatus.Invalid(field, "is required")
	case len(v) > tracking.MaxIDLength:
		return grpcstatus.Invalid(field, fmt.Sprintf("is longer than %d bytes", tracking.MaxIDLength))
	}
	return nil
}

// pageSize checks a request's page size: 0 means 100, at most 1,000.
func pageSize(n int32) (int, error) { return pageSizeWithin(n, 100, 1000) }

// pageSizeWithin checks a request's page size: 0 means def, at most max.
func pageSizeWithin(n int32, def, max int) (int, error) {
	switch {
	case n < 0 || int(n) > max:
		return 0, grpcstatus.Invalid("page_size", fmt.Sprintf("must be between 0 and %d", max))
	case n == 0:
		return def, nil
	}
	return int(n), nil
}

func (d *dedupeServer) FindDuplicates(ctx context.Context, req *ingestionv1.FindDuplicatesRequest) (*ingestionv1.FindDuplicatesResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	sc, err := d.s.dedupe.StartScan(ctx, ws, req.GetAutoMerge())
	if err != nil {
		return nil, toStatus(err)
	}
	d.s.counters.scans.Add(ctx, 1)
	return &ingestionv1.FindDuplicatesResponse{Scan: scanProto(sc)}, nil
}

func (d *dedupeServer) GetDuplicateScan(ctx context.Context, req *ingestionv1.GetDuplicateScanRequest) (*ingestionv1.GetDuplicateScanResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if err := requireID("scan_id", req.GetScanId()); err != nil {
		return nil, err
	}
	sc, err := d.s.dedupe.Scan(ctx, ws, req.GetScanId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ingestionv1.GetDuplicateScanResponse{Scan: scanProto(sc)}, nil
}

var suggestionStates = map[ingestionv1.MergeSuggestionState]string{
	ingestionv1.MergeSuggestionState_MERGE_SUGGESTION_STATE_UNSPECIFIED: customer.SuggestionPending,
	ingestionv1.MergeSuggestionState_MERGE_SUGGESTION_STATE_PENDING:     customer.SuggestionPending,
	ingestionv1.MergeSuggestionState_MERGE_SUGGESTION_STATE_ACCEPTED:    customer.SuggestionAccepted,
	ingestionv1.MergeSuggestionState_MERGE_SUGGESTION_STATE_REJECTED:    customer.SuggestionRejected,
}

func (d *dedupeServer) ListMergeSuggestions(ctx context.Context, req *ingestionv1.ListMergeSuggestionsRequest) (*ingestionv1.ListMergeSuggestionsResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	state, ok := suggestionStates[req.GetState()]
	if !ok {
		return nil, grpcstatus.Invalid("state", "is not a suggestion state")
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	page, err := d.s.store.Suggestions(ctx, ws, state, size, req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &ingestionv1.ListMergeSuggestionsResponse{NextPageToken: page.NextToken}
	for _, sg := range page.Suggestions {
		resp.Suggestions = append(resp.Suggestions, suggestionProto(sg))
	}
	return resp, nil
}

func (d *dedupeServer) AcceptMergeSuggestion(ctx context.Context, req *ingestionv1.AcceptMergeSuggestionRequest) (*ingestionv1.AcceptMergeSuggestionResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if err := requireID("suggestion_id", req.GetSuggestionId()); err != nil {
		return nil, err
	}
	sg, m, err := d.s.dedupe.Accept(ctx, ws, req.GetSuggestionId())
	if err != nil {
		return nil, toStatus(err)
	}
	d.s.counters.addMerges(ctx, "suggestion", len(m.MergedIDs))
	return &ingestionv1.AcceptMergeSuggestionResponse{Suggestion: suggestionProto(sg), Merge: mergeProto(m)}, nil
}

func (d *dedupeServer) RejectMergeSuggestion(ctx context.Context, req *ingestionv1.RejectMergeSuggestionRequest) (*ingestionv1.RejectMergeSuggestionResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if err := requireID("suggestion_id", req.GetSuggestionId()); err != nil {
		return nil, err
	}
	sg, err := d.s.dedupe.Reject(ctx, ws, req.GetSuggestionId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ingestionv1.RejectMergeSuggestionResponse{Suggestion: suggestionProto(sg)}, nil
}

func (d *dedupeServer) MergeCustomers(ctx context.Context, req *ingestionv1.MergeCustomersRequest) (*ingestionv1.MergeCustomersResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if err := requireID("survivor_customer_id", req.GetSurvivorCustomerId()); err != nil {
		return nil, err
	}
	ids := req.GetMergedCustomerIds()
	if len(ids) == 0 || len(ids) > dedupe.MaxMerged {
		return nil, grpcstatus.Invalid("merged_customer_ids", fmt.Sprintf("must hold 1 to %d ids", dedupe.MaxMerged))
	}
	seen := map[string]bool{req.GetSurvivorCustomerId(): true}
	for i, id := range ids {
		field := fmt.Sprintf("merged_customer_ids[%d]", i)
		if err := requireID(field, id); err != nil {
			return nil, err
		}
		if seen[id] {
			return nil, grpcstatus.Invalid(field, "repeats the survivor or another id")
		}
		seen[id] = true
	}
	m, err := d.s.dedupe.Merge(ctx, ws, req.GetSurvivorCustomerId(), ids)
	if err != nil {
		return nil, toStatus(err)
	}
	d.s.counters.addMerges(ctx, "manual", len(m.MergedIDs))
	return &ingestionv1.MergeCustomersResponse{Merge: mergeProto(m)}, nil
}

func (d *dedupeServer) GetMerge(ctx context.Context, req *ingestionv1.GetMergeRequest) (*ingestionv1.GetMergeResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if err := requireID("merge_id", req.GetMergeId()); err != nil {
		return nil, err
	}
	m, err := d.s.store.Merge(ctx, ws, req.GetMergeId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ingestionv1.GetMergeResponse{Merge: mergeProto(m)}, nil
}

func (d *dedupeServer) ListMerges(ctx context.Context, req *ingestionv1.ListMergesRequest) (*ingestionv1.ListMergesResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if len(req.GetCustomerId()) > tracking.MaxIDLength {
		return nil, grpcstatus.Invalid("customer_id", fmt.Sprintf("is longer than %d bytes", tracking.MaxIDLength))
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	page, err := d.s.store.Merges(ctx, ws, strings.TrimSpace(req.GetCustomerId()), size, req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &ingestionv1.ListMergesResponse{NextPageToken: page.NextToken}
	for _, m := range page.Merges {
		resp.Merges = append(resp.Merges, mergeProto(m))
	}
	return resp, nil
}

func (d *dedupeServer) UndoMerge(ctx context.Context, req *ingestionv1.UndoMergeRequest) (*ingestionv1.UndoMergeResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if err := requireID("merge_id", req.GetMergeId()); err != nil {
		return nil, err
	}
	m, err := d.s.dedupe.Undo(ctx, ws, req.GetMergeId())
	if err != nil {
		return nil, toStatus(err)
	}
	d.s.counters.addMerges(ctx, "undo", len(m.MergedIDs))
	return &ingestionv1.UndoMergeResponse{Merge: mergeProto(m)}, nil
}

func timeOrNil(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

var scanStates = map[string]ingestionv1.DuplicateScanState{
	dedupe.ScanRunning:   ingestionv1.DuplicateScanState_DUPLICATE_SCAN_STATE_RUNNING,
	dedupe.ScanSucceeded: ingestionv1.DuplicateScanState_DUPLICATE_SCAN_STATE_SUCCEEDED,
	dedupe.ScanFailed:    ingestionv1.DuplicateScanState_DUPLICATE_SCAN_STATE_FAILED,
}

func scanProto(sc dedupe.Scan) *ingestionv1.DuplicateScan {
	return &ingestionv1.DuplicateScan{
		ScanId: sc.ID, State: scanStates[sc.State], Phase: sc.Phase, ProgressPercent: int32(sc.Progress),
		CustomersTotal: sc.CustomersTotal, CustomersScanned: sc.CustomersScanned, PairsCompared: sc.PairsCompared,
		SuggestionsCreated: sc.SuggestionsCreated, MergesApplied: sc.MergesApplied, AutoMerge: sc.AutoMerge,
		CreateTime: timestamppb.New(sc.CreateTime), UpdateTime: timestamppb.New(sc.UpdateTime), EndTime: timeOrNil(sc.EndTime), Error: sc.Error,
	}
}

var suggestionStateProtos = map[string]ingestionv1.MergeSuggestionState{
	customer.SuggestionPending:  ingestionv1.MergeSuggestionState_MERGE_SUGGESTION_STATE_PENDING,
	customer.SuggestionAccepted: ingestionv1.MergeSuggestionState_MERGE_SUGGESTION_STATE_ACCEPTED,
	customer.SuggestionRejected: ingestionv1.MergeSuggestionState_MERGE_SUGGESTION_STATE_REJECTED,
}

func suggestionProto(sg customer.Suggestion) *ingestionv1.MergeSuggestion {
	return &ingestionv1.MergeSuggestion{
		SuggestionId: sg.ID, CustomerIdA: sg.CustomerA, CustomerIdB: sg.CustomerB, Score: sg.Score, Reasons: sg.Reasons,
		State: suggestionStateProtos[sg.State], ScanId: sg.ScanID, MergeId: sg.MergeID,
		CreateTime: timestamppb.New(sg.CreateTime), DecideTime: timeOrNil(sg.DecideTime),
	}
}

var mergeSources = map[customer.MergeSource]ingestionv1.MergeSource{
	customer.SourceResolution: ingestionv1.MergeSource_MERGE_SOURCE_RESOLUTION,
	customer.SourceSuggestion: ingestionv1.MergeSource_MERGE_SOURCE_SUGGESTION,
	customer.SourceScan:       ingestionv1.MergeSource_MERGE_SOURCE_SCAN,
	customer.SourceManual:     ingestionv1.MergeSource_MERGE_SOURCE_MANUAL,
}

func mergeProto(m customer.Merge) *ingestionv1.Merge {
	state := ingestionv1.MergeState_MERGE_STATE_APPLIED
	if m.State == customer.MergeUndone {
		state = ingestionv1.MergeState_MERGE_STATE_UNDONE
	}
	return &ingestionv1.Merge{
		MergeId: m.ID, SurvivorCustomerId: m.SurvivorID, MergedCustomerIds: m.MergedIDs, Source: mergeSources[m.Source], State: state,
		SuggestionId: m.SuggestionID, MovedEventCount: m.MovedEvents, MergeTime: timestamppb.New(m.Time), UndoTime: timeOrNil(m.UndoTime),
	}
}
