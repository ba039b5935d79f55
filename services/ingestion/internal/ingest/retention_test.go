package ingest_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/identity"
	"github.com/kizuna/kizuna/services/ingestion/internal/ingest"
	"github.com/kizuna/kizuna/services/ingestion/internal/store"
	"github.com/kizuna/kizuna/services/ingestion/internal/tracking"
	"github.com/kizuna/kizuna/services/ingestion/internal/workspace"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// TestEventRetention ingests events on two days ten days apart, with a
// fake clock, into a workspace keeping events 7 days and one keeping them
// forever, and prunes 12 days after the first: only the first day's events
// of the first workspace go; the profile stays.
func TestEventRetention(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		st, err := store.Open(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		for i, days := range []int{7, 0} {
			ws := workspace.Workspace{ID: fmt.Sprintf("ws-ret-%d", days), DisplayName: "r", PhoneRegion: "JP", CreateTime: t0, EventRetentionDays: days}
			if err := st.CreateWorkspace(ctx, ws, workspace.APIKey{}, auth.HashKey(fmt.Sprintf("key-%d", i))); err != nil {
				t.Fatal(err)
			}
		}
		var mu sync.Mutex
		now := t0
		in := ingest.New(store.For[ingest.Tx](st), func() time.Time { mu.Lock(); defer mu.Unlock(); return now }, nil)
		for day, at := range []time.Time{t0, t0.Add(10 * 24 * time.Hour)} {
			mu.Lock()
			now = at
			mu.Unlock()
			for _, ws := range []string{"ws-ret-7", "ws-ret-0"} {
				var msgs []tracking.Message
				for i := range 3 {
					msgs = append(msgs, tracking.Message{Type: tracking.Track, MessageID: fmt.Sprintf("d%d-%d", day, i), UserID: "u-1", Name: "Viewed", Timestamp: at})
				}
				if _, err := in.Ingest(ctx, ws, msgs); err != nil {
					t.Fatal(err)
				}
			}
		}
		n, err := st.PruneEvents(ctx, t0.Add(12*24*time.Hour))
		if err != nil || n != 3 {
			t.Fatalf("pruned %d, %v; want the 3 events of the first day in ws-ret-7", n, err)
		}
		for ws, want := range map[string]int{"ws-ret-7": 3, "ws-ret-0": 6} {
			c, err := st.Lookup(ctx, ws, identity.Key{Kind: identity.UserID, Value: "u-1"})
			if err != nil {
				t.Fatal(err)
			}
			page, err := st.CustomerEvents(ctx, ws, c.ID, 100, "")
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Events) != want || c.EventCount != 6 {
				t.Errorf("%s: %d events kept, profile counts %d; want %d kept and the profile's 6", ws, len(page.Events), c.EventCount, want)
			}
		}
		if n, err := st.PruneEvents(ctx, t0.Add(12*24*time.Hour)); err != nil || n != 0 {
			t.Errorf("second prune deleted %d, %v; want nothing", n, err)
		}
	})
}
