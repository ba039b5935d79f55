// Package grpcstatus turns domain errors into the gRPC status a client
// sees, at each service's API boundary. A service maps its own sentinel
// errors and hands everything else to FromError, which maps what all
// services map alike.
package grpcstatus

import (
	"context"
	"errors"
	"strings"
	"unicode"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kizuna/kizuna/services/platform/validation"
)

// FromError maps *validation.Error to InvalidArgument with its violations,
// cancellation and deadlines to their codes, an Unavailable error of a
// downstream call to Unavailable, and anything else to Internal
// with a generic message. The returned error keeps err as its cause, so the
// logging interceptor (which logs Error()) records what really happened.
func FromError(err error) error {
	var v *validation.Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &v):
		return New(codes.InvalidArgument, v.Error(), err, v.Violations...)
	case errors.Is(err, context.Canceled):
		return New(codes.Canceled, "request canceled", err)
	case errors.Is(err, context.DeadlineExceeded):
		return New(codes.DeadlineExceeded, "deadline exceeded", err)
	case isUnavailable(err):
		// A service this one calls is down: the client may retry, which
		// Internal would tell it not to. Its message could name internal
		// addresses, so it is not passed on.
		return New(codes.Unavailable, "a service this request needs is unavailable; try again later", err)
	default:
		return New(codes.Internal, "internal error", err)
	}
}

// Domain is the google.rpc.ErrorInfo domain of every Kizuna error.
const Domain = "kizuna.dev"

// New returns an error the client sees as code and message, with the
// violations as google.rpc.BadRequest details (e.g. NotFound naming the
// field that referred to the missing resource). cause, if not nil, is kept
// for the server's log line and errors.Is. Its google.rpc.ErrorInfo reason
// is the code's name (INVALID_ARGUMENT …); see Reasoned for a finer one.
func New(code codes.Code, message string, cause error, violations ...validation.Violation) error {
	return Reasoned(code, codeReason(code), message, cause, violations...)
}

// Reasoned is New with a google.rpc.ErrorInfo reason of the caller's
// (UPPER_SNAKE_CASE, stable: clients branch on it instead of parsing
// messages).
func Reasoned(code codes.Code, reason, message string, cause error, violations ...validation.Violation) error {
	st := status.New(code, message)
	if d, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: Domain}); err == nil {
		st = d
	}
	if len(violations) > 0 {
		br := &errdetails.BadRequest{}
		for _, v := range violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Description})
		}
		if d, err := st.WithDetails(br); err == nil {
			st = d
		}
	}
	if cause == nil {
		return st.Err()
	}
	return &statusError{st: st, cause: cause}
}

// Invalid is InvalidArgument for one field, for checks made at the API
// boundary itself.
func Invalid(field, description string) error {
	return New(codes.InvalidArgument, field+": "+description, nil, validation.Violation{Field: field, Description: description})
}

// statusError carries a client-facing status while Error() keeps the cause.
type statusError struct {
	st    *status.Status
	cause error
}

func (e *statusError) Error() string { return e.st.Message() + ": " + e.cause.Error() }
func (e *statusError) Unwrap() error { return e.cause }

// GRPCStatus is how grpc-go finds the status of an error.
func (e *statusError) GRPCStatus() *status.Status { return e.st }

// isUnavailable reports whether err wraps a gRPC status error with code
// Unavailable (a call to another service that could not reach it).
func isUnavailable(err error) bool {
	var se interface{ GRPCStatus() *status.Status }
	return errors.As(err, &se) && se.GRPCStatus().Code() == codes.Unavailable
}

// codeReason spells a code's name as an ErrorInfo reason:
// InvalidArgument → INVALID_ARGUMENT.
func codeReason(code codes.Code) string {
	var b strings.Builder
	for i, r := range code.String() {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// Reason returns the google.rpc.ErrorInfo reason of err's status, or ""
// when it has none.
func Reason(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info.GetReason()
		}
	}
	return ""
}
