// Package audience reads a campaign's audience from the services that own
// it: segment members from segmentation, profiles from ingestion. Calls use
// the caller's context, whose API key the platform client interceptor
// forwards, so only the caller's workspace is ever visible.
package audience

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	segmentationv1 "github.com/kizuna/kizuna/gen/kizuna/segmentation/v1"
	"github.com/kizuna/kizuna/services/campaign/internal/campaign"
)

// MemberPageSize is the largest page ListSegmentMembers serves.
const MemberPageSize = 10000

// MaxMemberPages bounds the member pages one launch reads (10 million
// members); it also stops a paging loop if a token never ends.
const MaxMemberPages = 1000

// callTimeout bounds each call when the caller's context has no earlier
// deadline.
const callTimeout = 30 * time.Second

// Client implements campaign.Audience over gRPC.
type Client struct {
	segments  segmentationv1.SegmentServiceClient
	customers ingestionv1.CustomerServiceClient
}

var _ campaign.Audience = (*Client)(nil)

// New returns a Client over connections to segmentation and ingestion.
func New(segmentation, ingestion grpc.ClientConnInterface) *Client {
	return &Client{
		segments:  segmentationv1.NewSegmentServiceClient(segmentation),
		customers: ingestionv1.NewCustomerServiceClient(ingestion),
	}
}

// Members pages through the segment's members.
func (c *Client) Members(ctx context.Context, segmentID string, fn func([]string) error) error {
	token := ""
	for range MaxMemberPages {
		callCtx, cancel := context.WithTimeout(ctx, callTimeout)
		resp, err := c.segments.ListSegmentMembers(callCtx, &segmentationv1.ListSegmentMembersRequest{
			SegmentId: segmentID,
			PageSize:  MemberPageSize,
			PageToken: token,
		})
		cancel()
		if err != nil {
			if status.Code(err) == codes.NotFound {
				return fmt.Errorf("segment %q: %w", segmentID, campaign.ErrSegmentNotFound)
			}
			return fmt.Errorf("list members of segment %q: %w", segmentID, upstream(err))
		}
		ids := make([]string, 0, len(resp.GetMembers()))
		for _, m := range resp.GetMembers() {
			if m.GetCustomerId() != "" {
				ids = append(ids, m.GetCustomerId())
			}
		}
		if err := fn(ids); err != nil {
			return err
		}
		if resp.GetNextPageToken() == "" {
			return nil
		}
		token = resp.GetNextPageToken()
	}
	return fmt.Errorf("segment %q: more than %d pages of members: %w", segmentID, MaxMemberPages, campaign.ErrAudienceTooLarge)
}

// Traits fetches the customers' traits in one BatchGetCustomers call.
func (c *Client) Traits(ctx context.Context, customerIDs []string) (map[string]map[string]any, error) {
	if len(customerIDs) > campaign.ProfileBatchSize {
		return nil, fmt.Errorf("traits: %d ids, at most %d per call", len(customerIDs), campaign.ProfileBatchSize)
	}
	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	resp, err := c.customers.BatchGetCustomers(callCtx, &ingestionv1.BatchGetCustomersRequest{CustomerIds: customerIDs})
	if err != nil {
		return nil, fmt.Errorf("get %d customer profiles: %w", len(customerIDs), upstream(err))
	}
	out := make(map[string]map[string]any, len(resp.GetCustomers()))
	for _, cus := range resp.GetCustomers() {
		out[cus.GetCustomerId()] = cus.GetTraits().AsMap()
	}
	return out, nil
}

// upstream marks errors the caller may retry as campaign.ErrUnavailable,
// keeping the original in the chain for the log.
func upstream(err error) error {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted:
		return errors.Join(campaign.ErrUnavailable, err)
	}
	return err
}
