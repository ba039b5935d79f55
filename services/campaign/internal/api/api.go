// Package api serves kizuna.campaign.v1.CampaignService: it converts
// between protobuf and the campaign domain and maps domain errors to gRPC
// status in one place (toStatus).
package api

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	"github.com/kizuna/kizuna/services/campaign/internal/campaign"
	"github.com/kizuna/kizuna/services/platform/auth"

	"github.com/kizuna/kizuna/services/platform/validation"

	"github.com/kizuna/kizuna/services/platform/grpcstatus"
)

// Server implements campaignv1.CampaignServiceServer.
type Server struct {
	campaignv1.UnimplementedCampaignServiceServer
	manager *campaign.Manager
}

var _ campaignv1.CampaignServiceServer = (*Server)(nil)

// New returns a Server backed by m.
func New(m *campaign.Manager) *Server {
	return &Server{manager: m}
}

// CreateCampaign implements CampaignService.CreateCampaign.
func (s *Server) CreateCampaign(ctx context.Context, req *campaignv1.CreateCampaignRequest) (*campaignv1.CreateCampaignResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetCampaign() == nil {
		return nil, toStatus(validation.Invalid("campaign", "is required"))
	}
	in := req.GetCampaign()
	// Output-only fields (id, state, counts, times) are ignored.
	c, err := s.manager.Create(ctx, ws, campaign.Campaign{
		DisplayName:     in.GetDisplayName(),
		SegmentID:       in.GetSegmentId(),
		WebhookURL:      in.GetWebhook().GetUrl(),
		MessageTemplate: in.GetMessageTemplate(),
		HoldoutPercent:  in.GetHoldout().GetPercent(),
		Goal:            in.GetGoal(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &campaignv1.CreateCampaignResponse{Campaign: toProto(c)}, nil
}

// GetCampaign implements CampaignService.GetCampaign.
func (s *Server) GetCampaign(ctx context.Context, req *campaignv1.GetCampaignRequest) (*campaignv1.GetCampaignResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	c, err := s.manager.Get(ctx, ws, req.GetCampaignId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &campaignv1.GetCampaignResponse{Campaign: toProto(c)}, nil
}

// ListCampaigns implements CampaignService.ListCampaigns.
func (s *Server) ListCampaigns(ctx context.Context, req *campaignv1.ListCampaignsRequest) (*campaignv1.ListCampaignsResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	cs, next, err := s.manager.List(ctx, ws, campaign.Page{Size: req.GetPageSize(), Token: req.GetPageToken()})
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &campaignv1.ListCampaignsResponse{NextPageToken: next, Campaigns: make([]*campaignv1.Campaign, len(cs))}
	for i, c := range cs {
		resp.Campaigns[i] = toProto(c)
	}
	return resp, nil
}

// LaunchCampaign implements CampaignService.LaunchCampaign.
func (s *Server) LaunchCampaign(ctx context.Context, req *campaignv1.LaunchCampaignRequest) (*campaignv1.LaunchCampaignResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	c, err := s.manager.Launch(ctx, ws, req.GetCampaignId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &campaignv1.LaunchCampaignResponse{Campaign: toProto(c)}, nil
}

// ListDeliveries implements CampaignService.ListDeliveries.
func (s *Server) ListDeliveries(ctx context.Context, req *campaignv1.ListDeliveriesRequest) (*campaignv1.ListDeliveriesResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	ds, next, err := s.manager.ListDeliveries(ctx, ws, req.GetCampaignId(), campaign.Page{Size: req.GetPageSize(), Token: req.GetPageToken()})
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &campaignv1.ListDeliveriesResponse{NextPageToken: next, Deliveries: make([]*campaignv1.Delivery, len(ds))}
	for i, d := range ds {
		resp.Deliveries[i] = deliveryToProto(d)
	}
	return resp, nil
}

// toStatus maps a domain error to a gRPC status. Unknown errors become
// Internal with a generic message; the logging interceptor records the
// real error.
func toStatus(err error) error {
	switch {
	case errors.Is(err, campaign.ErrNotFound):
		return grpcstatus.New(codes.NotFound, "campaign not found", err)
	case errors.Is(err, campaign.ErrSegmentNotFound):
		return grpcstatus.New(codes.FailedPrecondition, "the campaign's segment does not exist", err)
	case errors.Is(err, campaign.ErrUnavailable):
		return grpcstatus.New(codes.Unavailable, "a service the campaign service depends on is unavailable; retry", err)
	default:
		return grpcstatus.FromError(err)
	}
}

var states = map[campaign.State]campaignv1.CampaignState{
	campaign.StateDraft:     campaignv1.CampaignState_CAMPAIGN_STATE_DRAFT,
	campaign.StateSending:   campaignv1.CampaignState_CAMPAIGN_STATE_SENDING,
	campaign.StateCompleted: campaignv1.CampaignState_CAMPAIGN_STATE_COMPLETED,
}

var statuses = map[campaign.DeliveryStatus]campaignv1.DeliveryStatus{
	campaign.DeliveryPending: campaignv1.DeliveryStatus_DELIVERY_STATUS_PENDING,
	campaign.DeliverySent:    campaignv1.DeliveryStatus_DELIVERY_STATUS_SENT,
	campaign.DeliveryFailed:  campaignv1.DeliveryStatus_DELIVERY_STATUS_FAILED,
}

func toProto(c campaign.Campaign) *campaignv1.Campaign {
	return &campaignv1.Campaign{
		CampaignId:      c.ID,
		DisplayName:     c.DisplayName,
		SegmentId:       c.SegmentID,
		Channel:         &campaignv1.Campaign_Webhook{Webhook: &campaignv1.WebhookChannel{Url: c.WebhookURL}},
		MessageTemplate: c.MessageTemplate,
		State:           states[c.State],
		DeliveryCounts: &campaignv1.DeliveryCounts{
			Total:   c.Counts.Total,
			Pending: c.Counts.Pending,
			Sent:    c.Counts.Sent,
			Failed:  c.Counts.Failed,
		},
		CreateTime: timestamp(c.CreateTime),
		LaunchTime: timestamp(c.LaunchTime),
		JourneyId:  c.JourneyID,
		Holdout:    holdout(c.HoldoutPercent),
		Goal:       c.Goal,
	}
}

func holdout(percent float64) *campaignv1.Holdout {
	if percent == 0 {
		return nil
	}
	return &campaignv1.Holdout{Percent: percent}
}

func deliveryToProto(d campaign.Delivery) *campaignv1.Delivery {
	return &campaignv1.Delivery{
		DeliveryId: d.ID,
		CampaignId: d.CampaignID,
		CustomerId: d.CustomerID,
		Status:     statuses[d.Status],
		Attempts:   int32(d.Attempts),
		LastError:  d.LastError,
		SendTime:   timestamp(d.SendTime),
		Message:    d.Message,
	}
}

// timestamp leaves unset times unset rather than sending the zero time.
func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
