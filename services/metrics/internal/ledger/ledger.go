package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
)

// Limits on ids and lists accepted from the bus; anything bigger is not
// something ingestion produces and is rejected as malformed.
const (
	MaxIDLen          = 512
	MaxMergedIDs      = 1000
	MaxUnmergedEvents = 5000
	MaxCurrencyLen    = 16
	orderKeyOrder     = "order:"
	orderKeyEventID   = "event:"
)

// ErrMalformed marks a message that can never be applied (missing ids,
// absurd sizes). Retrying it is pointless, so consumers drop it.
var ErrMalformed = errors.New("malformed message")

// Event is one ingested event, reduced to what metrics needs.
type Event struct {
	WorkspaceID string
	EventID     string
	CustomerID  string
	// Time is when the event happened; it is the order time and a
	// candidate for the customer's first-seen time.
	Time time.Time
	// Order is set for purchases.
	Order *Order
	// Name is the track event, page or screen name; "" for other events,
	// which are not kept for funnels.
	Name string
	// Properties is the event's properties as JSON ("{}" when none).
	Properties string
	// Survey is set for `Survey Answered` events with a valid score.
	Survey *SurveyAnswer
}

// SurveyAnswer is one answer to an NPS or CSAT survey.
type SurveyAnswer struct {
	Survey string
	// Kind is "nps" (scores 0–10) or "csat" (1–5).
	Kind    string
	Score   float64
	Comment string
}

// Order is a purchase.
type Order struct {
	// Key identifies the order within the workspace: "order:<order_id>",
	// or "event:<event_id>" when the purchase carried no order id.
	Key      string
	Revenue  float64
	Currency string
}

// Merge says MergedIDs are now the customer SurvivorID.
type Merge struct {
	WorkspaceID string
	MergeID     string
	SurvivorID  string
	MergedIDs   []string
}

// Unmerge says RestoredID exists again, holding the orders of EventIDs,
// which the survivor held until now. A restored customer with many events
// comes as several Unmerges, each with its own UnmergeID. Traits are not
// carried: metrics keeps none.
type Unmerge struct {
	WorkspaceID string
	UnmergeID   string
	// MergeID is the merge undone.
	MergeID    string
	SurvivorID string
	RestoredID string
	EventIDs   []string
	// The customers' first-seen times after the undo. The survivor's
	// replaces the stored one, which the merge lowered to the restored
	// customer's.
	RestoredFirstSeen time.Time
	SurvivorFirstSeen time.Time
}

// Store applies ledger facts. Each method is idempotent: it records the
// message id in the same transaction as the effect (for a named event, the
// row that stores it) and reports applied=false, changing nothing, for an
// id it has seen.
type Store interface {
	ApplyEvent(ctx context.Context, e Event) (applied bool, err error)
	// ApplyEvents applies events in order in one transaction.
	ApplyEvents(ctx context.Context, events []Event) (applied []bool, err error)
	ApplyMerge(ctx context.Context, m Merge) (applied bool, err error)
	ApplyUnmerge(ctx context.Context, u Unmerge) (applied bool, err error)
}

// Apply applies one bus message to st. Messages that can never apply fail
// with an error wrapping ErrMalformed; payload kinds metrics does not use
// are ignored.
func Apply(ctx context.Context, st Store, log *slog.Logger, msg *ingestionv1.IngestionBusMessage) error {
	switch p := msg.GetPayload().(type) {
	case *ingestionv1.IngestionBusMessage_EventRecorded:
		e, err := EventFromProto(p.EventRecorded, log)
		if err != nil {
			return err
		}
		if _, err := st.ApplyEvent(ctx, e); err != nil {
			return fmt.Errorf("apply event %s: %w", e.EventID, err)
		}
		return nil
	case *ingestionv1.IngestionBusMessage_CustomerMerged:
		m, err := MergeFromProto(p.CustomerMerged)
		if err != nil {
			return err
		}
		if _, err := st.ApplyMerge(ctx, m); err != nil {
			return fmt.Errorf("apply merge %s: %w", m.MergeID, err)
		}
		return nil
	case *ingestionv1.IngestionBusMessage_CustomerUnmerged:
		u, err := UnmergeFromProto(p.CustomerUnmerged)
		if err != nil {
			return err
		}
		if _, err := st.ApplyUnmerge(ctx, u); err != nil {
			return fmt.Errorf("apply unmerge %s: %w", u.UnmergeID, err)
		}
		return nil
	default:
		// A payload added to the contract after this code was written:
		// acknowledging it lets newer publishers roll out first.
		return nil
	}
}

// ApplyBatch applies msgs to st in order, as Apply would one by one, but
// each run of recorded events in one transaction (ApplyEvents). A message
// that can never apply fails the batch with an error wrapping
// ErrMalformed before the run holding it is written, so the caller can
// fall back to Apply per message and drop just that one.
func ApplyBatch(ctx context.Context, st Store, log *slog.Logger, msgs []*ingestionv1.IngestionBusMessage) error {
	var run []Event
	flush := func() error {
		if len(run) == 0 {
			return nil
		}
		_, err := st.ApplyEvents(ctx, run)
		run = run[:0]
		if err != nil {
			return fmt.Errorf("apply events: %w", err)
		}
		return nil
	}
	for _, msg := range msgs {
		if p, ok := msg.GetPayload().(*ingestionv1.IngestionBusMessage_EventRecorded); ok {
			e, err := EventFromProto(p.EventRecorded, log)
			if err != nil {
				return err
			}
			run = append(run, e)
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		if err := Apply(ctx, st, log, msg); err != nil {
			return err
		}
	}
	return flush()
}

// EventFromProto validates and converts an ingested event. An order with a
// non-finite revenue is dropped (logged) rather than poisoning every sum;
// the event still counts as a sighting of its customer.
func EventFromProto(pe *ingestionv1.Event, log *slog.Logger) (Event, error) {
	e := Event{
		WorkspaceID: pe.GetWorkspaceId(),
		EventID:     pe.GetEventId(),
		CustomerID:  pe.GetCustomerId(),
	}
	if err := checkID("workspace_id", e.WorkspaceID); err != nil {
		return Event{}, err
	}
	if err := checkID("event_id", e.EventID); err != nil {
		return Event{}, err
	}
	if err := checkID("customer_id", e.CustomerID); err != nil {
		return Event{}, err
	}
	switch {
	case pe.GetTimestamp().IsValid():
		e.Time = pe.GetTimestamp().AsTime()
	case pe.GetReceiveTime().IsValid():
		e.Time = pe.GetReceiveTime().AsTime()
	default:
		return Event{}, fmt.Errorf("%w: event %s has neither timestamp nor receive_time", ErrMalformed, e.EventID)
	}
	named(&e, pe, log)
	po := pe.GetOrder()
	if po == nil {
		return e, nil
	}
	if len(po.GetOrderId()) > MaxIDLen || len(po.GetCurrency()) > MaxCurrencyLen {
		return Event{}, fmt.Errorf("%w: event %s: order id or currency too long", ErrMalformed, e.EventID)
	}
	if math.IsNaN(po.GetRevenue()) || math.IsInf(po.GetRevenue(), 0) {
		log.Warn("dropping order with non-finite revenue",
			slog.String("workspace_id", e.WorkspaceID), slog.String("event_id", e.EventID))
		return e, nil
	}
	key := orderKeyEventID + e.EventID
	if po.GetOrderId() != "" {
		key = orderKeyOrder + po.GetOrderId()
	}
	e.Order = &Order{Key: key, Revenue: po.GetRevenue(), Currency: po.GetCurrency()}
	return e, nil
}

// MergeFromProto validates and converts a customer merge. The survivor and
// duplicates are dropped from MergedIDs.
func MergeFromProto(pm *ingestionv1.CustomerMerged) (Merge, error) {
	m := Merge{
		WorkspaceID: pm.GetWorkspaceId(),
		MergeID:     pm.GetMergeId(),
		SurvivorID:  pm.GetSurvivorCustomerId(),
	}
	for _, f := range []struct{ name, v string }{
		{"workspace_id", m.WorkspaceID}, {"merge_id", m.MergeID}, {"survivor_customer_id", m.SurvivorID},
	} {
		if err := checkID(f.name, f.v); err != nil {
			return Merge{}, err
		}
	}
	if len(pm.GetMergedCustomerIds()) > MaxMergedIDs {
		return Merge{}, fmt.Errorf("%w: merge %s lists %d customers (max %d)", ErrMalformed, m.MergeID, len(pm.GetMergedCustomerIds()), MaxMergedIDs)
	}
	seen := map[string]bool{m.SurvivorID: true}
	for _, id := range pm.GetMergedCustomerIds() {
		if err := checkID("merged_customer_ids", id); err != nil {
			return Merge{}, err
		}
		if !seen[id] {
			seen[id] = true
			m.MergedIDs = append(m.MergedIDs, id)
		}
	}
	return m, nil
}

// UnmergeFromProto validates and converts an undone merge. Duplicate event
// ids are dropped. Both first-seen times are required: ingestion always
// sends them, and without them the customers' first-seen times could only
// be guessed.
func UnmergeFromProto(pu *ingestionv1.CustomerUnmerged) (Unmerge, error) {
	u := Unmerge{
		WorkspaceID: pu.GetWorkspaceId(),
		UnmergeID:   pu.GetUnmergeId(),
		MergeID:     pu.GetMergeId(),
		SurvivorID:  pu.GetSurvivorCustomerId(),
		RestoredID:  pu.GetRestoredCustomerId(),
	}
	for _, f := range []struct{ name, v string }{
		{"workspace_id", u.WorkspaceID}, {"unmerge_id", u.UnmergeID}, {"merge_id", u.MergeID},
		{"survivor_customer_id", u.SurvivorID}, {"restored_customer_id", u.RestoredID},
	} {
		if err := checkID(f.name, f.v); err != nil {
			return Unmerge{}, err
		}
	}
	if u.RestoredID == u.SurvivorID {
		return Unmerge{}, fmt.Errorf("%w: unmerge %s restores its own survivor %s", ErrMalformed, u.UnmergeID, u.SurvivorID)
	}
	if len(pu.GetEventIds()) > MaxUnmergedEvents {
		return Unmerge{}, fmt.Errorf("%w: unmerge %s lists %d events (max %d)", ErrMalformed, u.UnmergeID, len(pu.GetEventIds()), MaxUnmergedEvents)
	}
	for _, f := range []struct {
		name string
		ts   *timestamppb.Timestamp
		dst  *time.Time
	}{
		{"restored_first_seen_time", pu.GetRestoredFirstSeenTime(), &u.RestoredFirstSeen},
		{"survivor_first_seen_time", pu.GetSurvivorFirstSeenTime(), &u.SurvivorFirstSeen},
	} {
		if !f.ts.IsValid() {
			return Unmerge{}, fmt.Errorf("%w: unmerge %s: missing or invalid %s", ErrMalformed, u.UnmergeID, f.name)
		}
		*f.dst = f.ts.AsTime()
	}
	seen := make(map[string]bool, len(pu.GetEventIds()))
	for _, id := range pu.GetEventIds() {
		if err := checkID("event_ids", id); err != nil {
			return Unmerge{}, err
		}
		if !seen[id] {
			seen[id] = true
			u.EventIDs = append(u.EventIDs, id)
		}
	}
	return u, nil
}

func checkID(field, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%w: empty %s", ErrMalformed, field)
	case len(v) > MaxIDLen:
		return fmt.Errorf("%w: %s longer than %d bytes", ErrMalformed, field, MaxIDLen)
	}
	return nil
}
