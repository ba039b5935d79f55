package ingest_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/ingest"
	"github.com/kizuna/kizuna/services/ingestion/internal/store"
	"github.com/kizuna/kizuna/services/ingestion/internal/tracking"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// TestGroupCommit sends many concurrent requests, one of which cannot be
// stored, and checks that every other request is acknowledged with its
// events stored once, and that the bad one fails alone with nothing of it
// stored.
func TestGroupCommit(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		in := ingest.New(store.For[ingest.Tx](openStore(t, db)), time.Now, nil)
		const callers, perCall, poison = 64, 20, 17
		errs := make([]error, callers)
		results := make([]ingest.Result, callers)
		var wg sync.WaitGroup
		start := make(chan struct{}) // all at once, so that requests queue
		for c := range callers {
			wg.Go(func() {
				<-start
				msgs := make([]tracking.Message, perCall)
				for i := range msgs {
					msgs[i] = tracking.Message{
						Type: tracking.Track, MessageID: fmt.Sprintf("g-%d-%d", c, i), Name: "Viewed",
						UserID: fmt.Sprintf("user-%d", (c+i)%7), Timestamp: t0, Properties: map[string]any{"n": float64(i)},
					}
				}
				if c == poison {
					// JSON has no NaN: the event cannot be written.
					msgs[1].Properties = map[string]any{"n": math.NaN()}
				}
				results[c], errs[c] = in.Ingest(ctx, "ws1", msgs)
			})
		}
		close(start)
		wg.Wait()
		for c := range callers {
			if c == poison {
				if errs[c] == nil {
					t.Errorf("request %d with a NaN property succeeded, want an error", c)
				}
				continue
			}
			if errs[c] != nil || results[c].Accepted != perCall {
				t.Errorf("request %d: %+v, %v; want %d accepted", c, results[c], errs[c], perCall)
			}
		}
		var events, mine, outbox int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM events`).Scan(&events); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE event_id LIKE $1`, fmt.Sprintf("g-%d-%%", poison)).Scan(&mine); err != nil {
			t.Fatal(err)
		}
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox WHERE kind = 'event'`).Scan(&outbox); err != nil {
			t.Fatal(err)
		}
		if want := (callers - 1) * perCall; events != want || outbox != want || mine != 0 {
			t.Errorf("stored %d events (%d of the bad request) and %d outbox rows, want %d, 0 and %d", events, mine, outbox, want, want)
		}
		// Customers count every event once.
		var counted int
		if err := db.QueryRowContext(ctx, `SELECT COALESCE(SUM(event_count), 0) FROM customers`).Scan(&counted); err != nil {
			t.Fatal(err)
		}
		if counted != events {
			t.Errorf("customers count %d events, want %d", counted, events)
		}
	})
}

// openStore migrates db and returns ingestion's store on it.
func openStore(tb testing.TB, db *sqldb.DB) *store.Store {
	tb.Helper()
	st, err := store.Open(context.Background(), db)
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// TestScreenOncePerGroup: the screen runs once for a group of requests of
// one workspace, in the group's transaction; the messages it drops are
// answered as accepted with no customer and not stored, the rest are.
func TestScreenOncePerGroup(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		in := ingest.New(store.For[ingest.Tx](openStore(t, db)), time.Now, nil)
		calls := 0
		in.SetScreen(func(_ context.Context, _ ingest.Suppressions, ws, _ string, msgs []tracking.Message) ([]bool, error) {
			calls++
			dropped := make([]bool, len(msgs))
			for i, m := range msgs {
				dropped[i] = m.UserID == "suppressed"
			}
			return dropped, nil
		})
		msg := func(id, user string) tracking.Message {
			return tracking.Message{Type: tracking.Track, MessageID: id, Name: "Viewed", UserID: user, Timestamp: t0}
		}
		results, err := in.StoreGroupForTest(ctx, "ws1", [][]tracking.Message{
			{msg("s-1", "u1"), msg("s-2", "suppressed")},
			{msg("s-3", "suppressed")},
			{msg("s-4", "u2")},
		})
		if err != nil {
			t.Fatal(err)
		}
		if calls != 1 {
			t.Errorf("screen called %d times for one group of one workspace, want 1", calls)
		}
		for i, want := range []struct{ accepted, suppressed int }{{2, 1}, {1, 1}, {1, 0}} {
			if r := results[i]; r.Accepted != want.accepted || r.Suppressed != want.suppressed {
				t.Errorf("request %d: %d accepted, %d suppressed; want %d, %d", i, r.Accepted, r.Suppressed, want.accepted, want.suppressed)
			}
		}
		if ids := results[0].CustomerIDs; len(ids) != 2 || ids[0] == "" || ids[1] != "" {
			t.Errorf("customers of request 0 = %q, want one for the stored message and none for the dropped one", ids)
		}
		stored, err := sqldb.Strings(db.QueryContext(ctx, `SELECT event_id FROM events ORDER BY event_id`))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(stored, []string{"s-1", "s-4"}) {
			t.Errorf("stored %v, want [s-1 s-4]", stored)
		}
	})
}
