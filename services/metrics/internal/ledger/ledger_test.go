package ledger_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/metrics/internal/ledger"
)

var (
	t0      = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	discard = slog.New(slog.DiscardHandler)
)

func TestEventFromProto(t *testing.T) {
	base := func() *ingestionv1.Event {
		return &ingestionv1.Event{EventId: "e1", WorkspaceId: "w", CustomerId: "c", Timestamp: timestamppb.New(t0)}
	}
	with := func(f func(e *ingestionv1.Event)) *ingestionv1.Event {
		e := base()
		f(e)
		return e
	}
	tests := []struct {
		name    string
		in      *ingestionv1.Event
		want    ledger.Event
		wantErr bool
	}{
		{
			name: "visit",
			in:   base(),
			want: ledger.Event{WorkspaceID: "w", EventID: "e1", CustomerID: "c", Time: t0},
		},
		{
			name: "order with id",
			in: with(func(e *ingestionv1.Event) {
				e.Order = &ingestionv1.Order{OrderId: "o1", Revenue: 12.5, Currency: "JPY"}
			}),
			want: ledger.Event{WorkspaceID: "w", EventID: "e1", CustomerID: "c", Time: t0,
				Order: &ledger.Order{Key: "order:o1", Revenue: 12.5, Currency: "JPY"}},
		},
		{
			name: "order without id is keyed by event id",
			in:   with(func(e *ingestionv1.Event) { e.Order = &ingestionv1.Order{Revenue: 3} }),
			want: ledger.Event{WorkspaceID: "w", EventID: "e1", CustomerID: "c", Time: t0,
				Order: &ledger.Order{Key: "event:e1", Revenue: 3}},
		},
		{
			name: "receive time when timestamp missing",
			in: with(func(e *ingestionv1.Event) {
				e.Timestamp = nil
				e.ReceiveTime = timestamppb.New(t0.Add(time.Hour))
			}),
			want: ledger.Event{WorkspaceID: "w", EventID: "e1", CustomerID: "c", Time: t0.Add(time.Hour)},
		},
		{
			name: "non-finite revenue drops the order, keeps the sighting",
			in:   with(func(e *ingestionv1.Event) { e.Order = &ingestionv1.Order{OrderId: "o1", Revenue: math.Inf(1)} }),
			want: ledger.Event{WorkspaceID: "w", EventID: "e1", CustomerID: "c", Time: t0},
		},
		{name: "no workspace", in: with(func(e *ingestionv1.Event) { e.WorkspaceId = "" }), wantErr: true},
		{name: "no event id", in: with(func(e *ingestionv1.Event) { e.EventId = "" }), wantErr: true},
		{name: "no customer", in: with(func(e *ingestionv1.Event) { e.CustomerId = "" }), wantErr: true},
		{name: "no time", in: with(func(e *ingestionv1.Event) { e.Timestamp = nil }), wantErr: true},
		{name: "invalid time", in: with(func(e *ingestionv1.Event) { e.Timestamp = &timestamppb.Timestamp{Nanos: -1} }), wantErr: true},
		{name: "huge customer id", in: with(func(e *ingestionv1.Event) { e.CustomerId = strings.Repeat("x", ledger.MaxIDLen+1) }), wantErr: true},
		{
			name: "huge order id",
			in: with(func(e *ingestionv1.Event) {
				e.Order = &ingestionv1.Order{OrderId: strings.Repeat("x", ledger.MaxIDLen+1)}
			}),
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ledger.EventFromProto(tt.in, discard)
			if gotErr := errors.Is(err, ledger.ErrMalformed); gotErr != tt.wantErr {
				t.Fatalf("err = %v, want malformed: %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if !eventsEqual(got, tt.want) {
				t.Errorf("got %+v (order %+v), want %+v (order %+v)", got, got.Order, tt.want, tt.want.Order)
			}
		})
	}
}

func eventsEqual(a, b ledger.Event) bool {
	if a.WorkspaceID != b.WorkspaceID || a.EventID != b.EventID || a.CustomerID != b.CustomerID || !a.Time.Equal(b.Time) {
		return false
	}
	if (a.Order == nil) != (b.Order == nil) {
		return false
	}
	return a.Order == nil || *a.Order == *b.Order
}

func TestMergeFromProto(t *testing.T) {
	tests := []struct {
		name    string
		in      *ingestionv1.CustomerMerged
		want    []string
		wantErr bool
	}{
		{
			name: "survivor and duplicates dropped",
			in:   &ingestionv1.CustomerMerged{MergeId: "m", WorkspaceId: "w", SurvivorCustomerId: "s", MergedCustomerIds: []string{"a", "s", "b", "a"}},
			want: []string{"a", "b"},
		},
		{name: "no merge id", in: &ingestionv1.CustomerMerged{WorkspaceId: "w", SurvivorCustomerId: "s"}, wantErr: true},
		{name: "no survivor", in: &ingestionv1.CustomerMerged{MergeId: "m", WorkspaceId: "w"}, wantErr: true},
		{name: "empty merged id", in: &ingestionv1.CustomerMerged{MergeId: "m", WorkspaceId: "w", SurvivorCustomerId: "s", MergedCustomerIds: []string{""}}, wantErr: true},
		{
			name:    "too many merged ids",
			in:      &ingestionv1.CustomerMerged{MergeId: "m", WorkspaceId: "w", SurvivorCustomerId: "s", MergedCustomerIds: make([]string, ledger.MaxMergedIDs+1)},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ledger.MergeFromProto(tt.in)
			if gotErr := errors.Is(err, ledger.ErrMalformed); gotErr != tt.wantErr {
				t.Fatalf("err = %v, want malformed: %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if strings.Join(got.MergedIDs, ",") != strings.Join(tt.want, ",") {
				t.Errorf("MergedIDs = %v, want %v", got.MergedIDs, tt.want)
			}
		})
	}
}

func TestUnmergeFromProto(t *testing.T) {
	base := func() *ingestionv1.CustomerUnmerged {
		return &ingestionv1.CustomerUnmerged{
			UnmergeId: "u", WorkspaceId: "w", MergeId: "m", SurvivorCustomerId: "s", RestoredCustomerId: "r",
			EventIds:              []string{"e1", "e2"},
			RestoredTraits:        &structpb.Struct{Fields: map[string]*structpb.Value{"email": structpb.NewStringValue("r@example.com")}},
			UndoTime:              timestamppb.New(t0.Add(48 * time.Hour)),
			RestoredFirstSeenTime: timestamppb.New(t0),
			SurvivorFirstSeenTime: timestamppb.New(t0.Add(time.Hour)),
		}
	}
	with := func(f func(u *ingestionv1.CustomerUnmerged)) *ingestionv1.CustomerUnmerged {
		u := base()
		f(u)
		return u
	}
	want := ledger.Unmerge{
		WorkspaceID: "w", UnmergeID: "u", MergeID: "m", SurvivorID: "s", RestoredID: "r",
		EventIDs: []string{"e1", "e2"}, RestoredFirstSeen: t0, SurvivorFirstSeen: t0.Add(time.Hour),
	}
	withWant := func(f func(u *ledger.Unmerge)) ledger.Unmerge {
		u := want
		u.EventIDs = slices.Clone(want.EventIDs)
		f(&u)
		return u
	}
	tests := []struct {
		name    string
		in      *ingestionv1.CustomerUnmerged
		want    ledger.Unmerge
		wantErr bool
	}{
		{name: "valid", in: base(), want: want},
		{
			name: "duplicate event ids dropped",
			in:   with(func(u *ingestionv1.CustomerUnmerged) { u.EventIds = []string{"e1", "e2", "e1"} }),
			want: want,
		},
		{
			name: "no events: the restored customer is still recreated",
			in:   with(func(u *ingestionv1.CustomerUnmerged) { u.EventIds = nil }),
			want: withWant(func(u *ledger.Unmerge) { u.EventIDs = nil }),
		},
		{
			name: "as many events as ingestion sends",
			in: with(func(u *ingestionv1.CustomerUnmerged) {
				u.EventIds = make([]string, ledger.MaxUnmergedEvents)
				for i := range u.EventIds {
					u.EventIds[i] = "e" + strconv.Itoa(i)
				}
			}),
			want: withWant(func(u *ledger.Unmerge) {
				u.EventIDs = make([]string, ledger.MaxUnmergedEvents)
				for i := range u.EventIDs {
					u.EventIDs[i] = "e" + strconv.Itoa(i)
				}
			}),
		},
		{name: "no workspace", in: with(func(u *ingestionv1.CustomerUnmerged) { u.WorkspaceId = "" }), wantErr: true},
		{name: "no unmerge id", in: with(func(u *ingestionv1.CustomerUnmerged) { u.UnmergeId = "" }), wantErr: true},
		{name: "no merge id", in: with(func(u *ingestionv1.CustomerUnmerged) { u.MergeId = "" }), wantErr: true},
		{name: "no survivor", in: with(func(u *ingestionv1.CustomerUnmerged) { u.SurvivorCustomerId = "" }), wantErr: true},
		{name: "no restored customer", in: with(func(u *ingestionv1.CustomerUnmerged) { u.RestoredCustomerId = "" }), wantErr: true},
		{name: "restores its own survivor", in: with(func(u *ingestionv1.CustomerUnmerged) { u.RestoredCustomerId = "s" }), wantErr: true},
		{
			name:    "huge restored id",
			in:      with(func(u *ingestionv1.CustomerUnmerged) { u.RestoredCustomerId = strings.Repeat("x", ledger.MaxIDLen+1) }),
			wantErr: true,
		},
		{name: "empty event id", in: with(func(u *ingestionv1.CustomerUnmerged) { u.EventIds = []string{"e1", ""} }), wantErr: true},
		{
			name:    "huge event id",
			in:      with(func(u *ingestionv1.CustomerUnmerged) { u.EventIds = []string{strings.Repeat("x", ledger.MaxIDLen+1)} }),
			wantErr: true,
		},
		{
			name:    "too many events",
			in:      with(func(u *ingestionv1.CustomerUnmerged) { u.EventIds = make([]string, ledger.MaxUnmergedEvents+1) }),
			wantErr: true,
		},
		{name: "no restored first seen", in: with(func(u *ingestionv1.CustomerUnmerged) { u.RestoredFirstSeenTime = nil }), wantErr: true},
		{name: "no survivor first seen", in: with(func(u *ingestionv1.CustomerUnmerged) { u.SurvivorFirstSeenTime = nil }), wantErr: true},
		{
			name:    "invalid first seen",
			in:      with(func(u *ingestionv1.CustomerUnmerged) { u.SurvivorFirstSeenTime = &timestamppb.Timestamp{Nanos: -1} }),
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ledger.UnmergeFromProto(tt.in)
			if gotErr := errors.Is(err, ledger.ErrMalformed); gotErr != tt.wantErr {
				t.Fatalf("err = %v, want malformed: %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if !unmergesEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func unmergesEqual(a, b ledger.Unmerge) bool {
	return a.WorkspaceID == b.WorkspaceID && a.UnmergeID == b.UnmergeID && a.MergeID == b.MergeID &&
		a.SurvivorID == b.SurvivorID && a.RestoredID == b.RestoredID && slices.Equal(a.EventIDs, b.EventIDs) &&
		a.RestoredFirstSeen.Equal(b.RestoredFirstSeen) && a.SurvivorFirstSeen.Equal(b.SurvivorFirstSeen)
}

// recorder is a ledger.Store that remembers what it was asked to apply.
type recorder struct {
	events   []ledger.Event
	batches  []int // sizes of the ApplyEvents calls
	merges   []ledger.Merge
	unmerges []ledger.Unmerge
}

func (r *recorder) ApplyEvent(_ context.Context, e ledger.Event) (bool, error) {
	r.events = append(r.events, e)
	return true, nil
}

func (r *recorder) ApplyEvents(_ context.Context, es []ledger.Event) ([]bool, error) {
	r.events = append(r.events, es...)
	r.batches = append(r.batches, len(es))
	return make([]bool, len(es)), nil
}

func (r *recorder) ApplyMerge(_ context.Context, m ledger.Merge) (bool, error) {
	r.merges = append(r.merges, m)
	return true, nil
}

func (r *recorder) ApplyUnmerge(_ context.Context, u ledger.Unmerge) (bool, error) {
	r.unmerges = append(r.unmerges, u)
	return true, nil
}

// failing is a ledger.Store whose every write fails, as on a database
// outage.
type failing struct{}

var errOutage = errors.New("database unavailable")

func (failing) ApplyEvent(context.Context, ledger.Event) (bool, error) { return false, errOutage }
func (failing) ApplyEvents(context.Context, []ledger.Event) ([]bool, error) {
	return nil, errOutage
}
func (failing) ApplyMerge(context.Context, ledger.Merge) (bool, error)     { return false, errOutage }
func (failing) ApplyUnmerge(context.Context, ledger.Unmerge) (bool, error) { return false, errOutage }

func unmergeMsg(restored string) *ingestionv1.IngestionBusMessage {
	return &ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_CustomerUnmerged{
		CustomerUnmerged: &ingestionv1.CustomerUnmerged{
			UnmergeId: "u", WorkspaceId: "w", MergeId: "m", SurvivorCustomerId: "s", RestoredCustomerId: restored,
			EventIds: []string{"e"}, RestoredFirstSeenTime: timestamppb.New(t0), SurvivorFirstSeenTime: timestamppb.New(t0),
		},
	}}
}

func TestApply(t *testing.T) {
	tests := []struct {
		name                                 string
		msg                                  *ingestionv1.IngestionBusMessage
		wantEvents, wantMerges, wantUnmerges int
		wantMalformed                        bool
	}{
		{
			name: "event",
			msg: &ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_EventRecorded{
				EventRecorded: &ingestionv1.Event{EventId: "e", WorkspaceId: "w", CustomerId: "c", Timestamp: timestamppb.New(t0)},
			}},
			wantEvents: 1,
		},
		{
			name: "merge",
			msg: &ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_CustomerMerged{
				CustomerMerged: &ingestionv1.CustomerMerged{MergeId: "m", WorkspaceId: "w", SurvivorCustomerId: "s", MergedCustomerIds: []string{"a"}},
			}},
			wantMerges: 1,
		},
		{name: "unmerge", msg: unmergeMsg("r"), wantUnmerges: 1},
		{name: "malformed unmerge", msg: unmergeMsg(""), wantMalformed: true},
		{
			name: "malformed event",
			msg: &ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_EventRecorded{
				EventRecorded: &ingestionv1.Event{EventId: "e"},
			}},
			wantMalformed: true,
		},
		{name: "empty payload is ignored", msg: &ingestionv1.IngestionBusMessage{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r recorder
			err := ledger.Apply(context.Background(), &r, discard, tt.msg)
			if gotMalformed := errors.Is(err, ledger.ErrMalformed); gotMalformed != tt.wantMalformed || (err != nil && !tt.wantMalformed) {
				t.Fatalf("err = %v, want malformed: %v", err, tt.wantMalformed)
			}
			if len(r.events) != tt.wantEvents || len(r.merges) != tt.wantMerges || len(r.unmerges) != tt.wantUnmerges {
				t.Errorf("applied %d events, %d merges, %d unmerges; want %d, %d, %d",
					len(r.events), len(r.merges), len(r.unmerges), tt.wantEvents, tt.wantMerges, tt.wantUnmerges)
			}
		})
	}
}

// TestApplyStoreFailure checks that a store failure is returned for the bus
// to retry, not mistaken for a malformed message and dropped.
func TestApplyStoreFailure(t *testing.T) {
	err := ledger.Apply(context.Background(), failing{}, discard, unmergeMsg("r"))
	if !errors.Is(err, errOutage) || errors.Is(err, ledger.ErrMalformed) {
		t.Fatalf("err = %v, want the store's error and not malformed", err)
	}
}

func eventMsg(id string) *ingestionv1.IngestionBusMessage {
	return &ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_EventRecorded{
		EventRecorded: &ingestionv1.Event{EventId: id, WorkspaceId: "w", CustomerId: "c", Timestamp: timestamppb.New(t0)},
	}}
}

// TestApplyBatch checks that a batch applies runs of events together and
// merges between them in stream order, and that a malformed event fails
// the batch before its run is written.
func TestApplyBatch(t *testing.T) {
	merge := &ingestionv1.IngestionBusMessage{Payload: &ingestionv1.IngestionBusMessage_CustomerMerged{
		CustomerMerged: &ingestionv1.CustomerMerged{MergeId: "m", WorkspaceId: "w", SurvivorCustomerId: "s", MergedCustomerIds: []string{"c"}},
	}}
	r := &recorder{}
	if err := ledger.ApplyBatch(context.Background(), r, discard, []*ingestionv1.IngestionBusMessage{
		eventMsg("e1"), eventMsg("e2"), merge, eventMsg("e3"),
	}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, e := range r.events {
		ids = append(ids, e.EventID)
	}
	if !slices.Equal(ids, []string{"e1", "e2", "e3"}) || !slices.Equal(r.batches, []int{2, 1}) || len(r.merges) != 1 {
		t.Errorf("events %v in batches %v, %d merges; want [e1 e2 e3] in [2 1], 1 merge", ids, r.batches, len(r.merges))
	}

	bad := eventMsg("")
	r = &recorder{}
	err := ledger.ApplyBatch(context.Background(), r, discard, []*ingestionv1.IngestionBusMessage{eventMsg("e1"), bad})
	if !errors.Is(err, ledger.ErrMalformed) || len(r.events) != 0 {
		t.Errorf("malformed event in a batch: err %v, %d events written; want ErrMalformed and none", err, len(r.events))
	}
}
