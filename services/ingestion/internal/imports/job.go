package imports

import (
	"errors"
	"fmt"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/conflict"
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
	// ErrNotFound reports a missing job or part of its file.
	ErrNotFound = errors.New("not found")
	// ErrLeaseLost reports a job another replica took over: the one that
	// lost it must stop.
	ErrLeaseLost = errors.New("the import's lease was taken over")
	// ErrImportTooLarge reports an upload past the file size limit.
	ErrImportTooLarge = errors.New("import file too large")
)

// CheckChunk decides on a chunk of size bytes at offset of im's file. A
// chunk within what is already uploaded is a client's retry (retry is
// true: nothing to store); the next chunk is accepted; a chunk that leaves
// a gap, or comes after the upload ended, is refused. The file may not grow
// past maxTotal bytes.
func (im Import) CheckChunk(offset, size, maxTotal int64) (retry bool, err error) {
	switch {
	case im.State != ImportUploading:
		return false, conflict.Errorf("IMPORT_NOT_UPLOADING", "import %s is %s: its file can no longer change", im.ID, im.State)
	case offset < im.BytesTotal && offset+size <= im.BytesTotal:
		return true, nil
	case offset != im.BytesTotal:
		return false, conflict.Errorf("IMPORT_OFFSET_MISMATCH", "the chunk starts at byte %d, but %d bytes are uploaded: send the chunk at offset %d", offset, im.BytesTotal, im.BytesTotal)
	case im.BytesTotal+size > maxTotal:
		return false, fmt.Errorf("the file would be %d bytes, over the limit of %d: %w", im.BytesTotal+size, maxTotal, ErrImportTooLarge)
	}
	return false, nil
}

// CheckStart decides whether starting im queues it: a job already started
// is left as it is (start is false), one without a file is refused.
func (im Import) CheckStart() (start bool, err error) {
	if im.State != ImportUploading {
		return false, nil
	}
	if im.BytesTotal == 0 {
		return false, conflict.Errorf("IMPORT_EMPTY", "import %s has no file: upload it before starting", im.ID)
	}
	return true, nil
}
