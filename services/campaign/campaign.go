// Package campaign is the Kizuna campaign service: campaigns that send a
// Liquid-rendered message to each member of a segment over a webhook, and a
// record of every delivery.
//
// The suite and the service's own command wire it the same way:
//
//	svc, err := campaign.New(ctx, campaign.Options{DB: db, Bus: b, Segmentation: segConn, Ingestion: ingConn})
//	svc.Register(grpcServer)
//	go svc.Run(ctx) // the dispatcher, until ctx ends
//
// Webhook delivery is at least once: a delivery whose outcome was not
// recorded (a crash, a lost lease) is sent again, with the same
// Idempotency-Key header (the delivery id) so the receiver can drop the
// duplicate. Each final outcome is published on the deliveries stream.
package campaign

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	"github.com/kizuna/kizuna/services/campaign/internal/api"
	"github.com/kizuna/kizuna/services/campaign/internal/audience"
	domain "github.com/kizuna/kizuna/services/campaign/internal/campaign"
	"github.com/kizuna/kizuna/services/campaign/internal/dispatch"
	"github.com/kizuna/kizuna/services/campaign/internal/store"
	"github.com/kizuna/kizuna/services/campaign/internal/webhook"
	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// Options configures New. DB, Bus, Segmentation and Ingestion are required.
type Options struct {
	// DB is opened by the caller (the "campaign" schema on PostgreSQL);
	// New runs the migrations.
	DB *sqldb.DB
	// Bus is connected by the caller; final delivery outcomes are
	// published on its deliveries stream.
	Bus *bus.Bus
	// Logger defaults to slog.Default(). The caller (servicecmd or the
	// suite) has already tagged it with service=campaign.
	Logger *slog.Logger
	// Segmentation and Ingestion are connections to those services, made
	// with platform/grpcclient so the caller's API key is forwarded.
	Segmentation grpc.ClientConnInterface
	Ingestion    grpc.ClientConnInterface
	// HTTPClient posts to webhooks; default a client with a 10s timeout,
	// which a client without a Timeout gets too. Redirects are never
	// followed, whatever the client says.
	HTTPClient *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
	// RetryBackoff is the wait after a delivery's first retryable failure;
	// it doubles per attempt (default 10s, at most 10 minutes between
	// attempts). Tests shorten it.
	RetryBackoff time.Duration
	// PollInterval is how often the dispatcher looks for due deliveries
	// when nothing wakes it; default 1s.
	PollInterval time.Duration
}

// Service is the campaign service.
type Service struct {
	server     *api.Server
	dispatcher *dispatch.Dispatcher
}

// New migrates the database, ensures the bus streams and returns the
// service. It starts nothing; see Run.
func New(ctx context.Context, opts Options) (*Service, error) {
	var missing []error
	if opts.DB == nil {
		missing = append(missing, errors.New("DB is required"))
	}
	if opts.Bus == nil {
		missing = append(missing, errors.New("Bus is required"))
	}
	if opts.Segmentation == nil {
		missing = append(missing, errors.New("Segmentation is required"))
	}
	if opts.Ingestion == nil {
		missing = append(missing, errors.New("Ingestion is required"))
	}
	if err := errors.Join(missing...); err != nil {
		return nil, fmt.Errorf("campaign: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	st, err := store.New(ctx, opts.DB)
	if err != nil {
		return nil, fmt.Errorf("campaign: %w", err)
	}
	if err := opts.Bus.EnsureStreams(ctx); err != nil {
		return nil, fmt.Errorf("campaign: %w", err)
	}
	sender := webhook.NewSender(opts.HTTPClient)
	// A lease must outlast the webhook call it covers, with room to record
	// the outcome, or a slow call would be made twice.
	lease := max(dispatch.DefaultLease, sender.Timeout()+30*time.Second)
	d := dispatch.New(dispatch.Config{
		Store:        st,
		Sender:       sender,
		Publisher:    outcomePublisher{bus: opts.Bus},
		Logger:       logger,
		Now:          now,
		RetryBackoff: opts.RetryBackoff,
		PollInterval: opts.PollInterval,
		Lease:        lease,
	})
	m := domain.NewManager(st, audience.New(opts.Segmentation, opts.Ingestion), now, d.Wake)
	return &Service{server: api.New(m), dispatcher: d}, nil
}

// Register adds CampaignService to srv.
func (s *Service) Register(srv *grpc.Server) {
	campaignv1.RegisterCampaignServiceServer(srv, s.server)
}

// Run runs the dispatcher until ctx ends: it sends pending deliveries of
// launched campaigns (8 at a time), retries failures with backoff, marks
// campaigns COMPLETED and publishes outcomes. On return, webhook calls in
// flight have finished and been recorded. Several replicas may run it at
// once against one database. It returns nil when ctx ends.
func (s *Service) Run(ctx context.Context) error {
	return s.dispatcher.Run(ctx)
}

// outcomePublisher publishes final delivery outcomes on the deliveries
// stream, subject deliveries.<workspace>.<campaign>, message id = delivery
// id so a re-publish after a crash is deduplicated.
//
// There is no protobuf message for a delivery outcome yet, so the payload
// is a google.protobuf.Struct with the fields below; it should become a
// kizuna.campaign.v1 message (see the service's report). status is the
// API's enum name, so consumers parse the values the API returns.
type outcomePublisher struct {
	bus *bus.Bus
}

func (p outcomePublisher) PublishOutcome(ctx context.Context, f dispatch.Final) error {
	fields := map[string]any{
		"delivery_id":   f.ID,
		"campaign_id":   f.CampaignID,
		"customer_id":   f.CustomerID,
		"workspace_id":  f.WorkspaceID,
		"segment_id":    f.SegmentID,
		"status":        api.DeliveryStatus(f.Status).String(),
		"attempts":      float64(f.Attempts),
		"response_code": float64(f.ResponseCode),
		"last_error":    f.LastError,
	}
	if !f.SendTime.IsZero() {
		fields["send_time"] = f.SendTime.UTC().Format(time.RFC3339Nano)
	}
	msg, err := structpb.NewStruct(fields)
	if err != nil {
		return fmt.Errorf("delivery %q outcome: %w", f.ID, err)
	}
	subject := p.bus.Subject(bus.KindDeliveries, f.WorkspaceID, f.CampaignID)
	return p.bus.Publish(ctx, subject, f.ID, msg)
}
