package api

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kizuna/kizuna/services/metrics/internal/kpi"
)

// toStatus maps a domain error to the gRPC status the client sees. Unknown
// errors become a generic Internal; the logging interceptor records the
// original, which the returned status wraps.
func toStatus(err error) error {
	var ve *kpi.ValidationError
	switch {
	case errors.As(err, &ve):
		br := &errdetails.BadRequest{}
		for _, v := range ve.Violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
				Field: v.Field, Description: v.Description,
			})
		}
		return withDetails(codes.InvalidArgument, ve.Error(), br)
	case errors.Is(err, kpi.ErrSegmentNotFound):
		return withDetails(codes.NotFound, "segment not found", &errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "segment_id", Description: "no such segment in this workspace"}},
		})
	case errors.Is(err, kpi.ErrScopeTooLarge):
		return withDetails(codes.FailedPrecondition, kpi.ErrScopeTooLarge.Error(), &errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "segment_id", Description: kpi.ErrScopeTooLarge.Error()}},
		})
	case errors.Is(err, kpi.ErrSegmentsUnavailable):
		return &statusError{st: status.New(codes.Unavailable, "segmentation service unavailable; retry later"), cause: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &statusError{st: status.New(codes.DeadlineExceeded, "deadline exceeded"), cause: err}
	case errors.Is(err, context.Canceled):
		return &statusError{st: status.New(codes.Canceled, "canceled"), cause: err}
	default:
		return &statusError{st: status.New(codes.Internal, "internal error"), cause: err}
	}
}

func withDetails(code codes.Code, msg string, details *errdetails.BadRequest) error {
	st := status.New(code, msg)
	if withD, err := st.WithDetails(details); err == nil {
		st = withD
	}
	return st.Err()
}

// statusError carries a client-facing status while keeping the cause in
// Error() for the server's log line.
type statusError struct {
	st    *status.Status
	cause error
}

func (e *statusError) Error() string              { return e.st.Message() + ": " + e.cause.Error() }
func (e *statusError) Unwrap() error              { return e.cause }
func (e *statusError) GRPCStatus() *status.Status { return e.st }

func violation(field, description string) *errdetails.BadRequest {
	return &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: field, Description: description}}}
}
