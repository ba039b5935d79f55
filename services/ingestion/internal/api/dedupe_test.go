package api_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/ingestion/internal/api"
	"github.com/kizuna/kizuna/services/ingestion/internal/dedupe"
	"github.com/kizuna/kizuna/services/ingestion/internal/ingest"
	"github.com/kizuna/kizuna/services/ingestion/internal/rights"
	"github.com/kizuna/kizuna/services/ingestion/internal/store"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpctest"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// newAPIServer returns ingestion's handlers over db.
func newAPIServer(t *testing.T, db *sqldb.DB) (*api.Server, *store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	dd := dedupe.New(store.For[dedupe.Tx](st), time.Now, slog.New(slog.NewTextHandler(io.Discard, nil)), func() {})
	t.Cleanup(dd.Close)
	return api.NewServer(ingest.New(store.For[ingest.Tx](st), time.Now, nil), st, dd, rights.New(store.For[rights.Tx](st), time.Now, func() {}), time.Now, ""), st
}

// startServer serves ingestion's API on db over a real gRPC connection.
func startServer(t *testing.T, db *sqldb.DB) (*grpc.ClientConn, *store.Store) {
	t.Helper()
	srv, st := newAPIServer(t, db)
	return grpctest.Dial(t, grpctest.Start(t, func(s *grpc.Server) { srv.Register(s) })), st
}

// TestDeduplicationAPI drives DeduplicationService over a real gRPC
// connection on every backend: a manual merge, its undo, and the errors a
// client gets for bad input and impossible requests.
func TestDeduplicationAPI(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := auth.WithBearer(context.Background(), grpctest.Key)
		conn, _ := startServer(t, db)
		tracking := ingestionv1.NewTrackingServiceClient(conn)
		client := ingestionv1.NewDeduplicationServiceClient(conn)
		customers := ingestionv1.NewCustomerServiceClient(conn)

		var ids []string
		for _, anon := range []string{"a", "b"} {
			res, err := tracking.Identify(ctx, &ingestionv1.IdentifyRequest{AnonymousId: anon, MessageId: "m-" + anon})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, res.GetCustomerId())
		}
		merged, err := client.MergeCustomers(ctx, &ingestionv1.MergeCustomersRequest{SurvivorCustomerId: ids[0], MergedCustomerIds: ids[1:]})
		if err != nil {
			t.Fatal(err)
		}
		m := merged.GetMerge()
		if m.GetSource() != ingestionv1.MergeSource_MERGE_SOURCE_MANUAL || m.GetState() != ingestionv1.MergeState_MERGE_STATE_APPLIED || m.GetMovedEventCount() != 1 {
			t.Errorf("merge = %v", m)
		}
		got, err := customers.GetCustomer(ctx, &ingestionv1.GetCustomerRequest{CustomerId: ids[1]})
		if err != nil || got.GetCustomer().GetCustomerId() != ids[0] || got.GetCustomer().GetEventCount() != 2 {
			t.Errorf("merged customer = %v, %v", got, err)
		}
		undone, err := client.UndoMerge(ctx, &ingestionv1.UndoMergeRequest{MergeId: m.GetMergeId()})
		if err != nil || undone.GetMerge().GetState() != ingestionv1.MergeState_MERGE_STATE_UNDONE || undone.GetMerge().GetUndoTime() == nil {
			t.Fatalf("undo = %v, %v", undone, err)
		}
		list, err := client.ListMerges(ctx, &ingestionv1.ListMergesRequest{CustomerId: ids[1]})
		if err != nil || len(list.GetMerges()) != 1 {
			t.Errorf("merges of %s = %v, %v", ids[1], list, err)
		}

		tests := []struct {
			name  string
			call  func() error
			code  codes.Code
			field string
		}{
			{"merge without survivor", func() error {
				_, err := client.MergeCustomers(ctx, &ingestionv1.MergeCustomersRequest{MergedCustomerIds: ids[1:]})
				return err
			}, codes.InvalidArgument, "survivor_customer_id"},
			{"merge with nobody to merge", func() error {
				_, err := client.MergeCustomers(ctx, &ingestionv1.MergeCustomersRequest{SurvivorCustomerId: ids[0]})
				return err
			}, codes.InvalidArgument, "merged_customer_ids"},
			{"merge into itself", func() error {
				_, err := client.MergeCustomers(ctx, &ingestionv1.MergeCustomersRequest{SurvivorCustomerId: ids[0], MergedCustomerIds: ids[:1]})
				return err
			}, codes.InvalidArgument, "merged_customer_ids[0]"},
			{"merge an unknown customer", func() error {
				_, err := client.MergeCustomers(ctx, &ingestionv1.MergeCustomersRequest{SurvivorCustomerId: ids[0], MergedCustomerIds: []string{"cus_nobody"}})
				return err
			}, codes.NotFound, ""},
			{"undo twice", func() error {
				_, err := client.UndoMerge(ctx, &ingestionv1.UndoMergeRequest{MergeId: m.GetMergeId()})
				return err
			}, codes.FailedPrecondition, ""},
			{"undo an unknown merge", func() error {
				_, err := client.UndoMerge(ctx, &ingestionv1.UndoMergeRequest{MergeId: "mrg_nothing"})
				return err
			}, codes.NotFound, ""},
			{"scan id missing", func() error {
				_, err := client.GetDuplicateScan(ctx, &ingestionv1.GetDuplicateScanRequest{})
				return err
			}, codes.InvalidArgument, "scan_id"},
			{"get an unknown scan", func() error {
				_, err := client.GetDuplicateScan(ctx, &ingestionv1.GetDuplicateScanRequest{ScanId: "scan_nothing"})
				return err
			}, codes.NotFound, ""},
			{"accept an unknown suggestion", func() error {
				_, err := client.AcceptMergeSuggestion(ctx, &ingestionv1.AcceptMergeSuggestionRequest{SuggestionId: "sug_nothing"})
				return err
			}, codes.NotFound, ""},
			{"list with a bad page size", func() error {
				_, err := client.ListMergeSuggestions(ctx, &ingestionv1.ListMergeSuggestionsRequest{PageSize: -1})
				return err
			}, codes.InvalidArgument, "page_size"},
			{"list with a forged page token", func() error {
				_, err := client.ListMergeSuggestions(ctx, &ingestionv1.ListMergeSuggestionsRequest{PageToken: "!!"})
				return err
			}, codes.InvalidArgument, "page_token"},
			{"lookup by a fixed line", func() error {
				_, err := customers.LookupCustomer(ctx, &ingestionv1.LookupCustomerRequest{Phone: "03-1234-5678"})
				return err
			}, codes.InvalidArgument, "phone"},
			{"no credentials", func() error {
				_, err := client.ListMerges(context.Background(), &ingestionv1.ListMergesRequest{})
				return err
			}, codes.Unauthenticated, ""},
		}
		// The google.rpc.ErrorInfo reason clients branch on.
		reasons := map[string]string{
			"undo twice":                "MERGE_ALREADY_UNDONE",
			"undo an unknown merge":     "NOT_FOUND",
			"merge without survivor":    "INVALID_ARGUMENT",
			"list with a bad page size": "INVALID_ARGUMENT",
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				st := status.Convert(tt.call())
				if st.Code() != tt.code {
					t.Fatalf("code = %v (%s), want %v", st.Code(), st.Message(), tt.code)
				}
				if want, ok := reasons[tt.name]; ok {
					var got string
					for _, d := range st.Details() {
						if info, ok := d.(*errdetails.ErrorInfo); ok {
							got = info.GetReason()
						}
					}
					if got != want {
						t.Errorf("ErrorInfo reason = %q, want %q (message %q)", got, want, st.Message())
					}
				}
				if tt.field == "" {
					return
				}
				for _, d := range st.Details() {
					if br, ok := d.(*errdetails.BadRequest); ok && len(br.GetFieldViolations()) > 0 && br.GetFieldViolations()[0].GetField() == tt.field {
						return
					}
				}
				t.Errorf("no violation for field %s in %v", tt.field, st.Details())
			})
		}
	})
}
