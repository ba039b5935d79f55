// Package suite runs Kizuna's services in one process — the `make run`
// mode, like Loki's -target=all and Temporal's `server start --service` —
// with each service behind its own gRPC listener and calls between them over
// real gRPC connections, exactly as when each runs in its own pod. It runs
// any subset (Config.Services) of the services' own servicecmd.Specs: the
// wiring of a service lives in its module, once.
package suite

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/kizuna/kizuna/services/campaign"
	"github.com/kizuna/kizuna/services/gateway"
	"github.com/kizuna/kizuna/services/ingestion"
	"github.com/kizuna/kizuna/services/metrics"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/config"
	"github.com/kizuna/kizuna/services/platform/grpcclient"
	"github.com/kizuna/kizuna/services/platform/grpcserver"
	"github.com/kizuna/kizuna/services/platform/servicecmd"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/segmentation"
)

// Services are the names Config.Services and `kizuna run --services` take,
// in start order; "all" means every one.
var Services = []string{"ingestion", "segmentation", "metrics", "campaign", "gateway"}

// ParseServices reads a --services value: "all" or a comma-separated
// subset of Services.
func ParseServices(v string) ([]string, error) {
	if strings.TrimSpace(v) == "" || strings.TrimSpace(v) == "all" {
		return slices.Clone(Services), nil
	}
	var out []string
	for _, name := range strings.Split(v, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(Services, name) {
			return nil, fmt.Errorf("unknown service %q (want all or some of %s)", name, strings.Join(Services, ","))
		}
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out, nil
}

// Config configures the suite. Empty DatabaseURL and NATSURL select the
// embedded defaults: a SQLite file per service and an in-process NATS
// server, both under DataDir.
type Config struct {
	DataDir string
	// Services to run here (names from Services); empty means all. The
	// others are reached at Targets.
	Services []string
	// Targets are the gRPC addresses of services run elsewhere, by name
	// (default localhost:<config.DefaultPorts[name]>).
	Targets map[string]string
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
	// random one per process when empty (fine while every service is in
	// this one; processes running parts of one deployment must share it).
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
	// LeaseTTL is the services' servicecmd.Env.LeaseTTL.
	LeaseTTL time.Duration
}

// specs are the gRPC services' own Specs, as their binaries run them.
func specs(cfg Config) []servicecmd.Spec {
	return []servicecmd.Spec{ingestion.Spec(), segmentation.Spec(), metrics.Spec(), campaign.Spec(cfg.Campaign)}
}

// serviceFlags are the values of the Specs' own flags the suite's Config
// sets, by flag name; empty values keep the flag's default.
func serviceFlags(cfg Config, publicURL string) map[string]string {
	return map[string]string{"admin-key": cfg.AdminKey, "dev-api-key": cfg.DevAPIKey, "secret-key": cfg.SecretKey, "public-url": publicURL}
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

	services := cfg.Services
	if len(services) == 0 {
		services = Services
	}
	local := func(name string) bool { return slices.Contains(services, name) }

	// The service secret signs the tokens services act as a workspace
	// with; a process has one even when none is configured.
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

	// Listeners first, so every service knows where the others are; the
	// services run elsewhere are dialled at their targets.
	addrs := map[string]string{"ingestion": cfg.IngestionAddr, "segmentation": cfg.SegmentationAddr, "metrics": cfg.MetricsAddr, "campaign": cfg.CampaignAddr}
	listeners := map[string]net.Listener{}
	conns := map[string]*grpc.ClientConn{}
	for _, spec := range specs(cfg) {
		name := spec.Name
		target := cfg.Targets[name]
		if target == "" {
			target = "localhost:" + config.DefaultPorts[name]
		}
		if local(name) {
			lis, err := grpcserver.Listen(addrs[name])
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			closers = append(closers, func() { _ = lis.Close() })
			listeners[name] = lis
			target = dialAddr(lis.Addr())
		}
		// The gateway shares these connections: its calls carry no
		// authenticated principal and so are forwarded as they are.
		conn, err := grpcclient.Dial(target, servicecmd.ActAsCallerDialOptions(tokens)...)
		if err != nil {
			return fmt.Errorf("dial %s: %w", name, err)
		}
		closers = append(closers, func() { _ = conn.Close() })
		conns[name] = conn
	}
	var httpLis net.Listener
	publicURL := cfg.PublicURL
	if local("gateway") {
		if httpLis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			return fmt.Errorf("listen for REST on %s: %w", cfg.HTTPAddr, err)
		}
		closers = append(closers, func() { _ = httpLis.Close() })
		if publicURL == "" {
			publicURL = "http://" + dialAddr(httpLis.Addr())
		}
	}

	// Services.
	var newKey string
	dev := &servicecmd.Dev{DataDir: cfg.DataDir, NewAPIKey: func(key string) { newKey = key }}
	type component struct {
		name string
		srv  *grpcserver.Server
		svc  servicecmd.Service
	}
	var comps []component
	for _, spec := range specs(cfg) {
		if !local(spec.Name) {
			continue
		}
		if err := setFlags(spec, serviceFlags(cfg, publicURL)); err != nil {
			return err
		}
		slogger := log.With("service", spec.Name)
		b, err := connectBus(spec.Name)
		if err != nil {
			return err
		}
		db, err := openDB(spec.Name)
		if err != nil {
			return err
		}
		env := &servicecmd.Env{Logger: slogger, DB: db, Bus: b, Conns: conns, ServiceTokens: tokens, Dev: dev, LeaseTTL: cfg.LeaseTTL}
		srv, svc, err := servicecmd.NewServer(ctx, spec, env, grpcserver.Options{Logger: slogger})
		if err != nil {
			return fmt.Errorf("%s: %w", spec.Name, err)
		}
		comps = append(comps, component{spec.Name, srv, svc})
	}

	var gw *gateway.Gateway
	if local("gateway") {
		gw, err = gateway.New(ctx, gateway.Options{Ingestion: conns["ingestion"], Segmentation: conns["segmentation"],
			Metrics: conns["metrics"], Campaign: conns["campaign"], Logger: log.With("service", "gateway"),
			MetricsHandler: cfg.MetricsHandler, CORSOrigins: cfg.CORSOrigins})
		if err != nil {
			return err
		}
	}

	// Shutdown runs in two stages: the gateway stops taking requests and
	// drains them while the services still answer; then the services drain
	// their own RPCs and background work.
	g, gctx := errgroup.WithContext(ctx)
	backends, stopBackends := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackends()
	if gw != nil {
		g.Go(func() error {
			defer stopBackends()
			return gw.Serve(gctx, httpLis)
		})
	} else {
		// No gateway to drain first: the services stop with ctx.
		g.Go(func() error {
			<-gctx.Done()
			stopBackends()
			return nil
		})
	}
	for _, c := range comps {
		lis := listeners[c.name]
		g.Go(func() error { return stopOnError(c.srv.Serve(backends, lis), stopBackends) })
		g.Go(func() error { return stopOnError(c.svc.Run(backends), stopBackends) })
	}

	addrOf := func(l net.Listener) string {
		if l == nil {
			return ""
		}
		return l.Addr().String()
	}
	resolved := Addrs{
		HTTP: addrOf(httpLis), Ingestion: addrOf(listeners["ingestion"]), Segmentation: addrOf(listeners["segmentation"]),
		Metrics: addrOf(listeners["metrics"]), Campaign: addrOf(listeners["campaign"]),
	}
	log.Info("kizuna is up", "services", strings.Join(services, ","), "rest", resolved.HTTP, "ingestion", resolved.Ingestion, "segmentation", resolved.Segmentation,
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

// setFlags registers spec's own flags on a flag set that reads no
// environment (the suite's Config is the configuration) and sets those
// values gives.
func setFlags(spec servicecmd.Spec, values map[string]string) error {
	if spec.Flags == nil {
		return nil
	}
	fs := config.NewFlagSetEnv(spec.Name, func(string) (string, bool) { return "", false })
	fs.SetOutput(io.Discard)
	spec.Flags(fs)
	var args []string
	fs.VisitAll(func(f *flag.Flag) {
		if v := values[f.Name]; v != "" {
			args = append(args, "-"+f.Name+"="+v)
		}
	})
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%s: %w", spec.Name, err)
	}
	return nil
}
