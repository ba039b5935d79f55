package api_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpctest"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// TestSearchCustomers finds customers by any spelling of a part of their
// name or reading, never by another trait, a page at a time, on every
// backend.
func TestSearchCustomers(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := auth.WithBearer(context.Background(), grpctest.Key)
		conn, _ := startServer(t, db)
		track := ingestionv1.NewTrackingServiceClient(conn)
		customers := ingestionv1.NewCustomerServiceClient(conn)
		ids := map[string]string{}
		for i, c := range []struct {
			user   string
			traits map[string]any
		}{
			{"hanako", map[string]any{"name": "佐藤 花子", "name_kana": "さとう はなこ"}},
			{"taro", map[string]any{"last_name": "佐藤", "first_name": "太郎"}},
			{"suzuki", map[string]any{"name": "鈴木花子"}},
			// 佐藤 only in the company and the e-mail: not a name match.
			{"tanaka", map[string]any{"name": "田中一郎", "company": "佐藤商事", "email": "sato@example.jp"}},
			{"smith", map[string]any{"name": "John SMITH"}},
			{"wild", map[string]any{"name": "100%_off"}},
		} {
			r, err := track.Identify(ctx, &ingestionv1.IdentifyRequest{MessageId: fmt.Sprint("i", i), UserId: c.user, Traits: mustStruct(t, c.traits)})
			if err != nil {
				t.Fatal(err)
			}
			ids[r.GetCustomerId()] = c.user
		}
		search := func(t *testing.T, req *ingestionv1.SearchCustomersRequest) ([]string, string) {
			t.Helper()
			r, err := customers.SearchCustomers(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			var users []string
			for _, c := range r.GetCustomers() {
				users = append(users, ids[c.GetCustomerId()])
			}
			slices.Sort(users)
			return users, r.GetNextPageToken()
		}
		for q, want := range map[string][]string{
			"佐藤":      {"hanako", "taro"},
			"佐藤花子様":   {"hanako"},
			"さとう":     {"hanako"},
			"ｻﾄｳ ﾊﾅｺ": {"hanako"},
			"花子":      {"hanako", "suzuki"},
			"ｊｏｈｎ":    {"smith"},
			"smith":   {"smith"},
			"商事":      nil,
			"%":       {"wild"},
			"0%_":     {"wild"},
			"x_o":     nil,
		} {
			t.Run(q, func(t *testing.T) {
				got, next := search(t, &ingestionv1.SearchCustomersRequest{Name: q})
				if !slices.Equal(got, want) || next != "" {
					t.Errorf("search %q = %v (next %q), want %v", q, got, next, want)
				}
			})
		}

		// Paging: one at a time, in customer id order, each once.
		var seen []string
		token := ""
		for page := 0; ; page++ {
			if page > 3 {
				t.Fatal("paging does not end")
			}
			got, next := search(t, &ingestionv1.SearchCustomersRequest{Name: "佐藤", PageSize: 1, PageToken: token})
			seen = append(seen, got...)
			if next == "" {
				break
			}
			token = next
		}
		slices.Sort(seen)
		if !slices.Equal(seen, []string{"hanako", "taro"}) {
			t.Errorf("paged = %v", seen)
		}

		for name, tt := range map[string]struct {
			req   *ingestionv1.SearchCustomersRequest
			field string
		}{
			"blank":         {&ingestionv1.SearchCustomersRequest{Name: "  "}, "name"},
			"too long":      {&ingestionv1.SearchCustomersRequest{Name: strings.Repeat("あ", 101)}, "name"},
			"page too big":  {&ingestionv1.SearchCustomersRequest{Name: "a", PageSize: 101}, "page_size"},
			"negative page": {&ingestionv1.SearchCustomersRequest{Name: "a", PageSize: -1}, "page_size"},
			"bad token":     {&ingestionv1.SearchCustomersRequest{Name: "a", PageToken: "!!"}, "page_token"},
		} {
			t.Run(name, func(t *testing.T) {
				_, err := customers.SearchCustomers(ctx, tt.req)
				if status.Code(err) != codes.InvalidArgument {
					t.Fatalf("code = %v (%v), want InvalidArgument", status.Code(err), err)
				}
				if got := violations(t, err); !slices.Equal(got, []string{tt.field}) {
					t.Errorf("violations = %v, want %s", got, tt.field)
				}
			})
		}
	})
}
