package campaign

import (
	"errors"
	"strings"
)

// ErrNotFound reports a campaign that does not exist in the caller's
// workspace (another workspace's campaign is indistinguishable from none).
var ErrNotFound = errors.New("campaign not found")

// ErrSegmentNotFound reports that the campaign's segment no longer exists,
// so it cannot be launched.
var ErrSegmentNotFound = errors.New("segment not found")

// ErrUnavailable reports that a service the campaign service depends on
// could not answer; the caller may retry.
var ErrUnavailable = errors.New("dependency unavailable")

// ErrAudienceTooLarge reports a segment with more members than one campaign
// may send to.
var ErrAudienceTooLarge = errors.New("segment has too many members for one campaign")

// FieldViolation names an invalid request field and says what is wrong.
type FieldViolation struct {
	// Field is the path of the field in the request, e.g. "campaign.webhook.url".
	Field       string
	Description string
}

// ValidationError lists everything wrong with a request at once, so a
// caller can fix all of it in one round trip.
type ValidationError struct {
	Violations []FieldViolation
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		parts[i] = v.Field + ": " + v.Description
	}
	return "invalid argument: " + strings.Join(parts, "; ")
}

// add records a violation.
func (e *ValidationError) add(field, description string) {
	e.Violations = append(e.Violations, FieldViolation{Field: field, Description: description})
}

// orNil returns e when it holds violations and nil otherwise, so callers
// can return it directly.
func (e *ValidationError) orNil() error {
	if len(e.Violations) == 0 {
		return nil
	}
	return e
}

// invalid returns a ValidationError with one violation.
func invalid(field, description string) error {
	return &ValidationError{Violations: []FieldViolation{{Field: field, Description: description}}}
}
