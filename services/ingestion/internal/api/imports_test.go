package api_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/transform"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/ingestion/internal/api"
	"github.com/kizuna/kizuna/services/ingestion/internal/dedupe"
	"github.com/kizuna/kizuna/services/ingestion/internal/imports"
	"github.com/kizuna/kizuna/services/ingestion/internal/ingest"
	"github.com/kizuna/kizuna/services/ingestion/internal/rights"
	"github.com/kizuna/kizuna/services/ingestion/internal/store"
	"github.com/kizuna/kizuna/services/ingestion/internal/workspace"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpctest"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// TestImportAPI drives ImportService over gRPC on every backend: a job
// with a mapping goes through upload, start, the runner and the rejection
// report; a suppressed person's row is not stored; bad requests name
// their field.
func TestImportAPI(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := auth.WithBearer(context.Background(), grpctest.Key)
		st, err := store.Open(context.Background(), db)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateWorkspace(ctx, workspace.Workspace{ID: grpctest.Workspace, DisplayName: "t", PhoneRegion: "JP", CreateTime: time.Now()}, workspace.APIKey{},
			auth.HashKey(grpctest.Key)); err != nil {
			t.Fatal(err)
		}
		dd := dedupe.New(store.For[dedupe.Tx](st), time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)), func() {})
		t.Cleanup(dd.Close)
		srv := api.NewServer(ingest.New(store.For[ingest.Tx](st), time.Now, nil), st, dd, rights.New(store.For[rights.Tx](st), time.Now, func() {}), time.Now, "")
		runner := srv.StartImports(slog.New(slog.NewTextHandler(io.Discard, nil)), imports.Options{Batch: 2})
		conn := grpctest.Dial(t, grpctest.Start(t, func(s *grpc.Server) { srv.Register(s) }))
		client := ingestionv1.NewImportServiceClient(conn)
		customers := ingestionv1.NewCustomerServiceClient(conn)
		regulations := ingestionv1.NewRegulationServiceClient(conn)

		if _, err := regulations.CreateRegulation(ctx, &ingestionv1.CreateRegulationRequest{Type: ingestionv1.RegulationType_SUPPRESS, Email: "gone@example.jp"}); err != nil {
			t.Fatal(err)
		}
		created, err := client.CreateImport(ctx, &ingestionv1.CreateImportRequest{Kind: "customers", Encoding: "SJIS",
			Mapping: &ingestionv1.ImportMapping{Columns: map[string]string{"会員番号": "user_id", "メール": "email", "氏名": "name"}}})
		if err != nil {
			t.Fatal(err)
		}
		job := created.GetImport()
		if job.GetState() != ingestionv1.ImportState_IMPORT_STATE_UPLOADING || job.GetEncoding() != "shift_jis" || job.GetMapping().GetColumns()["氏名"] != "name" {
			t.Errorf("created = %v", job)
		}
		id := job.GetImportId()
		file := shiftJIS(t, "会員番号,メール,氏名\nC-1,ichiro@example.jp,鈴木一郎\nC-2,gone@example.jp,消去\n,,\n")
		up, err := client.UploadImportChunk(ctx, &ingestionv1.UploadImportChunkRequest{ImportId: id, Data: file})
		if err != nil || up.GetBytesTotal() != int64(len(file)) {
			t.Fatalf("upload = %v, %v", up, err)
		}
		if _, err := client.StartImport(ctx, &ingestionv1.StartImportRequest{ImportId: id}); err != nil {
			t.Fatal(err)
		}
		if ran, err := runner.RunOne(context.Background()); !ran || err != nil {
			t.Fatalf("run = %v, %v", ran, err)
		}
		got, err := client.GetImport(ctx, &ingestionv1.GetImportRequest{ImportId: id})
		j := got.GetImport()
		if err != nil || j.GetState() != ingestionv1.ImportState_IMPORT_STATE_SUCCEEDED || j.GetRowsRead() != 3 || j.GetRowsImported() != 2 ||
			j.GetRowsRejected() != 1 || j.GetRowsPerSecond() <= 0 || j.GetEndTime() == nil {
			t.Errorf("job = %v, %v", j, err)
		}
		c, err := customers.LookupCustomer(ctx, &ingestionv1.LookupCustomerRequest{Email: "Ichiro@example.jp"})
		if err != nil || c.GetCustomer().GetTraits().GetFields()["name"].GetStringValue() != "鈴木一郎" {
			t.Errorf("imported customer = %v, %v", c, err)
		}
		if _, err := customers.LookupCustomer(ctx, &ingestionv1.LookupCustomerRequest{UserId: "C-2"}); status.Code(err) != codes.NotFound {
			t.Errorf("a suppressed person was imported: %v", err)
		}
		rej, err := client.ListImportRejections(ctx, &ingestionv1.ListImportRejectionsRequest{ImportId: id})
		if err != nil || len(rej.GetRejections()) != 1 || rej.GetRejections()[0].GetLine() != 4 {
			t.Errorf("rejections = %v, %v", rej, err)
		}

		for name, tt := range map[string]struct {
			call  func() error
			code  codes.Code
			field string
		}{
			"unknown kind": {func() error {
				_, err := client.CreateImport(ctx, &ingestionv1.CreateImportRequest{Kind: "people"})
				return err
			}, codes.InvalidArgument, "kind"},
			"unknown encoding": {func() error {
				_, err := client.CreateImport(ctx, &ingestionv1.CreateImportRequest{Kind: "orders", Encoding: "latin1"})
				return err
			}, codes.InvalidArgument, "encoding"},
			"bad mapping": {func() error {
				_, err := client.CreateImport(ctx, &ingestionv1.CreateImportRequest{Kind: "orders", Mapping: &ingestionv1.ImportMapping{Timezone: "Nowhere/Land"}})
				return err
			}, codes.InvalidArgument, "mapping.timezone"},
			"chunk too large": {func() error {
				_, err := client.UploadImportChunk(ctx, &ingestionv1.UploadImportChunkRequest{ImportId: id, Data: make([]byte, api.MaxImportChunk+1)})
				return err
			}, codes.InvalidArgument, "data"},
			"empty chunk": {func() error {
				_, err := client.UploadImportChunk(ctx, &ingestionv1.UploadImportChunkRequest{ImportId: id})
				return err
			}, codes.InvalidArgument, "data"},
			"upload after start": {func() error {
				_, err := client.UploadImportChunk(ctx, &ingestionv1.UploadImportChunkRequest{ImportId: id, Offset: int64(len(file)), Data: []byte("x")})
				return err
			}, codes.FailedPrecondition, ""},
			"unknown job": {func() error {
				_, err := client.GetImport(ctx, &ingestionv1.GetImportRequest{ImportId: "imp_nope"})
				return err
			}, codes.NotFound, ""},
			"page size": {func() error {
				_, err := client.ListImportRejections(ctx, &ingestionv1.ListImportRejectionsRequest{ImportId: id, PageSize: 5000})
				return err
			}, codes.InvalidArgument, "page_size"},
		} {
			t.Run(name, func(t *testing.T) {
				err := tt.call()
				if status.Code(err) != tt.code {
					t.Fatalf("code = %v (%v), want %v", status.Code(err), err, tt.code)
				}
				if tt.field != "" {
					if v := violations(t, err); len(v) == 0 || v[0] != tt.field {
						t.Errorf("violations = %v, want %s", v, tt.field)
					}
				}
			})
		}

		// An empty job cannot start.
		empty, err := client.CreateImport(ctx, &ingestionv1.CreateImportRequest{Kind: "events"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.StartImport(ctx, &ingestionv1.StartImportRequest{ImportId: empty.GetImport().GetImportId()}); status.Code(err) != codes.FailedPrecondition {
			t.Errorf("start of an empty job: %v", err)
		}
	})
}

func shiftJIS(t *testing.T, s string) []byte {
	t.Helper()
	b, _, err := transform.Bytes(japanese.ShiftJIS.NewEncoder(), []byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
