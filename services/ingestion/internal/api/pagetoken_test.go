package api_test

import (
	"context"
	"slices"
	"testing"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpctest"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// TestBadPageToken: every list refuses a page token it did not issue as
// InvalidArgument naming page_token, on every backend.
func TestBadPageToken(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := auth.WithBearer(context.Background(), grpctest.Key)
		conn, _ := startServer(t, db)
		customers := ingestionv1.NewCustomerServiceClient(conn)
		dedupe := ingestionv1.NewDeduplicationServiceClient(conn)
		regulations := ingestionv1.NewRegulationServiceClient(conn)
		workspaces := ingestionv1.NewWorkspaceServiceClient(conn)
		imports := ingestionv1.NewImportServiceClient(conn)
		id, err := ingestionv1.NewTrackingServiceClient(conn).Identify(ctx, &ingestionv1.IdentifyRequest{MessageId: "m1", UserId: "u1"})
		if err != nil {
			t.Fatal(err)
		}
		im, err := imports.CreateImport(ctx, &ingestionv1.CreateImportRequest{Kind: "customers", Encoding: "utf-8",
			Mapping: &ingestionv1.ImportMapping{Columns: map[string]string{"id": "user_id"}}})
		if err != nil {
			t.Fatal(err)
		}
		const bad = "not-a-token!"
		for name, call := range map[string]func() error{
			"SearchCustomers": func() error {
				_, err := customers.SearchCustomers(ctx, &ingestionv1.SearchCustomersRequest{Name: "x", PageToken: bad})
				return err
			},
			"ListCustomerEvents": func() error {
				_, err := customers.ListCustomerEvents(ctx, &ingestionv1.ListCustomerEventsRequest{CustomerId: id.GetCustomerId(), PageToken: bad})
				return err
			},
			"ListMergeSuggestions": func() error {
				_, err := dedupe.ListMergeSuggestions(ctx, &ingestionv1.ListMergeSuggestionsRequest{PageToken: bad})
				return err
			},
			"ListMerges": func() error {
				_, err := dedupe.ListMerges(ctx, &ingestionv1.ListMergesRequest{PageToken: bad})
				return err
			},
			"ListRegulations": func() error {
				_, err := regulations.ListRegulations(ctx, &ingestionv1.ListRegulationsRequest{PageToken: bad})
				return err
			},
			"ListAPIKeys": func() error {
				_, err := workspaces.ListAPIKeys(ctx, &ingestionv1.ListAPIKeysRequest{PageToken: bad})
				return err
			},
			"ListImportRejections": func() error {
				_, err := imports.ListImportRejections(ctx, &ingestionv1.ListImportRejectionsRequest{ImportId: im.GetImport().GetImportId(), PageToken: bad})
				return err
			},
		} {
			t.Run(name, func(t *testing.T) {
				if got := violations(t, call()); !slices.Equal(got, []string{"page_token"}) {
					t.Errorf("violations = %v, want [page_token]", got)
				}
			})
		}
	})
}
