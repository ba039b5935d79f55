package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/metrics/internal/kpi"
	"github.com/kizuna/kizuna/services/metrics/internal/ledger"
	"github.com/kizuna/kizuna/services/metrics/internal/store"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// TestNamedEventsFollowMerges: a merge moves a customer's funnel events,
// survey answers and sends to the survivor; undoing it moves the events and
// answers of the restored customer's events back.
func TestNamedEventsFollowMerges(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		named := func(id, customer, name string, survey *ledger.SurveyAnswer) op {
			return op{event: &ledger.Event{WorkspaceID: "w", EventID: id, CustomerID: customer, Time: day(1), Name: name,
				Properties: `{"channel":"email"}`, Survey: survey}, wantApplied: true}
		}
		apply(t, s, []op{
			named("e1", "a", "Product Viewed", nil),
			named("e2", "b", "Survey Answered", &ledger.SurveyAnswer{Survey: "nps", Kind: "nps", Score: 9, Comment: "ok"}),
			named("e3", "b", "Unsubscribed", nil),
		})
		if err := s.ApplySend(ctx, ledger.Send{WorkspaceID: "w", SendID: "snd_1", CustomerID: "b", Channel: "EMAIL", Status: "SENT", Time: day(1)}); err != nil {
			t.Fatal(err)
		}
		owners := func() (events, answers, messages []string) {
			t.Helper()
			err := s.ScanEvents(ctx, "w", []string{"Product Viewed", "Survey Answered"}, time.Time{}, time.Time{}, func(e store.FunnelEvent) {
				events = append(events, e.CustomerID)
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.ScanSurveyAnswers(ctx, "w", time.Time{}, time.Time{}, func(a kpi.SurveyAnswer) { answers = append(answers, a.CustomerID) }); err != nil {
				t.Fatal(err)
			}
			if err := s.ScanMessages(ctx, "w", time.Time{}, time.Time{}, func(m kpi.Message) {
				messages = append(messages, m.CustomerID+":"+m.Channel+":"+m.Status)
			}); err != nil {
				t.Fatal(err)
			}
			slices.Sort(events)
			slices.Sort(messages)
			return events, answers, messages
		}
		apply(t, s, []op{merge("w", "m1", "a", "b")})
		ev, an, ms := owners()
		if !slices.Equal(ev, []string{"a", "a"}) || !slices.Equal(an, []string{"a"}) || !slices.Equal(ms, []string{"a:EMAIL:SENT", "a:EMAIL:UNSUBSCRIBED"}) {
			t.Errorf("after merge: events %v, answers %v, messages %v", ev, an, ms)
		}
		apply(t, s, []op{unmerge("w", "u1", "m1", "a", "b", day(1), day(1), "e2", "e3")})
		ev, an, ms = owners()
		if !slices.Equal(ev, []string{"a", "b"}) || !slices.Equal(an, []string{"b"}) || !slices.Equal(ms, []string{"a:EMAIL:SENT", "b:EMAIL:UNSUBSCRIBED"}) {
			t.Errorf("after unmerge: events %v, answers %v, messages %v (sends stay with the survivor)", ev, an, ms)
		}
	})
}
