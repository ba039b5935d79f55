// Package metrics is the metrics service: it keeps a purchase ledger fed by
// ingestion's events stream and serves kizuna.metrics.v1.MetricsService,
// computing KPIs (revenue, AOV, repeat purchase rate, historical LTV, …)
// for a workspace or a segment over a time range.
//
// The suite and the service's own command wire it the same way: open the
// database and connect the bus, call New, Register on a gRPC server, and
// Run until shutdown.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/metrics/internal/api"
	"github.com/kizuna/kizuna/services/metrics/internal/kpi"
	"github.com/kizuna/kizuna/services/metrics/internal/ledger"
	"github.com/kizuna/kizuna/services/metrics/internal/store"
	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/prune"
	"github.com/kizuna/kizuna/services/platform/regulation"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// Durable is the name of the metrics service's consumer on the events
// stream; replicas share it, so each message is applied by one of them.
const Durable = "metrics"

// SendsDurable is the consumer of journey send outcomes on the deliveries
// stream.
const SendsDurable = "metrics-sends"

// maxDeliver bounds attempts per events message (see Run).
const maxDeliver = 20

// Options holds the service's dependencies.
type Options struct {
	// DB is opened by the caller; New runs the migrations.
	DB *sqldb.DB
	// Bus is connected by the caller; New ensures its streams.
	Bus *bus.Bus
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Segmentation is a connection to the segmentation service that
	// forwards the caller's authorization metadata (grpcclient.Dial).
	Segmentation grpc.ClientConnInterface
	// Ingestion, optional, is a connection to ingestion forwarding the
	// caller's authorization, for the workspace time zone calendar buckets
	// are cut in; without it they are UTC unless a request names a zone.
	Ingestion grpc.ClientConnInterface
	// Campaign, optional, is a connection to the campaign service
	// forwarding the caller's authorization, for the journeys' experiment
	// designs (holdout, variants, goal) behind GetJourneyResults and
	// GetCampaignResults; without it those answer Unimplemented.
	Campaign grpc.ClientConnInterface
	// Now defaults to time.Now; tests fix it.
	Now func() time.Time
}

// Service is the metrics service.
type Service struct {
	bus    *bus.Bus
	logger *slog.Logger
	store  *store.Store
	server *api.Server
	inits  *api.Initiatives
	prune  *prune.Job
}

// New migrates the database and builds the service. It starts nothing; Run
// does.
func New(ctx context.Context, opts Options) (*Service, error) {
	switch {
	case opts.DB == nil:
		return nil, errors.New("metrics: Options.DB is required")
	case opts.Bus == nil:
		return nil, errors.New("metrics: Options.Bus is required")
	case opts.Segmentation == nil:
		return nil, errors.New("metrics: Options.Segmentation is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// Streams are ensured here, before any consumer starts: nats-server
	// races when a stream update overlaps a consumer creation.
	if err := opts.Bus.EnsureStreams(ctx); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	st, err := store.New(ctx, opts.DB, opts.Now)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	segs := api.NewSegments(opts.Segmentation)
	calc := kpi.NewCalculator(st, segs, opts.Now)
	srv := api.NewServer(calc, st, opts.Now)
	srv.EnableDashboards(api.Dashboards{Store: st, Segments: segs, Zones: api.NewWorkspaceZones(opts.Ingestion)})
	if opts.Campaign != nil {
		srv.EnableResults(api.NewExperiments(st, opts.Campaign, opts.Segmentation))
	}
	return &Service{
		bus:    opts.Bus,
		logger: opts.Logger,
		store:  st,
		server: srv,
		inits:  api.NewInitiatives(st, calc, srv, opts.Now),
		prune:  prune.New(opts.DB, "metrics", prune.Options{Now: opts.Now, Logger: opts.Logger}, st.PruneTask()),
	}, nil
}

// Register adds MetricsService and InitiativeService to srv.
func (s *Service) Register(srv *grpc.Server) {
	s.server.Register(srv)
	s.inits.Register(srv)
}

// Run consumes the events stream with the
// durable consumer "metrics", applying events, customer merges and undone
// merges to the ledger, until ctx ends; it then waits for the message in flight and
// returns nil. It fails only if the consumer cannot be started.
func (s *Service) Run(ctx context.Context) error {
	stop, err := s.bus.Consume(ctx, bus.Consumer{
		Kind:    bus.KindEvents,
		Durable: Durable,
		Handler: s.handle,
		// Events waiting together are applied in one transaction; on an
		// error each message goes to handle alone, which drops only the
		// unusable one.
		BatchHandler: s.handleBatch,
		MaxBatch:     eventBatch,
		// A dropped event would skew every KPI for good, so store failures
		// are retried for longer than the bus default: with the delay
		// doubling to its one-minute cap, 20 attempts span ~15 minutes of
		// database outage. Messages behind a retried one keep flowing.
		MaxDeliver: maxDeliver,
	})
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	stopSends, err := s.bus.Consume(ctx, bus.Consumer{
		Kind:       bus.KindDeliveries,
		Durable:    SendsDurable,
		Handler:    s.handleSend,
		MaxDeliver: maxDeliver,
	})
	if err != nil {
		stop()
		return fmt.Errorf("metrics: %w", err)
	}
	// Applied message ids past the dedupe window are deleted hourly, on
	// one replica.
	s.prune.Run(ctx)
	stopSends()
	stop()
	return nil
}

// handleSend records a journey send outcome: the exposure it is, for
// experiment results, and the send, for the message KPIs. Campaign
// deliveries, which share the stream, are skipped.
func (s *Service) handleSend(ctx context.Context, m bus.Message) error {
	if !strings.HasPrefix(m.MsgID, ledger.SendIDPrefix) {
		return nil
	}
	var out campaignv1.SendOutcome
	if err := m.Unmarshal(&out); err != nil {
		s.drop(ctx, m, err)
		return nil
	}
	// An experiment's exposure (holdout skips included) and the send
	// itself, for the message KPIs, are recorded independently: both
	// writes are idempotent, so a retry after either fails is harmless.
	if e, ok, err := ledger.ExposureFromProto(&out); err != nil {
		s.drop(ctx, m, err)
		return nil
	} else if ok {
		if err := s.store.ApplyExposure(ctx, e); err != nil {
			return err
		}
	}
	sd, ok, err := ledger.SendFromProto(&out)
	if err != nil {
		s.drop(ctx, m, err)
		return nil
	}
	if !ok {
		return nil
	}
	return s.store.ApplySend(ctx, sd)
}

// eventBatch bounds the events one transaction applies.
const eventBatch = 500

// handleBatch applies the messages pulled together, in order, each run of
// events in one transaction (ledger.ApplyBatch); a data-rights regulation
// applies after the messages before it, as handle would.
func (s *Service) handleBatch(ctx context.Context, ms []bus.Message) error {
	msgs := make([]*ingestionv1.IngestionBusMessage, 0, len(ms))
	for _, m := range ms {
		msg := &ingestionv1.IngestionBusMessage{}
		if err := m.Unmarshal(msg); err != nil {
			return err // handle drops it
		}
		r := msg.GetRegulationRequested()
		if r == nil {
			msgs = append(msgs, msg)
			continue
		}
		if err := ledger.ApplyBatch(ctx, s.store, s.logger, msgs); err != nil {
			return err
		}
		msgs = msgs[:0]
		if err := s.applyRegulation(ctx, r); err != nil {
			return err
		}
	}
	return ledger.ApplyBatch(ctx, s.store, s.logger, msgs)
}

// handle applies one events-stream message. Messages that can never apply
// are logged and acknowledged, so they do not block the stream through
// every redelivery; anything else is returned for the bus to retry.
func (s *Service) handle(ctx context.Context, m bus.Message) error {
	var msg ingestionv1.IngestionBusMessage
	if err := m.Unmarshal(&msg); err != nil {
		s.drop(ctx, m, err)
		return nil
	}
	if r := msg.GetRegulationRequested(); r != nil {
		return s.applyRegulation(ctx, r)
	}
	err := ledger.Apply(ctx, s.store, s.logger, &msg)
	if errors.Is(err, ledger.ErrMalformed) {
		s.drop(ctx, m, err)
		return nil
	}
	return err
}

// applyRegulation deletes the person's orders, events and sends on a
// DELETE (SUPPRESS and UNSUPPRESS change nothing metrics holds) and
// reports back to ingestion.
func (s *Service) applyRegulation(ctx context.Context, r *ingestionv1.RegulationRequested) error {
	var rows int64
	if regulation.Erases(r) {
		n, err := s.store.EraseCustomers(ctx, r.GetWorkspaceId(), r.GetRegulationId(), r.GetCustomerIds())
		if err != nil {
			return err
		}
		rows = n
	}
	return regulation.Report(ctx, s.bus, "metrics", r, rows, time.Now())
}

func (s *Service) drop(ctx context.Context, m bus.Message, err error) {
	s.logger.WarnContext(ctx, "dropping unusable events message",
		slog.String("subject", m.Subject), slog.String("msg_id", m.MsgID), slog.Any("error", err))
}
