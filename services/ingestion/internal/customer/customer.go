// Package customer is ingestion's model of a person: the profile, the events
// it is made of, the merges that fold several customers into one and their
// undo. The rules a merge and an undo follow are pure functions here
// (Profile.Absorb, CheckUndo, Reassign, UserIDAfterUndo …), so they are
// tested without a database; the SQL store only reads what they need and
// writes what they decide.
package customer

import (
	"errors"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/consent"
	"github.com/kizuna/kizuna/services/ingestion/internal/identity"
	"github.com/kizuna/kizuna/services/ingestion/internal/profile"
)

var (
	// ErrNotFound reports a missing customer, identity, merge or
	// suggestion.
	ErrNotFound = errors.New("not found")
	// ErrStale reports that a customer a transaction resolved to was
	// merged away by a concurrent one; the whole transaction should be
	// retried.
	ErrStale = errors.New("customer merged concurrently")
)

// Customer is a profile as read.
type Customer struct {
	ID                  string
	Traits              map[string]any
	Identities          []identity.Key
	CreateTime          time.Time
	UpdateTime          time.Time
	FirstSeen, LastSeen time.Time
	EventCount          int64
	// IdentityTraits are the identity traits found in Traits, original
	// and normalised.
	IdentityTraits []profile.Trait
	// Consents are the standing consent statements by purpose.
	Consents consent.State
}

// NameSearch is what a search by name looks for: the query's name key and
// kana key as the normaliser computes them (either may be empty).
type NameSearch struct {
	NameKey string
	KanaKey string
}

// Event is a stored event row.
type Event struct {
	WorkspaceID, EventID, CustomerID, Type, Name, UserID, AnonymousID string
	Time, ReceiveTime                                                 time.Time
	Properties, Traits, Context                                       map[string]any
	GroupID, PreviousID                                               string
	OrderID                                                           string
	Revenue                                                           float64
	Currency                                                          string
}

// EventPage is one page of a customer's events.
type EventPage struct {
	Events    []Event
	NextToken string
}

// MergeSource says what made a merge.
type MergeSource string

// Merge sources.
const (
	SourceResolution MergeSource = "resolution"
	SourceSuggestion MergeSource = "suggestion"
	SourceScan       MergeSource = "scan"
	SourceManual     MergeSource = "manual"
)

// Merge states.
const (
	MergeApplied = "applied"
	MergeUndone  = "undone"
	// MergeErased marks a merge one of whose customers was deleted: its
	// record keeps only ids and it can no longer be undone.
	MergeErased = "erased"
)

// Merge is a recorded merge.
type Merge struct {
	ID           string
	SurvivorID   string
	MergedIDs    []string
	Source       MergeSource
	State        string
	SuggestionID string
	MovedEvents  int64
	Time         time.Time
	UndoTime     time.Time // zero while applied
}

// MergePage is one page of merges.
type MergePage struct {
	Merges    []Merge
	NextToken string
}

// Snapshot is a customer's state after an undo, as consumers need it.
type Snapshot struct {
	ID        string
	Traits    map[string]any
	FirstSeen time.Time
	// EventIDs are the events that moved to this customer from the
	// survivor (empty for the survivor itself).
	EventIDs []string
}

// Undone is the outcome of undoing a merge.
type Undone struct {
	Merge    Merge
	Survivor Snapshot
	Restored []Snapshot
}

// LiveInfo is what deciding a merge needs to know of a customer.
type LiveInfo struct {
	ID         string
	UserID     string
	CreateTime time.Time
}

// Suggestion states.
const (
	SuggestionPending  = "pending"
	SuggestionAccepted = "accepted"
	SuggestionRejected = "rejected"
)

// Suggestion is a pair of customers to review.
type Suggestion struct {
	ID         string
	CustomerA  string // CustomerA < CustomerB
	CustomerB  string
	Score      float64
	Reasons    []string
	State      string
	ScanID     string
	MergeID    string
	CreateTime time.Time
	DecideTime time.Time // zero while pending
}

// SuggestionPage is one page of suggestions.
type SuggestionPage struct {
	Suggestions []Suggestion
	NextToken   string
}
