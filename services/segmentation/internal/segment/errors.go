package segment

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotFound reports a segment or customer that does not exist in the
// caller's workspace; another workspace's resource is indistinguishable
// from a missing one, so ids leak nothing across tenants.
var ErrNotFound = errors.New("not found")

// FieldViolation names an invalid request field and says what is wrong.
type FieldViolation struct {
	// Field is the path of the field in the request, e.g.
	// "segment.rule.all[0].event.within_days".
	Field       string
	Description string
}

// ValidationError lists everything wrong with an input at once, so a caller
// can fix all of it in one round trip.
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

func (e *ValidationError) add(field, format string, args ...any) {
	e.Violations = append(e.Violations, FieldViolation{Field: field, Description: fmt.Sprintf(format, args...)})
}

// orNil returns e when it holds violations and nil otherwise.
func (e *ValidationError) orNil() error {
	if len(e.Violations) == 0 {
		return nil
	}
	return e
}

// Invalid returns a ValidationError with one violation; the API layer uses
// it for request fields the domain never sees (page tokens).
func Invalid(field, format string, args ...any) error {
	e := &ValidationError{}
	e.add(field, format, args...)
	return e
}
