package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/metrics/internal/ledger"
	"github.com/kizuna/kizuna/services/metrics/internal/results"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// testExposures: the earliest exposure fixes the arm (a redelivery or a
// later send never moves it, an earlier one found late does); a merge
// resolves the exposed id to the survivor when read, two exposed customers
// merged count once under the earlier exposure; other journeys and
// workspaces stay apart.
func testExposures(t *testing.T, db *sqldb.DB) {
	ctx := context.Background()
	s := newStore(t, db)
	exp := func(ws, journey, customer, variant, send string, at time.Time) {
		t.Helper()
		if err := s.ApplyExposure(ctx, ledger.Exposure{WorkspaceID: ws, JourneyID: journey, CustomerID: customer, Variant: variant, SendID: send, Time: at}); err != nil {
			t.Fatal(err)
		}
	}
	exp("ws", "j", "a", "A", "s1", day(2))
	exp("ws", "j", "a", "A", "s1", day(2)) // redelivery
	exp("ws", "j", "a", "B", "s2", day(3)) // a later send of the same journey
	exp("ws", "j", "b", "B", "s3", day(5))
	exp("ws", "j", "b", "holdout", "s4", day(4)) // an earlier outcome arriving late wins
	exp("ws", "j", "c", "A", "s5", day(6))
	exp("ws", "j", "d", "B", "s6", day(1))
	exp("ws", "other", "a", "B", "s7", day(2))
	exp("ws2", "j", "a", "B", "s8", day(2))
	apply(t, s, []op{merge("ws", "m1", "c", "d"), order("ws", "e1", "c", day(7), "order:1", 100)})

	got, err := s.Exposures(ctx, "ws", "j", 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []results.Exposure{
		{CustomerID: "c", Variant: "B", Time: day(1)}, // d, merged into c, exposed first
		{CustomerID: "a", Variant: "A", Time: day(2)},
		{CustomerID: "b", Variant: "holdout", Time: day(4)},
	}
	if len(got) != len(want) {
		t.Fatalf("exposures %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].CustomerID != want[i].CustomerID || got[i].Variant != want[i].Variant || !got[i].Time.Equal(want[i].Time) {
			t.Errorf("exposure %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if _, err := s.Exposures(ctx, "ws", "j", 2); err != results.ErrTooLarge {
		t.Errorf("over the limit: %v, want ErrTooLarge", err)
	}
	var revenue float64
	if err := s.ScanOrderRevenue(ctx, "ws", day(7), day(8), func(id string, _ time.Time, r float64) {
		if id == "c" {
			revenue += r
		}
	}); err != nil || revenue != 100 {
		t.Errorf("orders in [day 7, day 8): %v %v", revenue, err)
	}
}
