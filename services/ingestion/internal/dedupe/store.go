package dedupe

import (
	"context"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/customer"
	"github.com/kizuna/kizuna/services/ingestion/internal/ingest"
)

// Store is what dedupe needs of storage; the SQL store satisfies it.
type Store interface {
	Scans
	Customers
	// InTx runs fn in one transaction, retrying it whole on a
	// serialization failure.
	InTx(ctx context.Context, fn func(tx Tx) error) error
}

// Scans stores duplicate scans and their progress.
type Scans interface {
	// StartScan records sc as running unless the workspace has a running
	// scan updated after staleBefore; then it returns that one and
	// started=false. A running scan older than that is marked failed.
	StartScan(ctx context.Context, sc Scan, staleBefore time.Time) (_ Scan, started bool, _ error)
	// UpdateScan stores a scan's progress and state.
	UpdateScan(ctx context.Context, sc Scan) error
	// Scan returns one scan.
	Scan(ctx context.Context, ws, id string) (Scan, error)
}

// Customers is what a scan reads of the customers.
type Customers interface {
	// PhoneRegion is the region a workspace reads phone numbers in.
	PhoneRegion(ctx context.Context, ws string) (string, error)
	// CountLiveCustomers counts the customers not merged away.
	CountLiveCustomers(ctx context.Context, ws string) (int64, error)
	// LiveCustomers returns up to limit live customers with ids after
	// after, in id order.
	LiveCustomers(ctx context.Context, ws, after string, limit int) ([]LiveCustomer, error)
}

// Tx is what dedupe does inside one transaction: merges and their undo
// (as ingest does them) and deciding suggestions.
type Tx interface {
	ingest.MergeTx
	ingest.SuggestionTx
	// LiveInfo follows merges from a customer id to the live customer it
	// is now.
	LiveInfo(ctx context.Context, ws, id string) (customer.LiveInfo, error)
	// PairRejected reports whether a person rejected merging a and b (or
	// undid their merge).
	PairRejected(ctx context.Context, ws, a, b string) (bool, error)
	// Suggestion returns one suggestion.
	Suggestion(ctx context.Context, ws, id string) (customer.Suggestion, error)
	// DecideSuggestion sets a suggestion's state.
	DecideSuggestion(ctx context.Context, ws, id, state, mergeID string, now time.Time) error
}
