// Package ingestion is the ingestion service: it accepts Segment-compatible
// tracking calls, resolves every touchpoint to one customer, owns the
// customer profiles, workspaces and API keys, and publishes what it stored
// on the bus for the other services.
package ingestion

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"

	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	"github.com/kizuna/kizuna/services/ingestion/internal/api"
	"github.com/kizuna/kizuna/services/ingestion/internal/dedupe"
	"github.com/kizuna/kizuna/services/ingestion/internal/imports"
	"github.com/kizuna/kizuna/services/ingestion/internal/ingest"
	"github.com/kizuna/kizuna/services/ingestion/internal/rights"
	"github.com/kizuna/kizuna/services/ingestion/internal/store"
	"github.com/kizuna/kizuna/services/ingestion/internal/workspace"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/outbox"
	"github.com/kizuna/kizuna/services/platform/prune"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// PublicMethods are the RPCs that authenticate by themselves; pass them to
// the gRPC server's auth interceptor.
var PublicMethods = api.PublicMethods

// Scopes names the key scopes that allow each of ingestion's other RPCs;
// pass it to the gRPC server's auth interceptor.
var Scopes = api.Scopes

// Options configure the service.
type Options struct {
	DB     *sqldb.DB
	Bus    *bus.Bus
	Logger *slog.Logger
	// AdminKey allows CreateWorkspace; empty disables it.
	AdminKey string
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// DevDefaults makes the default workspace Bootstrap creates allow
	// loopback URLs (allow_loopback_urls), so that local development can
	// send to SMTP, LINE and webhook fakes on 127.0.0.1. The all-in-one
	// `make run` suite sets it. It changes no existing workspace, and no
	// workspace created any other way.
	DevDefaults bool
	// LeaseTTL is the TTL of the outbox relay's lease; lease.DefaultTTL
	// when zero.
	LeaseTTL time.Duration
	// ServiceTokens are the deployment's service tokens (nil without a
	// service secret): VerifyAPIKey answers only callers presenting one,
	// or, without them, only a key verifying itself.
	ServiceTokens *auth.ServiceTokens
}

// Service is the ingestion service.
type Service struct {
	opts   Options
	store  *store.Store
	server *api.Server
	dedupe *dedupe.Service
	relay  *outbox.Relay
	prune  *prune.Job
	// imports runs bulk import jobs.
	imports *imports.Runner
}

var _ auth.Verifier = (*Service)(nil)

// New migrates the database and returns the service.
func New(ctx context.Context, opts Options) (*Service, error) {
	if opts.DB == nil || opts.Bus == nil {
		return nil, errors.New("ingestion: DB and Bus are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := opts.Bus.EnsureStreams(ctx); err != nil {
		return nil, fmt.Errorf("ingestion: %w", err)
	}
	st, err := store.Open(ctx, opts.DB)
	if err != nil {
		return nil, err
	}
	s := &Service{opts: opts, store: st}
	in := ingest.New(store.For[ingest.Tx](st), opts.Now, s.wake)
	s.dedupe = dedupe.New(store.For[dedupe.Tx](st), opts.Now, opts.Logger, s.wake)
	s.relay = outbox.New(outbox.Options{Name: "ingestion", DB: opts.DB, LeaseTTL: opts.LeaseTTL, Pass: s.relayAll, Backlog: st.OutboxBacklog, Logger: opts.Logger,
		Stopping: s.dedupe.Close, MinGap: relayMinGap})
	// Regulations are queued on the outbox, which the relay's tick picks
	// up within a quarter of a second.
	rg := rights.New(store.For[rights.Tx](st), opts.Now, func() {})
	s.server = api.NewServer(in, st, s.dedupe, rg, opts.Now, opts.AdminKey)
	s.server.SetServiceTokens(opts.ServiceTokens)
	s.prune = prune.New(opts.DB, "ingestion", prune.Options{Now: opts.Now, Logger: opts.Logger},
		prune.Task{Name: "events", Run: st.PruneEvents})
	s.imports = s.server.StartImports(opts.Logger, imports.Options{})
	return s, nil
}

// Register registers ingestion's gRPC services on srv.
func (s *Service) Register(srv *grpc.Server) { s.server.Register(srv) }

// VerifyKey authenticates an API key against the key table: its workspace
// and scopes. A revoked key fails at once.
func (s *Service) VerifyKey(ctx context.Context, key string) (auth.Principal, error) {
	return s.store.VerifyKey(ctx, key)
}

// Bootstrap makes sure a development workspace exists. With key set (from
// KIZUNA_DEV_API_KEY) that key is made valid; otherwise a workspace with a
// new random key is created when there is none. It returns the key when it
// created one, so the caller can print it; existing keys cannot be shown
// again (only hashes are stored). A workspace it creates has the defaults
// of any new workspace, and allows loopback URLs when Options.DevDefaults
// is set.
func (s *Service) Bootstrap(ctx context.Context, key string) (created string, err error) {
	if key != "" {
		if _, err := s.VerifyKey(ctx, key); err == nil {
			return "", nil
		} else if !errors.Is(err, auth.ErrUnauthenticated) {
			return "", err
		}
		if revoked, err := s.store.KeyRevoked(ctx, key); err != nil {
			return "", err
		} else if revoked {
			return "", errors.New("the dev API key (KIZUNA_DEV_API_KEY) was revoked: choose another")
		}
		_, key, err := api.CreateWorkspace(ctx, s.store, s.defaultWorkspace(), key, s.opts.Now())
		return key, err
	}
	n, err := s.store.CountWorkspaces(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	_, key, err = api.CreateWorkspace(ctx, s.store, s.defaultWorkspace(), "", s.opts.Now())
	return key, err
}

// defaultWorkspace is the workspace Bootstrap creates: the defaults of a
// new workspace, with loopback URLs allowed under Options.DevDefaults.
func (s *Service) defaultWorkspace() workspace.Workspace {
	return workspace.Workspace{DisplayName: "default", AllowLoopbackURLs: s.opts.DevDefaults}
}

func (s *Service) wake() { s.relay.Wake() }

// busMessageType names the payload of every outbox row.
var busMessageType = string((&ingestionv1.IngestionBusMessage{}).ProtoReflect().Descriptor().FullName())

// relayBatch is how many outbox rows the relay reads and publishes at a
// time.
const relayBatch = 1000

// relayMinGap spaces the relay's passes (outbox.Options.MinGap). Under
// single tracking calls the group writer commits a few requests at a time,
// hundreds of times a second, and a pass per commit (a read, a publish and
// a delete transaction competing with the writer) cost 7 % of the suite's
// CPU; one pass per 10 ms carries the same events in fewer, larger
// batches; a consumer's batch takes a pass's burst whole (bus.DefaultLingerGap).
const relayMinGap = 10 * time.Millisecond

// Run relays the outbox to the bus until ctx ends (on one replica at a
// time; see outbox.Relay), then makes a last pass so that what was stored
// before shutdown is published.
func (s *Service) Run(ctx context.Context) error {
	stopReports, err := s.opts.Bus.Consume(ctx, bus.Consumer{
		Kind: bus.KindRegulations, Durable: RegulationsConsumer, Handler: s.regulationApplied,
	})
	if err != nil {
		return fmt.Errorf("ingestion: %w", err)
	}
	defer stopReports()
	// Raw events past their workspace's retention are deleted hourly,
	// on one replica.
	pctx, stopPrune := context.WithCancel(ctx)
	pruned := make(chan struct{})
	go func() { defer close(pruned); s.prune.Run(pctx) }()
	defer func() { stopPrune(); <-pruned }()
	// Import jobs run beside the relay; one cut off by shutdown is
	// released for the next process to resume.
	ictx, stopImports := context.WithCancel(ctx)
	imported := make(chan struct{})
	go func() {
		defer close(imported)
		_ = s.imports.Run(ictx)
	}()
	err = s.relay.Run(ctx)
	stopImports()
	<-imported
	return err
}

// RegulationsConsumer is the durable consumer of the regulations stream,
// where the other services report the regulations they applied.
const RegulationsConsumer = "ingestion-regulations"

// regulationApplied records one service's report; a repeated one changes
// nothing.
func (s *Service) regulationApplied(ctx context.Context, m bus.Message) error {
	var r ingestionv1.RegulationApplied
	if err := m.Unmarshal(&r); err != nil {
		return err
	}
	at := s.opts.Now()
	if r.GetApplyTime() != nil {
		at = r.GetApplyTime().AsTime()
	}
	return s.store.ReportRegulation(ctx, r.GetWorkspaceId(), r.GetRegulationId(), r.GetService(), r.GetAffectedRows(), at)
}

// relayAll publishes the outbox until it is empty (see outbox.Drain).
func (s *Service) relayAll(ctx context.Context) error {
	return outbox.Drain(ctx, outbox.Stream[store.OutboxMessage]{
		Read:    s.store.PendingOutbox,
		Seq:     func(m store.OutboxMessage) int64 { return m.Seq },
		Publish: s.publishOutbox,
		Delete:  s.store.DeleteOutbox,
		Batch:   relayBatch,
	})
}

// publishOutbox publishes outbox rows in order and returns how many the bus
// acknowledged.
func (s *Service) publishOutbox(ctx context.Context, msgs []store.OutboxMessage) (int, error) {
	out := make([]bus.Outgoing, len(msgs))
	for i, m := range msgs {
		out[i] = bus.Outgoing{
			Ctx:     bus.DecodeTrace(ctx, m.TraceContext), // in the request's trace
			Subject: s.opts.Bus.Subject(bus.KindEvents, m.WorkspaceID, m.Kind),
			// Event ids are unique per workspace only, and JetStream
			// deduplicates across the stream: qualify the id.
			MsgID: m.WorkspaceID + "/" + m.MsgID, TypeName: busMessageType, Data: m.Payload,
		}
	}
	return s.opts.Bus.PublishBatch(ctx, out)
}
