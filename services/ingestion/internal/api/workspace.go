package api

import (
	"context"
	"crypto/subtle"
	"fmt"
	"strings"
	"time"

	// Time zones load on images without a zoneinfo database too.
	_ "time/tzdata"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/ingestion/internal/ingest"
	"github.com/kizuna/kizuna/services/ingestion/internal/normalize"
	"github.com/kizuna/kizuna/services/ingestion/internal/workspace"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpcstatus"
	"github.com/kizuna/kizuna/services/platform/validation"
)

type workspaceServer struct {
	ingestionv1.UnimplementedWorkspaceServiceServer
	s *Server
}

func (w *workspaceServer) CreateWorkspace(ctx context.Context, req *ingestionv1.CreateWorkspaceRequest) (*ingestionv1.CreateWorkspaceResponse, error) {
	if w.s.adminKey == "" {
		return nil, status.Error(codes.PermissionDenied, "workspace creation over the API is disabled: set KIZUNA_ADMIN_KEY")
	}
	if key := bearer(ctx); subtle.ConstantTimeCompare([]byte(key), []byte(w.s.adminKey)) != 1 {
		return nil, status.Error(codes.Unauthenticated, "creating a workspace needs the admin key as bearer token")
	}
	// The request names no messaging settings: a new workspace gets the
	// defaults (Asia/Tokyo, no quiet hours, no caps, no loopback or
	// private URLs).
	settings := workspace.Workspace{DisplayName: req.GetDisplayName(), PhoneRegion: req.GetPhoneRegion()}
	var v validation.Error
	checkSettings("", &settings, &v)
	if err := v.Err(); err != nil {
		return nil, toStatus(err)
	}
	ws, key, err := CreateWorkspace(ctx, w.s.store, settings, "", w.s.now())
	if err != nil {
		return nil, toStatus(err)
	}
	return &ingestionv1.CreateWorkspaceResponse{Workspace: workspaceProto(ws), ApiKey: key}, nil
}

// ownWorkspace checks that a request names the caller's own workspace.
func ownWorkspace(ctx context.Context, field, id string) (string, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return "", err
	}
	if id == "" {
		return "", grpcstatus.Invalid(field, "is required")
	}
	if id != ws {
		return "", status.Error(codes.PermissionDenied, "an API key can only read and change its own workspace")
	}
	return ws, nil
}

func (w *workspaceServer) GetWorkspace(ctx context.Context, req *ingestionv1.GetWorkspaceRequest) (*ingestionv1.GetWorkspaceResponse, error) {
	ws, err := ownWorkspace(ctx, "workspace_id", req.GetWorkspaceId())
	if err != nil {
		return nil, err
	}
	got, err := w.s.store.Workspace(ctx, ws)
	if err != nil {
		return nil, toStatus(err)
	}
	return &ingestionv1.GetWorkspaceResponse{Workspace: workspaceProto(got)}, nil
}

// settableFields are the update_mask paths of UpdateWorkspace; an empty mask
// means all of them. A message field may also be named by its subfields
// (quiet_hours.start, quiet_hours.end), as grpc-gateway does for a PATCH
// whose JSON body sets only some of them.
var settableFields = []string{
	"display_name", "phone_region", "timezone", "quiet_hours", "frequency_caps", "allow_loopback_urls", "allow_private_urls",
	"require_consent", "event_retention_days",
}

func (w *workspaceServer) UpdateWorkspace(ctx context.Context, req *ingestionv1.UpdateWorkspaceRequest) (*ingestionv1.UpdateWorkspaceResponse, error) {
	ws, err := ownWorkspace(ctx, "workspace.workspace_id", req.GetWorkspace().GetWorkspaceId())
	if err != nil {
		return nil, err
	}
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		paths = settableFields
	}
	updated, err := w.s.store.UpdateWorkspace(ctx, ws, func(current *workspace.Workspace) error {
		var v validation.Error
		applyMask(current, req.GetWorkspace(), paths, &v)
		checkSettings("workspace.", current, &v)
		return v.Err()
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &ingestionv1.UpdateWorkspaceResponse{Workspace: workspaceProto(updated)}, nil
}

// applyMask copies the fields paths name from src to dst. Frequency caps
// are checked here, as they are converted; the rest by checkSettings.
func applyMask(dst *workspace.Workspace, src *ingestionv1.Workspace, paths []string, v *validation.Error) {
	for i, p := range paths {
		switch p {
		case "display_name":
			dst.DisplayName = src.GetDisplayName()
		case "phone_region":
			dst.PhoneRegion = src.GetPhoneRegion()
		case "timezone":
			dst.Timezone = src.GetTimezone()
		case "quiet_hours":
			dst.QuietHours = workspace.QuietHours{Start: src.GetQuietHours().GetStart(), End: src.GetQuietHours().GetEnd()}
		case "quiet_hours.start":
			dst.QuietHours.Start = src.GetQuietHours().GetStart()
		case "quiet_hours.end":
			dst.QuietHours.End = src.GetQuietHours().GetEnd()
		case "frequency_caps":
			dst.FrequencyCaps = frequencyCaps("workspace.frequency_caps", src.GetFrequencyCaps(), v)
		case "allow_loopback_urls":
			dst.AllowLoopbackURLs = src.GetAllowLoopbackUrls()
		case "allow_private_urls":
			dst.AllowPrivateURLs = src.GetAllowPrivateUrls()
		case "require_consent":
			dst.RequireConsent = src.GetRequireConsent()
		case "event_retention_days":
			dst.EventRetentionDays = int(src.GetEventRetentionDays())
		default:
			v.Addf(fmt.Sprintf("update_mask.paths[%d]", i), "%q is not a settable field: one of %s", p, strings.Join(settableFields, ", "))
		}
	}
}

// checkSettings trims and validates a workspace's settings under the field
// prefix of the request ("workspace." or ""), filling in the defaults: the
// JP phone region and the Asia/Tokyo time zone for empty ones.
func checkSettings(prefix string, ws *workspace.Workspace, v *validation.Error) {
	ws.DisplayName = strings.TrimSpace(ws.DisplayName)
	if ws.DisplayName == "" || len(ws.DisplayName) > 200 {
		v.Add(prefix+"display_name", "is required, at most 200 characters")
	}
	ws.PhoneRegion = strings.ToUpper(strings.TrimSpace(ws.PhoneRegion))
	if ws.PhoneRegion == "" {
		ws.PhoneRegion = normalize.DefaultRegion
	}
	if !normalize.ValidRegion(ws.PhoneRegion) {
		v.Add(prefix+"phone_region", "is not an ISO 3166-1 region with a phone numbering plan")
	}
	ws.Timezone = strings.TrimSpace(ws.Timezone)
	if ws.Timezone == "" {
		ws.Timezone = workspace.DefaultTimezone
	}
	if !validTimezone(ws.Timezone) {
		v.Addf(prefix+"timezone", "%q is not an IANA time zone such as Asia/Tokyo", ws.Timezone)
	}
	q := &ws.QuietHours
	q.Start, q.End = strings.TrimSpace(q.Start), strings.TrimSpace(q.End)
	if !q.IsZero() {
		okStart := checkClock(prefix+"quiet_hours.start", q.Start, "end", v)
		okEnd := checkClock(prefix+"quiet_hours.end", q.End, "start", v)
		if okStart && okEnd && q.Start == q.End {
			v.Add(prefix+"quiet_hours.end", "must differ from start")
		}
	}
	if d := ws.EventRetentionDays; d < 0 || d > workspace.MaxEventRetentionDays {
		v.Addf(prefix+"event_retention_days", "is %d: 0 (keep forever) or 1 to %d", d, workspace.MaxEventRetentionDays)
	}
}

// validTimezone reports whether name is a time zone of the IANA database.
// "Local" is refused: it would mean the server's own zone.
func validTimezone(name string) bool {
	if name == "Local" || len(name) > 100 {
		return false
	}
	_, err := time.LoadLocation(name)
	return err == nil
}

// checkClock checks one end of quiet hours, "HH:MM" from 00:00 to 23:59;
// other names the other end, which is set.
func checkClock(field, s, other string, v *validation.Error) bool {
	if s == "" {
		v.Addf(field, "is required when %s is set (set both, or neither for no quiet hours)", other)
		return false
	}
	if _, ok := parseClock(s); !ok {
		v.Addf(field, "%q is not a time of day HH:MM from 00:00 to 23:59", s)
		return false
	}
	return true
}

// parseClock reads "HH:MM" (two digits each, 24-hour clock) as minutes
// after midnight.
func parseClock(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	for _, i := range []int{0, 1, 3, 4} {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	h, m := int(s[0]-'0')*10+int(s[1]-'0'), int(s[3]-'0')*10+int(s[4]-'0')
	if h > 23 || m > 59 {
		return 0, false
	}
	return h*60 + m, true
}

// Frequency cap limits.
const (
	maxFrequencyCaps = 3
	maxCapSends      = 10000
	minCapPeriod     = time.Minute
	maxCapPeriod     = 365 * 24 * time.Hour
)

var (
	channelNames = map[ingestionv1.ChannelType]string{
		ingestionv1.ChannelType_EMAIL:   workspace.ChannelEmail,
		ingestionv1.ChannelType_LINE:    workspace.ChannelLine,
		ingestionv1.ChannelType_WEBHOOK: workspace.ChannelWebhook,
	}
	channelTypes = map[string]ingestionv1.ChannelType{
		workspace.ChannelEmail:   ingestionv1.ChannelType_EMAIL,
		workspace.ChannelLine:    ingestionv1.ChannelType_LINE,
		workspace.ChannelWebhook: ingestionv1.ChannelType_WEBHOOK,
	}
)

// frequencyCaps converts and checks the caps of a request, reporting
// violations under field.
func frequencyCaps(field string, in []*ingestionv1.FrequencyCap, v *validation.Error) []workspace.FrequencyCap {
	if len(in) > maxFrequencyCaps {
		v.Addf(field, "holds %d caps, over the limit of %d (one per channel type)", len(in), maxFrequencyCaps)
	}
	seen := map[string]int{}
	out := make([]workspace.FrequencyCap, 0, len(in))
	for i, c := range in {
		f := fmt.Sprintf("%s[%d].", field, i)
		ch, known := channelNames[c.GetChannelType()]
		switch {
		case c.GetChannelType() == ingestionv1.ChannelType_CHANNEL_TYPE_UNSPECIFIED:
			v.Add(f+"channel_type", "is required: EMAIL, LINE or WEBHOOK")
		case !known:
			v.Addf(f+"channel_type", "%d is not a channel type: EMAIL, LINE or WEBHOOK", c.GetChannelType())
		default:
			if j, dup := seen[ch]; dup {
				v.Addf(f+"channel_type", "%s is capped already by %s[%d]: at most one cap per channel type", c.GetChannelType(), field, j)
			} else {
				seen[ch] = i
			}
		}
		if n := c.GetMaxSends(); n < 1 || n > maxCapSends {
			v.Addf(f+"max_sends", "must be from 1 to %d, got %d", maxCapSends, n)
		}
		var period time.Duration
		switch p := c.GetPeriod(); {
		case p == nil:
			v.Add(f+"period", "is required, from 1 minute to 365 days")
		case p.CheckValid() != nil:
			v.Addf(f+"period", "is not a valid duration: %v", p.CheckValid())
		default:
			period = p.AsDuration()
			if period < minCapPeriod || period > maxCapPeriod {
				v.Addf(f+"period", "must be from 1 minute to 365 days, got %s", period)
			}
		}
		out = append(out, workspace.FrequencyCap{Channel: ch, MaxSends: int(c.GetMaxSends()), Period: period})
	}
	return out
}

func workspaceProto(ws workspace.Workspace) *ingestionv1.Workspace {
	pb := &ingestionv1.Workspace{
		WorkspaceId: ws.ID, DisplayName: ws.DisplayName, CreateTime: timestamppb.New(ws.CreateTime), PhoneRegion: ws.PhoneRegion,
		Timezone: ws.Timezone, AllowLoopbackUrls: ws.AllowLoopbackURLs, AllowPrivateUrls: ws.AllowPrivateURLs,
		RequireConsent: ws.RequireConsent, EventRetentionDays: int32(ws.EventRetentionDays),
	}
	if pb.Timezone == "" {
		pb.Timezone = workspace.DefaultTimezone
	}
	if !ws.QuietHours.IsZero() {
		pb.QuietHours = &ingestionv1.QuietHours{Start: ws.QuietHours.Start, End: ws.QuietHours.End}
	}
	for _, c := range ws.FrequencyCaps {
		pb.FrequencyCaps = append(pb.FrequencyCaps, &ingestionv1.FrequencyCap{
			ChannelType: channelTypes[c.Channel], MaxSends: int32(c.MaxSends), Period: durationpb.New(c.Period),
		})
	}
	return pb
}

// CreateWorkspace creates a workspace with the given settings and key as its
// API key, or a new random key when key is empty, and returns the key. The
// key is a secret key with the admin scope.
// Empty phone region and time zone get their defaults.
func CreateWorkspace(ctx context.Context, s WorkspaceStore, ws workspace.Workspace, key string, now time.Time) (workspace.Workspace, string, error) {
	if key == "" {
		var err error
		if key, err = auth.NewKey(); err != nil {
			return workspace.Workspace{}, "", fmt.Errorf("new api key: %w", err)
		}
	}
	ws.ID, ws.CreateTime = ingest.NewID("ws"), now.UTC()
	if ws.PhoneRegion == "" {
		ws.PhoneRegion = normalize.DefaultRegion
	}
	if ws.Timezone == "" {
		ws.Timezone = workspace.DefaultTimezone
	}
	first := workspace.APIKey{ID: ingest.NewID("key"), DisplayName: "default", Kind: workspace.KeyKindSecret,
		Scopes: []string{auth.ScopeAdmin}, Prefix: keyPrefix(key), CreateTime: ws.CreateTime}
	if err := s.CreateWorkspace(ctx, ws, first, auth.HashKey(key)); err != nil {
		return workspace.Workspace{}, "", err
	}
	return ws, key, nil
}

func bearer(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	key, _ := auth.BearerFromMetadata(md)
	return key
}
