package imports

import (
	"errors"
	"time"
)

// Import job states.
const (
	ImportUploading = "uploading"
	ImportRunning   = "running"
	ImportSucceeded = "succeeded"
	ImportFailed    = "failed"
)

// Import is a bulk import job and its stored progress.
type Import struct {
	WorkspaceID string
	ID          string
	Kind        string
	Encoding    string
	// Mapping is the column mapping as JSON.
	Mapping    string
	State      string
	BytesTotal int64
	Chunks     int64
	Progress   ImportProgress
	Error      string
	CreateTime time.Time
	StartTime  time.Time // zero until started
	UpdateTime time.Time
	EndTime    time.Time // zero until done
}

// ImportProgress is what a job has done so far; RowsRead data rows are
// done, and a resumed job skips them.
type ImportProgress struct {
	BytesRead     int64
	RowsRead      int64
	RowsImported  int64
	RowsRejected  int64
	RowsDuplicate int64
	// Run is the time spent running, over every run of the job.
	Run time.Duration
}

// Rejection is a row a job did not import.
type Rejection struct {
	Line   int64
	Reason string
	Row    string
}

// Errors of imports.
var (
	// ErrLeaseLost reports a job another replica took over: the one that
	// lost it must stop.
	ErrLeaseLost = errors.New("the import's lease was taken over")
	// ErrImportTooLarge reports an upload past the file size limit.
	ErrImportTooLarge = errors.New("import file too large")
)
