package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	"github.com/kizuna/kizuna/services/campaign/internal/store"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

func activeJourney(t *testing.T, s *store.Store) store.Journey {
	t.Helper()
	ctx := context.Background()
	j := store.Journey{WorkspaceID: "ws", ID: "jny_1", State: store.JourneyDraft, EntryKind: store.EntryEvent, EntryKey: "Signed Up",
		Definition: &campaignv1.Journey{DisplayName: "Welcome"}, CreateTime: t0, UpdateTime: t0}
	if err := s.CreateJourney(ctx, j); err != nil {
		t.Fatal(err)
	}
	if err := s.SetJourneyState(ctx, "ws", "jny_1", []string{store.JourneyDraft}, store.JourneyActive, t0); err != nil {
		t.Fatal(err)
	}
	return j
}

// TestCrashedRunRunsOnce is the crash test of the runner's storage: a
// runner claims an entry and dies before saving; after its lease the entry
// is claimed again, the dead runner's late save is refused, and the send
// the step queues exists once however often the step is saved.
func TestCrashedRunRunsOnce(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		activeJourney(t, s)
		var in bool
		if err := s.InTx(ctx, t0, func(tx *store.Tx) error {
			var err error
			in, err = tx.InsertEntry(ctx, store.Entry{WorkspaceID: "ws", ID: "ent_1", JourneyID: "jny_1", CustomerID: "cus_1", Number: 1,
				StepID: "mail", DueTime: t0, Event: "{}", EnterTime: t0})
			return err
		}); err != nil || !in {
			t.Fatalf("insert entry: %v %v", in, err)
		}
		// A second entry in progress for the same customer is refused.
		_ = s.InTx(ctx, t0, func(tx *store.Tx) error {
			dup, err := tx.InsertEntry(ctx, store.Entry{WorkspaceID: "ws", ID: "ent_2", JourneyID: "jny_1", CustomerID: "cus_1", Number: 2,
				StepID: "mail", DueTime: t0, Event: "{}", EnterTime: t0})
			if err != nil || dup {
				t.Errorf("second live entry inserted: %v %v", dup, err)
			}
			return nil
		})

		lease := time.Minute
		dead, err := s.ClaimDueEntries(ctx, t0, t0.Add(lease), "dead", 10)
		if err != nil || len(dead) != 1 {
			t.Fatalf("first claim: %v %v", dead, err)
		}
		if again, _ := s.ClaimDueEntries(ctx, t0.Add(time.Second), t0.Add(lease), "other", 10); len(again) != 0 {
			t.Fatalf("claimed while leased: %v", again)
		}
		// The process died; after the lease another runner takes it.
		later := t0.Add(lease + time.Second)
		live, err := s.ClaimDueEntries(ctx, later, later.Add(lease), "live", 10)
		if err != nil || len(live) != 1 {
			t.Fatalf("claim after lease: %v %v", live, err)
		}
		send := store.Send{WorkspaceID: "ws", ID: "snd_1", JourneyID: "jny_1", EntryID: "ent_1", CustomerID: "cus_1", EntryNumber: 1,
			StepID: "mail", ChannelID: "chn_1", ChannelType: store.ChannelEmail, CreateTime: later, PlannedTime: later}
		run := func(e store.Entry, id string) store.Run {
			sd := send
			sd.ID = id
			return store.Run{Entry: e, StepID: "wait", Waiting: true, DueTime: later.Add(time.Hour), Sends: []store.Send{sd}}
		}
		if n, err := s.SaveRuns(ctx, later, []store.Run{run(live[0], "snd_1")}); err != nil || n != 1 {
			t.Fatalf("save live run: %d %v", n, err)
		}
		// The dead runner wakes up and saves: refused.
		if n, err := s.SaveRuns(ctx, later, []store.Run{run(dead[0], "snd_2")}); err != nil || n != 0 {
			t.Fatalf("stale run saved: %d %v", n, err)
		}
		// A step replayed under a fresh claim queues no second send.
		e := live[0]
		e.LeaseToken = ""
		if _, err := s.SaveRuns(ctx, later, []store.Run{run(e, "snd_3")}); err != nil {
			t.Fatal(err)
		}
		sends, err := s.ListSends(ctx, "ws", "journey_id", "jny_1", "", 10)
		if err != nil || len(sends) != 1 || sends[0].ID != "snd_1" {
			t.Fatalf("sends = %+v, %v; want snd_1 once", sends, err)
		}
		// The entry waits for its delay: not due before it ends.
		if got, _ := s.ClaimDueEntries(ctx, later.Add(time.Minute), later.Add(2*time.Minute), "x", 10); len(got) != 0 {
			t.Errorf("waiting entry claimed early: %+v", got)
		}
		due := later.Add(time.Hour)
		got, err := s.ClaimDueEntries(ctx, due, due.Add(lease), "y", 10)
		if err != nil || len(got) != 1 || got[0].StepID != "wait" || !got[0].Waiting {
			t.Fatalf("claim after the delay: %+v %v", got, err)
		}

		// Consent: an opt-out is stored once and moves to a merge survivor.
		if changed, err := s.SetConsent(ctx, "ws", "cus_1", store.ChannelEmail, false, "unsubscribe_link", due); err != nil || !changed {
			t.Fatalf("opt out: %v %v", changed, err)
		}
		if changed, _ := s.SetConsent(ctx, "ws", "cus_1", store.ChannelEmail, false, "unsubscribe_link", due); changed {
			t.Error("second opt-out reported a change")
		}
		if err := s.InTx(ctx, due, func(tx *store.Tx) error { return tx.MoveConsents(ctx, "ws", "cus_9", []string{"cus_1"}) }); err != nil {
			t.Fatal(err)
		}
		opted, err := s.OptedOut(ctx, "ws", []string{"cus_1", "cus_9", "cus_2"})
		if err != nil || !opted["cus_9"][store.ChannelEmail] || !opted["cus_1"][store.ChannelEmail] || opted["cus_2"] != nil {
			t.Errorf("opted out = %v, %v", opted, err)
		}
	})
}

// TestMoveEntries merges cus_m into cus_s: cus_m's entries and sends
// become cus_s's, numbered after cus_s's own; where both were in progress
// in one journey, cus_m's entry ends (PROFILE_GONE) and its pending send is
// skipped.
func TestMoveEntries(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(t, db)
		entry := func(id, journey, customer, state string) store.Run {
			e := store.Entry{WorkspaceID: "ws", ID: id, JourneyID: journey, CustomerID: customer, StepID: "send", Event: "{}", EnterTime: t0}
			sd := store.Send{WorkspaceID: "ws", ID: "snd_" + id, JourneyID: journey, EntryID: id, CustomerID: customer, EntryNumber: 1,
				StepID: "send", ChannelID: "chn", ChannelType: store.ChannelEmail, CreateTime: t0, PlannedTime: t0.Add(time.Hour)}
			r := store.Run{Entry: e, StepID: "send", Waiting: true, DueTime: t0.Add(time.Hour), Sends: []store.Send{sd}}
			if state == store.EntryCompleted {
				r.End, r.Waiting = store.EntryCompleted, false
			}
			return r
		}
		runs := []store.Run{
			entry("ent_s1", "jny_a", "cus_s", store.EntryInProgress),
			entry("ent_m1", "jny_a", "cus_m", store.EntryInProgress), // both in progress in jny_a
			entry("ent_m2", "jny_b", "cus_m", store.EntryInProgress), // only cus_m in jny_b
			entry("ent_m3", "jny_c", "cus_m", store.EntryCompleted),  // history
		}
		// Experiment arms: the survivor's own is kept, the merged one's
		// moves where the survivor has none.
		runs[0].Assignments = []store.Assignment{{WorkspaceID: "ws", JourneyID: "jny_a", CustomerID: "cus_s", Unit: "holdout", Variant: "treatment"}}
		runs[1].Assignments = []store.Assignment{{WorkspaceID: "ws", JourneyID: "jny_a", CustomerID: "cus_m", Unit: "holdout", Variant: "holdout"}}
		runs[2].Assignments = []store.Assignment{{WorkspaceID: "ws", JourneyID: "jny_b", CustomerID: "cus_m", Unit: "step:send", Variant: "B"}}
		if n, err := s.EnrollRuns(ctx, t0, runs); err != nil || n != 4 {
			t.Fatalf("EnrollRuns = %d, %v", n, err)
		}
		var moved int
		if err := s.InTx(ctx, t0, func(tx *store.Tx) error {
			var err error
			moved, err = tx.MoveEntries(ctx, "ws", "cus_s", []string{"cus_m"})
			return err
		}); err != nil || moved != 3 {
			t.Fatalf("MoveEntries = %d, %v; want 3", moved, err)
		}
		es, err := s.ListCustomerEntries(ctx, "ws", "cus_s", "", 10)
		if err != nil || len(es) != 4 {
			t.Fatalf("survivor's entries = %d, %v; want 4", len(es), err)
		}
		want := map[string]struct {
			state, reason string
			number        int
		}{
			"ent_s1": {store.EntryInProgress, "", 1},
			"ent_m1": {store.EntryExited, "PROFILE_GONE", 2},
			"ent_m2": {store.EntryInProgress, "", 1},
			"ent_m3": {store.EntryCompleted, "", 1},
		}
		for _, e := range es {
			w := want[e.ID]
			if e.State != w.state || e.ExitReason != w.reason || e.Number != w.number {
				t.Errorf("%s: %s %q #%d, want %s %q #%d", e.ID, e.State, e.ExitReason, e.Number, w.state, w.reason, w.number)
			}
		}
		for journey, want := range map[string]map[string]string{"jny_a": {"holdout": "treatment"}, "jny_b": {"step:send": "B"}} {
			got, err := s.Assignments(ctx, "ws", journey, []string{"cus_s"})
			if err != nil || fmt.Sprint(got["cus_s"]) != fmt.Sprint(want) {
				t.Errorf("survivor's arms in %s = %v, %v; want %v", journey, got["cus_s"], err, want)
			}
		}
		if gone, _ := s.ListCustomerEntries(ctx, "ws", "cus_m", "", 10); len(gone) != 0 {
			t.Errorf("merged customer keeps %d entries", len(gone))
		}
		sends, err := s.ListSends(ctx, "ws", "customer_id", "cus_s", "", 10)
		if err != nil || len(sends) != 4 {
			t.Fatalf("survivor's sends = %d, %v; want 4", len(sends), err)
		}
		for _, sd := range sends {
			wantStatus := store.SendPending
			if sd.EntryID == "ent_m1" {
				wantStatus = store.SendSkipped
			}
			if sd.Status != wantStatus || sd.EntryNumber != want[sd.EntryID].number {
				t.Errorf("send of %s: %s #%d, want %s #%d", sd.EntryID, sd.Status, sd.EntryNumber, wantStatus, want[sd.EntryID].number)
			}
		}
	})
}
