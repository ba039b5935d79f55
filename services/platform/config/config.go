// Package config reads service configuration from command-line flags with
// KIZUNA_* environment variables as fallbacks: an explicit flag beats the
// environment, which beats the built-in default. Kubernetes manifests set
// env vars; humans pass flags.
package config

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kizuna/kizuna/services/platform/telemetry"
)

// Var documents one setting for Describe.
type Var struct {
	Flag, Env, Default, Usage string
}

// FlagSet wraps flag.FlagSet and remembers every variable registered
// through it so Describe can list them. lookupEnv is os.LookupEnv outside
// tests.
type FlagSet struct {
	*flag.FlagSet
	lookupEnv func(string) (string, bool)
	vars      []Var
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
// variable that could not be parsed.
func (fs *FlagSet) Parse(args []string) error {
	if len(fs.errs) > 0 {
		return fmt.Errorf("config: %w", fs.errs[0])
	}
	if err := fs.FlagSet.Parse(args); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// env returns the environment value for envVar, or def.
func (fs *FlagSet) env(name, envVar, def, usage string) string {
	fs.vars = append(fs.vars, Var{Flag: name, Env: envVar, Default: def, Usage: usage})
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

// String registers a string flag whose default comes from envVar when set.
func (fs *FlagSet) String(name, envVar, def, usage string) *string {
	return fs.FlagSet.String(name, fs.env(name, envVar, def, usage), fs.usage(envVar, usage))
}

// Int registers an int flag whose default comes from envVar when set.
func (fs *FlagSet) Int(name, envVar string, def int, usage string) *int {
	s := fs.env(name, envVar, strconv.Itoa(def), usage)
	v, err := strconv.Atoi(s)
	if err != nil {
		fs.errs = append(fs.errs, fmt.Errorf("%s=%q: %w", envVar, s, err))
	}
	return fs.FlagSet.Int(name, v, fs.usage(envVar, usage))
}

// Bool registers a bool flag whose default comes from envVar when set.
func (fs *FlagSet) Bool(name, envVar string, def bool, usage string) *bool {
	s := fs.env(name, envVar, strconv.FormatBool(def), usage)
	v, err := strconv.ParseBool(s)
	if err != nil {
		fs.errs = append(fs.errs, fmt.Errorf("%s=%q: %w", envVar, s, err))
	}
	return fs.FlagSet.Bool(name, v, fs.usage(envVar, usage))
}

// Duration registers a duration flag whose default comes from envVar when set.
func (fs *FlagSet) Duration(name, envVar string, def time.Duration, usage string) *time.Duration {
	s := fs.env(name, envVar, def.String(), usage)
	v, err := time.ParseDuration(s)
	if err != nil {
		fs.errs = append(fs.errs, fmt.Errorf("%s=%q: %w", envVar, s, err))
	}
	return fs.FlagSet.Duration(name, v, fs.usage(envVar, usage))
}

// Describe lists every variable registered so far, sorted by flag name, for
// -help output and generated docs.
func (fs *FlagSet) Describe() []Var {
	out := append([]Var(nil), fs.vars...)
	sort.Slice(out, func(i, j int) bool { return out[i].Flag < out[j].Flag })
	return out
}

// Common holds the settings every Kizuna binary shares.
type Common struct {
	LogLevel     string
	LogFormat    string
	OTLPEndpoint string
}

// Register adds Common's flags to fs. Read the fields after fs.Parse.
func (c *Common) Register(fs *FlagSet) {
	fs.StringVar(&c.LogLevel, "log-level", fs.env("log-level", "KIZUNA_LOG_LEVEL", "info", "log level: debug, info, warn, error"), fs.usage("KIZUNA_LOG_LEVEL", "log level: debug, info, warn, error"))
	fs.StringVar(&c.LogFormat, "log-format", fs.env("log-format", "KIZUNA_LOG_FORMAT", "json", "log format: json or text"), fs.usage("KIZUNA_LOG_FORMAT", "log format: json or text"))
	fs.StringVar(&c.OTLPEndpoint, "otlp-endpoint", fs.env("otlp-endpoint", "KIZUNA_OTLP_ENDPOINT", "", "OTLP/gRPC collector host:port; empty disables export"), fs.usage("KIZUNA_OTLP_ENDPOINT", "OTLP/gRPC collector host:port; empty disables export"))
}

// Level parses LogLevel.
func (c *Common) Level() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return 0, fmt.Errorf("config: log level %q: %w", c.LogLevel, err)
	}
	return l, nil
}

// JSON reports whether LogFormat asks for JSON logs.
func (c *Common) JSON() (bool, error) {
	switch strings.ToLower(c.LogFormat) {
	case "json":
		return true, nil
	case "text":
		return false, nil
	default:
		return false, fmt.Errorf("config: log format %q: want json or text", c.LogFormat)
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
