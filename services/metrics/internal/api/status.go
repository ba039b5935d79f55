package api

import (
	"errors"

	"google.golang.org/grpc/codes"

	"github.com/kizuna/kizuna/services/metrics/internal/kpi"
	"github.com/kizuna/kizuna/services/platform/grpcstatus"
	"github.com/kizuna/kizuna/services/platform/validation"
)

// toStatus maps metrics' errors to the gRPC status the client sees and
// leaves the rest to grpcstatus.FromError.
func toStatus(err error) error {
	switch {
	case errors.Is(err, kpi.ErrSegmentNotFound):
		return grpcstatus.New(codes.NotFound, "segment not found", err,
			validation.Violation{Field: "segment_id", Description: "no such segment in this workspace"})
	case errors.Is(err, kpi.ErrScopeTooLarge):
		return grpcstatus.New(codes.FailedPrecondition, kpi.ErrScopeTooLarge.Error(), err,
			validation.Violation{Field: "segment_id", Description: kpi.ErrScopeTooLarge.Error()})
	case errors.Is(err, kpi.ErrSegmentsUnavailable):
		return grpcstatus.New(codes.Unavailable, "segmentation service unavailable; retry later", err)
	default:
		return grpcstatus.FromError(err)
	}
}
