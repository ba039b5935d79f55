package api

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/campaign/internal/campaign"
	"github.com/kizuna/kizuna/services/campaign/internal/channel"
	"github.com/kizuna/kizuna/services/campaign/internal/journey"
	"github.com/kizuna/kizuna/services/campaign/internal/line"
	"github.com/kizuna/kizuna/services/campaign/internal/peers"
	"github.com/kizuna/kizuna/services/campaign/internal/runner"
	"github.com/kizuna/kizuna/services/campaign/internal/store"
	"github.com/kizuna/kizuna/services/campaign/internal/unsub"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/grpcstatus"
	"github.com/kizuna/kizuna/services/platform/validation"
)

// Id prefixes of the journey resources.
const (
	JourneyIDPrefix = "jny_"
	EntryIDPrefix   = "ent_"
	SendIDPrefix    = "snd_"
)

// MaxLineWebhookBytes bounds a LINE webhook body.
const MaxLineWebhookBytes = 1 << 20

// Tracker records track events on customers' timelines.
type Tracker interface {
	Track(ctx context.Context, workspaceID string, msgs []*ingestionv1.BatchMessage) error
	TrackFor(ctx context.Context, workspaceID, customerID, messageID, event string, props map[string]any) error
}

// JourneyServer implements JourneyService, ChannelService and
// ConsentService.
type JourneyServer struct {
	campaignv1.UnimplementedJourneyServiceServer
	campaignv1.UnimplementedChannelServiceServer
	campaignv1.UnimplementedConsentServiceServer
	store    *store.Store
	channels *channel.Manager
	tracker  Tracker
	unsub    *unsub.Signer
	now      func() time.Time
	wake     func()
}

// JourneyOptions configures NewJourneyServer.
type JourneyOptions struct {
	Store    *store.Store
	Channels *channel.Manager
	Tracker  Tracker
	Unsub    *unsub.Signer
	Now      func() time.Time
	// Wake is called when a journey was activated or resumed.
	Wake func()
}

// NewJourneyServer returns the server.
func NewJourneyServer(o JourneyOptions) *JourneyServer {
	return &JourneyServer{store: o.Store, channels: o.Channels, tracker: o.Tracker, unsub: o.Unsub, now: o.Now, wake: o.Wake}
}

// journeyStatus maps the journey resources' errors to gRPC status.
func journeyStatus(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return grpcstatus.New(codes.NotFound, "not found", err)
	case errors.Is(err, store.ErrConflict):
		return grpcstatus.New(codes.FailedPrecondition, err.Error(), err)
	case errors.Is(err, peers.ErrUnavailable):
		return grpcstatus.New(codes.Unavailable, "a service the campaign service depends on is unavailable; retry", err)
	default:
		return grpcstatus.FromError(err)
	}
}

func (s *JourneyServer) channelTypes(ctx context.Context, ws string) (journey.ChannelTypes, error) {
	types, err := s.store.ChannelTypes(ctx, ws)
	if err != nil {
		return nil, err
	}
	out := journey.ChannelTypes{}
	for id, t := range types {
		out[id] = store.ContractChannelType(t)
	}
	return out, nil
}

// definition is j with its output-only fields cleared.
func definition(j *campaignv1.Journey) *campaignv1.Journey {
	d := proto.Clone(j).(*campaignv1.Journey)
	d.JourneyId, d.State, d.CreateTime, d.UpdateTime, d.ActivateTime = "", campaignv1.JourneyState_JOURNEY_STATE_UNSPECIFIED, nil, nil, nil
	if d.Reentry == campaignv1.Reentry_REENTRY_UNSPECIFIED {
		d.Reentry = campaignv1.Reentry_REENTRY_NEVER
	}
	return d
}

func entryOf(d *campaignv1.Journey) (kind, key string) {
	switch e := d.GetEntry().GetKind().(type) {
	case *campaignv1.Entry_Event:
		return store.EntryEvent, e.Event.GetEvent()
	case *campaignv1.Entry_SegmentEntered:
		return store.EntrySegment, e.SegmentEntered.GetSegmentId()
	case *campaignv1.Entry_Broadcast:
		return store.EntryBroadcast, e.Broadcast.GetSegmentId()
	}
	return "", ""
}

var journeyStates = map[string]campaignv1.JourneyState{
	store.JourneyDraft:    campaignv1.JourneyState_DRAFT,
	store.JourneyActive:   campaignv1.JourneyState_ACTIVE,
	store.JourneyPaused:   campaignv1.JourneyState_PAUSED,
	store.JourneyArchived: campaignv1.JourneyState_ARCHIVED,
}

func journeyToProto(j store.Journey) *campaignv1.Journey {
	p := proto.Clone(j.Definition).(*campaignv1.Journey)
	p.JourneyId = j.ID
	p.State = journeyStates[j.State]
	p.CreateTime, p.UpdateTime = timestamp(j.CreateTime), timestamp(j.UpdateTime)
	p.ActivateTime = timestamp(j.ActivateTime)
	return p
}

// CreateJourney implements JourneyService.CreateJourney.
func (s *JourneyServer) CreateJourney(ctx context.Context, req *campaignv1.CreateJourneyRequest) (*campaignv1.CreateJourneyResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetJourney() == nil {
		return nil, journeyStatus(validation.Invalid("journey", "is required"))
	}
	d := definition(req.GetJourney())
	types, err := s.channelTypes(ctx, ws)
	if err != nil {
		return nil, journeyStatus(err)
	}
	if err := journey.Validate(d, types, "journey"); err != nil {
		return nil, journeyStatus(err)
	}
	id, err := campaign.NewID(JourneyIDPrefix)
	if err != nil {
		return nil, journeyStatus(err)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	kind, key := entryOf(d)
	j := store.Journey{WorkspaceID: ws, ID: id, State: store.JourneyDraft, Definition: d, EntryKind: kind, EntryKey: key, CreateTime: now, UpdateTime: now}
	if err := s.store.CreateJourney(ctx, j); err != nil {
		return nil, journeyStatus(err)
	}
	return &campaignv1.CreateJourneyResponse{Journey: journeyToProto(j)}, nil
}

// GetJourney implements JourneyService.GetJourney.
func (s *JourneyServer) GetJourney(ctx context.Context, req *campaignv1.GetJourneyRequest) (*campaignv1.GetJourneyResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if err := requireID("journey_id", req.GetJourneyId()); err != nil {
		return nil, journeyStatus(err)
	}
	j, err := s.store.GetJourney(ctx, ws, req.GetJourneyId())
	if err != nil {
		return nil, journeyStatus(err)
	}
	return &campaignv1.GetJourneyResponse{Journey: journeyToProto(j)}, nil
}

// ListJourneys implements JourneyService.ListJourneys.
func (s *JourneyServer) ListJourneys(ctx context.Context, req *campaignv1.ListJourneysRequest) (*campaignv1.ListJourneysResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	limit, after, err := campaign.Page{Size: req.GetPageSize(), Token: req.GetPageToken()}.Resolve(JourneyIDPrefix)
	if err != nil {
		return nil, journeyStatus(err)
	}
	js, err := s.store.ListJourneys(ctx, ws, after, limit+1)
	if err != nil {
		return nil, journeyStatus(err)
	}
	js, next := campaign.TrimPage(js, limit, func(j store.Journey) string { return j.ID })
	resp := &campaignv1.ListJourneysResponse{NextPageToken: next}
	for _, j := range js {
		resp.Journeys = append(resp.Journeys, journeyToProto(j))
	}
	return resp, nil
}

// UpdateJourney implements JourneyService.UpdateJourney.
func (s *JourneyServer) UpdateJourney(ctx context.Context, req *campaignv1.UpdateJourneyRequest) (*campaignv1.UpdateJourneyResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	in := req.GetJourney()
	if err := requireID("journey.journey_id", in.GetJourneyId()); err != nil {
		return nil, journeyStatus(err)
	}
	cur, err := s.store.GetJourney(ctx, ws, in.GetJourneyId())
	if err != nil {
		return nil, journeyStatus(err)
	}
	if cur.State != store.JourneyDraft {
		return nil, journeyStatus(fmt.Errorf("journey %q is %s: only a draft can be edited: %w", cur.ID, cur.State, store.ErrConflict))
	}
	d := proto.Clone(cur.Definition).(*campaignv1.Journey)
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		d = definition(in)
	}
	src := definition(in)
	for i, p := range paths {
		fd := d.ProtoReflect().Descriptor().Fields().ByName(protoName(p))
		if fd == nil || p == "journey_id" || p == "state" || p == "create_time" || p == "update_time" || p == "activate_time" {
			return nil, journeyStatus(validation.Invalid(fmt.Sprintf("update_mask.paths[%d]", i), "%q is not a settable journey field", p))
		}
		if src.ProtoReflect().Has(fd) {
			d.ProtoReflect().Set(fd, src.ProtoReflect().Get(fd))
		} else {
			d.ProtoReflect().Clear(fd)
		}
	}
	d = definition(d)
	types, err := s.channelTypes(ctx, ws)
	if err != nil {
		return nil, journeyStatus(err)
	}
	if err := journey.Validate(d, types, "journey"); err != nil {
		return nil, journeyStatus(err)
	}
	cur.Definition = d
	cur.EntryKind, cur.EntryKey = entryOf(d)
	cur.UpdateTime = s.now().UTC().Truncate(time.Microsecond)
	if err := s.store.UpdateDraft(ctx, cur); err != nil {
		return nil, journeyStatus(err)
	}
	return &campaignv1.UpdateJourneyResponse{Journey: journeyToProto(cur)}, nil
}

// protoName turns a JSON or proto field path into the proto field name.
func protoName(p string) protoreflect.Name {
	out := make([]byte, 0, len(p)+4)
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c >= 'A' && c <= 'Z' {
			out = append(out, '_', c+'a'-'A')
			continue
		}
		out = append(out, c)
	}
	return protoreflect.Name(out)
}

func (s *JourneyServer) transition(ctx context.Context, id string, from []string, to string) (*campaignv1.Journey, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if err := requireID("journey_id", id); err != nil {
		return nil, journeyStatus(err)
	}
	if to == store.JourneyActive {
		// The channels a draft names may have been deleted since.
		j, err := s.store.GetJourney(ctx, ws, id)
		if err != nil {
			return nil, journeyStatus(err)
		}
		if j.State == store.JourneyDraft {
			types, err := s.channelTypes(ctx, ws)
			if err != nil {
				return nil, journeyStatus(err)
			}
			if err := journey.Validate(j.Definition, types, "journey"); err != nil {
				return nil, journeyStatus(fmt.Errorf("the draft is no longer valid (%v): %w", err, store.ErrConflict))
			}
		}
	}
	if err := s.store.SetJourneyState(ctx, ws, id, from, to, s.now().UTC()); err != nil {
		return nil, journeyStatus(err)
	}
	if to == store.JourneyActive && s.wake != nil {
		s.wake()
	}
	j, err := s.store.GetJourney(ctx, ws, id)
	if err != nil {
		return nil, journeyStatus(err)
	}
	return journeyToProto(j), nil
}

// ActivateJourney implements JourneyService.ActivateJourney.
func (s *JourneyServer) ActivateJourney(ctx context.Context, req *campaignv1.ActivateJourneyRequest) (*campaignv1.ActivateJourneyResponse, error) {
	j, err := s.transition(ctx, req.GetJourneyId(), []string{store.JourneyDraft}, store.JourneyActive)
	return &campaignv1.ActivateJourneyResponse{Journey: j}, err
}

// PauseJourney implements JourneyService.PauseJourney.
func (s *JourneyServer) PauseJourney(ctx context.Context, req *campaignv1.PauseJourneyRequest) (*campaignv1.PauseJourneyResponse, error) {
	j, err := s.transition(ctx, req.GetJourneyId(), []string{store.JourneyActive}, store.JourneyPaused)
	return &campaignv1.PauseJourneyResponse{Journey: j}, err
}

// ResumeJourney implements JourneyService.ResumeJourney.
func (s *JourneyServer) ResumeJourney(ctx context.Context, req *campaignv1.ResumeJourneyRequest) (*campaignv1.ResumeJourneyResponse, error) {
	j, err := s.transition(ctx, req.GetJourneyId(), []string{store.JourneyPaused}, store.JourneyActive)
	return &campaignv1.ResumeJourneyResponse{Journey: j}, err
}

// ArchiveJourney implements JourneyService.ArchiveJourney.
func (s *JourneyServer) ArchiveJourney(ctx context.Context, req *campaignv1.ArchiveJourneyRequest) (*campaignv1.ArchiveJourneyResponse, error) {
	j, err := s.transition(ctx, req.GetJourneyId(), []string{store.JourneyDraft, store.JourneyActive, store.JourneyPaused}, store.JourneyArchived)
	return &campaignv1.ArchiveJourneyResponse{Journey: j}, err
}

// GetJourneyStats implements JourneyService.GetJourneyStats.
func (s *JourneyServer) GetJourneyStats(ctx context.Context, req *campaignv1.GetJourneyStatsRequest) (*campaignv1.GetJourneyStatsResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if err := requireID("journey_id", req.GetJourneyId()); err != nil {
		return nil, journeyStatus(err)
	}
	if _, err := s.store.GetJourney(ctx, ws, req.GetJourneyId()); err != nil {
		return nil, journeyStatus(err)
	}
	st, err := s.store.Stats(ctx, ws, req.GetJourneyId())
	if err != nil {
		return nil, journeyStatus(err)
	}
	out := &campaignv1.JourneyStats{JourneyId: req.GetJourneyId(), Entered: st.Entered, Active: st.Active, Completed: st.Completed, Exited: st.Exited}
	for _, step := range sortedKeys(st.ActiveByStep) {
		out.ActiveByStep = append(out.ActiveByStep, &campaignv1.StepCount{StepId: step, Count: st.ActiveByStep[step]})
	}
	for _, reason := range sortedKeys(st.ExitedByReason) {
		out.ExitedByReason = append(out.ExitedByReason, &campaignv1.ExitCount{
			Reason: campaignv1.ExitReason(campaignv1.ExitReason_value[reason]), Count: st.ExitedByReason[reason],
		})
	}
	for _, c := range st.Sends {
		out.Sends = append(out.Sends, &campaignv1.SendCount{
			ChannelType: store.ContractChannelType(c.ChannelType), Status: sendStatuses[c.Status],
			Reason: campaignv1.SkipReason(campaignv1.SkipReason_value[c.Reason]), Count: c.Count,
		})
	}
	return &campaignv1.GetJourneyStatsResponse{Stats: out}, nil
}

var sendStatuses = map[string]campaignv1.SendStatus{
	store.SendPending:  campaignv1.SendStatus_PENDING,
	store.SendDeferred: campaignv1.SendStatus_DEFERRED,
	store.SendSent:     campaignv1.SendStatus_SENT,
	store.SendFailed:   campaignv1.SendStatus_FAILED,
	store.SendSkipped:  campaignv1.SendStatus_SKIPPED,
}

// SendToProto renders a stored send; the deliveries stream uses it too.
func SendToProto(sd store.Send) *campaignv1.Send {
	return &campaignv1.Send{
		SendId: sd.ID, JourneyId: sd.JourneyID, CustomerId: sd.CustomerID, EntryNumber: int32(sd.EntryNumber), StepId: sd.StepID,
		ChannelId: sd.ChannelID, ChannelType: store.ContractChannelType(sd.ChannelType), Status: sendStatuses[sd.Status],
		Reason: campaignv1.SkipReason(campaignv1.SkipReason_value[sd.Reason]), Error: sd.Error, ProviderMessageId: sd.ProviderMessageID,
		Attempts: int32(sd.Attempts), Transactional: sd.Transactional, CreateTime: timestamp(sd.CreateTime),
		PlannedTime: timestamp(sd.PlannedTime), SendTime: timestamp(sd.SendTime), Late: sd.Late, Subject: sd.Subject, Text: sd.Body,
		Variant: sd.Variant,
	}
}

// SendOutcome is the bus message of a send's final outcome.
func SendOutcome(sd store.Send) *campaignv1.SendOutcome {
	p := SendToProto(sd)
	return &campaignv1.SendOutcome{
		SendId: p.SendId, WorkspaceId: sd.WorkspaceID, JourneyId: p.JourneyId, CustomerId: p.CustomerId, EntryNumber: p.EntryNumber,
		StepId: p.StepId, ChannelId: p.ChannelId, ChannelType: p.ChannelType, Status: p.Status, Reason: p.Reason,
		ProviderMessageId: p.ProviderMessageId, Transactional: p.Transactional, PlannedTime: p.PlannedTime, SendTime: p.SendTime,
		Variant: p.Variant,
	}
}

func (s *JourneyServer) listSends(ctx context.Context, by, idField, id string, size int32, token string) ([]*campaignv1.Send, string, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, "", err
	}
	var v validation.Error
	if err := requireID(idField, id); err != nil {
		var ve *validation.Error
		errors.As(err, &ve)
		v.Violations = append(v.Violations, ve.Violations...)
	}
	limit, after, err := campaign.Page{Size: size, Token: token}.Resolve(SendIDPrefix)
	var pv *validation.Error
	if errors.As(err, &pv) {
		v.Violations = append(v.Violations, pv.Violations...)
	}
	if err := v.Err(); err != nil {
		return nil, "", journeyStatus(err)
	}
	if by == "journey_id" {
		if _, err := s.store.GetJourney(ctx, ws, id); err != nil {
			return nil, "", journeyStatus(err)
		}
	}
	sds, err := s.store.ListSends(ctx, ws, by, id, after, limit+1)
	if err != nil {
		return nil, "", journeyStatus(err)
	}
	sds, next := campaign.TrimPage(sds, limit, func(sd store.Send) string { return sd.ID })
	out := make([]*campaignv1.Send, 0, len(sds))
	for _, sd := range sds {
		out = append(out, SendToProto(sd))
	}
	return out, next, nil
}

// ListJourneySends implements JourneyService.ListJourneySends.
func (s *JourneyServer) ListJourneySends(ctx context.Context, req *campaignv1.ListJourneySendsRequest) (*campaignv1.ListJourneySendsResponse, error) {
	sds, next, err := s.listSends(ctx, "journey_id", "journey_id", req.GetJourneyId(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &campaignv1.ListJourneySendsResponse{Sends: sds, NextPageToken: next}, nil
}

// ListCustomerSends implements JourneyService.ListCustomerSends.
func (s *JourneyServer) ListCustomerSends(ctx context.Context, req *campaignv1.ListCustomerSendsRequest) (*campaignv1.ListCustomerSendsResponse, error) {
	sds, next, err := s.listSends(ctx, "customer_id", "customer_id", req.GetCustomerId(), req.GetPageSize(), req.GetPageToken())
	if err != nil {
		return nil, err
	}
	return &campaignv1.ListCustomerSendsResponse{Sends: sds, NextPageToken: next}, nil
}

var entryStates = map[string]campaignv1.EntryState{
	store.EntryInProgress: campaignv1.EntryState_IN_PROGRESS,
	store.EntryCompleted:  campaignv1.EntryState_COMPLETED,
	store.EntryExited:     campaignv1.EntryState_EXITED,
}

// ListCustomerJourneys implements JourneyService.ListCustomerJourneys.
func (s *JourneyServer) ListCustomerJourneys(ctx context.Context, req *campaignv1.ListCustomerJourneysRequest) (*campaignv1.ListCustomerJourneysResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if err := requireID("customer_id", req.GetCustomerId()); err != nil {
		return nil, journeyStatus(err)
	}
	limit, after, err := campaign.Page{Size: req.GetPageSize(), Token: req.GetPageToken()}.Resolve(EntryIDPrefix)
	if err != nil {
		return nil, journeyStatus(err)
	}
	es, err := s.store.ListCustomerEntries(ctx, ws, req.GetCustomerId(), after, limit+1)
	if err != nil {
		return nil, journeyStatus(err)
	}
	es, next := campaign.TrimPage(es, limit, func(e store.Entry) string { return e.ID })
	resp := &campaignv1.ListCustomerJourneysResponse{NextPageToken: next}
	for _, e := range es {
		cj := &campaignv1.CustomerJourney{
			JourneyId: e.JourneyID, JourneyDisplayName: e.JourneyName, CustomerId: e.CustomerID, EntryNumber: int32(e.Number),
			State: entryStates[e.State], CurrentStep: e.StepID, EnterTime: timestamp(e.EnterTime), EndTime: timestamp(e.EndTime),
			ExitReason: campaignv1.ExitReason(campaignv1.ExitReason_value[e.ExitReason]), Error: e.Error, Variant: e.Variant,
		}
		if e.State == store.EntryInProgress {
			cj.NextRunTime = timestamp(e.DueTime)
		}
		resp.Journeys = append(resp.Journeys, cj)
	}
	return resp, nil
}

// Unsubscribe implements ConsentService.Unsubscribe. It is public: the
// signed token is the credential.
func (s *JourneyServer) Unsubscribe(ctx context.Context, req *campaignv1.UnsubscribeRequest) (*campaignv1.UnsubscribeResponse, error) {
	if req.GetToken() == "" {
		return nil, journeyStatus(validation.Invalid("token", "is required"))
	}
	c, err := s.unsub.Parse(req.GetToken())
	if err != nil {
		return nil, journeyStatus(validation.Invalid("token", "is not a valid unsubscribe token"))
	}
	changed, err := s.store.SetConsent(ctx, c.WorkspaceID, c.CustomerID, c.ChannelType, false, runner.SourceUnsubLink, s.now().UTC())
	if err != nil {
		return nil, journeyStatus(err)
	}
	// The timeline event is keyed by the link, so a repeated click or a
	// retry after an outage records it once.
	msgID := "unsubscribe:" + c.ChannelType + ":" + c.SendID
	if err := s.tracker.TrackFor(ctx, c.WorkspaceID, c.CustomerID, msgID, runner.EventUnsubscribed,
		map[string]any{"channel": c.ChannelType, "sendId": c.SendID, "source": runner.SourceUnsubLink}); err != nil && !errors.Is(err, peers.ErrNotFound) {
		return nil, journeyStatus(err)
	}
	return &campaignv1.UnsubscribeResponse{ChannelType: store.ContractChannelType(c.ChannelType), Changed: changed}, nil
}

// ListCustomerConsents implements ConsentService.ListCustomerConsents.
func (s *JourneyServer) ListCustomerConsents(ctx context.Context, req *campaignv1.ListCustomerConsentsRequest) (*campaignv1.ListCustomerConsentsResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if err := requireID("customer_id", req.GetCustomerId()); err != nil {
		return nil, journeyStatus(err)
	}
	cs, err := s.store.ListConsents(ctx, ws, req.GetCustomerId())
	if err != nil {
		return nil, journeyStatus(err)
	}
	resp := &campaignv1.ListCustomerConsentsResponse{}
	for _, c := range cs {
		resp.Consents = append(resp.Consents, &campaignv1.Consent{
			ChannelType: store.ContractChannelType(c.ChannelType), Subscribed: c.Subscribed, Source: c.Source, UpdateTime: timestamp(c.UpdateTime),
		})
	}
	return resp, nil
}

// CreateChannel implements ChannelService.CreateChannel.
func (s *JourneyServer) CreateChannel(ctx context.Context, req *campaignv1.CreateChannelRequest) (*campaignv1.CreateChannelResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	c, err := s.channels.Create(ctx, ws, req.GetChannel())
	if err != nil {
		return nil, journeyStatus(err)
	}
	return &campaignv1.CreateChannelResponse{Channel: c}, nil
}

// GetChannel implements ChannelService.GetChannel.
func (s *JourneyServer) GetChannel(ctx context.Context, req *campaignv1.GetChannelRequest) (*campaignv1.GetChannelResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if err := requireID("channel_id", req.GetChannelId()); err != nil {
		return nil, journeyStatus(err)
	}
	c, err := s.channels.Get(ctx, ws, req.GetChannelId())
	if err != nil {
		return nil, journeyStatus(err)
	}
	return &campaignv1.GetChannelResponse{Channel: c}, nil
}

// ListChannels implements ChannelService.ListChannels.
func (s *JourneyServer) ListChannels(ctx context.Context, req *campaignv1.ListChannelsRequest) (*campaignv1.ListChannelsResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	limit, after, err := campaign.Page{Size: req.GetPageSize(), Token: req.GetPageToken()}.Resolve(channel.IDPrefix)
	if err != nil {
		return nil, journeyStatus(err)
	}
	cs, err := s.channels.List(ctx, ws, after, limit+1)
	if err != nil {
		return nil, journeyStatus(err)
	}
	cs, next := campaign.TrimPage(cs, limit, func(c *campaignv1.Channel) string { return c.GetChannelId() })
	return &campaignv1.ListChannelsResponse{Channels: cs, NextPageToken: next}, nil
}

// UpdateChannel implements ChannelService.UpdateChannel.
func (s *JourneyServer) UpdateChannel(ctx context.Context, req *campaignv1.UpdateChannelRequest) (*campaignv1.UpdateChannelResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if err := requireID("channel.channel_id", req.GetChannel().GetChannelId()); err != nil {
		return nil, journeyStatus(err)
	}
	c, err := s.channels.Update(ctx, ws, req.GetChannel(), req.GetUpdateMask())
	if err != nil {
		return nil, journeyStatus(err)
	}
	return &campaignv1.UpdateChannelResponse{Channel: c}, nil
}

// DeleteChannel implements ChannelService.DeleteChannel.
func (s *JourneyServer) DeleteChannel(ctx context.Context, req *campaignv1.DeleteChannelRequest) (*campaignv1.DeleteChannelResponse, error) {
	ws, err := auth.RequireWorkspace(ctx)
	if err != nil {
		return nil, err
	}
	if err := requireID("channel_id", req.GetChannelId()); err != nil {
		return nil, journeyStatus(err)
	}
	inUse := func(ctx context.Context, channelID string) (string, error) {
		js, err := s.store.LiveJourneys(ctx, ws)
		if err != nil {
			return "", err
		}
		for _, j := range js {
			for _, st := range j.Definition.GetSteps() {
				if st.GetSend().GetChannelId() == channelID {
					return j.ID, nil
				}
			}
		}
		return "", nil
	}
	if err := s.channels.Delete(ctx, ws, req.GetChannelId(), inUse); err != nil {
		return nil, journeyStatus(err)
	}
	return &campaignv1.DeleteChannelResponse{}, nil
}

// ReceiveLineWebhook implements ChannelService.ReceiveLineWebhook. It is
// public: the signature is the credential.
func (s *JourneyServer) ReceiveLineWebhook(ctx context.Context, req *campaignv1.ReceiveLineWebhookRequest) (*campaignv1.ReceiveLineWebhookResponse, error) {
	if err := requireID("channel_id", req.GetChannelId()); err != nil {
		return nil, journeyStatus(err)
	}
	if len(req.GetBody()) > MaxLineWebhookBytes {
		return nil, journeyStatus(validation.Invalid("body", "must be at most %d bytes", MaxLineWebhookBytes))
	}
	row, err := s.store.LookupChannel(ctx, req.GetChannelId())
	if err != nil {
		return nil, journeyStatus(err)
	}
	ch, err := s.channels.Resolve(row)
	if err != nil {
		return nil, journeyStatus(err)
	}
	if row.Type != store.ChannelLine || ch.ChannelSecret == "" || !line.VerifySignature(ch.ChannelSecret, req.GetBody(), req.GetSignature()) {
		// Nothing says whether the channel exists: a caller without the
		// secret learns nothing.
		return nil, grpcstatus.New(codes.Unauthenticated, "bad X-Line-Signature", channel.ErrBadSignature)
	}
	_, events, err := line.ParseWebhook(req.GetBody())
	if err != nil {
		return nil, journeyStatus(validation.Invalid("body", "is not a LINE webhook body: %v", err))
	}
	resp := &campaignv1.ReceiveLineWebhookResponse{}
	var msgs []*ingestionv1.BatchMessage
	for _, ev := range events {
		name := ""
		switch ev.Type {
		case "follow":
			name = runner.EventLineFollowed
		case "unfollow":
			name = runner.EventLineUnfollow
		}
		if name == "" || ev.UserID == "" || ev.WebhookEventID == "" {
			resp.Ignored++
			continue
		}
		props, _ := structpb.NewStruct(map[string]any{"channelId": row.ID, "lineUserId": ev.UserID})
		ctxTraits, _ := structpb.NewStruct(map[string]any{"traits": map[string]any{"lineUserId": ev.UserID}})
		msgs = append(msgs, &ingestionv1.BatchMessage{
			Type: "track", MessageId: "line:" + ev.WebhookEventID, AnonymousId: "line:" + ev.UserID, Event: name,
			Properties: props, Context: ctxTraits, Timestamp: ev.Timestamp.UTC().Format(time.RFC3339Nano),
		})
		resp.Recorded++
	}
	if len(msgs) > 0 {
		if err := s.tracker.Track(ctx, row.WorkspaceID, msgs); err != nil {
			return nil, journeyStatus(err)
		}
	}
	return resp, nil
}

func requireID(field, id string) error {
	var v validation.Error
	switch {
	case id == "":
		v.Add(field, "is required")
	case len(id) > journey.MaxIDChars:
		v.Addf(field, "must be at most %d characters", journey.MaxIDChars)
	}
	return v.Err()
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
