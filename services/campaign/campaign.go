// Package campaign is the Kizuna campaign service: journeys (event-,
// segment- and broadcast-entered step sequences over e-mail, LINE and
// webhooks, with consent, frequency caps and quiet hours), the channels they
// send on, and one-shot webhook campaigns, which run as broadcast journeys.
//
// The suite and the service's own command wire it the same way:
//
//	svc, err := campaign.New(ctx, campaign.Options{DB: db, Bus: b, Segmentation: segConn, Ingestion: ingConn})
//	svc.Register(grpcServer)
//	go svc.Run(ctx) // the journey runner and sender, until ctx ends
//
// A send whose outcome was not recorded (a crash, a lost lease) is made
// again with the same idempotency key towards its channel (the webhook's
// Idempotency-Key, LINE's X-Line-Retry-Key, the e-mail Message-ID), so the
// receiver can drop the duplicate. Each final outcome is published on the
// deliveries stream.
package campaign

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/campaign/internal/api"
	domain "github.com/kizuna/kizuna/services/campaign/internal/campaign"
	"github.com/kizuna/kizuna/services/campaign/internal/channel"
	"github.com/kizuna/kizuna/services/campaign/internal/email"
	"github.com/kizuna/kizuna/services/campaign/internal/launch"
	"github.com/kizuna/kizuna/services/campaign/internal/line"
	"github.com/kizuna/kizuna/services/campaign/internal/netguard"
	"github.com/kizuna/kizuna/services/campaign/internal/peers"
	"github.com/kizuna/kizuna/services/campaign/internal/runner"
	"github.com/kizuna/kizuna/services/campaign/internal/secret"
	"github.com/kizuna/kizuna/services/campaign/internal/sender"
	"github.com/kizuna/kizuna/services/campaign/internal/store"
	"github.com/kizuna/kizuna/services/campaign/internal/unsub"
	"github.com/kizuna/kizuna/services/campaign/internal/webhook"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/outbox"
	"github.com/kizuna/kizuna/services/platform/prune"
	"github.com/kizuna/kizuna/services/platform/regulation"
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
	// Now is the clock; default time.Now.
	Now func() time.Time
	// RetryBackoff is the wait after a send's first retryable failure;
	// it doubles per attempt (default 10s, at most 10 minutes between
	// attempts). Tests shorten it.
	RetryBackoff time.Duration
	// PollInterval is how often the journey runner and the
	// sender look for due work when nothing wakes them; default 1s.
	PollInterval time.Duration
	// ServiceTokens lets background work (journey steps, sends, LINE
	// webhooks, unsubscribes) act as a workspace towards ingestion and
	// segmentation. Required.
	ServiceTokens *auth.ServiceTokens
	// SecretKey (32 bytes) seals channel secrets and signs unsubscribe
	// links. Required.
	SecretKey []byte
	// PublicURL is the gateway's address as customers reach it, for
	// unsubscribe links; default http://localhost:8080.
	PublicURL string
	// EmailTLS, when set, is the TLS configuration of SMTP connections
	// (tests trust their own server with it).
	EmailTLS *tls.Config
	// Transport, when set, replaces the guarded transport of webhook and
	// LINE calls (tests only; production keeps the SSRF guard).
	Transport func() http.RoundTripper
	// LineBackoff is the first wait after a retryable LINE answer; default
	// that of package line. Tests shorten it.
	LineBackoff time.Duration
	// LeaseTTL is the TTL of the outbox relay's lease; lease.DefaultTTL
	// when zero.
	LeaseTTL time.Duration
}

// PublicMethods are the RPCs that authenticate by their own credential
// (a LINE signature, a signed unsubscribe token) rather than an API key.
var PublicMethods = []string{
	campaignv1.ChannelService_ReceiveLineWebhook_FullMethodName,
	campaignv1.ConsentService_Unsubscribe_FullMethodName,
}

// Service is the campaign service.
type Service struct {
	server   *api.Server
	journeys *api.JourneyServer
	store    *store.Store
	runner   *runner.Runner
	sender   *sender.Sender
	email    *email.Sender
	bus      *bus.Bus
	outcomes *outbox.Relay
	prune    *prune.Job
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
	if opts.ServiceTokens == nil {
		missing = append(missing, errors.New("ServiceTokens is required"))
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
	box, err := secret.NewBox(opts.SecretKey)
	if err != nil {
		return nil, fmt.Errorf("campaign: secret key: %w", err)
	}
	signer, err := unsub.NewSigner(box.Derive("unsubscribe-links"))
	if err != nil {
		return nil, fmt.Errorf("campaign: %w", err)
	}
	pc := peers.New(opts.ServiceTokens, opts.Ingestion, opts.Segmentation)
	channels := channel.NewManager(st, box, func(ctx context.Context, ws string) (netguard.Policy, error) {
		set, err := pc.Settings(ctx, ws)
		if err != nil {
			return netguard.Policy{}, err
		}
		return netguard.Policy{AllowLoopback: set.AllowLoopback, AllowPrivate: set.AllowPrivate}, nil
	}, now)
	cache := runner.NewCache(st)
	mail := email.NewSender(email.Options{TLSConfig: opts.EmailTLS})
	publicURL := opts.PublicURL
	if publicURL == "" {
		publicURL = "http://localhost:8080"
	}
	// Final outcomes are published by one relay across replicas.
	var outcomes *outbox.Relay
	pub := sendPublisher{bus: opts.Bus}
	outcomes = outbox.New(outbox.Options{Name: "campaign", DB: opts.DB, Logger: logger, LeaseTTL: opts.LeaseTTL, Backlog: st.UnpublishedBacklog,
		Pass: func(ctx context.Context) error { return publishOutcomes(ctx, st, pub) }})
	snd := sender.New(sender.Config{
		Store: st, Journeys: cache, Channels: channels, Peers: pc, Recorded: func() { outcomes.Wake() },
		Email: mail,
		Line: func(c *http.Client) *line.Client {
			return line.NewClient(line.Options{HTTPClient: c, BaseBackoff: opts.LineBackoff})
		},
		Webhook:      webhook.NewSender,
		Transport:    opts.Transport,
		Unsub:        signer,
		PublicURL:    publicURL,
		Logger:       logger,
		Now:          now,
		RetryBackoff: opts.RetryBackoff,
		PollInterval: opts.PollInterval,
	})
	run := runner.New(runner.Config{Store: st, Cache: cache, Peers: pc, Logger: logger, Now: now, WakeSends: snd.Wake, PollInterval: opts.PollInterval})
	js := api.NewJourneyServer(api.JourneyOptions{Store: st, Channels: channels, Tracker: pc, Unsub: signer, Now: now, Wake: run.Wake})
	m := domain.NewManager(st, &launch.Launcher{Store: st, Channels: channels, Segments: pc}, now, run.Wake)
	return &Service{server: api.New(m), journeys: js, store: st, runner: run, sender: snd, email: mail, bus: opts.Bus, outcomes: outcomes,
		prune: prune.New(opts.DB, "campaign", prune.Options{Now: now, Logger: logger}, st.PruneTask())}, nil
}

// Register adds CampaignService to srv.
func (s *Service) Register(srv *grpc.Server) {
	campaignv1.RegisterCampaignServiceServer(srv, s.server)
	campaignv1.RegisterJourneyServiceServer(srv, s.journeys)
	campaignv1.RegisterChannelServiceServer(srv, s.journeys)
	campaignv1.RegisterConsentServiceServer(srv, s.journeys)
}

// Run consumes the events and membership streams for journeys (durable
// consumers "campaign-journeys"), enrols broadcasts (campaigns among
// them), runs due journey steps and sends due messages, retrying failures
// with backoff and publishing final outcomes, until ctx ends; it then
// returns nil. On return, calls in flight have finished and been recorded.
// Several replicas may run it at once against one database.
func (s *Service) Run(ctx context.Context) error {
	defer s.email.Close()
	for _, c := range []bus.Consumer{
		{Kind: bus.KindEvents, Durable: "campaign-journeys", Handler: s.handleEvent, BatchHandler: s.handleEvents},
		{Kind: bus.KindMembership, Durable: "campaign-journeys", Handler: s.runner.HandleMembership, BatchHandler: s.runner.HandleMemberships},
	} {
		stop, err := s.bus.Consume(ctx, c)
		if err != nil {
			return fmt.Errorf("campaign: %w", err)
		}
		defer stop()
	}
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.runner.Run(ctx) })
	g.Go(func() error { return s.sender.Run(ctx) })
	g.Go(func() error { s.prune.Run(ctx); return nil })
	// The relay stops with the process's context, not the group's: its
	// final pass publishes what the sender recorded while draining.
	outcomesDone := make(chan error, 1)
	relayCtx, stopRelay := context.WithCancel(context.WithoutCancel(ctx))
	go func() { outcomesDone <- s.outcomes.Run(relayCtx) }()
	err := g.Wait()
	stopRelay()
	return errors.Join(err, <-outcomesDone)
}

// handleEvent is handleEvents for one message.
func (s *Service) handleEvent(ctx context.Context, m bus.Message) error {
	return s.handleEvents(ctx, []bus.Message{m})
}

// handleEvents hands the journey runner its events, then applies the
// data-rights regulations among them, in stream order after the events
// before them.
func (s *Service) handleEvents(ctx context.Context, ms []bus.Message) error {
	if err := s.runner.HandleEvents(ctx, ms); err != nil {
		return err
	}
	for _, m := range ms {
		// Ingestion publishes regulations under the subject kind
		// "regulation": other messages need no second decoding.
		if !strings.HasSuffix(m.Subject, ".regulation") {
			continue
		}
		var msg ingestionv1.IngestionBusMessage
		if err := m.Unmarshal(&msg); err != nil {
			return err
		}
		if r := msg.GetRegulationRequested(); r != nil {
			if err := s.applyRegulation(ctx, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// applyRegulation erases the person's journeys, sends and consents on a
// DELETE, ends their journeys on a SUPPRESS (the sender skips what is
// planned, reading the profile's suppressed flag), and reports back.
func (s *Service) applyRegulation(ctx context.Context, r *ingestionv1.RegulationRequested) error {
	var rows int64
	now := time.Now()
	if r.GetType() != ingestionv1.RegulationType_UNSUPPRESS {
		err := s.store.InTx(ctx, now, func(t *store.Tx) error {
			var err error
			rows, err = t.ApplyRegulation(ctx, r.GetWorkspaceId(), "regulation:"+r.GetRegulationId(), r.GetCustomerIds(), regulation.Erases(r))
			return err
		})
		if err != nil {
			return fmt.Errorf("apply regulation %s: %w", r.GetRegulationId(), err)
		}
	}
	return regulation.Report(ctx, s.bus, "campaign", r, rows, now)
}

// sendPublisher publishes final send outcomes on the deliveries stream,
// subject deliveries.<workspace>.<journey>, message id = send id.
type sendPublisher struct {
	bus *bus.Bus
}

func (p sendPublisher) PublishSend(ctx context.Context, sd store.Send) error {
	return p.bus.Publish(ctx, p.bus.Subject(bus.KindDeliveries, sd.WorkspaceID, sd.JourneyID), sd.ID, api.SendOutcome(sd))
}

// publishBatch is how many outcomes one step of the relay publishes.
const publishBatch = 500

// publishOutcomes puts final outcomes on the bus until none is left
// unpublished or a publish fails (what failed stays for the next pass).
// Publishing twice is harmless: the bus deduplicates on the send id.
func publishOutcomes(ctx context.Context, st *store.Store, pub sendPublisher) error {
	for {
		sds, err := st.UnpublishedSends(ctx, publishBatch)
		if err != nil {
			return err
		}
		n := 0
		var pubErr error
		for _, sd := range sds {
			if pubErr = pub.PublishSend(ctx, sd); pubErr != nil {
				pubErr = fmt.Errorf("publish send outcome %s: %w", sd.ID, pubErr)
				break
			}
			n++
		}
		if n > 0 {
			if err := st.MarkSendsPublished(ctx, sds[:n]); err != nil {
				return errors.Join(pubErr, err)
			}
		}
		if pubErr != nil || len(sds) < publishBatch {
			return pubErr
		}
	}
}

// ParseSecretKey reads a KIZUNA_SECRET_KEY value: 32 bytes as base64 or 64
// hex digits.
func ParseSecretKey(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("is empty: set KIZUNA_SECRET_KEY to 32 random bytes (e.g. `openssl rand -base64 32`)")
	}
	return secret.ParseKey(s)
}

// LoadOrCreateSecretKey reads the key file at path, creating it with a new
// random key (mode 0600) on first use; `make run` keeps it in the data dir.
func LoadOrCreateSecretKey(path string) ([]byte, error) {
	return secret.LoadOrCreateKeyFile(path)
}
