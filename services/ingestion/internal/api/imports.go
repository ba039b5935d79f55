package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/ingestion/internal/imports"
	"github.com/kizuna/kizuna/services/ingestion/internal/ingest"
	"github.com/kizuna/kizuna/services/ingestion/internal/tracking"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpcstatus"
	"github.com/kizuna/kizuna/services/platform/validation"
)

// Limits of imports.
const (
	// MaxImportChunk bounds one upload call (2.7 MB as base64 in JSON,
	// under the gateway's and gRPC's 4 MiB).
	MaxImportChunk = 2 << 20
	// MaxImportFile bounds a file: about 15 million order rows.
	MaxImportFile = 1 << 30
)

// StartImports returns the runner of import jobs, which the service runs
// (Runner.Run); StartImport wakes it.
func (s *Server) StartImports(log *slog.Logger, opts imports.Options) *imports.Runner {
	s.imports = imports.NewRunner(s.store, func(ctx context.Context, ws string, msgs []tracking.Message) (int, int, error) {
		res, err := s.ingest(ctx, ws, msgs)
		return res.Accepted, res.Duplicates, err
	}, s.now, log, opts)
	return s.imports
}

type importServer struct {
	ingestionv1.UnimplementedImportServiceServer
	s *Server
}

func (i *importServer) CreateImport(ctx context.Context, req *ingestionv1.CreateImportRequest) (*ingestionv1.CreateImportResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	var v validation.Error
	kind := strings.TrimSpace(req.GetKind())
	if !slices.Contains(imports.Kinds, kind) {
		v.Addf("kind", "must be one of %s", strings.Join(imports.Kinds, ", "))
	}
	enc, ok := imports.Encoding(req.GetEncoding())
	if !ok {
		v.Addf("encoding", "must be utf-8 or shift_jis")
	}
	pm := req.GetMapping()
	m := imports.Mapping{Columns: pm.GetColumns(), DateFormats: pm.GetDateFormats(), Timezone: pm.GetTimezone(), DefaultCurrency: pm.GetDefaultCurrency()}
	if kind != "" {
		m.Validate(kind, "mapping", &v)
	}
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	mj, err := json.Marshal(m)
	if err != nil {
		return nil, toStatus(fmt.Errorf("encode mapping: %w", err))
	}
	now := i.s.now().UTC()
	im := imports.Import{WorkspaceID: ws, ID: ingest.NewID("imp"), Kind: kind, Encoding: enc, Mapping: string(mj),
		State: imports.ImportUploading, CreateTime: now, UpdateTime: now}
	if err := i.s.store.CreateImport(ctx, im); err != nil {
		return nil, toStatus(err)
	}
	pb, err := importProto(im)
	if err != nil {
		return nil, toStatus(err)
	}
	return &ingestionv1.CreateImportResponse{Import: pb}, nil
}

func (i *importServer) UploadImportChunk(ctx context.Context, req *ingestionv1.UploadImportChunkRequest) (*ingestionv1.UploadImportChunkResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	var v validation.Error
	if req.GetImportId() == "" {
		v.Addf("import_id", "is required")
	}
	if req.GetOffset() < 0 {
		v.Addf("offset", "must not be negative")
	}
	switch n := len(req.GetData()); {
	case n == 0:
		v.Addf("data", "is required: a chunk of the file")
	case n > MaxImportChunk:
		v.Addf("data", "is %d bytes, over the chunk limit of %d", n, MaxImportChunk)
	}
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	total, err := i.s.store.AppendImportChunk(ctx, ws, req.GetImportId(), req.GetOffset(), req.GetData(), MaxImportFile, i.s.now().UTC())
	if errors.Is(err, imports.ErrImportTooLarge) {
		return nil, grpcstatus.Invalid("data", err.Error())
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return &ingestionv1.UploadImportChunkResponse{BytesTotal: total}, nil
}

func (i *importServer) StartImport(ctx context.Context, req *ingestionv1.StartImportRequest) (*ingestionv1.StartImportResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetImportId() == "" {
		return nil, grpcstatus.Invalid("import_id", "is required")
	}
	im, err := i.s.store.StartImport(ctx, ws, req.GetImportId(), i.s.now().UTC())
	if err != nil {
		return nil, toStatus(err)
	}
	if i.s.imports != nil {
		i.s.imports.Wake()
	}
	pb, err := importProto(im)
	if err != nil {
		return nil, toStatus(err)
	}
	return &ingestionv1.StartImportResponse{Import: pb}, nil
}

func (i *importServer) GetImport(ctx context.Context, req *ingestionv1.GetImportRequest) (*ingestionv1.GetImportResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetImportId() == "" {
		return nil, grpcstatus.Invalid("import_id", "is required")
	}
	im, err := i.s.store.Import(ctx, ws, req.GetImportId())
	if err != nil {
		return nil, toStatus(err)
	}
	pb, err := importProto(im)
	if err != nil {
		return nil, toStatus(err)
	}
	return &ingestionv1.GetImportResponse{Import: pb}, nil
}

func (i *importServer) ListImportRejections(ctx context.Context, req *ingestionv1.ListImportRejectionsRequest) (*ingestionv1.ListImportRejectionsResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetImportId() == "" {
		return nil, grpcstatus.Invalid("import_id", "is required")
	}
	size, err := pageSize(req.GetPageSize())
	if err != nil {
		return nil, err
	}
	if _, err := i.s.store.Import(ctx, ws, req.GetImportId()); err != nil {
		return nil, toStatus(err)
	}
	rows, next, err := i.s.store.ImportRejections(ctx, ws, req.GetImportId(), size, req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &ingestionv1.ListImportRejectionsResponse{NextPageToken: next}
	for _, r := range rows {
		resp.Rejections = append(resp.Rejections, &ingestionv1.ImportRejection{Line: r.Line, Reason: r.Reason, Row: r.Row})
	}
	return resp, nil
}

var importStates = map[string]ingestionv1.ImportState{
	imports.ImportUploading: ingestionv1.ImportState_IMPORT_STATE_UPLOADING,
	imports.ImportRunning:   ingestionv1.ImportState_IMPORT_STATE_RUNNING,
	imports.ImportSucceeded: ingestionv1.ImportState_IMPORT_STATE_SUCCEEDED,
	imports.ImportFailed:    ingestionv1.ImportState_IMPORT_STATE_FAILED,
}

func importProto(im imports.Import) (*ingestionv1.ImportJob, error) {
	var m imports.Mapping
	if err := json.Unmarshal([]byte(im.Mapping), &m); err != nil {
		return nil, fmt.Errorf("decode mapping: %w", err)
	}
	p := im.Progress
	pb := &ingestionv1.ImportJob{
		ImportId: im.ID, Kind: im.Kind, Encoding: im.Encoding, State: importStates[im.State],
		BytesTotal: im.BytesTotal, BytesRead: p.BytesRead, RowsRead: p.RowsRead, RowsImported: p.RowsImported,
		RowsRejected: p.RowsRejected, RowsDuplicate: p.RowsDuplicate, Error: im.Error,
		CreateTime: timestamppb.New(im.CreateTime), UpdateTime: timestamppb.New(im.UpdateTime),
	}
	if im.Kind != imports.Events {
		pb.Mapping = &ingestionv1.ImportMapping{Columns: m.Columns, DateFormats: m.DateFormats, Timezone: m.Timezone, DefaultCurrency: m.DefaultCurrency}
	}
	if p.Run > 0 {
		pb.RowsPerSecond = float64(p.RowsRead) / p.Run.Seconds()
	}
	if !im.StartTime.IsZero() {
		pb.StartTime = timestamppb.New(im.StartTime)
	}
	if !im.EndTime.IsZero() {
		pb.EndTime = timestamppb.New(im.EndTime)
	}
	return pb, nil
}
