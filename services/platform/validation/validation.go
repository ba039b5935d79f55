// Package validation lists what is wrong with a request, field by field, so
// a caller can fix everything in one round trip. Every service's domain
// reports bad input with *Error; package grpcstatus turns it into
// InvalidArgument with google.rpc.BadRequest details at the API boundary.
package validation

import (
	"fmt"
	"strings"
)

// MaxViolations bounds the violations kept, so that a batch of thousands of
// broken messages still gives a readable answer.
const MaxViolations = 50

// Violation names one invalid field by its path in the request (e.g.
// "batch[3].timestamp") and says what is wrong.
type Violation struct {
	Field       string
	Description string
}

// Error lists the invalid fields of a request.
type Error struct {
	Violations []Violation
}

func (e *Error) Error() string {
	parts := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		parts[i] = v.Field + ": " + v.Description
	}
	return "invalid argument: " + strings.Join(parts, "; ")
}

// Add records a violation (beyond MaxViolations, nothing).
func (e *Error) Add(field, description string) {
	if len(e.Violations) < MaxViolations {
		e.Violations = append(e.Violations, Violation{Field: field, Description: description})
	}
}

// Addf records a violation with a formatted description.
func (e *Error) Addf(field, format string, args ...any) {
	e.Add(field, fmt.Sprintf(format, args...))
}

// Err returns e when it holds violations and nil otherwise, so callers can
// return it directly.
func (e *Error) Err() error {
	if len(e.Violations) == 0 {
		return nil
	}
	return e
}

// Invalid returns an Error with one violation.
func Invalid(field, format string, args ...any) error {
	e := &Error{}
	e.Addf(field, format, args...)
	return e
}
