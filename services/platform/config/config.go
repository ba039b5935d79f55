// Package config reads service configuration from command-line flags with
// KIZUNA_* environment variables as fallbacks: an explicit flag beats the
// environment, which beats the built-in default. Kubernetes manifests set
// env vars; humans pass flags. It also holds what every Kizuna binary does
// on start and exit (Common, Exit), so that the gateway, which links no
// database or bus, shares it with the services.
package config

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kizuna/kizuna/services/platform/telemetry"
)

// DefaultPorts are the gRPC ports the services listen on by default, and
// where the others look for them (localhost:<port>).
var DefaultPorts = map[string]string{"ingestion": "50051", "segmentation": "50052", "metrics": "50053", "campaign": "50054"}

// ErrUsage marks errors in the command line or the environment, which Exit
// reports with status 2.
var ErrUsage = errors.New("usage error")

// usageError is an error that also matches ErrUsage, with err's message.
type usageError struct{ err error }

// Usage marks err as a usage error (exit status 2): a bad flag value
// found after parsing.
func Usage(err error) error { return usageError{err} }

func (e usageError) Error() string   { return e.err.Error() }
func (e usageError) Unwrap() []error { return []error{ErrUsage, e.err} }

// FlagSet wraps flag.FlagSet so each flag's default comes from an
// environment variable when set. lookupEnv is os.LookupEnv outside tests.
type FlagSet struct {
	*flag.FlagSet
	lookupEnv func(string) (string, bool)
	errs      []error
}

// NewFlagSet returns a FlagSet named name reading the process environment.
func NewFlagSet(name string) *FlagSet {
	return NewFlagSetEnv(name, os.LookupEnv)
}

// NewFlagSetEnv is NewFlagSet with an explicit environment, for tests.
func NewFlagSetEnv(name string, lookupEnv func(string) (string, bool)) *FlagSet {
	return &FlagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), lookupEnv: lookupEnv}
}

// Parse parses args (usually os.Args[1:]) after reporting any environment
// variable that could not be parsed. Its errors match ErrUsage, and
// flag.ErrHelp after -help.
func (fs *FlagSet) Parse(args []string) error {
	if len(fs.errs) > 0 {
		return usageError{fmt.Errorf("config: %w", fs.errs[0])}
	}
	if err := fs.FlagSet.Parse(args); err != nil {
		return usageError{fmt.Errorf("config: %w", err)}
	}
	return nil
}

// env returns the environment value for envVar, or def.
func (fs *FlagSet) env(envVar, def string) string {
	if v, ok := fs.lookupEnv(envVar); ok && envVar != "" {
		return v
	}
	return def
}

func (fs *FlagSet) usage(envVar, usage string) string {
	if envVar == "" {
		return usage
	}
	return usage + " (env " + envVar + ")"
}

// StringVar registers a string flag stored in p whose default comes from
// envVar when set.
func (fs *FlagSet) StringVar(p *string, name, envVar, def, usage string) {
	fs.FlagSet.StringVar(p, name, fs.env(envVar, def), fs.usage(envVar, usage))
}

// String registers a string flag whose default comes from envVar when set.
func (fs *FlagSet) String(name, envVar, def, usage string) *string {
	p := new(string)
	fs.StringVar(p, name, envVar, def, usage)
	return p
}

// Int registers an int flag whose default comes from envVar when set.
func (fs *FlagSet) Int(name, envVar string, def int, usage string) *int {
	s := fs.env(envVar, strconv.Itoa(def))
	v, err := strconv.Atoi(s)
	if err != nil {
		fs.errs = append(fs.errs, fmt.Errorf("%s=%q: %w", envVar, s, err))
	}
	return fs.FlagSet.Int(name, v, fs.usage(envVar, usage))
}

// Bool registers a bool flag whose default comes from envVar when set.
func (fs *FlagSet) Bool(name, envVar string, def bool, usage string) *bool {
	p := new(bool)
	fs.BoolVar(p, name, envVar, def, usage)
	return p
}

// BoolVar registers a bool flag stored in p whose default comes from
// envVar when set.
func (fs *FlagSet) BoolVar(p *bool, name, envVar string, def bool, usage string) {
	s := fs.env(envVar, strconv.FormatBool(def))
	v, err := strconv.ParseBool(s)
	if err != nil {
		fs.errs = append(fs.errs, fmt.Errorf("%s=%q: %w", envVar, s, err))
	}
	fs.FlagSet.BoolVar(p, name, v, fs.usage(envVar, usage))
}

// Duration registers a duration flag whose default comes from envVar when set.
func (fs *FlagSet) Duration(name, envVar string, def time.Duration, usage string) *time.Duration {
	s := fs.env(envVar, def.String())
	v, err := time.ParseDuration(s)
	if err != nil {
		fs.errs = append(fs.errs, fmt.Errorf("%s=%q: %w", envVar, s, err))
	}
	return fs.FlagSet.Duration(name, v, fs.usage(envVar, usage))
}

// Common holds the settings every Kizuna binary shares.
type Common struct {
	LogLevel     string
	LogFormat    string
	OTLPEndpoint string
	// PrometheusAddr is where Start serves /metrics (Prometheus); empty
	// serves it nowhere (the caller may mount MetricsHandler itself).
	PrometheusAddr string
	// PprofAddr is where Start serves Go's /debug/pprof/ profiles; empty
	// (the default) serves them nowhere. Profiles show internals, so the
	// address should be reachable only by operators (localhost, a port
	// not exposed by any Service).
	PprofAddr string

	metrics http.Handler
}

// DefaultPrometheusAddr is the -prometheus-addr default of the per-service
// binaries: the port the Helm chart scrapes.
const DefaultPrometheusAddr = ":9090"

// Register adds Common's flags to fs, with prometheusAddr as the default of
// -prometheus-addr. Read the fields after fs.Parse.
func (c *Common) Register(fs *FlagSet, prometheusAddr string) {
	fs.StringVar(&c.LogLevel, "log-level", "KIZUNA_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.LogFormat, "log-format", "KIZUNA_LOG_FORMAT", "json", "log format: json or text")
	fs.StringVar(&c.OTLPEndpoint, "otlp-endpoint", "KIZUNA_OTLP_ENDPOINT", "", "OTLP/gRPC collector host:port; empty disables export")
	fs.StringVar(&c.PrometheusAddr, "prometheus-addr", "KIZUNA_PROMETHEUS_ADDR", prometheusAddr, "listen address of the Prometheus /metrics endpoint; empty disables it")
	fs.StringVar(&c.PprofAddr, "pprof-addr", "KIZUNA_PPROF_ADDR", "", "listen address of Go's /debug/pprof/ profiles (CPU, heap, goroutines) for operators; empty disables it")
}

// MetricsHandler serves the process's metrics in the Prometheus format;
// nil before Start.
func (c *Common) MetricsHandler() http.Handler { return c.metrics }

// Level parses LogLevel. Its errors match ErrUsage.
func (c *Common) Level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return 0, usageError{fmt.Errorf("config: log level %q: %w", c.LogLevel, err)}
	}
	return l, nil
}

// JSON reports whether LogFormat asks for JSON logs. Its errors match
// ErrUsage.
func (c *Common) JSON() (bool, error) {
	switch strings.ToLower(c.LogFormat) {
	case "json":
		return true, nil
	case "text":
		return false, nil
	default:
		return false, usageError{fmt.Errorf("config: log format %q: want json or text", c.LogFormat)}
	}
}

// Logger builds the process logger the flags ask for, writing to w, with
// trace ids on every line (telemetry.NewLogger).
func (c *Common) Logger(w io.Writer) (*slog.Logger, error) {
	level, err := c.Level()
	if err != nil {
		return nil, err
	}
	asJSON, err := c.JSON()
	if err != nil {
		return nil, err
	}
	return telemetry.NewLogger(w, level, asJSON), nil
}

// Start does what every binary does once its flags are parsed: it builds
// the logger (Logger), sets up telemetry and serves /metrics on
// PrometheusAddr until stop is called. service names the process:
// its log lines carry service=<service> and its telemetry is
// kizuna-<service>. The all-in-one binary passes "": the suite tags each
// service's lines itself, and its telemetry is "kizuna". Call stop before
// exit to flush telemetry.
func (c *Common) Start(ctx context.Context, w io.Writer, service string) (log *slog.Logger, stop func(), err error) {
	log, err = c.Logger(w)
	if err != nil {
		return nil, nil, err
	}
	name := "kizuna"
	if service != "" {
		log = log.With("service", service)
		name += "-" + service
	}
	tel, err := telemetry.Setup(ctx, telemetry.Options{ServiceName: name, OTLPEndpoint: c.OTLPEndpoint})
	if err != nil {
		return nil, nil, err
	}
	c.metrics = tel.MetricsHandler()
	stopTelemetry := func() { _ = tel.Shutdown(context.WithoutCancel(ctx)) }
	stops := []func(){stopTelemetry}
	stopAll := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	endpoints := []struct {
		what, addr string
		mux        func() *http.ServeMux
	}{
		{"metrics", c.PrometheusAddr, func() *http.ServeMux {
			mux := http.NewServeMux()
			mux.Handle("GET /metrics", c.metrics)
			return mux
		}},
		{"pprof", c.PprofAddr, pprofMux},
	}
	for _, e := range endpoints {
		if e.addr == "" {
			continue
		}
		stop, err := serveDebug(log, e.what, e.addr, e.mux())
		if err != nil {
			stopAll()
			return nil, nil, err
		}
		stops = append(stops, stop)
	}
	return log, stopAll, nil
}

// pprofMux serves net/http/pprof's handlers under /debug/pprof/.
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// serveDebug serves mux on addr in the background (the /metrics and pprof
// endpoints). The listener is opened here so a port clash fails the start
// rather than a log line.
func serveDebug(log *slog.Logger, what, addr string, mux *http.ServeMux) (stop func(), err error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: listen on %s: %w", what, addr, err)
	}
	// No WriteTimeout: a CPU profile streams for its whole duration.
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error(what+" endpoint stopped", "error", err)
		}
	}()
	log.Info("serving "+what, "addr", lis.Addr().String())
	// Prometheus scrapes until the process exits: the endpoints outlive ctx
	// so the drain is still visible, and stop with the telemetry.
	return func() { _ = srv.Close(); <-done }, nil
}

// Exit runs run with os.Args[1:] and a context cancelled on SIGINT or
// SIGTERM, then exits: 0 after a clean return or -help, 2 on an ErrUsage
// error (bad flags or environment), 1 on any other error, printed as
// "<name>: <error>".
func Exit(name string, run func(ctx context.Context, args []string) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	os.Exit(exitCode(os.Stderr, name, err))
}

// exitCode prints err, unless it is nil or flag.ErrHelp, and returns the
// status Exit exits with.
func exitCode(w io.Writer, name string, err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrUsage):
		fmt.Fprintf(w, "%s: %v\n", name, err)
		return 2
	default:
		fmt.Fprintf(w, "%s: %v\n", name, err)
		return 1
	}
}
