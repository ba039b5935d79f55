package grpcstatus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kizuna/kizuna/services/platform/validation"
)

func TestFromError(t *testing.T) {
	secret := errors.New("disk full at /var/lib/db")
	tests := []struct {
		name   string
		err    error
		code   codes.Code
		msg    string
		fields []string
	}{
		{"validation, wrapped", fmt.Errorf("create: %w", validation.Invalid("segment.rule", "is required")), codes.InvalidArgument,
			"invalid argument: segment.rule: is required", []string{"segment.rule"}},
		{"canceled", fmt.Errorf("query: %w", context.Canceled), codes.Canceled, "request canceled", nil},
		{"deadline", context.DeadlineExceeded, codes.DeadlineExceeded, "deadline exceeded", nil},
		{"anything else hides its cause", secret, codes.Internal, "internal error", nil},
		{"downstream unavailable hides the address", fmt.Errorf("segment sizes: %w",
			status.Error(codes.Unavailable, "connection error: dial tcp 10.0.0.7:50052: connect: connection refused")),
			codes.Unavailable, "a service this request needs is unavailable; try again later", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := FromError(tt.err)
			st := status.Convert(err)
			if st.Code() != tt.code || st.Message() != tt.msg {
				t.Errorf("status = %v %q, want %v %q", st.Code(), st.Message(), tt.code, tt.msg)
			}
			var fields []string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, v := range br.GetFieldViolations() {
						fields = append(fields, v.GetField())
					}
				}
			}
			if fmt.Sprint(fields) != fmt.Sprint(tt.fields) {
				t.Errorf("fields = %v, want %v", fields, tt.fields)
			}
			if !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.err.Error()) {
				t.Errorf("Error() = %q loses the cause %q", err.Error(), tt.err.Error())
			}
		})
	}
	if FromError(nil) != nil {
		t.Error("FromError(nil) must be nil")
	}
}

func TestInvalid(t *testing.T) {
	st := status.Convert(Invalid("page_size", "must be between 0 and 1000"))
	if st.Code() != codes.InvalidArgument || st.Message() != "page_size: must be between 0 and 1000" || len(st.Details()) != 2 {
		t.Errorf("status = %v", st)
	}
	if got := reason(st); got != "INVALID_ARGUMENT" {
		t.Errorf("reason = %q, want INVALID_ARGUMENT", got)
	}
}

// TestReasons: every status carries a google.rpc.ErrorInfo in Kizuna's
// domain, with the code's name or the caller's reason.
func TestReasons(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{New(codes.NotFound, "customer not found", nil), "NOT_FOUND"},
		{New(codes.FailedPrecondition, "x", errors.New("cause")), "FAILED_PRECONDITION"},
		{FromError(errors.New("boom")), "INTERNAL"},
		{FromError(context.DeadlineExceeded), "DEADLINE_EXCEEDED"},
		{Reasoned(codes.FailedPrecondition, "MERGE_ALREADY_UNDONE", "merge m is already undone", nil), "MERGE_ALREADY_UNDONE"},
	}
	for _, tt := range tests {
		if got := reason(status.Convert(tt.err)); got != tt.want {
			t.Errorf("%v: reason = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func reason(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == Domain {
			return info.GetReason()
		}
	}
	return ""
}
