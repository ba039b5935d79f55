package dedupe

import (
	"errors"
	"time"
)

// ErrNotFound reports a missing duplicate scan.
var ErrNotFound = errors.New("not found")

// Scan states.
const (
	ScanRunning   = "running"
	ScanSucceeded = "succeeded"
	ScanFailed    = "failed"
)

// ScanInterrupted is the error of a scan whose process stopped before it
// ended.
const ScanInterrupted = "interrupted: the service stopped during the scan"

// Scan is a duplicate scan and its progress.
type Scan struct {
	WorkspaceID        string
	ID                 string
	State              string
	Phase              string
	Progress           int
	CustomersTotal     int64
	CustomersScanned   int64
	PairsCompared      int64
	SuggestionsCreated int64
	MergesApplied      int64
	AutoMerge          bool
	Error              string
	CreateTime         time.Time
	UpdateTime         time.Time
	EndTime            time.Time // zero while running
}

// Stale reports whether a running scan has not been updated since before:
// its process stopped, since a running scan writes progress regularly.
func (s Scan) Stale(before time.Time) bool {
	return s.State == ScanRunning && s.UpdateTime.Before(before)
}

// LiveCustomer is what a duplicate scan reads of a customer.
type LiveCustomer struct {
	ID     string
	UserID string
	Traits map[string]any
}
