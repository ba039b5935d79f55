// Package bustest gives tests a fresh, isolated bus.Bus on each backend, so
// one suite runs against an embedded NATS always and an external one when
// KIZUNA_TEST_NATS_URL is set (see sqldbtest for the databases).
package bustest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/testenv"
)

// NATSURLVar names the environment variable holding the NATS URL for tests;
// tests skip without it unless KIZUNA_REQUIRE_EXTERNAL=1.
const NATSURLVar = "KIZUNA_TEST_NATS_URL"

// Embedded returns a Bus on a new in-process NATS server of its own, shut
// down on cleanup.
func Embedded(t testing.TB) *bus.Bus {
	t.Helper()
	e, err := bus.StartEmbedded(bus.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("bustest: %v", err)
	}
	t.Cleanup(e.Shutdown) // registered first, so it runs after Close
	return connect(t, bus.ConnectOptions{Embedded: e})
}

// External returns a Bus on the NATS at KIZUNA_TEST_NATS_URL; its streams
// are deleted on cleanup. It skips (or fails, see testenv) without the URL.
func External(t testing.TB) *bus.Bus {
	t.Helper()
	b := connect(t, bus.ConnectOptions{URL: testenv.URL(t, NATSURLVar)})
	t.Cleanup(func() { // registered after Close, so it runs before it
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.DeleteStreams(ctx); err != nil {
			t.Errorf("bustest: %v", err)
		}
	})
	return b
}

// ForEachBackend runs fn as subtests "embedded" and "external", each with a
// fresh Bus.
func ForEachBackend(t *testing.T, fn func(t *testing.T, b *bus.Bus)) {
	t.Helper()
	t.Run("embedded", func(t *testing.T) { fn(t, Embedded(t)) })
	t.Run("external", func(t *testing.T) { fn(t, External(t)) })
}

// connect connects under a random prefix, so tests sharing a NATS never see
// each other's streams, with a discarding logger, real spans and W3C
// propagation (the otel globals are no-ops in tests), and ensures the
// streams. The Bus is closed on cleanup.
func connect(t testing.TB, opts bus.ConnectOptions) *bus.Bus {
	t.Helper()
	opts.Prefix = "kztest_" + randomHex(t)
	opts.Name = t.Name()
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	opts.TracerProvider = sdktrace.NewTracerProvider()
	opts.Propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := bus.Connect(ctx, opts)
	if err != nil {
		t.Fatalf("bustest: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("bustest: %v", err)
		}
	})
	if err := b.EnsureStreams(ctx); err != nil {
		t.Fatalf("bustest: %v", err)
	}
	return b
}

func randomHex(t testing.TB) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("bustest: random: %v", err)
	}
	return hex.EncodeToString(b)
}
