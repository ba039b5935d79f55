package ingest

import (
	"context"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/consent"
	"github.com/kizuna/kizuna/services/ingestion/internal/customer"
	"github.com/kizuna/kizuna/services/ingestion/internal/identity"
)

// The interfaces below are what ingest needs of storage, one small
// interface per concern composed into Tx (as Temporal's sqlplugin composes
// one per table); the SQL store satisfies them. Functions that need only a
// part take only that part: Merge and Undo run in a dedupe transaction too.

// Store runs ingest's transactions.
type Store interface {
	// InTx runs fn in one transaction, retrying it whole on a
	// serialization failure.
	InTx(ctx context.Context, fn func(tx Tx) error) error
}

// Tx is everything ingest does inside one transaction.
type Tx interface {
	Outbox
	EventTx
	IdentityTx
	MergeTx
	SuggestionTx
	Suppressions
}

// Suppressions reads the suppression list (see Screen).
type Suppressions interface {
	// SuppressedHashes returns which of hashes are suppressed in ws.
	SuppressedHashes(ctx context.Context, ws string, hashes []string) (map[string]bool, error)
}

// Outbox queues bus messages in the transaction that caused them.
type Outbox interface {
	// AppendOutbox queues a message to publish after commit, in the order
	// appended.
	AppendOutbox(ctx context.Context, ws, kind, msgID string, payload []byte, now time.Time) error
}

// EventTx stores events and what they change on their customer.
type EventTx interface {
	// EventCustomer returns the customer a stored event belongs to, and
	// whether the event exists.
	EventCustomer(ctx context.Context, ws, eventID string) (string, bool, error)
	// InsertEvent stores an event.
	InsertEvent(ctx context.Context, e customer.Event) error
	// Touch counts an event on a customer and sets traits and consents.
	Touch(ctx context.Context, ws, customerID string, eventTime time.Time, traits map[string]any, consents []consent.Statement, now time.Time) error
}

// IdentityTx resolves messages to customers.
type IdentityTx interface {
	// PhoneRegion is the region a workspace reads phone numbers in.
	PhoneRegion(ctx context.Context, ws string) (string, error)
	// Prefetch reads, in one go, what the messages of a request will ask
	// EventCustomer and FindIdentities.
	Prefetch(ctx context.Context, ws string, eventIDs []string, keys []identity.Key) error
	// FindIdentities returns the customers holding any of keys, in the
	// order of keys.
	FindIdentities(ctx context.Context, ws string, keys []identity.Key) ([]identity.Match, error)
	// CreateCustomer adds an empty customer first seen at seen.
	CreateCustomer(ctx context.Context, ws, customerID string, seen, now time.Time) error
	// AttachIdentity points key at a customer.
	AttachIdentity(ctx context.Context, ws string, key identity.Key, customerID string, now time.Time) error
	// LockLive locks customers and fails with customer.ErrStale when one
	// was merged away meanwhile.
	LockLive(ctx context.Context, ws string, ids []string) error
	// LiveCustomer follows merges from id to the customer that holds it
	// now.
	LiveCustomer(ctx context.Context, ws, id string) (string, error)
	// CustomerTraits returns the stored traits of the customers among ids.
	CustomerTraits(ctx context.Context, ws string, ids []string) (map[string]map[string]any, error)
}

// MergeTx merges customers and undoes merges, queueing what tells the
// other services.
type MergeTx interface {
	Outbox
	// Merge folds m.MergedIDs into m.SurvivorID and records the merge.
	Merge(ctx context.Context, ws string, m customer.Merge) (customer.Merge, error)
	// Undo reverses an applied merge (see customer.Reassign).
	Undo(ctx context.Context, ws, mergeID string, now time.Time) (customer.Undone, error)
}

// SuggestionTx records pairs of customers for a person to review.
type SuggestionTx interface {
	// InsertSuggestion stores a pending suggestion unless the pair was
	// suggested before; it reports whether it stored one.
	InsertSuggestion(ctx context.Context, ws string, s customer.Suggestion) (bool, error)
}
