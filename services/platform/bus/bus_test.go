package bus_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/bus/bustest"
)

// received records deliveries for assertions from the test goroutine.
type received struct {
	mu   sync.Mutex
	msgs []bus.Message
	vals []string
	ctxs []context.Context
	ch   chan struct{}
}

func newReceived() *received { return &received{ch: make(chan struct{}, 100)} }

func (r *received) add(ctx context.Context, m bus.Message) error {
	var v wrapperspb.StringValue
	if err := m.Unmarshal(&v); err != nil {
		return err
	}
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.vals = append(r.vals, v.GetValue())
	r.ctxs = append(r.ctxs, ctx)
	r.mu.Unlock()
	r.ch <- struct{}{}
	return nil
}

func (r *received) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-r.ch:
		case <-time.After(10 * time.Second):
			t.Fatalf("timed out waiting for message")
		}
	}
}

func (r *received) snapshot() ([]bus.Message, []string, []context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]bus.Message(nil), r.msgs...), append([]string(nil), r.vals...), append([]context.Context(nil), r.ctxs...)
}

func TestRoundTripDedupeAndTrace(t *testing.T) {
	bustest.ForEachBackend(t, func(t *testing.T, b *bus.Bus) {
		ctx := context.Background()
		rec := newReceived()
		stop, err := b.Consume(ctx, bus.Consumer{Kind: bus.KindEvents, Durable: "roundtrip", Handler: rec.add})
		if err != nil {
			t.Fatal(err)
		}
		defer stop()

		pubCtx, span := sdktrace.NewTracerProvider().Tracer("test").Start(ctx, "request")
		subject := b.Subject(bus.KindEvents, "ws1", "track")
		publishes := []struct{ id, val string }{
			{id: "evt-1", val: "first"},
			{id: "evt-1", val: "duplicate is dropped"},
			{id: "evt-2", val: "second"},
		}
		for _, p := range publishes {
			if err := b.Publish(pubCtx, subject, p.id, wrapperspb.String(p.val)); err != nil {
				t.Fatal(err)
			}
		}
		span.End()
		rec.wait(t, 2)
		time.Sleep(100 * time.Millisecond) // room for a wrongly stored duplicate to arrive
		msgs, vals, ctxs := rec.snapshot()
		if got, want := vals, []string{"first", "second"}; !slices.Equal(got, want) {
			t.Fatalf("values = %q, want %q", got, want)
		}
		if msgs[0].MsgID != "evt-1" || msgs[0].Subject != subject || msgs[0].Delivery != 1 {
			t.Errorf("message = %+v", msgs[0])
		}
		if got := msgs[0].Headers.Get(bus.TypeHeader); got != "google.protobuf.StringValue" {
			t.Errorf("type header = %q", got)
		}
		if got, want := trace.SpanContextFromContext(ctxs[0]).TraceID(), span.SpanContext().TraceID(); got != want {
			t.Errorf("handler trace id = %s, want publisher's %s", got, want)
		}
	})
}

// TestPublishBatch: a batch arrives in order, in each message's own trace,
// deduplicated by id like single publishes; a message without an id stops
// the batch and the count says how many went out before it.
func TestPublishBatch(t *testing.T) {
	bustest.ForEachBackend(t, func(t *testing.T, b *bus.Bus) {
		ctx := context.Background()
		rec := newReceived()
		stop, err := b.Consume(ctx, bus.Consumer{Kind: bus.KindEvents, Durable: "batch", Handler: rec.add})
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		tp := sdktrace.NewTracerProvider()
		subject := b.Subject(bus.KindEvents, "ws1", "track")
		var out []bus.Outgoing
		var spans []trace.Span
		for i, id := range []string{"b-1", "b-2", "b-1", "b-3"} {
			mctx, span := tp.Tracer("test").Start(ctx, "request")
			spans = append(spans, span)
			data, err := proto.Marshal(wrapperspb.String(fmt.Sprintf("%s#%d", id, i)))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, bus.Outgoing{Ctx: mctx, Subject: subject, MsgID: id, TypeName: "google.protobuf.StringValue", Data: data})
		}
		n, err := b.PublishBatch(ctx, append(out, bus.Outgoing{Subject: subject}))
		if n != 4 || err == nil {
			t.Fatalf("PublishBatch = %d, %v; want 4 and an error for the message without an id", n, err)
		}
		rec.wait(t, 3)
		time.Sleep(100 * time.Millisecond) // room for a wrongly stored duplicate
		msgs, vals, ctxs := rec.snapshot()
		if got, want := vals, []string{"b-1#0", "b-2#1", "b-3#3"}; !slices.Equal(got, want) {
			t.Fatalf("values = %q, want %q", got, want)
		}
		for i, want := range []int{0, 1, 3} {
			if got := trace.SpanContextFromContext(ctxs[i]).TraceID(); got != spans[want].SpanContext().TraceID() {
				t.Errorf("message %s in trace %s, want its publisher's %s", msgs[i].MsgID, got, spans[want].SpanContext().TraceID())
			}
		}
	})
}

func TestRedelivery(t *testing.T) {
	tests := []struct {
		name           string
		failures       int // handler errors before it succeeds
		maxDeliver     int
		wantDeliveries int
	}{
		{name: "succeeds on retry", failures: 2, maxDeliver: 5, wantDeliveries: 3},
		{name: "gives up after max deliver", failures: 100, maxDeliver: 2, wantDeliveries: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bustest.ForEachBackend(t, func(t *testing.T, b *bus.Bus) {
				ctx := context.Background()
				var mu sync.Mutex
				var deliveries []uint64
				done := make(chan struct{}, 100)
				stop, err := b.Consume(ctx, bus.Consumer{
					Kind:       bus.KindMembership,
					Durable:    "redelivery",
					MaxDeliver: tt.maxDeliver,
					RetryDelay: 10 * time.Millisecond,
					Handler: func(ctx context.Context, m bus.Message) error {
						mu.Lock()
						deliveries = append(deliveries, m.Delivery)
						n := len(deliveries)
						mu.Unlock()
						done <- struct{}{}
						if n <= tt.failures {
							return errors.New("transient")
						}
						return nil
					},
				})
				if err != nil {
					t.Fatal(err)
				}
				defer stop()
				if err := b.Publish(ctx, b.Subject(bus.KindMembership, "ws1", "seg1"), "m-1", wrapperspb.String("x")); err != nil {
					t.Fatal(err)
				}
				for range tt.wantDeliveries {
					select {
					case <-done:
					case <-time.After(10 * time.Second):
						t.Fatal("timed out waiting for delivery")
					}
				}
				time.Sleep(300 * time.Millisecond) // no further deliveries expected
				mu.Lock()
				defer mu.Unlock()
				if len(deliveries) != tt.wantDeliveries {
					t.Fatalf("deliveries = %v, want %d", deliveries, tt.wantDeliveries)
				}
				for i, d := range deliveries {
					if d != uint64(i+1) {
						t.Errorf("delivery %d numbered %d", i+1, d)
					}
				}
			})
		})
	}
}

func TestConsumeStopsOnContextCancel(t *testing.T) {
	bustest.ForEachBackend(t, func(t *testing.T, b *bus.Bus) {
		ctx, cancel := context.WithCancel(context.Background())
		rec := newReceived()
		stop, err := b.Consume(ctx, bus.Consumer{Kind: bus.KindDeliveries, Durable: "cancel", Handler: rec.add})
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		cancel()
		time.Sleep(100 * time.Millisecond)
		if err := b.Publish(context.Background(), b.Subject(bus.KindDeliveries, "ws1"), "d-1", wrapperspb.String("x")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		if _, vals, _ := rec.snapshot(); len(vals) != 0 {
			t.Errorf("received %q after cancel", vals)
		}
	})
}

func TestEnsureStreamsIdempotent(t *testing.T) {
	bustest.ForEachBackend(t, func(t *testing.T, b *bus.Bus) {
		// bustest has ensured them once already.
		if err := b.EnsureStreams(context.Background()); err != nil {
			t.Fatalf("second EnsureStreams: %v", err)
		}
	})
}

// TestSubject checks subjects under the default prefix.
func TestSubject(t *testing.T) {
	e, err := bus.StartEmbedded(bus.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	b, err := bus.Connect(context.Background(), bus.ConnectOptions{Embedded: e})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	tests := []struct {
		name     string
		kind, ws string
		parts    []string
		want     string
	}{
		{name: "plain", kind: "events", ws: "ws_1", parts: []string{"track"}, want: "kizuna.events.ws_1.track"},
		{name: "no parts", kind: "membership", ws: "w", want: "kizuna.membership.w"},
		{name: "dot escaped", kind: "events", ws: "a.b", want: "kizuna.events.a%2Eb"},
		{name: "wildcards escaped", kind: "events", ws: "*", parts: []string{">"}, want: "kizuna.events.%2A.%3E"},
		{name: "space and percent", kind: "events", ws: "a b%", want: "kizuna.events.a%20b%25"},
		{name: "empty token", kind: "events", ws: "", want: "kizuna.events.%"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := b.Subject(tt.kind, tt.ws, tt.parts...); got != tt.want {
				t.Errorf("Subject = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestConnectAndConsumeValidation(t *testing.T) {
	e, err := bus.StartEmbedded(bus.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	connectTests := []struct {
		name    string
		opts    bus.ConnectOptions
		wantErr string
	}{
		{name: "no URL or embedded", opts: bus.ConnectOptions{}, wantErr: "neither URL nor Embedded set"},
		{name: "bad prefix", opts: bus.ConnectOptions{Embedded: e, Prefix: "a.b"}, wantErr: `invalid prefix "a.b"`},
	}
	for _, tt := range connectTests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := bus.Connect(context.Background(), tt.opts)
			if err == nil {
				_ = b.Close()
				t.Fatal("Connect succeeded, want error")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Connect error = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}

	b := bustest.Embedded(t)
	handler := func(context.Context, bus.Message) error { return nil }
	consumeTests := []struct {
		name    string
		c       bus.Consumer
		wantErr string
	}{
		{name: "nil handler", c: bus.Consumer{Kind: bus.KindEvents, Durable: "ok"}, wantErr: "nil Handler"},
		{name: "empty durable", c: bus.Consumer{Kind: bus.KindEvents, Handler: handler}, wantErr: `invalid durable name ""`},
		{name: "durable with a dot", c: bus.Consumer{Kind: bus.KindEvents, Durable: "a.b", Handler: handler}, wantErr: `invalid durable name "a.b"`},
		{name: "unknown kind", c: bus.Consumer{Kind: "nope", Durable: "ok", Handler: handler}, wantErr: "create consumer"},
	}
	for _, tt := range consumeTests {
		t.Run(tt.name, func(t *testing.T) {
			stop, err := b.Consume(context.Background(), tt.c)
			if err == nil {
				stop()
				t.Fatal("Consume succeeded, want error")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Consume error = %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

// TestConsumeStoppedWhileStarting: a context that has ended before the
// consumer exists is a stop, not an error, so a service stopped during its
// start-up exits cleanly.
func TestConsumeStoppedWhileStarting(t *testing.T) {
	bustest.ForEachBackend(t, func(t *testing.T, b *bus.Bus) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		stop, err := b.Consume(ctx, bus.Consumer{Kind: bus.KindEvents, Durable: "stopped", Handler: func(context.Context, bus.Message) error { return nil }})
		if err != nil || stop == nil {
			t.Fatalf("Consume: stop set %v, error %v; want a stop and no error", stop != nil, err)
		}
		stop()
	})
}
