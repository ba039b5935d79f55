// Package peers is how the campaign service's background work (journey
// steps, sends, LINE webhooks, unsubscribes) talks to ingestion and
// segmentation. No caller's API key is at hand there, so every call acts as
// the workspace through a service token (platform/auth.ServiceTokens).
package peers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	segmentationv1 "github.com/kizuna/kizuna/gen/kizuna/segmentation/v1"
	"github.com/kizuna/kizuna/services/campaign/internal/journey"
	"github.com/kizuna/kizuna/services/platform/auth"
)

// ProfileBatch is the most profiles one BatchGetCustomers call returns.
const ProfileBatch = 1000

// callTimeout bounds each call.
const callTimeout = 30 * time.Second

// settingsTTL is how long workspace settings are cached: a changed quiet
// window or cap applies within it.
const settingsTTL = 5 * time.Second

// ErrUnavailable marks failures worth retrying later.
var ErrUnavailable = errors.New("dependency unavailable")

// ErrNotFound reports a segment or customer that does not exist.
var ErrNotFound = errors.New("not found")

// Profile is what sending needs of a customer.
type Profile struct {
	CustomerID string
	Traits     map[string]any
	// Email is the normalised e-mail identity, else the email trait.
	Email string
	// LineUserID is the customer's LINE user id identity.
	LineUserID string
	// Suppressed is set by a SUPPRESS or DELETE regulation: no send may
	// reach the customer.
	Suppressed bool
	// UserID and AnonymousID identify the customer to the tracking API.
	UserID, AnonymousID string
	// Consents holds the customer's standing consent per purpose
	// (marketing_email, …): true granted, false withdrawn; a purpose never
	// stated is absent.
	Consents map[string]bool
}

// Purposes of marketing sends by channel type.
const (
	PurposeMarketingEmail = "marketing_email"
	PurposeMarketingLine  = "marketing_line"
)

// MarketingAllowed reports whether a marketing send for purpose may reach
// p: not when p withdrew it, nor, when consent is required, when p never
// granted it. The reason says which.
func (p Profile) MarketingAllowed(purpose string, required bool) (ok bool, reason string) {
	granted, stated := p.Consents[purpose]
	switch {
	case stated && !granted:
		return false, purpose + " withdrawn"
	case !stated && required:
		return false, "no " + purpose + " consent (the workspace requires consent)"
	}
	return true, ""
}

// Settings are a workspace's messaging settings.
type Settings struct {
	Timezone      string
	Quiet         *journey.QuietHours
	Caps          map[ingestionv1.ChannelType]Cap
	AllowLoopback bool
	AllowPrivate  bool
	// RequireConsent: a marketing send needs a granted consent for its
	// purpose, not only the absence of a withdrawal.
	RequireConsent bool
}

// Cap is a frequency cap.
type Cap struct {
	Max    int
	Period time.Duration
}

// Client calls ingestion and segmentation as a workspace.
type Client struct {
	tokens    *auth.ServiceTokens
	customers ingestionv1.CustomerServiceClient
	spaces    ingestionv1.WorkspaceServiceClient
	tracking  ingestionv1.TrackingServiceClient
	segments  segmentationv1.SegmentServiceClient

	mu       sync.Mutex
	settings map[string]cachedSettings
}

type cachedSettings struct {
	s       Settings
	expires time.Time
}

// New returns a Client over connections to ingestion and segmentation.
func New(tokens *auth.ServiceTokens, ingestion, segmentation grpc.ClientConnInterface) *Client {
	return &Client{
		tokens:    tokens,
		customers: ingestionv1.NewCustomerServiceClient(ingestion),
		spaces:    ingestionv1.NewWorkspaceServiceClient(ingestion),
		tracking:  ingestionv1.NewTrackingServiceClient(ingestion),
		segments:  segmentationv1.NewSegmentServiceClient(segmentation),
		settings:  map[string]cachedSettings{},
	}
}

func (c *Client) as(ctx context.Context, workspaceID string) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	return c.tokens.Context(ctx, workspaceID), cancel
}

// Profiles returns the profiles found among ids (any number); unknown ids
// are absent.
func (c *Client) Profiles(ctx context.Context, workspaceID string, ids []string) (map[string]Profile, error) {
	out := make(map[string]Profile, len(ids))
	for start := 0; start < len(ids); start += ProfileBatch {
		batch := ids[start:min(start+ProfileBatch, len(ids))]
		callCtx, cancel := c.as(ctx, workspaceID)
		resp, err := c.customers.BatchGetCustomers(callCtx, &ingestionv1.BatchGetCustomersRequest{CustomerIds: batch})
		cancel()
		if err != nil {
			return nil, fmt.Errorf("get %d profiles: %w", len(batch), classify(err))
		}
		for _, cus := range resp.GetCustomers() {
			p := Profile{CustomerID: cus.GetCustomerId(), Traits: cus.GetTraits().AsMap(), Suppressed: cus.GetSuppressed()}
			for _, c := range cus.GetConsents() {
				if p.Consents == nil {
					p.Consents = map[string]bool{}
				}
				p.Consents[c.GetPurpose()] = c.GetGranted()
			}
			for _, id := range cus.GetIdentities() {
				switch id.GetKind() {
				case "email":
					p.Email = id.GetValue()
				case "line_user_id":
					p.LineUserID = id.GetValue()
				case "user_id":
					p.UserID = id.GetValue()
				case "anonymous_id":
					if p.AnonymousID == "" {
						p.AnonymousID = id.GetValue()
					}
				}
			}
			if p.Email == "" {
				if e, ok := p.Traits["email"].(string); ok {
					p.Email = strings.TrimSpace(e)
				}
			}
			out[p.CustomerID] = p
		}
	}
	return out, nil
}

// Settings returns the workspace's messaging settings, cached briefly.
func (c *Client) Settings(ctx context.Context, workspaceID string) (Settings, error) {
	c.mu.Lock()
	if cs, ok := c.settings[workspaceID]; ok && time.Now().Before(cs.expires) {
		c.mu.Unlock()
		return cs.s, nil
	}
	c.mu.Unlock()
	callCtx, cancel := c.as(ctx, workspaceID)
	defer cancel()
	resp, err := c.spaces.GetWorkspace(callCtx, &ingestionv1.GetWorkspaceRequest{WorkspaceId: workspaceID})
	if err != nil {
		return Settings{}, fmt.Errorf("get workspace settings: %w", classify(err))
	}
	s := SettingsOf(resp.GetWorkspace())
	c.mu.Lock()
	c.settings[workspaceID] = cachedSettings{s: s, expires: time.Now().Add(settingsTTL)}
	c.mu.Unlock()
	return s, nil
}

// SettingsOf reads the messaging settings of a workspace message.
func SettingsOf(w *ingestionv1.Workspace) Settings {
	s := Settings{
		Timezone:      w.GetTimezone(),
		Caps:          map[ingestionv1.ChannelType]Cap{},
		AllowLoopback: w.GetAllowLoopbackUrls(),
		AllowPrivate:  w.GetAllowPrivateUrls(),

		RequireConsent: w.GetRequireConsent(),
	}
	if q, ok, err := journey.ParseQuietHours(w.GetQuietHours().GetStart(), w.GetQuietHours().GetEnd()); ok && err == nil {
		s.Quiet = &q
	}
	for _, fc := range w.GetFrequencyCaps() {
		if fc.GetMaxSends() > 0 && fc.GetPeriod().AsDuration() > 0 {
			s.Caps[fc.GetChannelType()] = Cap{Max: int(fc.GetMaxSends()), Period: fc.GetPeriod().AsDuration()}
		}
	}
	return s
}

// Members calls fn with pages of the segment's member ids.
func (c *Client) Members(ctx context.Context, workspaceID, segmentID string, fn func([]string) error) error {
	token := ""
	for range 10000 {
		callCtx, cancel := c.as(ctx, workspaceID)
		resp, err := c.segments.ListSegmentMembers(callCtx, &segmentationv1.ListSegmentMembersRequest{
			SegmentId: segmentID, PageSize: 10000, PageToken: token,
		})
		cancel()
		if err != nil {
			return fmt.Errorf("list members of segment %q: %w", segmentID, classify(err))
		}
		ids := make([]string, 0, len(resp.GetMembers()))
		for _, m := range resp.GetMembers() {
			ids = append(ids, m.GetCustomerId())
		}
		if err := fn(ids); err != nil {
			return err
		}
		if token = resp.GetNextPageToken(); token == "" {
			return nil
		}
	}
	return fmt.Errorf("segment %q: too many member pages", segmentID)
}

// SegmentExists reports whether the workspace has the segment.
func (c *Client) SegmentExists(ctx context.Context, workspaceID, segmentID string) (bool, error) {
	callCtx, cancel := c.as(ctx, workspaceID)
	defer cancel()
	_, err := c.segments.GetSegment(callCtx, &segmentationv1.GetSegmentRequest{SegmentId: segmentID})
	if status.Code(err) == codes.NotFound {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get segment %q: %w", segmentID, classify(err))
	}
	return true, nil
}

// Segments returns the ids of the segments the customer is a member of.
func (c *Client) Segments(ctx context.Context, workspaceID, customerID string) (map[string]bool, error) {
	callCtx, cancel := c.as(ctx, workspaceID)
	defer cancel()
	resp, err := c.segments.ListCustomerSegments(callCtx, &segmentationv1.ListCustomerSegmentsRequest{CustomerId: customerID})
	if err != nil {
		return nil, fmt.Errorf("list segments of %q: %w", customerID, classify(err))
	}
	out := map[string]bool{}
	for _, s := range resp.GetSegments() {
		out[s.GetSegmentId()] = true
	}
	return out, nil
}

// FeatureNames are the names under `customer` that Features fills in a
// message template.
var FeatureNames = []string{"computed_traits", "predicted", "lifecycle_stage", "rfm"}

// Features returns what segmentation computes about a customer, shaped as
// a message template reads it under `customer`: computed_traits (by key),
// predicted (probability_alive, expected_purchases_90d and, when the spend
// model applied, predicted_clv_12m; absent before a fit), lifecycle_stage
// ("new", "f2", "dormant", …) and rfm (recency, frequency, monetary scores,
// 0 without purchases). A customer segmentation has not seen yet has no
// features (an empty map, not an error).
func (c *Client) Features(ctx context.Context, workspaceID, customerID string) (map[string]any, error) {
	callCtx, cancel := c.as(ctx, workspaceID)
	defer cancel()
	resp, err := c.segments.GetCustomerFeatures(callCtx, &segmentationv1.GetCustomerFeaturesRequest{CustomerId: customerID})
	if status.Code(err) == codes.NotFound {
		return map[string]any{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("features of %q: %w", customerID, classify(err))
	}
	f := resp.GetFeatures()
	out := map[string]any{
		"computed_traits": f.GetComputedTraits().AsMap(),
		"lifecycle_stage": strings.ToLower(strings.TrimPrefix(f.GetLifecycleStage().String(), "LIFECYCLE_STAGE_")),
		"rfm": map[string]any{
			"recency": f.GetRecencyScore(), "frequency": f.GetFrequencyScore(), "monetary": f.GetMonetaryScore(),
		},
	}
	if f.GetLifecycleStage() == segmentationv1.LifecycleStage_LIFECYCLE_STAGE_UNSPECIFIED {
		out["lifecycle_stage"] = ""
	}
	if p := f.GetPredicted(); p != nil {
		pred := map[string]any{"probability_alive": p.GetProbabilityAlive(), "expected_purchases_90d": p.GetExpectedPurchases_90D()}
		if p.PredictedClv_12M != nil {
			pred["predicted_clv_12m"] = p.GetPredictedClv_12M()
		}
		out["predicted"] = pred
	}
	return out, nil
}

// Track sends tracking messages as the workspace (the Segment batch form).
func (c *Client) Track(ctx context.Context, workspaceID string, msgs []*ingestionv1.BatchMessage) error {
	callCtx, cancel := c.as(ctx, workspaceID)
	defer cancel()
	if _, err := c.tracking.Batch(callCtx, &ingestionv1.BatchRequest{Batch: msgs}); err != nil {
		return fmt.Errorf("track %d messages: %w", len(msgs), classify(err))
	}
	return nil
}

// TrackFor records a track event on an existing customer's timeline: it
// finds an identity of theirs the tracking API accepts.
func (c *Client) TrackFor(ctx context.Context, workspaceID, customerID, messageID, event string, props map[string]any) error {
	ps, err := c.Profiles(ctx, workspaceID, []string{customerID})
	if err != nil {
		return err
	}
	p, ok := ps[customerID]
	if !ok {
		return fmt.Errorf("customer %q: %w", customerID, ErrNotFound)
	}
	properties, err := structpb.NewStruct(props)
	if err != nil {
		return fmt.Errorf("event properties: %w", err)
	}
	return c.Track(ctx, workspaceID, []*ingestionv1.BatchMessage{{
		Type: "track", MessageId: messageID, UserId: p.UserID, AnonymousId: p.AnonymousID, Event: event, Properties: properties,
	}})
}

func classify(err error) error {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Aborted, codes.Canceled:
		return errors.Join(ErrUnavailable, err)
	case codes.NotFound:
		return errors.Join(ErrNotFound, err)
	}
	return err
}
