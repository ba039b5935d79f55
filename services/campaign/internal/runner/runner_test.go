package runner_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	segmentationv1 "github.com/kizuna/kizuna/gen/kizuna/segmentation/v1"
	"github.com/kizuna/kizuna/services/campaign/internal/peers"
	"github.com/kizuna/kizuna/services/campaign/internal/runner"
	"github.com/kizuna/kizuna/services/campaign/internal/store"
	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// fakePeers answers as ingestion and segmentation would: every customer
// lives in New York, the workspace in Tokyo.
type fakePeers struct{}

func (fakePeers) Profiles(_ context.Context, _ string, ids []string) (map[string]peers.Profile, error) {
	out := map[string]peers.Profile{}
	for _, id := range ids {
		out[id] = peers.Profile{CustomerID: id, Traits: map[string]any{"timezone": "America/New_York"}}
	}
	return out, nil
}

func (fakePeers) Settings(context.Context, string) (peers.Settings, error) {
	return peers.Settings{Timezone: "Asia/Tokyo"}, nil
}

func (fakePeers) Segments(context.Context, string, string) (map[string]bool, error) {
	return map[string]bool{}, nil
}

func (fakePeers) Members(context.Context, string, string, func([]string) error) error { return nil }

// TestDelaysOnAFakeClock drives a journey through a 72-hour delay and a
// local-time delay across the end of daylight saving time in the
// customer's zone, with a clock the test moves: nothing runs early, the
// local time is right after the change, and a step run late is marked so.
func TestDelaysOnAFakeClock(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		st, err := store.New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		// 10:00 EDT on Thursday; New York leaves DST on Sunday 1 November.
		t0 := time.Date(2026, 10, 29, 14, 0, 0, 0, time.UTC)
		for _, ch := range []store.Channel{
			{WorkspaceID: "ws", ID: "chn_mail", DisplayName: "mail", Type: store.ChannelEmail, Config: "{}", CreateTime: t0, UpdateTime: t0},
			{WorkspaceID: "ws", ID: "chn_line", DisplayName: "line", Type: store.ChannelLine, Config: "{}", CreateTime: t0, UpdateTime: t0},
		} {
			if err := st.CreateChannel(ctx, ch); err != nil {
				t.Fatal(err)
			}
		}
		def := &campaignv1.Journey{
			DisplayName: "Step mail",
			Entry:       &campaignv1.Entry{Kind: &campaignv1.Entry_Event{Event: &campaignv1.EventMatch{Event: "Order Completed"}}},
			Steps: []*campaignv1.Step{
				{Id: "thanks", Kind: &campaignv1.Step_Send{Send: &campaignv1.SendStep{ChannelId: "chn_mail", Subject: "Thanks", Text: "Thanks"}}},
				{Id: "three_days", Kind: &campaignv1.Step_Delay{Delay: &campaignv1.DelayStep{Duration: durationpb.New(72 * time.Hour)}}},
				{Id: "morning", Kind: &campaignv1.Step_DelayUntil{DelayUntil: &campaignv1.DelayUntilStep{LocalTime: "10:00"}}},
				{Id: "line", Kind: &campaignv1.Step_Send{Send: &campaignv1.SendStep{ChannelId: "chn_line", Text: "How is it?"}}},
			},
		}
		if err := st.CreateJourney(ctx, store.Journey{WorkspaceID: "ws", ID: "jny_1", State: store.JourneyDraft, Definition: def,
			EntryKind: store.EntryEvent, EntryKey: "Order Completed", CreateTime: t0, UpdateTime: t0}); err != nil {
			t.Fatal(err)
		}
		if err := st.SetJourneyState(ctx, "ws", "jny_1", []string{store.JourneyDraft}, store.JourneyActive, t0); err != nil {
			t.Fatal(err)
		}
		if err := st.InTx(ctx, t0, func(tx *store.Tx) error {
			_, err := tx.InsertEntry(ctx, store.Entry{WorkspaceID: "ws", ID: "ent_1", JourneyID: "jny_1", CustomerID: "cus_1", Number: 1,
				StepID: "thanks", DueTime: t0, Event: "{}", EnterTime: t0})
			return err
		}); err != nil {
			t.Fatal(err)
		}

		now := t0
		r := runner.New(runner.Config{Store: st, Cache: runner.NewCache(st), Peers: fakePeers{}, Now: func() time.Time { return now }})
		// The 72 hours end at 09:00 EST; 10:00 EST is 15:00 UTC (16:00 UTC
		// would be Tokyo's zone misapplied, 14:00 UTC a stale EDT offset).
		morning := time.Date(2026, 11, 1, 15, 0, 0, 0, time.UTC)
		steps := []struct {
			name    string
			at      time.Time
			claimed int
			step    string
			state   string
			due     time.Time
			sends   int
		}{
			{name: "entry sends the thank-you", at: t0, claimed: 1, step: "three_days", state: store.EntryInProgress, due: t0.Add(72 * time.Hour), sends: 1},
			{name: "nothing before the delay ends", at: t0.Add(72*time.Hour - time.Second), claimed: 0, step: "three_days", state: store.EntryInProgress, due: t0.Add(72 * time.Hour), sends: 1},
			{name: "delay over: wait for 10:00 in New York", at: t0.Add(72 * time.Hour), claimed: 1, step: "morning", state: store.EntryInProgress, due: morning, sends: 1},
			{name: "nothing before 10:00 EST", at: morning.Add(-time.Minute), claimed: 0, step: "morning", state: store.EntryInProgress, due: morning, sends: 1},
			{name: "run late: the LINE message, marked late", at: morning.Add(5 * time.Minute), claimed: 1, step: "line", state: store.EntryCompleted, sends: 2},
		}
		for _, s := range steps {
			now = s.at
			n, err := r.RunDue(ctx)
			if err != nil || n != s.claimed {
				t.Fatalf("%s: RunDue = %d, %v; want %d", s.name, n, err, s.claimed)
			}
			es, err := st.ListCustomerEntries(ctx, "ws", "cus_1", "", 10)
			if err != nil || len(es) != 1 {
				t.Fatalf("%s: entries = %v, %v", s.name, es, err)
			}
			e := es[0]
			if e.StepID != s.step || e.State != s.state || (s.state == store.EntryInProgress && !e.DueTime.Equal(s.due)) {
				t.Errorf("%s: entry at %s (%s) due %s; want %s (%s) due %s", s.name, e.StepID, e.State, e.DueTime, s.step, s.state, s.due)
			}
			sends, err := st.ListSends(ctx, "ws", "journey_id", "jny_1", "", 10)
			if err != nil || len(sends) != s.sends {
				t.Fatalf("%s: %d sends, %v; want %d", s.name, len(sends), err, s.sends)
			}
		}
		sends, _ := st.ListSends(ctx, "ws", "journey_id", "jny_1", "", 10)
		if sends[0].StepID != "thanks" || sends[0].Late || !sends[0].PlannedTime.Equal(t0) {
			t.Errorf("first send = %+v, want on time at %s", sends[0], t0)
		}
		if sends[1].StepID != "line" || !sends[1].Late || sends[1].ChannelType != store.ChannelLine {
			t.Errorf("second send = %+v, want the LINE step, late", sends[1])
		}
	})
}

// TestEventBatchMatchesOneByOne applies the same events to two stores, one
// message at a time and as one batch: entries, exits and re-entry
// decisions come out the same, and a duplicate message changes nothing.
func TestEventBatchMatchesOneByOne(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		t0 := time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)
		event := func(id, customer, name string) bus.Message {
			b, err := proto.Marshal(&ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_EventRecorded{EventRecorded: &ingestionv1.Event{
				EventId: id, WorkspaceId: "ws", CustomerId: customer, Type: ingestionv1.EventType_EVENT_TYPE_TRACK, Name: name,
				ReceiveTime: timestamppb.New(t0.Add(time.Minute)),
			}}})
			if err != nil {
				t.Fatal(err)
			}
			return bus.Message{Data: b, MsgID: id}
		}
		msgs := []bus.Message{
			event("e1", "cus_1", "Signed Up"),
			event("e2", "cus_2", "Signed Up"),
			event("e3", "cus_1", "Order Completed"), // exits cus_1's entry of this batch
			event("e4", "cus_1", "Signed Up"),       // re-enters (after exit)
			event("e2", "cus_2", "Signed Up"),       // a redelivery: nothing
			event("e5", "cus_2", "Signed Up"),       // in progress: no second entry
		}
		results := map[string]string{}
		for _, mode := range []string{"one by one", "batch"} {
			st, err := store.New(ctx, db)
			if err != nil {
				t.Fatal(err)
			}
			ws := "ws"
			if mode == "batch" {
				// A second workspace keeps the two runs apart in one database.
				for i := range msgs {
					var m ingestionv1.IngestionBusMessage
					_ = proto.Unmarshal(msgs[i].Data, &m)
					m.GetEventRecorded().WorkspaceId = "ws2"
					msgs[i].Data, _ = proto.Marshal(&m)
				}
				ws = "ws2"
			}
			def := &campaignv1.Journey{
				DisplayName: "Welcome", Reentry: campaignv1.Reentry_REENTRY_AFTER_EXIT,
				Entry:     &campaignv1.Entry{Kind: &campaignv1.Entry_Event{Event: &campaignv1.EventMatch{Event: "Signed Up"}}},
				ExitRules: []*campaignv1.ExitRule{{Kind: &campaignv1.ExitRule_Event{Event: &campaignv1.EventMatch{Event: "Order Completed"}}}},
				Steps:     []*campaignv1.Step{{Id: "wait", Kind: &campaignv1.Step_Delay{Delay: &campaignv1.DelayStep{Duration: durationpb.New(time.Hour)}}}},
			}
			activate(t, st, store.Journey{WorkspaceID: ws, ID: "jny_w", Definition: def, EntryKind: store.EntryEvent, EntryKey: "Signed Up"}, t0)
			r := runner.New(runner.Config{Store: st, Cache: runner.NewCache(st), Peers: fakePeers{}, Now: func() time.Time { return t0.Add(2 * time.Minute) }})
			if mode == "batch" {
				if err := r.HandleEvents(ctx, msgs); err != nil {
					t.Fatal(err)
				}
			} else {
				for _, m := range msgs {
					if err := r.HandleEvent(ctx, m); err != nil {
						t.Fatal(err)
					}
				}
			}
			results[mode] = entriesOf(t, st, ws, "cus_1", "cus_2")
		}
		want := "cus_1#1:exited:EXIT_EVENT cus_1#2:in_progress: cus_2#1:in_progress:"
		if results["one by one"] != want || results["batch"] != want {
			t.Errorf("one by one: %s\nbatch:      %s\nwant:       %s", results["one by one"], results["batch"], want)
		}
	})
}

// TestMembershipBatchMatchesOneByOne applies the same membership changes
// one message at a time and, after the first, as one batch, each in a
// workspace of its own: segment entries, segment_left exits and re-entry
// (of an entry made before the batch) come out the same, and a
// redelivered change changes nothing.
func TestMembershipBatchMatchesOneByOne(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		t0 := time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)
		st, err := store.New(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		r := runner.New(runner.Config{Store: st, Cache: runner.NewCache(st), Peers: fakePeers{}, Now: func() time.Time { return t0.Add(2 * time.Minute) }})
		changes := []struct {
			id, customer string
			joined       bool
		}{
			{"m1", "cus_1", true},
			{"m2", "cus_2", true},
			{"m3", "cus_1", false}, // exits cus_1's entry of before the batch
			{"m4", "cus_1", true},  // re-enters (after exit)
			{"m2", "cus_2", true},  // a redelivery: nothing
			{"m5", "cus_2", true},  // in progress: no second entry
			{"m6", "cus_3", false}, // not in the journey: nothing
		}
		results := map[string]string{}
		for _, mode := range []string{"one by one", "batch"} {
			ws := "ws_" + strings.ReplaceAll(mode, " ", "_")
			def := &campaignv1.Journey{
				DisplayName: "Welcome", Reentry: campaignv1.Reentry_REENTRY_AFTER_EXIT,
				Entry:     &campaignv1.Entry{Kind: &campaignv1.Entry_SegmentEntered{SegmentEntered: &campaignv1.SegmentRef{SegmentId: "seg_a"}}},
				ExitRules: []*campaignv1.ExitRule{{Kind: &campaignv1.ExitRule_SegmentLeft{SegmentLeft: &campaignv1.SegmentRef{SegmentId: "seg_a"}}}},
				Steps:     []*campaignv1.Step{{Id: "wait", Kind: &campaignv1.Step_Delay{Delay: &campaignv1.DelayStep{Duration: durationpb.New(time.Hour)}}}},
			}
			activate(t, st, store.Journey{WorkspaceID: ws, ID: "jny_s", Definition: def, EntryKind: store.EntrySegment, EntryKey: "seg_a"}, t0)
			var msgs []bus.Message
			for _, c := range changes {
				b, err := proto.Marshal(&segmentationv1.SegmentMembershipChanged{ChangeId: c.id, WorkspaceId: ws, SegmentId: "seg_a",
					CustomerId: c.customer, Joined: c.joined, ChangeTime: timestamppb.New(t0.Add(time.Minute))})
				if err != nil {
					t.Fatal(err)
				}
				msgs = append(msgs, bus.Message{Data: b, MsgID: c.id})
			}
			if mode == "batch" {
				if err := r.HandleMembership(ctx, msgs[0]); err != nil {
					t.Fatal(err)
				}
				if err := r.HandleMemberships(ctx, msgs[1:]); err != nil {
					t.Fatal(err)
				}
			} else {
				for _, m := range msgs {
					if err := r.HandleMembership(ctx, m); err != nil {
						t.Fatal(err)
					}
				}
			}
			results[mode] = entriesOf(t, st, ws, "cus_1", "cus_2", "cus_3")
		}
		want := "cus_1#1:exited:SEGMENT_LEFT cus_1#2:in_progress: cus_2#1:in_progress:"
		if results["one by one"] != want || results["batch"] != want {
			t.Errorf("one by one: %s\nbatch:      %s\nwant:       %s", results["one by one"], results["batch"], want)
		}
	})
}

// activate stores j as a draft created at t0 and activates it then.
func activate(t *testing.T, st *store.Store, j store.Journey, t0 time.Time) {
	t.Helper()
	ctx := context.Background()
	j.State, j.CreateTime, j.UpdateTime = store.JourneyDraft, t0, t0
	if err := st.CreateJourney(ctx, j); err != nil {
		t.Fatal(err)
	}
	if err := st.SetJourneyState(ctx, j.WorkspaceID, j.ID, []string{store.JourneyDraft}, store.JourneyActive, t0); err != nil {
		t.Fatal(err)
	}
}

// entriesOf lists the customers' entries as "customer#number:state:exit
// reason", sorted.
func entriesOf(t *testing.T, st *store.Store, ws string, customers ...string) string {
	t.Helper()
	var got []string
	for _, c := range customers {
		es, err := st.ListCustomerEntries(context.Background(), ws, c, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			got = append(got, fmt.Sprintf("%s#%d:%s:%s", c, e.Number, e.State, e.ExitReason))
		}
	}
	sort.Strings(got)
	return strings.Join(got, " ")
}

// TestBatchMergeMovesConsentsSetBeforeIt: a batch queues the consents its
// events set and writes them in key order, but before a merge later in
// the batch, which moves the merged customer's opt-outs to the survivor:
// the unsubscribe of cus_2 ahead of its merge into cus_1 opts cus_1 out.
func TestBatchMergeMovesConsentsSetBeforeIt(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		t0 := time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)
		st, r := newRunner(t, db, t0)
		merge, err := proto.Marshal(&ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_CustomerMerged{CustomerMerged: &ingestionv1.CustomerMerged{
			WorkspaceId: "ws", MergeId: "m1", SurvivorCustomerId: "cus_1", MergedCustomerIds: []string{"cus_2"}}}})
		if err != nil {
			t.Fatal(err)
		}
		batch := []bus.Message{
			trackEvent(t, "e1", "cus_2", runner.EventUnsubscribed, map[string]any{"channel": "email"}, t0),
			{Data: merge, MsgID: "m1"},
		}
		if err := r.HandleEvents(ctx, batch); err != nil {
			t.Fatal(err)
		}
		out, err := st.OptedOut(ctx, "ws", []string{"cus_1", "cus_2"})
		if err != nil || !out["cus_1"][store.ChannelEmail] || !out["cus_2"][store.ChannelEmail] {
			t.Errorf("opted out: %v, %v; want cus_1 and cus_2 out of email", out, err)
		}
	})
}

// newRunner returns a store on db and a runner on it whose clock stands
// at now.
func newRunner(t *testing.T, db *sqldb.DB, now time.Time) (*store.Store, *runner.Runner) {
	t.Helper()
	st, err := store.New(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	return st, runner.New(runner.Config{Store: st, Cache: runner.NewCache(st), Peers: fakePeers{}, Now: func() time.Time { return now }})
}

// TestEventsNoJourneyReactsTo: a track event that no live journey enters
// on, exits on or waits for, and that sets no consent, changes nothing and
// is not even recorded as applied; the names a journey does react to are
// applied as before, and a journey activated later reacts to its name.
func TestEventsNoJourneyReactsTo(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		t0 := time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)
		st, r := newRunner(t, db, t0.Add(2*time.Minute))
		def := &campaignv1.Journey{
			DisplayName: "Welcome",
			Entry:       &campaignv1.Entry{Kind: &campaignv1.Entry_Event{Event: &campaignv1.EventMatch{Event: "Signed Up"}}},
			ExitRules:   []*campaignv1.ExitRule{{Kind: &campaignv1.ExitRule_Event{Event: &campaignv1.EventMatch{Event: "Order Completed"}}}},
			Steps: []*campaignv1.Step{{Id: "wait", Kind: &campaignv1.Step_WaitFor{WaitFor: &campaignv1.WaitForStep{
				Condition: &campaignv1.WaitForStep_Event{Event: &campaignv1.EventMatch{Event: "Opened Email"}}, Timeout: durationpb.New(time.Hour)}}}},
		}
		activate(t, st, store.Journey{WorkspaceID: "ws", ID: "jny_w", Definition: def, EntryKind: store.EntryEvent, EntryKey: "Signed Up"}, t0)
		at := t0.Add(time.Minute)
		batch := []bus.Message{
			trackEvent(t, "e1", "cus_1", "Viewed Product", nil, at),
			trackEvent(t, "e2", "cus_1", "Signed Up", nil, at),
			trackEvent(t, "e3", "cus_2", "Opened Email", nil, at),
			trackEvent(t, "e4", "cus_3", "Order Completed", nil, at),
			trackEvent(t, "e5", "cus_3", runner.EventUnsubscribed, map[string]any{"channel": "email"}, at),
		}
		if err := r.HandleEvents(ctx, batch); err != nil {
			t.Fatal(err)
		}
		applied := func() string {
			var ids []string
			for _, row := range sqldbtest.Rows(t, db, `SELECT message_id FROM applied_messages WHERE workspace_id = 'ws'`) {
				ids = append(ids, row[0])
			}
			sort.Strings(ids)
			return strings.Join(ids, " ")
		}
		if got, want := applied(), "event:e2 event:e3 event:e4 event:e5"; got != want {
			t.Errorf("applied: %s, want %s", got, want)
		}
		if got, want := entriesOf(t, st, "ws", "cus_1"), "cus_1#1:in_progress:"; got != want {
			t.Errorf("entries: %s, want %s", got, want)
		}

		views := &campaignv1.Journey{
			DisplayName: "Browse",
			Entry:       &campaignv1.Entry{Kind: &campaignv1.Entry_Event{Event: &campaignv1.EventMatch{Event: "Viewed Product"}}},
			Steps:       []*campaignv1.Step{{Id: "wait", Kind: &campaignv1.Step_Delay{Delay: &campaignv1.DelayStep{Duration: durationpb.New(time.Hour)}}}},
		}
		activate(t, st, store.Journey{WorkspaceID: "ws", ID: "jny_v", Definition: views, EntryKind: store.EntryEvent, EntryKey: "Viewed Product"}, t0)
		if err := r.HandleEvents(ctx, []bus.Message{trackEvent(t, "e6", "cus_4", "Viewed Product", nil, at)}); err != nil {
			t.Fatal(err)
		}
		if got, want := entriesOf(t, st, "ws", "cus_4"), "cus_4#1:in_progress:"; got != want {
			t.Errorf("entries after a journey on views: %s, want %s", got, want)
		}
	})
}
