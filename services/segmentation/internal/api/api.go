// Package api serves segmentationv1.SegmentService: it authenticates the
// workspace from the context, converts between protobuf and the segment
// domain, and maps domain errors to gRPC status codes in one place
// (toStatus).
package api

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	segmentationv1 "github.com/kizuna/kizuna/gen/kizuna/segmentation/v1"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpcstatus"
	"github.com/kizuna/kizuna/services/platform/validation"
	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
)

// Page sizes. Members pages are large because audiences are exported
// through them; segment lists are bounded by the per-workspace segment cap.
const (
	defaultSegmentPage = 50
	maxSegmentPage     = 500
	defaultMemberPage  = 100
	maxMemberPage      = 10_000
)

// Server implements segmentationv1.SegmentServiceServer over an Engine.
type Server struct {
	segmentationv1.UnimplementedSegmentServiceServer
	engine *segment.Engine
}

var _ segmentationv1.SegmentServiceServer = (*Server)(nil)

// New returns a Server.
func New(engine *segment.Engine) *Server {
	return &Server{engine: engine}
}

// CreateSegment implements segmentationv1.SegmentServiceServer.
func (s *Server) CreateSegment(ctx context.Context, req *segmentationv1.CreateSegmentRequest) (*segmentationv1.CreateSegmentResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetSegment() == nil {
		return nil, toStatus(validation.Invalid("segment", "required"))
	}
	seg := segmentFromProto(req.GetSegment())
	seg.WorkspaceID = ws
	created, err := s.engine.Create(ctx, seg)
	if err != nil {
		return nil, toStatus(err)
	}
	return &segmentationv1.CreateSegmentResponse{Segment: segmentToProto(created)}, nil
}

// GetSegment implements segmentationv1.SegmentServiceServer.
func (s *Server) GetSegment(ctx context.Context, req *segmentationv1.GetSegmentRequest) (*segmentationv1.GetSegmentResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if err := segment.ValidateID("segment_id", req.GetSegmentId()); err != nil {
		return nil, toStatus(err)
	}
	seg, err := s.engine.Get(ctx, ws, req.GetSegmentId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &segmentationv1.GetSegmentResponse{Segment: segmentToProto(seg)}, nil
}

// ListSegments implements segmentationv1.SegmentServiceServer.
func (s *Server) ListSegments(ctx context.Context, req *segmentationv1.ListSegmentsRequest) (*segmentationv1.ListSegmentsResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	limit, err := pageSize(req.GetPageSize(), defaultSegmentPage, maxSegmentPage)
	if err != nil {
		return nil, toStatus(err)
	}
	after, err := decodePageToken(req.GetPageToken(), "segments", "")
	if err != nil {
		return nil, toStatus(err)
	}
	segs, err := s.engine.List(ctx, ws, after, limit+1)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &segmentationv1.ListSegmentsResponse{}
	if len(segs) > limit {
		segs = segs[:limit]
		resp.NextPageToken = encodePageToken("segments", "", segs[len(segs)-1].ID)
	}
	for _, seg := range segs {
		resp.Segments = append(resp.Segments, segmentToProto(seg))
	}
	return resp, nil
}

// DeleteSegment implements segmentationv1.SegmentServiceServer.
func (s *Server) DeleteSegment(ctx context.Context, req *segmentationv1.DeleteSegmentRequest) (*segmentationv1.DeleteSegmentResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if err := segment.ValidateID("segment_id", req.GetSegmentId()); err != nil {
		return nil, toStatus(err)
	}
	if err := s.engine.Delete(ctx, ws, req.GetSegmentId()); err != nil {
		return nil, toStatus(err)
	}
	return &segmentationv1.DeleteSegmentResponse{}, nil
}

// ListSegmentMembers implements segmentationv1.SegmentServiceServer.
func (s *Server) ListSegmentMembers(ctx context.Context, req *segmentationv1.ListSegmentMembersRequest) (*segmentationv1.ListSegmentMembersResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if err := segment.ValidateID("segment_id", req.GetSegmentId()); err != nil {
		return nil, toStatus(err)
	}
	limit, err := pageSize(req.GetPageSize(), defaultMemberPage, maxMemberPage)
	if err != nil {
		return nil, toStatus(err)
	}
	after, err := decodePageToken(req.GetPageToken(), "members", req.GetSegmentId())
	if err != nil {
		return nil, toStatus(err)
	}
	members, total, err := s.engine.Members(ctx, ws, req.GetSegmentId(), after, limit+1)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &segmentationv1.ListSegmentMembersResponse{TotalSize: total}
	if len(members) > limit {
		members = members[:limit]
		resp.NextPageToken = encodePageToken("members", req.GetSegmentId(), members[len(members)-1].CustomerID)
	}
	resp.Members = make([]*segmentationv1.SegmentMember, len(members))
	for i, m := range members {
		resp.Members[i] = &segmentationv1.SegmentMember{CustomerId: m.CustomerID, JoinTime: timestamppb.New(m.JoinTime)}
	}
	return resp, nil
}

// ListCustomerSegments implements segmentationv1.SegmentServiceServer.
func (s *Server) ListCustomerSegments(ctx context.Context, req *segmentationv1.ListCustomerSegmentsRequest) (*segmentationv1.ListCustomerSegmentsResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if err := segment.ValidateID("customer_id", req.GetCustomerId()); err != nil {
		return nil, toStatus(err)
	}
	segs, err := s.engine.CustomerSegments(ctx, ws, req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &segmentationv1.ListCustomerSegmentsResponse{}
	for _, seg := range segs {
		resp.Segments = append(resp.Segments, segmentToProto(seg))
	}
	return resp, nil
}

// GetCustomerFeatures implements segmentationv1.SegmentServiceServer.
func (s *Server) GetCustomerFeatures(ctx context.Context, req *segmentationv1.GetCustomerFeaturesRequest) (*segmentationv1.GetCustomerFeaturesResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if err := segment.ValidateID("customer_id", req.GetCustomerId()); err != nil {
		return nil, toStatus(err)
	}
	f, err := s.engine.Features(ctx, ws, req.GetCustomerId())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &segmentationv1.CustomerFeatures{
		CustomerId: f.CustomerID,
		OrderCount: f.Orders.Count,
		Revenue:    f.Orders.Revenue,
		EventCount: f.EventCount,
	}
	if f.Orders.Count > 0 {
		out.LastOrderTime = timestamppb.New(f.Orders.LastOrder)
	}
	if f.RFM != nil {
		out.RecencyScore, out.FrequencyScore, out.MonetaryScore = f.RFM.Recency, f.RFM.Frequency, f.RFM.Monetary
	}
	return &segmentationv1.GetCustomerFeaturesResponse{Features: out}, nil
}

// pageSize applies the default to 0 and coerces sizes above max to max,
// as AIP-158 recommends; negative sizes are an error.
func pageSize(requested int32, def, max int) (int, error) {
	switch {
	case requested < 0:
		return 0, validation.Invalid("page_size", "must not be negative")
	case requested == 0:
		return def, nil
	case int(requested) > max:
		return max, nil
	default:
		return int(requested), nil
	}
}

// pageToken is the decoded form of an opaque page token. It names the list
// it belongs to so a token cannot be replayed against another segment.
type pageToken struct {
	List  string `json:"l"`
	Scope string `json:"s,omitempty"`
	After string `json:"a"`
}

// maxPageTokenLen bounds what decodePageToken will try to parse.
const maxPageTokenLen = 1024

func encodePageToken(list, scope, after string) string {
	b, err := json.Marshal(pageToken{List: list, Scope: scope, After: after})
	if err != nil {
		return "" // a struct of strings always marshals
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePageToken(token, list, scope string) (string, error) {
	if token == "" {
		return "", nil
	}
	bad := validation.Invalid("page_token", "not a page token from a previous call of this method")
	if len(token) > maxPageTokenLen {
		return "", bad
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return "", bad
	}
	var t pageToken
	if err := json.Unmarshal(b, &t); err != nil || t.List != list || t.Scope != scope || t.After == "" {
		return "", bad
	}
	return t.After, nil
}

// toStatus maps a domain error to a gRPC status: validation errors carry
// field violations, missing resources are NotFound, and anything else is
// Internal with a generic message (the cause is logged by the server's
// logging interceptor, never shown to the caller).
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	var limit *segment.LimitError
	switch {
	case errors.As(err, &limit):
		return grpcstatus.New(codes.ResourceExhausted, limit.Error(), err)
	case errors.Is(err, segment.ErrNotFound):
		return grpcstatus.New(codes.NotFound, "not found", err)
	default:
		return grpcstatus.FromError(err)
	}
}

func segmentFromProto(p *segmentationv1.Segment) segment.Segment {
	seg := segment.Segment{DisplayName: p.GetDisplayName(), Description: p.GetDescription()}
	for _, c := range p.GetRule().GetAll() {
		var dc segment.Condition
		switch k := c.GetKind().(type) {
		case *segmentationv1.Condition_Trait:
			dc.Trait = &segment.TraitCondition{Key: k.Trait.GetKey(), Equals: k.Trait.GetEquals()}
		case *segmentationv1.Condition_Event:
			dc.Event = &segment.EventCondition{Event: k.Event.GetEvent(), MinCount: k.Event.GetMinCount(), WithinDays: k.Event.GetWithinDays()}
		case *segmentationv1.Condition_Rfm:
			dc.RFM = &segment.RFMCondition{
				MinRecency:   k.Rfm.GetMinRecencyScore(),
				MinFrequency: k.Rfm.GetMinFrequencyScore(),
				MinMonetary:  k.Rfm.GetMinMonetaryScore(),
			}
		}
		seg.Rule.All = append(seg.Rule.All, dc)
	}
	return seg
}

func segmentToProto(s segment.Segment) *segmentationv1.Segment {
	rule := &segmentationv1.Rule{}
	for _, c := range s.Rule.All {
		pc := &segmentationv1.Condition{}
		switch {
		case c.Trait != nil:
			pc.Kind = &segmentationv1.Condition_Trait{Trait: &segmentationv1.TraitCondition{Key: c.Trait.Key, Equals: c.Trait.Equals}}
		case c.Event != nil:
			pc.Kind = &segmentationv1.Condition_Event{Event: &segmentationv1.EventCondition{
				Event: c.Event.Event, MinCount: c.Event.MinCount, WithinDays: c.Event.WithinDays,
			}}
		case c.RFM != nil:
			pc.Kind = &segmentationv1.Condition_Rfm{Rfm: &segmentationv1.RfmCondition{
				MinRecencyScore: c.RFM.MinRecency, MinFrequencyScore: c.RFM.MinFrequency, MinMonetaryScore: c.RFM.MinMonetary,
			}}
		}
		rule.All = append(rule.All, pc)
	}
	return &segmentationv1.Segment{
		SegmentId:   s.ID,
		DisplayName: s.DisplayName,
		Description: s.Description,
		Rule:        rule,
		Size:        s.Size,
		CreateTime:  timestampOrNil(s.CreateTime),
	}
}

func timestampOrNil(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
