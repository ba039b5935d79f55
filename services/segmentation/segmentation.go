// Package segmentation is Kizuna's segmentation service: segment
// definitions (rules over traits, behaviour in time windows and RFM
// scores), per-customer features, and segment membership kept current as
// ingested events arrive, announced on the bus as SegmentMembershipChanged.
//
// The suite and the service's own command wire it the same way:
//
//	svc, err := segmentation.New(ctx, segmentation.Options{DB: db, Bus: b, Logger: log})
//	svc.Register(grpcServer.Server)
//	go svc.Run(ctx)
package segmentation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	segmentationv1 "github.com/kizuna/kizuna/gen/kizuna/segmentation/v1"
	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/lease"
	"github.com/kizuna/kizuna/services/platform/outbox"
	"github.com/kizuna/kizuna/services/platform/prune"
	"github.com/kizuna/kizuna/services/platform/regulation"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/validation"
	"github.com/kizuna/kizuna/services/segmentation/internal/api"
	"github.com/kizuna/kizuna/services/segmentation/internal/relay"
	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
	"github.com/kizuna/kizuna/services/segmentation/internal/store"
)

// ConsumerName is the durable consumer of the events stream. Replicas share
// it, and so share the work.
const ConsumerName = "segmentation"

// DefaultSweepInterval is how often time-dependent segments (event windows,
// RFM) are re-evaluated when Options.SweepInterval is zero.
const DefaultSweepInterval = time.Minute

// Options configures New.
type Options struct {
	// DB is opened by the caller; New runs the migrations.
	DB *sqldb.DB
	// Bus is connected by the caller.
	Bus    *bus.Bus
	Logger *slog.Logger
	// SweepInterval is how often segments with event-window or RFM
	// conditions are re-evaluated for every customer; default 1 minute.
	SweepInterval time.Duration
	// Now is the clock; time.Now when nil. Tests move it.
	Now func() time.Time
	// LeaseTTL is the TTL of the sweep's and the outbox relay's leases;
	// lease.DefaultTTL when zero.
	LeaseTTL time.Duration
}

// Service is the segmentation service.
type Service struct {
	bus    *bus.Bus
	log    *slog.Logger
	clock  func() time.Time
	sweep  time.Duration
	engine *segment.Engine
	api    *api.Server
	relay  *outbox.Relay
	// sweepLease makes one replica sweep.
	sweepLease *lease.Lease
	prune      *prune.Job
}

// New ensures the bus streams exist, migrates the database and returns a
// Service ready to Register and Run.
func New(ctx context.Context, opts Options) (*Service, error) {
	if opts.DB == nil || opts.Bus == nil {
		return nil, errors.New("segmentation: Options.DB and Options.Bus are required")
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	sweep := opts.SweepInterval
	if sweep <= 0 {
		sweep = DefaultSweepInterval
	}
	// Streams are ensured here rather than in Run so that a process wiring
	// several services updates streams before any of them starts consuming:
	// nats-server 2.15 races when a stream update and a consumer creation on
	// the same stream overlap.
	if err := opts.Bus.EnsureStreams(ctx); err != nil {
		return nil, fmt.Errorf("segmentation: %w", err)
	}
	st, err := store.New(ctx, opts.DB)
	if err != nil {
		return nil, fmt.Errorf("segmentation: %w", err)
	}
	clock := opts.Now
	if clock == nil {
		clock = time.Now
	}
	s := &Service{bus: opts.Bus, log: log, clock: clock, sweep: sweep}
	s.engine, err = segment.NewEngine(segment.Config{
		Store:     st,
		Now:       clock,
		RFMMaxAge: min(sweep, segment.DefaultRFMMaxAge),
	})
	if err != nil {
		return nil, fmt.Errorf("segmentation: %w", err)
	}
	s.api = api.New(s.engine)
	s.prune = prune.New(opts.DB, "segmentation", prune.Options{Now: clock, Logger: log}, st.PruneTasks()...)
	s.sweepLease = lease.New(opts.DB, "segmentation:sweep", lease.Options{TTL: opts.LeaseTTL})
	pub := busPublisher{bus: opts.Bus}
	s.relay = outbox.New(outbox.Options{Name: "segmentation", DB: opts.DB, Logger: log, LeaseTTL: opts.LeaseTTL, Backlog: st.OutboxBacklog,
		Pass: func(ctx context.Context) error { return relay.Pass(ctx, st, pub) }})
	return s, nil
}

// Register registers SegmentService on srv.
func (s *Service) Register(srv *grpc.Server) {
	segmentationv1.RegisterSegmentServiceServer(srv, s.api)
}

// Run consumes the events stream (durable consumer "segmentation"),
// publishes membership changes from the outbox and sweeps time-dependent
// segments every SweepInterval, until ctx ends. It returns nil after ctx
// ends and an error if it cannot start.
func (s *Service) Run(ctx context.Context) error {
	stop, err := s.bus.Consume(ctx, bus.Consumer{
		Kind:    bus.KindEvents,
		Durable: ConsumerName,
		Handler: s.handle,
		// Events waiting together are recorded in one transaction and each
		// customer re-evaluated once: one commit per event capped a
		// consumer near 1,200 events/s.
		BatchHandler: s.handleBatch,
		MaxBatch:     eventBatch,
	})
	if err != nil {
		return fmt.Errorf("segmentation: %w", err)
	}
	defer stop()
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.relayLoop(ctx) })
	g.Go(func() error { s.sweepLoop(ctx); return nil })
	g.Go(func() error { s.lateLoop(ctx); return nil })
	g.Go(func() error { s.prune.Run(ctx); return nil })
	return g.Wait()
}

// lateInterval is how often customers evaluated against RFM scores that
// were behind their own orders are evaluated again.
const lateInterval = time.Second

// lateLoop runs Engine.EvaluateLate every lateInterval. Each replica does
// its own: the customers are those its own consumer evaluated.
func (s *Service) lateLoop(ctx context.Context) {
	t := time.NewTicker(lateInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.engine.EvaluateLate(ctx); err != nil && ctx.Err() == nil {
				s.log.ErrorContext(ctx, "segmentation: late evaluation failed", slog.Any("error", err))
			}
		}
	}
}

// relayLoop publishes the outbox (on one replica at a time) whenever the
// engine wrote to it, and periodically in case an earlier publish failed.
func (s *Service) relayLoop(ctx context.Context) error {
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-s.engine.Pending():
				s.relay.Wake()
			}
		}
	}()
	return s.relay.Run(ctx)
}

// sweepLoop re-evaluates time-dependent segments (and refits predicted
// traits) every SweepInterval, on one replica at a time: the sweep covers
// every workspace, so two replicas sweeping would only do it twice.
func (s *Service) sweepLoop(ctx context.Context) {
	lease.Every(ctx, s.sweepLease, s.sweep, s.engine.Sweep, func(err error) {
		s.log.ErrorContext(ctx, "segmentation: sweep failed", slog.Any("error", err))
	})
}

// eventBatch bounds the events one batch applies in a transaction.
const eventBatch = 500

// handleBatch applies messages in order: each run of recorded events
// together (ApplyEvents), merges and unmerges one by one between them. On
// an error the bus hands every message of the batch to handle alone, which
// is safe because applying is idempotent.
func (s *Service) handleBatch(ctx context.Context, msgs []bus.Message) error {
	var run []segment.Event
	flush := func() error {
		err := s.engine.ApplyEvents(ctx, run)
		run = run[:0]
		return err
	}
	for _, m := range msgs {
		if t := m.Headers.Get(bus.TypeHeader); t != "" && t != string((&ingestionv1.IngestionBusMessage{}).ProtoReflect().Descriptor().FullName()) {
			continue
		}
		var msg ingestionv1.IngestionBusMessage
		if err := m.Unmarshal(&msg); err != nil {
			return err // handle logs and drops it
		}
		if p, ok := msg.GetPayload().(*ingestionv1.IngestionBusMessage_EventRecorded); ok {
			run = append(run, eventFromProto(p.EventRecorded, s.clock()))
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		if err := s.handle(ctx, m); err != nil {
			return err
		}
	}
	return flush()
}

// handle applies one events-stream message. Malformed messages are logged
// and acknowledged: redelivering them cannot fix them.
func (s *Service) handle(ctx context.Context, m bus.Message) error {
	if t := m.Headers.Get(bus.TypeHeader); t != "" && t != string((&ingestionv1.IngestionBusMessage{}).ProtoReflect().Descriptor().FullName()) {
		return nil // another payload type on the stream; not ours to read
	}
	var msg ingestionv1.IngestionBusMessage
	if err := m.Unmarshal(&msg); err != nil {
		s.log.ErrorContext(ctx, "segmentation: dropping undecodable message", slog.String("subject", m.Subject), slog.Any("error", err))
		return nil
	}
	var err error
	switch p := msg.GetPayload().(type) {
	case *ingestionv1.IngestionBusMessage_EventRecorded:
		err = s.engine.ApplyEvent(ctx, eventFromProto(p.EventRecorded, s.clock()))
	case *ingestionv1.IngestionBusMessage_CustomerMerged:
		err = s.engine.ApplyMerge(ctx, mergeFromProto(p.CustomerMerged))
	case *ingestionv1.IngestionBusMessage_CustomerUnmerged:
		err = s.engine.ApplyUnmerge(ctx, unmergeFromProto(p.CustomerUnmerged, s.clock()))
	case *ingestionv1.IngestionBusMessage_RegulationRequested:
		err = s.applyRegulation(ctx, p.RegulationRequested)
	default:
		return nil // a payload kind added after this build; nothing to do
	}
	var invalid *validation.Error
	if errors.As(err, &invalid) {
		s.log.ErrorContext(ctx, "segmentation: dropping invalid message", slog.String("subject", m.Subject),
			slog.String("msg_id", m.MsgID), slog.Any("error", err))
		return nil
	}
	return err
}

// applyRegulation deletes the person's rows on a DELETE (SUPPRESS and
// UNSUPPRESS leave segmentation's data as it is: suppression is enforced
// where events enter and sends leave) and reports back to ingestion.
func (s *Service) applyRegulation(ctx context.Context, r *ingestionv1.RegulationRequested) error {
	var rows int64
	if regulation.Erases(r) {
		n, err := s.engine.EraseCustomers(ctx, r.GetWorkspaceId(), r.GetRegulationId(), r.GetCustomerIds())
		if err != nil {
			return err
		}
		rows = n
	}
	return regulation.Report(ctx, s.bus, "segmentation", r, rows, s.clock())
}

func eventFromProto(e *ingestionv1.Event, receivedFallback time.Time) segment.Event {
	out := segment.Event{
		WorkspaceID: e.GetWorkspaceId(),
		EventID:     e.GetEventId(),
		CustomerID:  e.GetCustomerId(),
		Type:        eventType(e.GetType()),
		Name:        e.GetName(),
		Time:        eventTime(e.GetTimestamp(), e.GetReceiveTime(), receivedFallback),
		Traits:      structMap(e.GetTraits()),
		Properties:  structMap(e.GetProperties()),
	}
	if o := e.GetOrder(); o != nil {
		// The engine stands in the event id for a missing order id and 0
		// for a revenue that is not a finite number.
		out.Order = &segment.Order{ID: o.GetOrderId(), Revenue: o.GetRevenue()}
	}
	return out
}

func mergeFromProto(m *ingestionv1.CustomerMerged) segment.Merge {
	return segment.Merge{
		WorkspaceID: m.GetWorkspaceId(),
		MergeID:     m.GetMergeId(),
		SurvivorID:  m.GetSurvivorCustomerId(),
		MergedIDs:   m.GetMergedCustomerIds(),
	}
}

func unmergeFromProto(u *ingestionv1.CustomerUnmerged, fallback time.Time) segment.Unmerge {
	return segment.Unmerge{
		WorkspaceID:       u.GetWorkspaceId(),
		UnmergeID:         u.GetUnmergeId(),
		MergeID:           u.GetMergeId(),
		SurvivorID:        u.GetSurvivorCustomerId(),
		RestoredID:        u.GetRestoredCustomerId(),
		EventIDs:          u.GetEventIds(),
		RestoredTraits:    structMap(u.GetRestoredTraits()),
		SurvivorTraits:    structMap(u.GetSurvivorTraits()),
		Time:              eventTime(u.GetUndoTime(), nil, fallback),
		RestoredFirstSeen: optionalTime(u.GetRestoredFirstSeenTime()),
		SurvivorFirstSeen: optionalTime(u.GetSurvivorFirstSeenTime()),
	}
}

// optionalTime is zero for a missing or invalid timestamp, so the store can
// tell "not said" from a time and keep what it knows.
func optionalTime(ts *timestamppb.Timestamp) time.Time {
	if ts == nil || !ts.IsValid() {
		return time.Time{}
	}
	return ts.AsTime().UTC().Truncate(time.Microsecond)
}

// eventTime prefers when the event happened, then when ingestion received
// it, then when it reached us.
func eventTime(ts, received *timestamppb.Timestamp, fallback time.Time) time.Time {
	for _, t := range []*timestamppb.Timestamp{ts, received} {
		if t != nil && t.IsValid() {
			return t.AsTime().UTC().Truncate(time.Microsecond)
		}
	}
	return fallback.UTC().Truncate(time.Microsecond)
}

func structMap(s *structpb.Struct) map[string]any {
	if s == nil || len(s.GetFields()) == 0 {
		return nil
	}
	return s.AsMap()
}

func eventType(t ingestionv1.EventType) segment.EventType {
	switch t {
	case ingestionv1.EventType_EVENT_TYPE_IDENTIFY:
		return segment.EventIdentify
	case ingestionv1.EventType_EVENT_TYPE_TRACK:
		return segment.EventTrack
	case ingestionv1.EventType_EVENT_TYPE_PAGE:
		return segment.EventPage
	case ingestionv1.EventType_EVENT_TYPE_SCREEN:
		return segment.EventScreen
	case ingestionv1.EventType_EVENT_TYPE_GROUP:
		return segment.EventGroup
	case ingestionv1.EventType_EVENT_TYPE_ALIAS:
		return segment.EventAlias
	default:
		return segment.EventOther
	}
}

// busPublisher publishes membership changes on the membership stream,
// subject <prefix>.membership.<workspace>.<segment>, with the change id as
// the message id so a re-published change is deduplicated. A relay pass's
// changes go out in one bus.PublishBatch: one round trip, and the changes
// of one segment packed (a recompute moves thousands at once).
type busPublisher struct {
	bus *bus.Bus
}

var membershipType = string((&segmentationv1.SegmentMembershipChanged{}).ProtoReflect().Descriptor().FullName())

func (p busPublisher) PublishMembershipChanges(ctx context.Context, cs []segment.MembershipChange) (int, error) {
	out := make([]bus.Outgoing, len(cs))
	for i, c := range cs {
		data, err := proto.Marshal(&segmentationv1.SegmentMembershipChanged{
			ChangeId:    c.ChangeID,
			WorkspaceId: c.WorkspaceID,
			SegmentId:   c.SegmentID,
			CustomerId:  c.CustomerID,
			Joined:      c.Joined,
			ChangeTime:  timestamppb.New(c.Time),
		})
		if err != nil {
			return 0, fmt.Errorf("marshal membership change %s: %w", c.ChangeID, err)
		}
		out[i] = bus.Outgoing{Subject: p.bus.Subject(bus.KindMembership, c.WorkspaceID, c.SegmentID), MsgID: c.ChangeID, TypeName: membershipType, Data: data}
	}
	return p.bus.PublishBatch(ctx, out)
}
