package kpi

import (
	"errors"
	"fmt"
	"strings"
)

// FieldViolation names one invalid request field and why.
type FieldViolation struct {
	Field       string
	Description string
}

// ValidationError reports every invalid field of a request at once, so a
// caller can fix them in one round trip.
type ValidationError struct {
	Violations []FieldViolation
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		parts[i] = v.Field + ": " + v.Description
	}
	return "invalid request: " + strings.Join(parts, "; ")
}

// Errors a computation can fail with besides validation; callers test them
// with errors.Is.
var (
	// ErrSegmentNotFound: the segment does not exist in the workspace.
	ErrSegmentNotFound = errors.New("segment not found")
	// ErrScopeTooLarge: the segment has more members than MaxSegmentMembers.
	ErrScopeTooLarge = fmt.Errorf("segment has more than %d members", MaxSegmentMembers)
	// ErrSegmentsUnavailable: the segmentation service could not answer in
	// time; the computation may be retried.
	ErrSegmentsUnavailable = errors.New("segmentation service unavailable")
)
