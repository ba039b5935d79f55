package segment

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// IDPrefix starts every segment id; the rest is a UUIDv7, so ids sort in
// creation order and paging by id pages in creation order.
const IDPrefix = "seg_"

// NewID returns a new segment id.
func NewID() (string, error) { return newPrefixedID(IDPrefix) }

// NewChangeID returns a membership change id. UUIDv7s from one process are
// monotonic, which lets the outbox publish in commit order by id.
func NewChangeID() (string, error) { return newPrefixedID("chg_") }

func newPrefixedID(prefix string) (string, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("new %sid: %w", prefix, err)
	}
	return prefix + u.String(), nil
}

// Segment is a named rule over a workspace's customers.
type Segment struct {
	WorkspaceID string
	ID          string
	DisplayName string
	Description string
	Rule        Rule
	// Size is the current member count; filled by reads, ignored on create.
	Size       int64
	CreateTime time.Time
	// BuiltIn marks the read-only segments every workspace has.
	BuiltIn bool
}

// Customer is what segmentation knows about one customer.
type Customer struct {
	WorkspaceID string
	ID          string
	// Traits holds the latest value of each trait (JSON-decoded).
	Traits map[string]any
	// TraitTimes holds, per trait key, the Unix microsecond timestamp of the
	// event that set it, so an older event arriving late cannot overwrite a
	// newer value.
	TraitTimes map[string]int64
	FirstSeen  time.Time
	LastSeen   time.Time
	// EventCount counts every event recorded for the customer.
	EventCount int64
}

// CustomerTraits is a customer's id and traits: all that trait conditions
// read, and all a bulk evaluation needs of the customers row.
type CustomerTraits struct {
	ID     string
	Traits map[string]any
}

// EventType is the Segment call an event came from.
type EventType int

// The event types segmentation distinguishes.
const (
	EventOther EventType = iota
	EventIdentify
	EventTrack
	EventPage
	EventScreen
	EventGroup
	EventAlias
)

// Event is an ingested event, resolved to a customer.
type Event struct {
	WorkspaceID string
	EventID     string
	CustomerID  string
	Type        EventType
	// Name is the track event name or the page or screen name.
	Name string
	Time time.Time
	// Traits from identify and group calls; nil otherwise.
	Traits map[string]any
	// Order is set for purchases.
	Order *Order
	// Properties of track, page and screen events (JSON-decoded); nil
	// otherwise.
	Properties map[string]any
}

// Order is a purchase.
type Order struct {
	// ID is the order id, or the event id when the event gave none, so a
	// purchase re-sent under a new message id still counts once when it
	// carries its order id.
	ID      string
	Revenue float64
}

// maxBehaviourNameBytes is the longest name worth recording: no condition
// can name a longer event (MaxKeyLen runes of at most 4 bytes).
const maxBehaviourNameBytes = 4 * MaxKeyLen

// BehaviourName returns the name under which the event counts for event
// conditions, or "" when it does not count (identify, group, alias, a
// track, page or screen without a name, or one too long for any condition
// to name).
func (e Event) BehaviourName() string {
	switch e.Type {
	case EventTrack, EventPage, EventScreen:
		if len(e.Name) > maxBehaviourNameBytes {
			return ""
		}
		return e.Name
	default:
		return ""
	}
}

// TraitUpdates returns the traits the event sets: those of identify and
// group calls.
func (e Event) TraitUpdates() map[string]any {
	switch e.Type {
	case EventIdentify, EventGroup:
		return e.Traits
	default:
		return nil
	}
}

// Merge says the merged customers are now the survivor.
type Merge struct {
	WorkspaceID string
	MergeID     string
	SurvivorID  string
	MergedIDs   []string
}

// Unmerge says a merge was undone: RestoredID exists again and the events
// EventIDs, held by SurvivorID until now, are its own. A restored customer
// with many events comes as several Unmerges, each with its own UnmergeID
// and the same traits and first-seen times.
type Unmerge struct {
	WorkspaceID string
	UnmergeID   string
	// MergeID is the merge undone.
	MergeID    string
	SurvivorID string
	RestoredID string
	EventIDs   []string
	// Both customers' full traits after the undo: they replace what is
	// stored, not merge into it.
	RestoredTraits map[string]any
	SurvivorTraits map[string]any
	// Time is when the merge was undone.
	Time time.Time
	// When each customer's earliest remaining event happened; zero when the
	// message did not say.
	RestoredFirstSeen time.Time
	SurvivorFirstSeen time.Time
}

// Member is one member of a segment.
type Member struct {
	CustomerID string
	JoinTime   time.Time
}

// MembershipChange records a customer joining or leaving a segment. It is
// written to the outbox in the same transaction as the membership row and
// published from there.
type MembershipChange struct {
	ChangeID    string
	WorkspaceID string
	SegmentID   string
	CustomerID  string
	Joined      bool
	Time        time.Time
}

// OrderStats aggregates one customer's orders: the RFM inputs.
type OrderStats struct {
	CustomerID string
	Count      int64
	Revenue    float64
	LastOrder  time.Time
	// PrevOrder is when the order before the last one happened; zero with
	// fewer than two orders.
	PrevOrder time.Time
}

// Features are the computed features of one customer.
type Features struct {
	CustomerID string
	Orders     OrderStats
	// RFM is nil when the customer has not purchased.
	RFM        *Scores
	EventCount int64
	Stage      Stage
	// Prediction is nil until the workspace's models are fitted or when
	// the customer has not purchased.
	Prediction    *Prediction
	PredictionFit PredictionFit
	// Computed holds the workspace's computed traits that have a value for
	// the customer, by key.
	Computed map[string]any
}
