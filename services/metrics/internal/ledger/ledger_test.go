package ledger_test

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

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

// recorder is a ledger.Store that remembers what it was asked to apply.
type recorder struct {
	events []ledger.Event
	merges []ledger.Merge
}

func (r *recorder) ApplyEvent(_ context.Context, e ledger.Event) (bool, error) {
	r.events = append(r.events, e)
	return true, nil
}

func (r *recorder) ApplyMerge(_ context.Context, m ledger.Merge) (bool, error) {
	r.merges = append(r.merges, m)
	return true, nil
}

func TestApply(t *testing.T) {
	tests := []struct {
		name                   string
		msg                    *ingestionv1.IngestionBusMessage
		wantEvents, wantMerges int
		wantMalformed          bool
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
			if len(r.events) != tt.wantEvents || len(r.merges) != tt.wantMerges {
				t.Errorf("applied %d events, %d merges; want %d, %d", len(r.events), len(r.merges), tt.wantEvents, tt.wantMerges)
			}
		})
	}
}
