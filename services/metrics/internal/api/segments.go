package api

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	segmentationv1 "github.com/kizuna/kizuna/gen/kizuna/segmentation/v1"
	"github.com/kizuna/kizuna/services/metrics/internal/kpi"
	"github.com/kizuna/kizuna/services/platform/validation"
)

// membersPageSize is the largest page ListSegmentMembers serves.
const membersPageSize = 10_000

// membersPageTimeout bounds each page request, so a stuck segmentation
// cannot hold a ComputeMetric whose caller set no deadline forever.
const membersPageTimeout = 15 * time.Second

// Segments implements kpi.Segments over segmentation's gRPC API.
type Segments struct {
	client segmentationv1.SegmentServiceClient
}

var _ kpi.Segments = (*Segments)(nil)

// NewSegments returns a Segments calling segmentation over conn. conn must
// forward the caller's authorization metadata (grpcclient.Dial does), so
// segmentation answers for the caller's workspace and no other.
func NewSegments(conn grpc.ClientConnInterface) *Segments {
	return &Segments{client: segmentationv1.NewSegmentServiceClient(conn)}
}

// Members pages through every current member of segmentID. Pages are
// fetched with ctx, the incoming call's context, so its deadline and API
// key apply to each.
func (s *Segments) Members(ctx context.Context, segmentID string, limit int) ([]string, error) {
	var (
		ids   []string
		token string
		seen  = map[string]bool{}
	)
	for {
		pageCtx, cancel := context.WithTimeout(ctx, membersPageTimeout)
		resp, err := s.client.ListSegmentMembers(pageCtx, &segmentationv1.ListSegmentMembersRequest{
			SegmentId: segmentID,
			PageSize:  membersPageSize,
			PageToken: token,
		})
		cancel()
		if err != nil {
			return nil, fromSegmentation(err)
		}
		if resp.GetTotalSize() > int64(limit) {
			return nil, kpi.ErrScopeTooLarge
		}
		for _, m := range resp.GetMembers() {
			ids = append(ids, m.GetCustomerId())
		}
		if len(ids) > limit {
			// total_size is advisory; the list itself is what counts.
			return nil, kpi.ErrScopeTooLarge
		}
		token = resp.GetNextPageToken()
		if token == "" {
			return ids, nil
		}
		if seen[token] {
			// A token handed out twice would loop forever.
			return nil, fmt.Errorf("list segment members: segmentation repeated page token %q", token)
		}
		seen[token] = true
	}
}

// fromSegmentation turns segmentation's status into a kpi error.
func fromSegmentation(err error) error {
	switch status.Code(err) {
	case codes.NotFound:
		return fmt.Errorf("%w: %w", kpi.ErrSegmentNotFound, err)
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
		return fmt.Errorf("%w: %w", kpi.ErrSegmentsUnavailable, err)
	case codes.InvalidArgument:
		// Most likely a malformed segment id: the caller's mistake, not ours.
		return validation.Invalid("segment_id", "rejected by segmentation: %s", status.Convert(err).Message())
	case codes.Canceled:
		return fmt.Errorf("list segment members: %w", context.Canceled)
	default:
		return fmt.Errorf("list segment members: %w", err)
	}
}
