package imports

import (
	"context"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/workspace"
)

// Store is what a Runner needs of storage: jobs, leased to one replica at
// a time, their files and their progress. The SQL store satisfies it.
type Store interface {
	// ClaimImport takes a running job no replica holds (or whose lease
	// lapsed) for owner until leaseUntil; ok is false when there is none.
	ClaimImport(ctx context.Context, owner string, now, leaseUntil time.Time) (_ Import, ok bool, _ error)
	// SaveImportProgress records progress and rejected rows and extends
	// the lease; ErrLeaseLost when owner no longer holds the job.
	SaveImportProgress(ctx context.Context, ws, id, owner string, p ImportProgress, rejected []Rejection, now, leaseUntil time.Time) error
	// FinishImport ends owner's job in state and drops its file.
	FinishImport(ctx context.Context, ws, id, owner, state, errText string, now time.Time) error
	// ReleaseImport gives up owner's claim so that any replica takes the
	// job up at once.
	ReleaseImport(ctx context.Context, ws, id, owner string) error
	// ImportChunk returns the seq-th chunk of a job's file.
	ImportChunk(ctx context.Context, ws, id string, seq int64) ([]byte, error)
	// Workspace returns the settings rows are read with.
	Workspace(ctx context.Context, id string) (workspace.Workspace, error)
}
