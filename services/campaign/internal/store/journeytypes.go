package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
)

// ErrNotFound reports a channel, journey or entry that does not exist in
// the caller's workspace.
var ErrNotFound = errors.New("not found")

// ErrConflict reports a change that the row's current state forbids (e.g.
// editing a journey that is no longer a draft); the message says why.
var ErrConflict = errors.New("conflict")

// Channel types as stored.
const (
	ChannelEmail   = "email"
	ChannelLine    = "line"
	ChannelWebhook = "webhook"
)

// Channel is a stored channel. Config holds the non-secret settings as
// JSON; Secrets the sealed secrets ("" when none).
type Channel struct {
	WorkspaceID, ID, DisplayName, Type string
	Config, Secrets                    string
	CreateTime, UpdateTime             time.Time
}

// Journey states as stored.
const (
	JourneyDraft    = "draft"
	JourneyActive   = "active"
	JourneyPaused   = "paused"
	JourneyArchived = "archived"
)

// Entry kinds as stored.
const (
	EntryEvent     = "event"
	EntrySegment   = "segment"
	EntryBroadcast = "broadcast"
)

// Journey is a stored journey; Definition holds its contract form with the
// output-only fields cleared.
type Journey struct {
	WorkspaceID, ID, State string
	Definition             *campaignv1.Journey
	EntryKind, EntryKey    string
	CreateTime, UpdateTime time.Time
	ActivateTime           time.Time
	Enrolled               bool
}

// Entry states as stored.
const (
	EntryInProgress = "in_progress"
	EntryCompleted  = "completed"
	EntryExited     = "exited"
)

// Entry is one customer's entry into a journey.
type Entry struct {
	WorkspaceID, ID, JourneyID, CustomerID string
	Number                                 int
	State, StepID                          string
	Waiting                                bool
	DueTime                                time.Time
	Event                                  string // JSON object
	EnterTime, EndTime                     time.Time
	ExitReason, Error                      string
	LeaseToken                             string
	// Variant is "holdout", or the variant of the first A/B step reached.
	Variant string
	// JourneyName is filled by listings that join the journey.
	JourneyName string
}

// Send statuses as stored.
const (
	SendPending  = "pending"
	SendDeferred = "deferred"
	SendSent     = "sent"
	SendFailed   = "failed"
	SendSkipped  = "skipped"
)

// Send is one message to one customer from one step.
type Send struct {
	WorkspaceID, ID, JourneyID, EntryID, CustomerID string
	EntryNumber                                     int
	StepID, ChannelID, ChannelType                  string
	Transactional                                   bool
	Status, Reason, Error, ProviderMessageID        string
	Attempts                                        int
	CreateTime, PlannedTime, SendTime               time.Time
	Late                                            bool
	Subject, BatchKey                               string
	LeaseToken                                      string
	// Body is the rendered text (its first MaxBodyBytes), once attempted.
	Body string
	// Variant is the A/B variant sent, or "holdout" for a send recorded
	// and not made (Status skipped, Reason HOLDOUT when inserted so).
	Variant string
	// Event is the entry event's properties (JSON), filled by claims for
	// rendering.
	Event string
}

// Consent is an opt-out (or a later opt-in) of one channel type.
type Consent struct {
	CustomerID, ChannelType string
	Subscribed              bool
	Source                  string
	UpdateTime              time.Time
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type scanner interface{ Scan(...any) error }

// ContractChannelType maps a stored channel type to the contract's.
func ContractChannelType(t string) ingestionv1.ChannelType {
	switch t {
	case ChannelEmail:
		return ingestionv1.ChannelType_EMAIL
	case ChannelLine:
		return ingestionv1.ChannelType_LINE
	case ChannelWebhook:
		return ingestionv1.ChannelType_WEBHOOK
	}
	return ingestionv1.ChannelType_CHANNEL_TYPE_UNSPECIFIED
}

// StoredChannelType maps the contract's channel type to the stored one
// ("" for an unknown one).
func StoredChannelType(t ingestionv1.ChannelType) string {
	switch t {
	case ingestionv1.ChannelType_EMAIL:
		return ChannelEmail
	case ingestionv1.ChannelType_LINE:
		return ChannelLine
	case ingestionv1.ChannelType_WEBHOOK:
		return ChannelWebhook
	}
	return ""
}
