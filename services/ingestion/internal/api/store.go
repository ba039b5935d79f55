package api

import (
	"context"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/customer"
	"github.com/kizuna/kizuna/services/ingestion/internal/identity"
	"github.com/kizuna/kizuna/services/ingestion/internal/imports"
	"github.com/kizuna/kizuna/services/ingestion/internal/rights"
	"github.com/kizuna/kizuna/services/ingestion/internal/workspace"
	"github.com/kizuna/kizuna/services/platform/auth"
)

// The interfaces below are what the handlers read and write of storage
// directly, one per concern, composed into Store; the SQL store satisfies
// them. Writes with rules (tracking, merges, regulations) go through the
// domain packages instead. A page token the store did not issue is a
// *validation.Error on page_token.

// Store is everything the handlers ask of storage.
type Store interface {
	ProfileStore
	WorkspaceStore
	MergeStore
	ImportStore
	RegulationStore
}

// ProfileStore reads customers and their events.
type ProfileStore interface {
	// Customer returns a profile, following merges to the surviving
	// customer.
	Customer(ctx context.Context, ws, id string) (*customer.Customer, error)
	// Customers returns the profiles of ids in their order, each
	// following merges; unknown ids are left out.
	Customers(ctx context.Context, ws string, ids []string) ([]*customer.Customer, error)
	// Lookup returns the customer holding key.
	Lookup(ctx context.Context, ws string, key identity.Key) (*customer.Customer, error)
	// SearchByName pages through the live customers whose name or reading
	// contains one of q's keys, in customer id order.
	SearchByName(ctx context.Context, ws string, q customer.NameSearch, pageSize int, token string) ([]*customer.Customer, string, error)
	// CustomerEvents pages through a customer's events, newest first.
	CustomerEvents(ctx context.Context, ws, customerID string, pageSize int, token string) (*customer.EventPage, error)
}

// WorkspaceStore keeps tenants' settings and API keys.
type WorkspaceStore interface {
	// CreateWorkspace stores a workspace with its first key.
	CreateWorkspace(ctx context.Context, ws workspace.Workspace, key workspace.APIKey, keyHash string) error
	// Workspace returns a workspace's settings.
	Workspace(ctx context.Context, id string) (workspace.Workspace, error)
	// UpdateWorkspace lets change modify the stored settings in one
	// transaction and returns the result; an error from change is
	// returned as is, with nothing stored.
	UpdateWorkspace(ctx context.Context, id string, change func(*workspace.Workspace) error) (workspace.Workspace, error)
	// PhoneRegion is the region a workspace reads phone numbers in (an
	// unknown one reads them as Japanese).
	PhoneRegion(ctx context.Context, ws string) (string, error)
	// CreateAPIKey stores a key of an existing workspace under keyHash.
	CreateAPIKey(ctx context.Context, k workspace.APIKey, keyHash string) error
	// ListAPIKeys pages through a workspace's keys, revoked ones included.
	ListAPIKeys(ctx context.Context, ws string, pageSize int, token string) (*workspace.APIKeyPage, error)
	// RevokeAPIKey revokes a key at at; a key cannot revoke itself, the
	// caller's being the one hashed to callerHash.
	RevokeAPIKey(ctx context.Context, ws, id, callerHash string, at time.Time) (workspace.APIKey, error)
	// VerifyKey returns the workspace and scopes of a key, or
	// auth.ErrUnauthenticated for an unknown or revoked one.
	VerifyKey(ctx context.Context, key string) (auth.Principal, error)
}

// MergeStore reads merges and merge suggestions, which package dedupe
// makes.
type MergeStore interface {
	// Suggestions pages through the suggestions in state, highest score
	// first.
	Suggestions(ctx context.Context, ws, state string, pageSize int, token string) (*customer.SuggestionPage, error)
	// Merge returns one merge.
	Merge(ctx context.Context, ws, id string) (customer.Merge, error)
	// Merges pages through merges newest first, only those involving
	// customerID unless it is empty.
	Merges(ctx context.Context, ws, customerID string, pageSize int, token string) (*customer.MergePage, error)
}

// ImportStore keeps import jobs and their files; the runner the API starts
// (StartImports) needs imports.Store of it too.
type ImportStore interface {
	imports.Store
	// CreateImport stores a new job.
	CreateImport(ctx context.Context, im imports.Import) error
	// AppendImportChunk stores the part of a job's file that starts at
	// offset and returns the bytes uploaded (imports.Import.CheckChunk
	// decides), the file staying within maxTotal.
	AppendImportChunk(ctx context.Context, ws, id string, offset int64, data []byte, maxTotal int64, now time.Time) (int64, error)
	// StartImport queues an uploaded job; one already started is
	// returned as it is.
	StartImport(ctx context.Context, ws, id string, now time.Time) (imports.Import, error)
	// Import returns one job.
	Import(ctx context.Context, ws, id string) (imports.Import, error)
	// ImportRejections pages through a job's rejected rows in file order.
	ImportRejections(ctx context.Context, ws, id string, pageSize int, token string) ([]imports.Rejection, string, error)
}

// RegulationStore reads data-rights requests, which package rights makes.
type RegulationStore interface {
	// Regulation returns one regulation.
	Regulation(ctx context.Context, ws, id string) (rights.Regulation, error)
	// Regulations pages through a workspace's regulations, newest first.
	Regulations(ctx context.Context, ws string, size int, token string) ([]rights.Regulation, string, error)
	// CustomerRegulations returns the regulations that applied to a
	// customer.
	CustomerRegulations(ctx context.Context, ws, customerID string) ([]rights.Regulation, error)
}
