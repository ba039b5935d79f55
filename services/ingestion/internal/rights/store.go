package rights

import (
	"context"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/identity"
	"github.com/kizuna/kizuna/services/ingestion/internal/ingest"
)

// Store is what data-rights requests need of storage; the SQL store
// satisfies it.
type Store interface {
	// SuppressedHashes returns which of hashes are suppressed in ws.
	SuppressedHashes(ctx context.Context, ws string, hashes []string) (map[string]bool, error)
	// InTx runs fn in one transaction, retrying it whole on a
	// serialization failure.
	InTx(ctx context.Context, fn func(tx Tx) error) error
}

// Tx is what a regulation does inside one transaction: find a person's
// records, suppress or erase them, and record the regulation with the bus
// message that tells the other services.
type Tx interface {
	ingest.Outbox
	// LiveCustomer follows merges from id to the customer that holds it
	// now.
	LiveCustomer(ctx context.Context, ws, id string) (string, error)
	// IdentityCustomer returns the customer holding key, "" when none
	// does.
	IdentityCustomer(ctx context.Context, ws string, key identity.Key) (string, error)
	// PersonCustomerIDs returns live and every customer merged into it.
	PersonCustomerIDs(ctx context.Context, ws, live string) ([]string, error)
	// PersonKeys returns every identity the customers hold or held
	// before a merge moved it.
	PersonKeys(ctx context.Context, ws string, ids []string) ([]identity.Key, error)
	// Suppress records suppressed identity hashes.
	Suppress(ctx context.Context, ws string, hashes []string, regulationID string, now time.Time) error
	// Unsuppress removes suppressed identity hashes and reports how many
	// were.
	Unsuppress(ctx context.Context, ws string, hashes []string) (int64, error)
	// ErasePerson deletes every row about the customers ids, who held
	// keys, and returns the rows deleted.
	ErasePerson(ctx context.Context, ws string, ids []string, keys []identity.Key) (int64, error)
	// InsertRegulation records a regulation with its services' states.
	InsertRegulation(ctx context.Context, ws string, r Regulation) error
}
