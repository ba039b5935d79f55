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
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/structpb"
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
	out.LifecycleStage = stageToProto(f.Stage)
	if len(f.Computed) > 0 {
		st, err := structpb.NewStruct(f.Computed)
		if err != nil {
			return nil, toStatus(fmt.Errorf("features of %s: computed traits: %w", f.CustomerID, err))
		}
		out.ComputedTraits = st
	}
	if p := f.Prediction; p != nil {
		out.Predicted = &segmentationv1.PredictedTraits{
			ProbabilityAlive: p.ProbabilityAlive, ExpectedPurchases_90D: p.ExpectedPurchases, PredictedClv_12M: p.CLV,
			FitTime: timestampOrNil(f.PredictionFit.Time),
		}
	}
	return &segmentationv1.GetCustomerFeaturesResponse{Features: out}, nil
}

// UpdateSegment implements segmentationv1.SegmentServiceServer.
func (s *Server) UpdateSegment(ctx context.Context, req *segmentationv1.UpdateSegmentRequest) (*segmentationv1.UpdateSegmentResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetSegment() == nil {
		return nil, toStatus(validation.Invalid("segment", "required"))
	}
	if err := segment.ValidateID("segment.segment_id", req.GetSegment().GetSegmentId()); err != nil {
		return nil, toStatus(err)
	}
	fields, err := maskPaths(req.GetUpdateMask().GetPaths(), segment.FieldDisplayName, segment.FieldDescription, segment.FieldRule)
	if err != nil {
		return nil, toStatus(err)
	}
	seg := segmentFromProto(req.GetSegment())
	seg.WorkspaceID, seg.ID = ws, req.GetSegment().GetSegmentId()
	updated, err := s.engine.Update(ctx, seg, fields)
	if err != nil {
		return nil, toStatus(err)
	}
	return &segmentationv1.UpdateSegmentResponse{Segment: segmentToProto(updated)}, nil
}

// maskPaths checks an update mask against the settable fields and returns
// them without duplicates. The gateway fills the mask from the JSON body,
// in JSON names and down to nested fields ("rule.all"); a nested path sets
// its top-level field, which is replaced whole.
func maskPaths(paths []string, settable ...string) ([]string, error) {
	out := make([]string, 0, len(paths))
	for i, p := range paths {
		top, _, _ := strings.Cut(p, ".")
		snake := camelToSnake(top)
		if slices.Contains(out, snake) {
			continue
		}
		if !slices.Contains(settable, snake) {
			return nil, validation.Invalid(fmt.Sprintf("update_mask.paths[%d]", i), "%q is not a settable field (%s)", p, strings.Join(settable, ", "))
		}
		out = append(out, snake)
	}
	return out, nil
}

func camelToSnake(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// ListSegmentSizes implements segmentationv1.SegmentServiceServer.
func (s *Server) ListSegmentSizes(ctx context.Context, req *segmentationv1.ListSegmentSizesRequest) (*segmentationv1.ListSegmentSizesResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if err := segment.ValidateID("segment_id", req.GetSegmentId()); err != nil {
		return nil, toStatus(err)
	}
	bucket, ok := map[segmentationv1.Granularity]time.Duration{
		segmentationv1.Granularity_GRANULARITY_UNSPECIFIED: 24 * time.Hour,
		segmentationv1.Granularity_HOUR:                    time.Hour,
		segmentationv1.Granularity_DAY:                     24 * time.Hour,
		segmentationv1.Granularity_WEEK:                    7 * 24 * time.Hour,
	}[req.GetGranularity()]
	if !ok {
		return nil, toStatus(validation.Invalid("granularity", "must be HOUR, DAY or WEEK"))
	}
	sizes, err := s.engine.Sizes(ctx, ws, req.GetSegmentId(), bucket, timeOrZero(req.GetStartTime()), timeOrZero(req.GetEndTime()))
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &segmentationv1.ListSegmentSizesResponse{}
	for _, p := range sizes {
		resp.Sizes = append(resp.Sizes, &segmentationv1.SegmentSize{Time: timestamppb.New(p.Time), Size: p.Size, Joined: p.Joined, Left: p.Left})
	}
	return resp, nil
}

// PreviewSegment implements segmentationv1.SegmentServiceServer.
func (s *Server) PreviewSegment(ctx context.Context, req *segmentationv1.PreviewSegmentRequest) (*segmentationv1.PreviewSegmentResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetRule() == nil {
		return nil, toStatus(validation.Invalid("rule", "required"))
	}
	sample, err := pageSize(req.GetSampleSize(), defaultPreviewSample, segment.MaxPreviewSample)
	if err != nil {
		return nil, toStatus(validation.Invalid("sample_size", "must not be negative"))
	}
	p, err := s.engine.Preview(ctx, ws, ruleFromProto(req.GetRule()), sample)
	if err != nil {
		return nil, toStatus(err)
	}
	return &segmentationv1.PreviewSegmentResponse{Size: p.Size, SampleCustomerIds: p.Sample}, nil
}

const defaultPreviewSample = 10

// CreateComputedTrait implements segmentationv1.SegmentServiceServer.
func (s *Server) CreateComputedTrait(ctx context.Context, req *segmentationv1.CreateComputedTraitRequest) (*segmentationv1.CreateComputedTraitResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	p := req.GetComputedTrait()
	if p == nil {
		return nil, toStatus(validation.Invalid("computed_trait", "required"))
	}
	c := segment.ComputedTrait{Key: p.GetKey(), DisplayName: p.GetDisplayName(), Event: p.GetEvent(), Property: p.GetProperty(), WithinDays: p.GetWithinDays()}
	if p.GetFn() != segmentationv1.Aggregation_AGGREGATION_UNSPECIFIED {
		c.Fn = segment.Aggregation(p.GetFn().String())
	}
	for _, w := range p.GetWhere() {
		c.Where = append(c.Where, segment.PropertyFilter{Property: w.GetProperty(), Comparison: comparisonFromProto(w.GetOp(), w.GetValue(), w.GetValues())})
	}
	created, err := s.engine.CreateComputedTrait(ctx, ws, c)
	if err != nil {
		return nil, toStatus(err)
	}
	return &segmentationv1.CreateComputedTraitResponse{ComputedTrait: computedToProto(created)}, nil
}

// ListComputedTraits implements segmentationv1.SegmentServiceServer.
func (s *Server) ListComputedTraits(ctx context.Context, _ *segmentationv1.ListComputedTraitsRequest) (*segmentationv1.ListComputedTraitsResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	defs, err := s.engine.ComputedTraits(ctx, ws)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &segmentationv1.ListComputedTraitsResponse{}
	for _, d := range defs {
		resp.ComputedTraits = append(resp.ComputedTraits, computedToProto(d))
	}
	return resp, nil
}

// DeleteComputedTrait implements segmentationv1.SegmentServiceServer.
func (s *Server) DeleteComputedTrait(ctx context.Context, req *segmentationv1.DeleteComputedTraitRequest) (*segmentationv1.DeleteComputedTraitResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if err := segment.ValidateID("key", req.GetKey()); err != nil {
		return nil, toStatus(err)
	}
	if err := s.engine.DeleteComputedTrait(ctx, ws, req.GetKey()); err != nil {
		return nil, toStatus(err)
	}
	return &segmentationv1.DeleteComputedTraitResponse{}, nil
}

func computedToProto(c segment.ComputedTrait) *segmentationv1.ComputedTrait {
	out := &segmentationv1.ComputedTrait{
		Key: c.Key, DisplayName: c.DisplayName, Event: c.Event, Property: c.Property, WithinDays: c.WithinDays,
		Fn: segmentationv1.Aggregation(segmentationv1.Aggregation_value[string(c.Fn)]), CreateTime: timestampOrNil(c.CreateTime),
	}
	for _, w := range c.Where {
		op, value, values := comparisonToProto(w.Comparison)
		out.Where = append(out.Where, &segmentationv1.PropertyFilter{Property: w.Property, Op: op, Value: value, Values: values})
	}
	return out
}

// FitPredictions implements segmentationv1.SegmentServiceServer.
func (s *Server) FitPredictions(ctx context.Context, _ *segmentationv1.FitPredictionsRequest) (*segmentationv1.FitPredictionsResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	fit, err := s.engine.FitPredictions(ctx, ws)
	if err != nil {
		return nil, toStatus(err)
	}
	return &segmentationv1.FitPredictionsResponse{
		FitTime: timestamppb.New(fit.Time), Customers: fit.Customers, RepeatCustomers: fit.RepeatCustomers,
		ClvUnavailableReason: fit.CLVUnavailableReason,
	}, nil
}

// GetRfmGrid implements segmentationv1.SegmentServiceServer.
func (s *Server) GetRfmGrid(ctx context.Context, _ *segmentationv1.GetRfmGridRequest) (*segmentationv1.GetRfmGridResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	cells, err := s.engine.RFMGrid(ctx, ws)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &segmentationv1.GetRfmGridResponse{}
	for _, c := range cells {
		resp.Cells = append(resp.Cells, &segmentationv1.RfmCell{RecencyScore: c.Recency, FrequencyScore: c.Frequency, Customers: c.Customers, Revenue: c.Revenue})
		resp.Customers += c.Customers
		resp.Revenue += c.Revenue
	}
	return resp, nil
}

// GetLifecycleSettings implements segmentationv1.SegmentServiceServer.
func (s *Server) GetLifecycleSettings(ctx context.Context, _ *segmentationv1.GetLifecycleSettingsRequest) (*segmentationv1.GetLifecycleSettingsResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	ls, err := s.engine.LifecycleSettings(ctx, ws)
	if err != nil {
		return nil, toStatus(err)
	}
	return &segmentationv1.GetLifecycleSettingsResponse{Settings: settingsToProto(ls)}, nil
}

// UpdateLifecycleSettings implements segmentationv1.SegmentServiceServer.
func (s *Server) UpdateLifecycleSettings(ctx context.Context, req *segmentationv1.UpdateLifecycleSettingsRequest) (*segmentationv1.UpdateLifecycleSettingsResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetSettings() == nil {
		return nil, toStatus(validation.Invalid("settings", "required"))
	}
	fields, err := maskPaths(req.GetUpdateMask().GetPaths(), segment.FieldLoyalMinOrders, segment.FieldDormantDays, segment.FieldChurnedDays)
	if err != nil {
		return nil, toStatus(err)
	}
	in := segment.LifecycleSettings{
		LoyalMinOrders: req.GetSettings().GetLoyalMinOrders(),
		DormantDays:    req.GetSettings().GetDormantDays(),
		ChurnedDays:    req.GetSettings().GetChurnedDays(),
	}
	ls, err := s.engine.SetLifecycleSettings(ctx, ws, in, fields)
	if err != nil {
		return nil, toStatus(err)
	}
	return &segmentationv1.UpdateLifecycleSettingsResponse{Settings: settingsToProto(ls)}, nil
}

func settingsToProto(ls segment.LifecycleSettings) *segmentationv1.LifecycleSettings {
	return &segmentationv1.LifecycleSettings{LoyalMinOrders: ls.LoyalMinOrders, DormantDays: ls.DormantDays, ChurnedDays: ls.ChurnedDays}
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
	var inUse *segment.InUseError
	var thin *segment.NotEnoughDataError
	switch {
	case errors.As(err, &thin):
		return grpcstatus.New(codes.FailedPrecondition, thin.Error(), err)
	case errors.As(err, &limit):
		return grpcstatus.New(codes.ResourceExhausted, limit.Error(), err)
	case errors.Is(err, segment.ErrExists):
		return grpcstatus.New(codes.AlreadyExists, "already exists", err)
	case errors.Is(err, segment.ErrBuiltIn):
		return grpcstatus.New(codes.FailedPrecondition, segment.ErrBuiltIn.Error(), err)
	case errors.As(err, &inUse):
		return grpcstatus.New(codes.FailedPrecondition, "segment is in use: "+inUse.Error(), err)
	case errors.Is(err, segment.ErrNotFound):
		return grpcstatus.New(codes.NotFound, "not found", err)
	default:
		return grpcstatus.FromError(err)
	}
}

func segmentFromProto(p *segmentationv1.Segment) segment.Segment {
	return segment.Segment{DisplayName: p.GetDisplayName(), Description: p.GetDescription(), Rule: ruleFromProto(p.GetRule())}
}

// ruleNode is what Rule (the root) and Condition (every other node) have
// in common: the same fields with the same meaning.
type ruleNode interface {
	GetAll() []*segmentationv1.Condition
	GetAny() []*segmentationv1.Condition
	GetNot() *segmentationv1.Condition
	GetTrait() *segmentationv1.TraitCondition
	GetEvent() *segmentationv1.EventCondition
	GetRfm() *segmentationv1.RfmCondition
	GetSegment() *segmentationv1.SegmentCondition
	GetLifecycle() *segmentationv1.LifecycleCondition
	GetPredicted() *segmentationv1.PredictedCondition
	GetComputed() *segmentationv1.ComputedCondition
}

var (
	_ ruleNode = (*segmentationv1.Rule)(nil)
	_ ruleNode = (*segmentationv1.Condition)(nil)
)

func ruleFromProto(n ruleNode) segment.Rule {
	var r segment.Rule
	for _, c := range n.GetAll() {
		r.All = append(r.All, ruleFromProto(c))
	}
	for _, c := range n.GetAny() {
		r.Any = append(r.Any, ruleFromProto(c))
	}
	if c := n.GetNot(); c != nil {
		not := ruleFromProto(c)
		r.Not = &not
	}
	if t := n.GetTrait(); t != nil {
		r.Trait = &segment.TraitCondition{Key: t.GetKey(), Equals: t.GetEquals(), Comparison: comparisonFromProto(t.GetOp(), t.GetValue(), t.GetValues())}
	}
	if e := n.GetEvent(); e != nil {
		r.Event = eventFromProto(e)
	}
	if c := n.GetRfm(); c != nil {
		r.RFM = &segment.RFMCondition{
			MinRecency:   c.GetMinRecencyScore(),
			MinFrequency: c.GetMinFrequencyScore(),
			MinMonetary:  c.GetMinMonetaryScore(),
			Recency:      scoreRangeFromProto(c.GetRecency()),
			Frequency:    scoreRangeFromProto(c.GetFrequency()),
			Monetary:     scoreRangeFromProto(c.GetMonetary()),
		}
	}
	if c := n.GetSegment(); c != nil {
		r.Segment = &segment.SegmentCondition{SegmentID: c.GetSegmentId()}
	}
	if c := n.GetComputed(); c != nil {
		r.Computed = &segment.ComputedCondition{Key: c.GetKey(), Comparison: comparisonFromProto(c.GetOp(), c.GetValue(), c.GetValues())}
	}
	if c := n.GetPredicted(); c != nil {
		r.Predicted = &segment.PredictedCondition{Trait: c.GetTrait(), Comparison: comparisonFromProto(c.GetOp(), c.GetValue(), c.GetValues())}
	}
	if c := n.GetLifecycle(); c != nil {
		r.Lifecycle = &segment.LifecycleCondition{}
		for _, st := range c.GetStages() {
			r.Lifecycle.Stages = append(r.Lifecycle.Stages, stageFromProto(st))
		}
	}
	return r
}

func comparisonFromProto(op segmentationv1.Operator, value string, values []string) segment.Comparison {
	c := segment.Comparison{Value: value, Values: values}
	if op != segmentationv1.Operator_OPERATOR_UNSPECIFIED {
		c.Op = segment.Operator(op.String())
	}
	return c
}

func eventFromProto(e *segmentationv1.EventCondition) *segment.EventCondition {
	out := &segment.EventCondition{Event: e.GetEvent(), MinCount: e.GetMinCount(), WithinDays: e.GetWithinDays()}
	if e.MaxCount != nil {
		m := e.GetMaxCount()
		out.MaxCount = &m
	}
	if b := e.GetBetween(); b != nil {
		out.Between = &segment.TimeRange{Start: timeOrZero(b.GetStartTime()), End: timeOrZero(b.GetEndTime())}
	}
	for _, w := range e.GetWhere() {
		out.Where = append(out.Where, segment.PropertyFilter{Property: w.GetProperty(), Comparison: comparisonFromProto(w.GetOp(), w.GetValue(), w.GetValues())})
	}
	if a := e.GetAggregate(); a != nil {
		out.Aggregate = &segment.Aggregate{Property: a.GetProperty(), Comparison: comparisonFromProto(a.GetOp(), a.GetValue(), a.GetValues())}
		if a.GetFn() != segmentationv1.Aggregation_AGGREGATION_UNSPECIFIED {
			out.Aggregate.Fn = segment.Aggregation(a.GetFn().String())
		}
	}
	out.FirstOccurrence = boundFromProto(e.GetFirstOccurrence())
	out.LastOccurrence = boundFromProto(e.GetLastOccurrence())
	return out
}

func boundFromProto(b *segmentationv1.OccurrenceBound) *segment.OccurrenceBound {
	if b == nil {
		return nil
	}
	return &segment.OccurrenceBound{Before: timeOrZero(b.GetBefore()), After: timeOrZero(b.GetAfter())}
}

func scoreRangeFromProto(r *segmentationv1.ScoreRange) *segment.ScoreRange {
	if r == nil {
		return nil
	}
	return &segment.ScoreRange{Min: r.GetMin(), Max: r.GetMax()}
}

const stagePrefix = "LIFECYCLE_STAGE_"

func stageFromProto(st segmentationv1.LifecycleStage) segment.Stage {
	return segment.Stage(strings.ToLower(strings.TrimPrefix(st.String(), stagePrefix)))
}

func stageToProto(st segment.Stage) segmentationv1.LifecycleStage {
	return segmentationv1.LifecycleStage(segmentationv1.LifecycleStage_value[stagePrefix+strings.ToUpper(string(st))])
}

func timeOrZero(ts *timestamppb.Timestamp) time.Time {
	if ts == nil || !ts.IsValid() {
		return time.Time{}
	}
	return ts.AsTime().UTC()
}

func segmentToProto(s segment.Segment) *segmentationv1.Segment {
	root := conditionToProto(s.Rule)
	return &segmentationv1.Segment{
		SegmentId:   s.ID,
		DisplayName: s.DisplayName,
		Description: s.Description,
		Rule: &segmentationv1.Rule{
			All: root.GetAll(), Any: root.GetAny(), Not: root.GetNot(), Trait: root.GetTrait(), Event: root.GetEvent(),
			Rfm: root.GetRfm(), Segment: root.GetSegment(), Lifecycle: root.GetLifecycle(), Predicted: root.GetPredicted(),
			Computed: root.GetComputed(),
		},
		Size:       s.Size,
		CreateTime: timestampOrNil(s.CreateTime),
		BuiltIn:    s.BuiltIn,
	}
}

func conditionToProto(r segment.Rule) *segmentationv1.Condition {
	pc := &segmentationv1.Condition{}
	for _, c := range r.All {
		pc.All = append(pc.All, conditionToProto(c))
	}
	for _, c := range r.Any {
		pc.Any = append(pc.Any, conditionToProto(c))
	}
	switch {
	case r.Not != nil:
		pc.Kind = &segmentationv1.Condition_Not{Not: conditionToProto(*r.Not)}
	case r.Trait != nil:
		op, value, values := comparisonToProto(r.Trait.Comparison)
		pc.Kind = &segmentationv1.Condition_Trait{Trait: &segmentationv1.TraitCondition{
			Key: r.Trait.Key, Equals: r.Trait.Equals, Op: op, Value: value, Values: values,
		}}
	case r.Event != nil:
		pc.Kind = &segmentationv1.Condition_Event{Event: eventToProto(*r.Event)}
	case r.RFM != nil:
		pc.Kind = &segmentationv1.Condition_Rfm{Rfm: &segmentationv1.RfmCondition{
			MinRecencyScore: r.RFM.MinRecency, MinFrequencyScore: r.RFM.MinFrequency, MinMonetaryScore: r.RFM.MinMonetary,
			Recency: scoreRangeToProto(r.RFM.Recency), Frequency: scoreRangeToProto(r.RFM.Frequency), Monetary: scoreRangeToProto(r.RFM.Monetary),
		}}
	case r.Segment != nil:
		pc.Kind = &segmentationv1.Condition_Segment{Segment: &segmentationv1.SegmentCondition{SegmentId: r.Segment.SegmentID}}
	case r.Computed != nil:
		op, value, values := comparisonToProto(r.Computed.Comparison)
		pc.Kind = &segmentationv1.Condition_Computed{Computed: &segmentationv1.ComputedCondition{
			Key: r.Computed.Key, Op: op, Value: value, Values: values,
		}}
	case r.Predicted != nil:
		op, value, values := comparisonToProto(r.Predicted.Comparison)
		pc.Kind = &segmentationv1.Condition_Predicted{Predicted: &segmentationv1.PredictedCondition{
			Trait: r.Predicted.Trait, Op: op, Value: value, Values: values,
		}}
	case r.Lifecycle != nil:
		lc := &segmentationv1.LifecycleCondition{}
		for _, st := range r.Lifecycle.Stages {
			lc.Stages = append(lc.Stages, stageToProto(st))
		}
		pc.Kind = &segmentationv1.Condition_Lifecycle{Lifecycle: lc}
	}
	return pc
}

func comparisonToProto(c segment.Comparison) (segmentationv1.Operator, string, []string) {
	return segmentationv1.Operator(segmentationv1.Operator_value[string(c.Op)]), c.Value, c.Values
}

func eventToProto(e segment.EventCondition) *segmentationv1.EventCondition {
	out := &segmentationv1.EventCondition{Event: e.Event, MinCount: e.MinCount, WithinDays: e.WithinDays, MaxCount: e.MaxCount}
	if e.Between != nil {
		out.Between = &segmentationv1.TimeRange{StartTime: timestampOrNil(e.Between.Start), EndTime: timestampOrNil(e.Between.End)}
	}
	for _, w := range e.Where {
		op, value, values := comparisonToProto(w.Comparison)
		out.Where = append(out.Where, &segmentationv1.PropertyFilter{Property: w.Property, Op: op, Value: value, Values: values})
	}
	if a := e.Aggregate; a != nil {
		op, value, values := comparisonToProto(a.Comparison)
		out.Aggregate = &segmentationv1.Aggregate{Property: a.Property, Op: op, Value: value, Values: values,
			Fn: segmentationv1.Aggregation(segmentationv1.Aggregation_value[string(a.Fn)])}
	}
	out.FirstOccurrence = boundToProto(e.FirstOccurrence)
	out.LastOccurrence = boundToProto(e.LastOccurrence)
	return out
}

func boundToProto(b *segment.OccurrenceBound) *segmentationv1.OccurrenceBound {
	if b == nil {
		return nil
	}
	return &segmentationv1.OccurrenceBound{Before: timestampOrNil(b.Before), After: timestampOrNil(b.After)}
}

func scoreRangeToProto(r *segment.ScoreRange) *segmentationv1.ScoreRange {
	if r == nil {
		return nil
	}
	return &segmentationv1.ScoreRange{Min: r.Min, Max: r.Max}
}

func timestampOrNil(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}
