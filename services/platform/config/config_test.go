package config_test

import (
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/platform/config"
)

func TestPrecedence(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantStr string
		wantInt int
		wantDur time.Duration
		wantB   bool
		wantErr bool
	}{
		{name: "defaults", wantStr: "def", wantInt: 1, wantDur: time.Second},
		{name: "env overrides default", env: map[string]string{"KIZUNA_S": "env", "KIZUNA_I": "2", "KIZUNA_D": "2s", "KIZUNA_B": "true"}, wantStr: "env", wantInt: 2, wantDur: 2 * time.Second, wantB: true},
		{name: "flag overrides env", env: map[string]string{"KIZUNA_S": "env", "KIZUNA_I": "2"}, args: []string{"-s=flag", "-i=3", "-d=3s", "-b"}, wantStr: "flag", wantInt: 3, wantDur: 3 * time.Second, wantB: true},
		{name: "bad env value", env: map[string]string{"KIZUNA_I": "x"}, wantErr: true},
		{name: "unknown flag", args: []string{"-nope"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := config.NewFlagSetEnv("test", func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			s := fs.String("s", "KIZUNA_S", "def", "a string")
			i := fs.Int("i", "KIZUNA_I", 1, "an int")
			d := fs.Duration("d", "KIZUNA_D", time.Second, "a duration")
			b := fs.Bool("b", "KIZUNA_B", false, "a bool")
			fs.SetOutput(discard{})
			err := fs.Parse(tt.args)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Parse error = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, config.ErrUsage) {
				t.Errorf("Parse error %v does not match ErrUsage", err)
			}
			if tt.wantErr {
				return
			}
			if *s != tt.wantStr || *i != tt.wantInt || *d != tt.wantDur || *b != tt.wantB {
				t.Errorf("got %q %d %v %v, want %q %d %v %v", *s, *i, *d, *b, tt.wantStr, tt.wantInt, tt.wantDur, tt.wantB)
			}
		})
	}
}

func TestCommon(t *testing.T) {
	fs := config.NewFlagSetEnv("test", func(k string) (string, bool) {
		v, ok := map[string]string{"KIZUNA_LOG_LEVEL": "debug"}[k]
		return v, ok
	})
	var c config.Common
	c.Register(fs, "")
	if err := fs.Parse([]string{"-log-format=text", "-otlp-endpoint=collector:4317"}); err != nil {
		t.Fatal(err)
	}
	if l, err := c.Level(); err != nil || l.String() != "DEBUG" {
		t.Errorf("Level = %v, %v", l, err)
	}
	if j, err := c.JSON(); err != nil || j {
		t.Errorf("JSON = %v, %v", j, err)
	}
	if c.OTLPEndpoint != "collector:4317" {
		t.Errorf("OTLPEndpoint = %q", c.OTLPEndpoint)
	}
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n != 5 {
		t.Errorf("Register added %d flags, want 5", n)
	}
}

func TestStartMetrics(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	free.Close()

	// A port already taken fails the start instead of logging later.
	c := config.Common{LogLevel: "info", LogFormat: "json", PrometheusAddr: busy.Addr().String()}
	if _, _, err := c.Start(context.Background(), io.Discard, "test"); err == nil {
		t.Errorf("Start on a busy metrics address succeeded")
	}

	c = config.Common{LogLevel: "info", LogFormat: "json", PrometheusAddr: freeAddr}
	_, stop, err := c.Start(context.Background(), io.Discard, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get("http://" + freeAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "go_goroutines") {
		t.Errorf("GET /metrics = %d %.200s", resp.StatusCode, body)
	}
	if c.MetricsHandler() == nil {
		t.Errorf("MetricsHandler is nil after Start")
	}
}

func TestStartPprof(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	// A busy pprof port fails the start, and the metrics endpoint started
	// before it is closed again.
	c := config.Common{LogLevel: "info", LogFormat: "json", PrometheusAddr: "127.0.0.1:0", PprofAddr: busy.Addr().String()}
	if _, _, err := c.Start(context.Background(), io.Discard, "test"); err == nil {
		t.Errorf("Start on a busy pprof address succeeded")
	}

	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	freeAddr := free.Addr().String()
	free.Close()
	c = config.Common{LogLevel: "info", LogFormat: "json", PprofAddr: freeAddr}
	_, stop, err := c.Start(context.Background(), io.Discard, "test")
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get("http://" + freeAddr + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine profile") {
		t.Errorf("GET /debug/pprof/goroutine = %d %.200s", resp.StatusCode, body)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func TestCommonLogger(t *testing.T) {
	var buf strings.Builder
	c := config.Common{LogLevel: "warn", LogFormat: "json"}
	log, err := c.Logger(&buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown")
	if out := buf.String(); strings.Contains(out, "hidden") || !strings.Contains(out, `"msg":"shown"`) {
		t.Errorf("log output = %q, want only the warning, as JSON", out)
	}
	for _, bad := range []config.Common{{LogLevel: "loud", LogFormat: "json"}, {LogLevel: "info", LogFormat: "xml"}} {
		if _, err := bad.Logger(&buf); err == nil {
			t.Errorf("%+v: want an error", bad)
		} else if !errors.Is(err, config.ErrUsage) {
			t.Errorf("%+v: error %v does not match ErrUsage", bad, err)
		}
	}
}
