// Package suite runs every Kizuna service in one process — the `make run`
// mode, like Loki's -target=all — with each service behind its own gRPC
// listener and calls between them over real gRPC connections, exactly as
// when each runs in its own pod.
package suite

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/kizuna/kizuna/services/campaign"
	"github.com/kizuna/kizuna/services/gateway"
	"github.com/kizuna/kizuna/services/ingestion"
	"github.com/kizuna/kizuna/services/metrics"
	"github.com/kizuna/kizuna/services/platform/apikey"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/grpcclient"
	"github.com/kizuna/kizuna/services/platform/grpcserver"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/segmentation"
)

// Config configures the suite. Empty DatabaseURL and NATSURL select the
// embedded defaults: a SQLite file per service and an in-process NATS
// server, both under DataDir.
type Config struct {
	DataDir string
	// HTTPAddr serves REST, OpenAPI and health.
	HTTPAddr string
	// gRPC listen addresses of the services.
	IngestionAddr, SegmentationAddr, MetricsAddr, CampaignAddr string
	// DatabaseURL, when a postgres:// URL, puts every service in that
	// database, each in its own schema (SchemaPrefix + service name).
	DatabaseURL  string
	SchemaPrefix string
	// Durability is what an acknowledged write survives: "fast" (the
	// default) a crash of the process, "strict" also one of the operating
	// system (SQLite synchronous=FULL, the embedded JetStream syncing every
	// message). See docs/OPERATIONS.md.
	Durability sqldb.Durability
	// NATSURL, when set, uses that NATS JetStream instead of the embedded one.
	NATSURL   string
	BusPrefix string
	// DevAPIKey, when set, is made a valid key of the default workspace.
	DevAPIKey string
	AdminKey  string
	// ServiceSecret mints the service tokens background work uses; a
	// random one per process when empty (every service is in this one).
	ServiceSecret string
	// SecretKey seals channel secrets; when empty it is read from (or
	// created in) DataDir/secret.key.
	SecretKey string
	// PublicURL is the gateway's address in unsubscribe links; default
	// http://<HTTPAddr>.
	PublicURL string
	// CORSOrigins may call the REST API from a browser (gateway.Options).
	CORSOrigins []string
	// Campaign, when set, adjusts the campaign service's options (tests
	// shorten backoffs and trust their own SMTP server).
	Campaign func(*campaign.Options)
	Logger   *slog.Logger
	// MetricsHandler, when set, is served at GET /metrics on HTTPAddr.
	MetricsHandler http.Handler
}

// Addrs are where the suite listens, resolved (useful with ":0").
type Addrs struct {
	HTTP, Ingestion, Segmentation, Metrics, Campaign string
}

// Ready is told the resolved addresses and, on a first start without
// DevAPIKey, the key of the workspace it created.
type Ready func(addrs Addrs, newKey string)

// Run starts every service and blocks until ctx ends, then shuts down in
// order: stop accepting, drain in-flight work, flush the outbox, close.
func Run(ctx context.Context, cfg Config, ready Ready) (err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	var closers []func()
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()

	// Bus.
	var embedded *bus.Embedded
	if cfg.NATSURL == "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return fmt.Errorf("create data dir: %w", err)
		}
		embedded, err = bus.StartEmbedded(bus.Options{StoreDir: filepath.Join(cfg.DataDir, "nats"), SyncAlways: cfg.Durability == sqldb.DurabilityStrict})
		if err != nil {
			return err
		}
		closers = append(closers, embedded.Shutdown)
	}
	connectBus := func(name string) (*bus.Bus, error) {
		b, err := bus.Connect(ctx, bus.ConnectOptions{URL: cfg.NATSURL, Embedded: embedded, Prefix: cfg.BusPrefix, Name: name, Logger: log.With("service", name)})
		if err != nil {
			return nil, err
		}
		closers = append(closers, func() { _ = b.Close() })
		return b, nil
	}
	openDB := func(name string) (*sqldb.DB, error) {
		url := "sqlite:" + filepath.Join(cfg.DataDir, name+".db")
		if cfg.DatabaseURL != "" {
			url = cfg.DatabaseURL
		}
		db, err := sqldb.Open(ctx, sqldb.Options{URL: url, Schema: cfg.SchemaPrefix + name, Durability: cfg.Durability})
		if err != nil {
			return nil, fmt.Errorf("%s database: %w", name, err)
		}
		closers = append(closers, func() { _ = db.Close() })
		return db, nil
	}

	// Listeners first, so every service knows where the others are.
	names := []string{"ingestion", "segmentation", "metrics", "campaign"}
	addrs := map[string]string{"ingestion": cfg.IngestionAddr, "segmentation": cfg.SegmentationAddr, "metrics": cfg.MetricsAddr, "campaign": cfg.CampaignAddr}
	listeners := map[string]net.Listener{}
	conns := map[string]*grpc.ClientConn{}
	for _, name := range names {
		lis, err := grpcserver.Listen(addrs[name])
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		closers = append(closers, func() { _ = lis.Close() })
		listeners[name] = lis
		conn, err := grpcclient.Dial(dialAddr(lis.Addr()))
		if err != nil {
			return fmt.Errorf("dial %s: %w", name, err)
		}
		closers = append(closers, func() { _ = conn.Close() })
		conns[name] = conn
	}
	httpLis, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen for REST on %s: %w", cfg.HTTPAddr, err)
	}
	closers = append(closers, func() { _ = httpLis.Close() })

	// Services.
	type component struct {
		name     string
		register func(*grpc.Server)
		run      func(context.Context) error
		verifier auth.Verifier
		public   []string
	}
	secretValue := cfg.ServiceSecret
	if secretValue == "" {
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return fmt.Errorf("service secret: %w", err)
		}
		secretValue = hex.EncodeToString(b)
	}
	tokens, err := auth.NewServiceTokens([]byte(secretValue))
	if err != nil {
		return fmt.Errorf("service secret: %w", err)
	}
	var secretKey []byte
	if cfg.SecretKey != "" {
		if secretKey, err = campaign.ParseSecretKey(cfg.SecretKey); err != nil {
			return fmt.Errorf("secret key: %w", err)
		}
	} else if secretKey, err = campaign.LoadOrCreateSecretKey(filepath.Join(cfg.DataDir, "secret.key")); err != nil {
		return fmt.Errorf("secret key: %w", err)
	}
	remote := tokens.Verifier(apikey.NewCachedRemoteVerifier(conns["ingestion"]))
	var comps []component

	ingBus, err := connectBus("ingestion")
	if err != nil {
		return err
	}
	ingDB, err := openDB("ingestion")
	if err != nil {
		return err
	}
	ing, err := ingestion.New(ctx, ingestion.Options{DB: ingDB, Bus: ingBus, Logger: log.With("service", "ingestion"), AdminKey: cfg.AdminKey,
		DevDefaults: true})
	if err != nil {
		return err
	}
	comps = append(comps, component{"ingestion", func(s *grpc.Server) { ing.Register(s) }, ing.Run, tokens.Verifier(ing), ingestion.PublicMethods})

	segBus, err := connectBus("segmentation")
	if err != nil {
		return err
	}
	segDB, err := openDB("segmentation")
	if err != nil {
		return err
	}
	seg, err := segmentation.New(ctx, segmentation.Options{DB: segDB, Bus: segBus, Logger: log.With("service", "segmentation")})
	if err != nil {
		return err
	}
	comps = append(comps, component{"segmentation", seg.Register, seg.Run, remote, nil})

	metBus, err := connectBus("metrics")
	if err != nil {
		return err
	}
	metDB, err := openDB("metrics")
	if err != nil {
		return err
	}
	met, err := metrics.New(ctx, metrics.Options{DB: metDB, Bus: metBus, Logger: log.With("service", "metrics"),
		Segmentation: conns["segmentation"], Ingestion: conns["ingestion"]})
	if err != nil {
		return err
	}
	comps = append(comps, component{"metrics", met.Register, met.Run, remote, nil})

	cmpBus, err := connectBus("campaign")
	if err != nil {
		return err
	}
	cmpDB, err := openDB("campaign")
	if err != nil {
		return err
	}
	publicURL := cfg.PublicURL
	if publicURL == "" {
		publicURL = "http://" + dialAddr(httpLis.Addr())
	}
	cmpOpts := campaign.Options{DB: cmpDB, Bus: cmpBus, Logger: log.With("service", "campaign"),
		Segmentation: conns["segmentation"], Ingestion: conns["ingestion"], ServiceTokens: tokens, SecretKey: secretKey, PublicURL: publicURL}
	if cfg.Campaign != nil {
		cfg.Campaign(&cmpOpts)
	}
	cmp, err := campaign.New(ctx, cmpOpts)
	if err != nil {
		return err
	}
	comps = append(comps, component{"campaign", cmp.Register, cmp.Run, remote, campaign.PublicMethods})

	gw, err := gateway.New(ctx, gateway.Options{Ingestion: conns["ingestion"], Segmentation: conns["segmentation"],
		Metrics: conns["metrics"], Campaign: conns["campaign"], Logger: log.With("service", "gateway"),
		MetricsHandler: cfg.MetricsHandler, CORSOrigins: cfg.CORSOrigins})
	if err != nil {
		return err
	}

	newKey, err := ing.Bootstrap(ctx, cfg.DevAPIKey)
	if err != nil {
		return fmt.Errorf("bootstrap default workspace: %w", err)
	}

	// Shutdown runs in two stages: the gateway stops taking requests and
	// drains them while the services still answer; then the services drain
	// their own RPCs and background work.
	g, gctx := errgroup.WithContext(ctx)
	backends, stopBackends := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackends()
	g.Go(func() error {
		defer stopBackends()
		return gw.Serve(gctx, httpLis)
	})
	for _, c := range comps {
		srv := grpcserver.New(grpcserver.Options{Logger: log.With("service", c.name), Verifier: c.verifier, PublicMethods: c.public})
		c.register(srv.Server)
		lis := listeners[c.name]
		g.Go(func() error { return stopOnError(srv.Serve(backends, lis), stopBackends) })
		g.Go(func() error { return stopOnError(c.run(backends), stopBackends) })
	}

	resolved := Addrs{
		HTTP: httpLis.Addr().String(), Ingestion: listeners["ingestion"].Addr().String(), Segmentation: listeners["segmentation"].Addr().String(),
		Metrics: listeners["metrics"].Addr().String(), Campaign: listeners["campaign"].Addr().String(),
	}
	log.Info("kizuna is up", "rest", resolved.HTTP, "ingestion", resolved.Ingestion, "segmentation", resolved.Segmentation,
		"metrics", resolved.Metrics, "campaign", resolved.Campaign)
	if ready != nil {
		ready(resolved, newKey)
	}
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("kizuna stopped")
	return nil
}

// stopOnError stops the other backends when one fails.
func stopOnError(err error, stop func()) error {
	if err != nil {
		stop()
	}
	return err
}

// dialAddr turns a listener address into one a client can dial: a wildcard
// host becomes loopback.
func dialAddr(a net.Addr) string {
	if tcp, ok := a.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", strconv.Itoa(tcp.Port))
	}
	return a.String()
}
