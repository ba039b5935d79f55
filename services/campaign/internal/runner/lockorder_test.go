package runner_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	segmentationv1 "github.com/kizuna/kizuna/gen/kizuna/segmentation/v1"
	"github.com/kizuna/kizuna/services/campaign/internal/runner"
	"github.com/kizuna/kizuna/services/campaign/internal/store"
	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// TestMembershipBatchLocksEntriesInOrder: a batch locks its customers'
// entries in customer order before it ends or moves any, whatever the
// order of its messages, as a batch of events does: the two consumers
// run concurrently, and batches ending entries in message order could
// deadlock. Here another transaction holds cus_1's entry and goes on to
// take cus_2's, as a batch in customer order does; the batch [cus_2 left,
// cus_1 left] waiting for cus_1 must not hold cus_2's entry yet.
// PostgreSQL only: SQLite's writers are serial.
func TestMembershipBatchLocksEntriesInOrder(t *testing.T) {
	db := sqldbtest.Postgres(t)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)
	st, r := newRunner(t, db, t0.Add(2*time.Minute))
	def := &campaignv1.Journey{
		DisplayName: "Welcome",
		Entry:       &campaignv1.Entry{Kind: &campaignv1.Entry_SegmentEntered{SegmentEntered: &campaignv1.SegmentRef{SegmentId: "seg_a"}}},
		ExitRules:   []*campaignv1.ExitRule{{Kind: &campaignv1.ExitRule_SegmentLeft{SegmentLeft: &campaignv1.SegmentRef{SegmentId: "seg_a"}}}},
		Steps:       []*campaignv1.Step{{Id: "wait", Kind: &campaignv1.Step_Delay{Delay: &campaignv1.DelayStep{Duration: durationpb.New(time.Hour)}}}},
	}
	activate(t, st, store.Journey{WorkspaceID: "ws", ID: "jny_s", Definition: def, EntryKind: store.EntrySegment, EntryKey: "seg_a"}, t0)
	change := func(id, customer string, joined bool) bus.Message {
		b, err := proto.Marshal(&segmentationv1.SegmentMembershipChanged{ChangeId: id, WorkspaceId: "ws", SegmentId: "seg_a",
			CustomerId: customer, Joined: joined, ChangeTime: timestamppb.New(t0.Add(time.Minute))})
		if err != nil {
			t.Fatal(err)
		}
		return bus.Message{Data: b, MsgID: id}
	}
	if err := r.HandleMemberships(ctx, []bus.Message{change("m1", "cus_1", true), change("m2", "cus_2", true)}); err != nil {
		t.Fatal(err)
	}
	const lock = `SELECT 1 FROM entries WHERE workspace_id = 'ws' AND customer_id = $1 FOR UPDATE`
	holder := sqldbtest.Hold(t, db, lock, "cus_1")
	lockErr := sqldbtest.LockOrder(t, db, holder, "HandleMemberships", func() error {
		return r.HandleMemberships(ctx, []bus.Message{change("m3", "cus_2", false), change("m4", "cus_1", false)})
	}, lock, "cus_2")
	if lockErr != nil {
		t.Fatalf("waiting for cus_1's entry, the batch held cus_2's (%v): it locks entries in message order", lockErr)
	}
	if got, want := entriesOf(t, st, "ws", "cus_1", "cus_2"), "cus_1#1:exited:SEGMENT_LEFT cus_2#1:exited:SEGMENT_LEFT"; got != want {
		t.Errorf("entries = %s, want %s", got, want)
	}
}

// TestMixedEventBatchRecordsKeysInOrder: a batch of events that includes
// a merge records its messages applied in key order, as a batch of events
// only does (store.FirstApplyMany): two batches holding the same messages
// in another order (a redelivery while the first is in flight, on another
// replica) would otherwise wait on each other's uncommitted keys. Here
// another transaction has recorded event:e1 and goes on to record
// merge:m1; the batch [m1, e1] waiting for event:e1 must not hold
// merge:m1 yet. PostgreSQL only: SQLite's writers are serial.
func TestMixedEventBatchRecordsKeysInOrder(t *testing.T) {
	db := sqldbtest.Postgres(t)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)
	st, r := newRunner(t, db, t0)
	// A journey exits on the event, so it is applied (and recorded).
	def := &campaignv1.Journey{
		DisplayName: "Welcome",
		Entry:       &campaignv1.Entry{Kind: &campaignv1.Entry_SegmentEntered{SegmentEntered: &campaignv1.SegmentRef{SegmentId: "seg_a"}}},
		ExitRules:   []*campaignv1.ExitRule{{Kind: &campaignv1.ExitRule_Event{Event: &campaignv1.EventMatch{Event: "Seen"}}}},
		Steps:       []*campaignv1.Step{{Id: "wait", Kind: &campaignv1.Step_Delay{Delay: &campaignv1.DelayStep{Duration: durationpb.New(time.Hour)}}}},
	}
	activate(t, st, store.Journey{WorkspaceID: "ws", ID: "jny_s", Definition: def, EntryKind: store.EntrySegment, EntryKey: "seg_a"}, t0)
	message := func(m *ingestionv1.IngestionBusMessage) bus.Message {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return bus.Message{Data: b}
	}
	batch := []bus.Message{
		message(&ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_CustomerMerged{CustomerMerged: &ingestionv1.CustomerMerged{
			WorkspaceId: "ws", MergeId: "m1", SurvivorCustomerId: "cus_1", MergedCustomerIds: []string{"cus_2"}}}}),
		message(&ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_EventRecorded{EventRecorded: &ingestionv1.Event{
			EventId: "e1", WorkspaceId: "ws", CustomerId: "cus_1", Type: ingestionv1.EventType_EVENT_TYPE_TRACK, Name: "Seen",
			ReceiveTime: timestamppb.New(t0)}}}),
	}
	const insert = `INSERT INTO applied_messages (workspace_id, message_id, apply_time) VALUES ('ws', $1, 0) ON CONFLICT DO NOTHING`
	holder := sqldbtest.Hold(t, db, insert, "event:e1")
	insertErr := sqldbtest.LockOrder(t, db, holder, "HandleEvents", func() error { return r.HandleEvents(ctx, batch) }, insert, "merge:m1")
	if insertErr != nil {
		t.Fatalf("waiting for event:e1, the batch held merge:m1 (%v): it records keys in message order", insertErr)
	}
}

// TestEventBatchWritesConsentsInOrder: a batch of events writes the
// consents they set in key order (workspace, customer, channel type), not
// in message order: two batches upserting the same consent rows in
// different orders (two replicas) would wait on each other's uncommitted
// rows. Here another transaction has written cus_1's consent and goes on
// to write cus_2's, as a batch in key order does; the batch [cus_2
// unsubscribes, cus_1 unsubscribes] waiting for cus_1's row must not hold
// cus_2's yet. PostgreSQL only: SQLite's writers are serial.
func TestEventBatchWritesConsentsInOrder(t *testing.T) {
	db := sqldbtest.Postgres(t)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)
	st, r := newRunner(t, db, t0)
	batch := []bus.Message{
		trackEvent(t, "e1", "cus_2", runner.EventUnsubscribed, map[string]any{"channel": "email"}, t0),
		trackEvent(t, "e2", "cus_1", runner.EventUnsubscribed, map[string]any{"channel": "email"}, t0),
	}
	const insert = `INSERT INTO consents (workspace_id, customer_id, channel_type, subscribed, source, update_time)
VALUES ('ws', $1, 'email', FALSE, 'test', 0)`
	holder := sqldbtest.Hold(t, db, insert, "cus_1")
	insertErr := sqldbtest.LockOrder(t, db, holder, "HandleEvents", func() error { return r.HandleEvents(ctx, batch) }, insert, "cus_2")
	if insertErr != nil {
		t.Fatalf("waiting for cus_1's consent, the batch held cus_2's (%v): it writes consents in message order", insertErr)
	}
	for _, c := range []string{"cus_1", "cus_2"} {
		out, err := st.OptedOut(ctx, "ws", []string{c})
		if err != nil || !out[c][store.ChannelEmail] {
			t.Errorf("%s opted out of %v, %v; want email", c, out[c], err)
		}
	}
}

// TestEventBatchInsertsEntriesInOrder: a batch of events inserts the
// journey entries they make in key order (workspace, customer, journey),
// not in message order, for the same reason: two batches entering the
// same customers wait on each other's uncommitted entries (one entry in
// progress per customer and journey). Here another transaction has
// entered cus_1 and goes on to enter cus_2; the batch [cus_2 signs up,
// cus_1 signs up] waiting for cus_1's entry must not hold cus_2's yet.
// PostgreSQL only: SQLite's writers are serial.
func TestEventBatchInsertsEntriesInOrder(t *testing.T) {
	db := sqldbtest.Postgres(t)
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 1, 0, 0, 0, time.UTC)
	st, r := newRunner(t, db, t0.Add(2*time.Minute))
	def := &campaignv1.Journey{
		DisplayName: "Welcome",
		Entry:       &campaignv1.Entry{Kind: &campaignv1.Entry_Event{Event: &campaignv1.EventMatch{Event: "Signed Up"}}},
		Steps:       []*campaignv1.Step{{Id: "wait", Kind: &campaignv1.Step_Delay{Delay: &campaignv1.DelayStep{Duration: durationpb.New(time.Hour)}}}},
	}
	activate(t, st, store.Journey{WorkspaceID: "ws", ID: "jny_w", Definition: def, EntryKind: store.EntryEvent, EntryKey: "Signed Up"}, t0)
	batch := []bus.Message{
		trackEvent(t, "e1", "cus_2", "Signed Up", nil, t0.Add(time.Minute)),
		trackEvent(t, "e2", "cus_1", "Signed Up", nil, t0.Add(time.Minute)),
	}
	const insert = `INSERT INTO entries (workspace_id, entry_id, journey_id, customer_id, entry_number, state, step_id, enter_time)
VALUES ('ws', $1, 'jny_w', $2, 1, 'in_progress', 'wait', 0)`
	holder := sqldbtest.Hold(t, db, insert, "ent_h1", "cus_1")
	insertErr := sqldbtest.LockOrder(t, db, holder, "HandleEvents", func() error { return r.HandleEvents(ctx, batch) }, insert, "ent_h2", "cus_2")
	if insertErr != nil {
		t.Fatalf("waiting for cus_1's entry, the batch held cus_2's (%v): it inserts entries in message order", insertErr)
	}
	if got, want := entriesOf(t, st, "ws", "cus_1", "cus_2"), "cus_1#1:in_progress: cus_2#1:in_progress:"; got != want {
		t.Errorf("entries = %s, want %s", got, want)
	}
}

// trackEvent is a track event of workspace "ws" on the events stream.
func trackEvent(t *testing.T, id, customer, name string, props map[string]any, received time.Time) bus.Message {
	t.Helper()
	ps, err := structpb.NewStruct(props)
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(&ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_EventRecorded{EventRecorded: &ingestionv1.Event{
		EventId: id, WorkspaceId: "ws", CustomerId: customer, Type: ingestionv1.EventType_EVENT_TYPE_TRACK, Name: name,
		Properties: ps, ReceiveTime: timestamppb.New(received)}}})
	if err != nil {
		t.Fatal(err)
	}
	return bus.Message{Data: b, MsgID: id}
}
