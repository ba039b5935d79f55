package ingest_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/customer"
	"github.com/kizuna/kizuna/services/ingestion/internal/identity"
	"github.com/kizuna/kizuna/services/ingestion/internal/ingest"
	"github.com/kizuna/kizuna/services/ingestion/internal/normalize"
	"github.com/kizuna/kizuna/services/ingestion/internal/normalize/normalizetest"
	"github.com/kizuna/kizuna/services/ingestion/internal/store"
	"github.com/kizuna/kizuna/services/ingestion/internal/tracking"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// TestSharedMobileRule runs the table of name pairs the duplicate matcher
// is tested with too (normalize/normalizetest/shared_mobile_names.json) through
// live identity resolution, on every backend: a customer identified with a
// mobile number, then an anonymous identify with the same number and the
// other name. Without a conflict the two are one customer; with one, the
// second stays apart (its number is not taken from the first, the first's
// name is untouched) and a merge suggestion with the reason
// rule:shared_mobile_name_conflict is raised. A later event of the second
// person with the number alone still does not merge them.
func TestSharedMobileRule(t *testing.T) {
	cases := normalizetest.SharedMobileCases(t)
	traits := func(m map[string]string) map[string]any {
		out := map[string]any{"phone": "090-1234-5678"}
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		st, err := store.Open(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		in := ingest.New(store.For[ingest.Tx](st), func() time.Time { return t0 }, nil)
		for i, c := range cases {
			t.Run(c.Case, func(t *testing.T) {
				ws := fmt.Sprintf("ws-shared-%d", i)
				one := func(id, anon, kind string, tr map[string]any) string {
					t.Helper()
					m := tracking.Message{Type: tracking.Type(kind), MessageID: id, AnonymousID: anon, Timestamp: t0, Name: "Viewed"}
					if kind == "identify" {
						m.Traits = tr
					} else {
						m.Context = map[string]any{"traits": tr}
					}
					res, err := in.Ingest(ctx, ws, []tracking.Message{m})
					if err != nil {
						t.Fatal(err)
					}
					return res.CustomerIDs[0]
				}
				a := one("m-a", "anon-a", "identify", traits(c.A))
				b := one("m-b", "anon-b", "identify", traits(c.B))
				later := one("m-b2", "anon-b", "track", map[string]any{"phone": "+81 90 1234 5678"})
				page, err := st.Suggestions(ctx, ws, customer.SuggestionPending, 10, "")
				if err != nil {
					t.Fatal(err)
				}
				if !c.Conflict {
					if b != a || later != a || len(page.Suggestions) != 0 {
						t.Errorf("customers %s, %s, %s and suggestions %+v; want one customer, no suggestion", a, b, later, page.Suggestions)
					}
					return
				}
				if b == a || later != b {
					t.Fatalf("customers %s, %s, %s; want the second person kept apart", a, b, later)
				}
				if len(page.Suggestions) != 1 || !slices.Contains(page.Suggestions[0].Reasons, normalize.RuleSharedMobileNameConflict) ||
					!slices.Equal([]string{page.Suggestions[0].CustomerA, page.Suggestions[0].CustomerB}, sorted(a, b)) {
					t.Errorf("suggestions = %+v, want one for the pair with the rule", page.Suggestions)
				}
				first, err := st.Customer(ctx, ws, a)
				if err != nil {
					t.Fatal(err)
				}
				if first.Traits["name"] != traits(c.A)["name"] || !slices.ContainsFunc(first.Identities, func(k identity.Key) bool { return k.Kind == "phone" }) {
					t.Errorf("first customer = %+v, want its name and its number kept", first)
				}
			})
		}
	})
}

func sorted(a, b string) []string {
	s := []string{a, b}
	slices.Sort(s)
	return s
}
