package segment

import (
	"context"
	"time"
)

// Store is the persistence the Engine needs. Every method is scoped to one
// workspace except the two the background loops use to find work across
// workspaces (WorkspacesWithDynamicSegments, PendingChanges). Methods
// return ErrNotFound (wrapped) for missing segments and customers.
type Store interface {
	// ApplyEvent records e's effects (customer upsert with merged traits,
	// behaviour row, order) together with e's id in one transaction, now
	// being when it was applied. It reports false, and changes nothing, when
	// the event was applied before.
	ApplyEvent(ctx context.Context, e Event, now time.Time) (applied bool, err error)
	// ApplyEvents is ApplyEvent for several events in one transaction, in
	// order (a later event of a batch sees the earlier ones' effects);
	// applied[i] tells whether events[i] was new. An event of a customer
	// merged away (delivered after the merge) is applied to the survivor,
	// whose id replaces the customer's in events[i]; one of a customer
	// erased is recorded as applied and otherwise dropped.
	ApplyEvents(ctx context.Context, events []Event, now time.Time) (applied []bool, err error)
	// ApplyMerge moves the merged customers' traits, behaviour and orders to
	// the survivor and removes their memberships, recording a leave change
	// for each, in one transaction keyed by the merge id; their events
	// delivered afterwards go to the survivor (until an unmerge restores
	// them). It reports false when the merge was applied before. A merge
	// delivered after its survivor was merged away in turn goes to the end
	// of the survivor's chain of merges, as late events do; one whose
	// survivor was erased erases the merged customers (as EraseCustomers
	// does) and re-creates no one. into is
	// the customer the merged ones went to (on a repeat too), empty when
	// that is an erased one.
	ApplyMerge(ctx context.Context, m Merge, now time.Time) (into string, applied bool, err error)
	// ApplyUnmerge moves the behaviour and orders of u's events from the
	// survivor to the restored customer, (re)creates the restored customer
	// and replaces both customers' traits, in one transaction keyed by the
	// unmerge id. A merge of u.MergeID applied afterwards leaves the restored
	// customer alone. It reports false when the unmerge was applied before.
	// Memberships are left to re-evaluation.
	ApplyUnmerge(ctx context.Context, u Unmerge, now time.Time) (applied bool, err error)
	// EraseCustomers deletes every row about the customers ids (a DELETE
	// regulation), removing their memberships with a leave change each, in
	// one transaction keyed by the regulation id. It returns the rows
	// deleted, and false when the regulation was applied before.
	EraseCustomers(ctx context.Context, workspaceID, regulationID string, ids []string, now time.Time) (rows int64, applied bool, err error)

	// CreateSegment stores a new segment and bumps SegmentsVersion.
	CreateSegment(ctx context.Context, s Segment) error
	// UpdateSegment replaces a segment's display name, description and
	// rule and bumps SegmentsVersion; ErrNotFound when it does not exist.
	UpdateSegment(ctx context.Context, s Segment) error
	// EnsureSegments creates those of segs the workspace lacks (by id) and
	// returns their ids, bumping SegmentsVersion when there are any.
	EnsureSegments(ctx context.Context, workspaceID string, segs []Segment) ([]string, error)
	// GetSegment returns a segment with its size.
	GetSegment(ctx context.Context, workspaceID, segmentID string) (Segment, error)
	// ListSegments returns up to limit segments with ids after after, in id
	// order, with sizes.
	ListSegments(ctx context.Context, workspaceID, after string, limit int) ([]Segment, error)
	// AllSegments returns every segment of the workspace, without sizes.
	AllSegments(ctx context.Context, workspaceID string) ([]Segment, error)
	// SegmentsVersion returns a number that changes whenever the
	// workspace's segments do, so cached segments can be checked for
	// staleness cheaply, also across replicas.
	SegmentsVersion(ctx context.Context, workspaceID string) (int64, error)
	// DeleteSegment removes a segment and its membership and bumps
	// SegmentsVersion.
	DeleteSegment(ctx context.Context, workspaceID, segmentID string) error
	// WorkspacesWithDynamicSegments lists workspaces having a segment whose
	// rule reads event windows or RFM scores.
	WorkspacesWithDynamicSegments(ctx context.Context) ([]string, error)

	// Customer returns one customer.
	Customer(ctx context.Context, workspaceID, customerID string) (Customer, error)
	// ListCustomerTraits returns up to limit customers with ids after
	// after, in id order, with those of their traits that keys names (see
	// DecodeTraits; none when keys is empty).
	ListCustomerTraits(ctx context.Context, workspaceID, after string, limit int, keys []string) ([]CustomerTraits, error)
	// CustomerBehaviours returns a customer's behaviour events with one of
	// the names, at or after since (any time when zero), oldest first.
	CustomerBehaviours(ctx context.Context, workspaceID, customerID string, names []string, since time.Time) ([]Behaviour, error)
	// BehavioursInRange returns the behaviour events with one of the names,
	// at or after since (any time when zero), of the customers with
	// after < customer_id <= upTo (no upper bound when upTo is empty), by
	// customer and then oldest first.
	BehavioursInRange(ctx context.Context, workspaceID string, names []string, since time.Time, after, upTo string) ([]Behaviour, error)
	// BehavioursVersion returns the workspace's behaviours version (0
	// before any). Every transaction writing behaviour takes the next
	// version last and they commit in version order, so every write with a
	// version up to the one returned is committed.
	BehavioursVersion(ctx context.Context, workspaceID string) (int64, error)
	// BehaviourChanges lists the customers whose behaviour rows were moved
	// or deleted by the transactions with versions in (after, upTo]; all
	// is true when any customer's may have been (an erasure).
	BehaviourChanges(ctx context.Context, workspaceID string, after, upTo int64) (customers []string, all bool, err error)
	// ScanBehaviours calls fn with every behaviour row q selects, ordered
	// by customer (within each chunk of q.Customers, which select distinct
	// customers), the rows of a customer in no particular order.
	ScanBehaviours(ctx context.Context, q BehaviourScan, fn func(BehaviourRow) error) error
	// ScanInParts tells whether a full ScanBehaviours is faster read in
	// ranges of customers by several readers at once.
	ScanInParts() bool
	// CustomerBounds returns up to parts-1 customer ids, in the order
	// ScanBehaviours reads customers in, that split the workspace's
	// customers into parts of about equal size (none for one part or
	// fewer customers than parts).
	CustomerBounds(ctx context.Context, workspaceID string, parts int) ([]string, error)
	// OrderStats aggregates the orders of every purchasing customer.
	OrderStats(ctx context.Context, workspaceID string) ([]OrderStats, error)
	// CustomerOrderStats aggregates one customer's orders (zero when none).
	CustomerOrderStats(ctx context.Context, workspaceID, customerID string) (OrderStats, error)
	// OrdersVersion returns a number that changes whenever the workspace's
	// orders do, so cached RFM scores can be checked for staleness cheaply.
	OrdersVersion(ctx context.Context, workspaceID string) (int64, error)

	// LifecycleSettings returns the workspace's lifecycle thresholds, or
	// DefaultLifecycleSettings when it never set any.
	LifecycleSettings(ctx context.Context, workspaceID string) (LifecycleSettings, error)
	// SetLifecycleSettings stores the workspace's lifecycle thresholds.
	SetLifecycleSettings(ctx context.Context, workspaceID string, s LifecycleSettings) error

	// Orders returns every order of the workspace.
	Orders(ctx context.Context, workspaceID string) ([]OrderRow, error)
	// SavePredictions replaces the workspace's predictions and records the
	// fit, in one transaction.
	SavePredictions(ctx context.Context, workspaceID string, fit PredictionFit, preds []Prediction) error
	// CustomerPrediction returns one customer's prediction; ok is false
	// when there is none.
	CustomerPrediction(ctx context.Context, workspaceID, customerID string) (p Prediction, ok bool, err error)
	// PredictionsInRange returns the predictions of the customers with
	// after < customer_id <= upTo (no upper bound when upTo is empty).
	PredictionsInRange(ctx context.Context, workspaceID, after, upTo string) ([]Prediction, error)
	// LastPredictionFit returns the workspace's last successful fit (zero
	// when none).
	LastPredictionFit(ctx context.Context, workspaceID string) (PredictionFit, error)
	// PredictionAttempt returns when the sweep last tried to fit the
	// workspace (zero when never); SetPredictionAttempt records it.
	PredictionAttempt(ctx context.Context, workspaceID string) (time.Time, error)
	SetPredictionAttempt(ctx context.Context, workspaceID string, at time.Time) error

	// CreateComputedTrait stores a computed trait; ErrExists when its key
	// is taken.
	CreateComputedTrait(ctx context.Context, workspaceID string, c ComputedTrait) error
	// ComputedTraits lists the workspace's computed traits by key.
	ComputedTraits(ctx context.Context, workspaceID string) ([]ComputedTrait, error)
	// DeleteComputedTrait removes one; ErrNotFound when there is none.
	DeleteComputedTrait(ctx context.Context, workspaceID, key string) error

	// CustomerSegmentIDs lists the segments a customer is a member of.
	CustomerSegmentIDs(ctx context.Context, workspaceID, customerID string) ([]string, error)

	// The Of methods read what evaluating a batch of customers needs, a
	// query per chunk of ids: the customers found, their behaviour events
	// with one of names at or after since (by customer and time), their
	// order statistics (absent: no order), the segments they are members
	// of (sorted) and their predictions (absent: none).
	CustomersOf(ctx context.Context, workspaceID string, ids []string) (map[string]Customer, error)
	BehavioursOf(ctx context.Context, workspaceID string, ids, names []string, since time.Time) ([]Behaviour, error)
	OrderStatsOf(ctx context.Context, workspaceID string, ids []string) (map[string]OrderStats, error)
	SegmentIDsOf(ctx context.Context, workspaceID string, ids []string) (map[string][]string, error)
	PredictionsOf(ctx context.Context, workspaceID string, ids []string) (map[string]Prediction, error)
	// MembershipsInRange returns the segments among segmentIDs of each
	// customers with after < customer_id <= upTo (no upper bound when upTo
	// is empty).
	MembershipsInRange(ctx context.Context, workspaceID string, segmentIDs []string, after, upTo string) (map[string][]string, error)
	// ApplyChanges inserts (Joined) or deletes (!Joined) membership rows and
	// writes an outbox row for each that changed something, in one
	// transaction. A join for a segment deleted meanwhile is skipped, and
	// so is one for a customer with no row (merged away or erased since
	// its evaluation read it). It returns the changes that took effect,
	// and the memberships version (see MembershipsVersion) it took when
	// they are of one workspace (0 when none took effect).
	ApplyChanges(ctx context.Context, changes []MembershipChange) (applied []MembershipChange, version int64, err error)
	// MembershipsVersion returns the workspace's memberships version (0
	// before any). Every transaction changing memberships (ApplyChanges,
	// ApplyMerge, EraseCustomers, DeleteSegment) takes the next version
	// last and they commit in version order, so every change with a
	// version up to the one returned is committed.
	MembershipsVersion(ctx context.Context, workspaceID string) (int64, error)
	// ListMembers returns up to limit members of a segment with customer ids
	// after after, in customer id order, and the segment's member count; it
	// returns ErrNotFound when the segment does not exist.
	ListMembers(ctx context.Context, workspaceID, segmentID, after string, limit int) ([]Member, int64, error)
	// SizeChanges sums a segment's recorded joins and leaves before before
	// per bucket of the given width (buckets aligned to the Unix epoch),
	// oldest first, leaving out buckets without changes.
	SizeChanges(ctx context.Context, workspaceID, segmentID string, bucket time.Duration, before time.Time) ([]SizeChange, error)
	// CustomerSegments returns the segments (with sizes) a customer is in.
	CustomerSegments(ctx context.Context, workspaceID, customerID string) ([]Segment, error)

	// PendingChanges returns up to limit outbox rows, oldest first.
	PendingChanges(ctx context.Context, limit int) ([]MembershipChange, error)
	// DeleteChanges removes published outbox rows.
	DeleteChanges(ctx context.Context, changes []MembershipChange) error
}

// SizeChange sums a segment's joins and leaves within one time bucket.
type SizeChange struct {
	Bucket       time.Time
	Joined, Left int64
}

// BehaviourScan selects behaviour rows for Store.ScanBehaviours.
type BehaviourScan struct {
	WorkspaceID string
	// Names are the event names selected, sorted.
	Names []string
	// AfterSeq < seq <= UpToSeq: rows inserted by the transactions with
	// behaviours versions in that range (rows older than versions have 0).
	AfterSeq, UpToSeq int64
	// Customers restricts the rows to these customers; nil selects all.
	Customers []string
	// From <= customer_id < Below restricts the rows to a range of
	// customers; empty leaves that end open.
	From, Below string
	// NoEventIDs leaves BehaviourRow.EventID empty: the event cache needs
	// them only to order events of one name and time, and reading them
	// was a fifth of the columns read.
	NoEventIDs bool
}

// BehaviourRow is one stored behaviour event, as the event cache reads it.
type BehaviourRow struct {
	CustomerID, EventID, Name string
	// Micros is when it happened, in microseconds since the Unix epoch.
	Micros int64
	// Properties is the properties JSON object.
	Properties string
}
