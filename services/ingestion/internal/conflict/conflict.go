// Package conflict is ingestion's refusal of a request the current state
// does not allow (undoing a merge twice, revoking one's own key …). Each
// refusal carries a stable reason so that the API layer hands it to clients
// as a google.rpc.ErrorInfo reason and no client has to parse the message.
// It has its own package because every domain package and the SQL store
// refuse with it, and the API layer maps it once.
package conflict

import (
	"errors"
	"fmt"
)

// ErrConflict is what every *Error matches with errors.Is.
var ErrConflict = errors.New("conflict")

// Error is a refusal with a machine-readable reason.
type Error struct {
	Reason  string // UPPER_SNAKE_CASE, stable: clients branch on it
	Message string
}

func (e *Error) Error() string { return e.Message }

// Is makes errors.Is(err, ErrConflict) hold for every *Error.
func (e *Error) Is(target error) bool { return target == ErrConflict }

// Errorf returns an *Error with reason and the formatted message.
func Errorf(reason, format string, args ...any) error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Reason returns the reason of the *Error in err's chain, "" when there is
// none.
func Reason(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}
