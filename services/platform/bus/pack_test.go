package bus_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/bus/bustest"
)

// outgoing returns StringValue messages to subject with ids prefix-i and
// values v-i, for i in [from, to).
func outgoing(t *testing.T, subject, prefix string, from, to int) []bus.Outgoing {
	t.Helper()
	var out []bus.Outgoing
	for i := from; i < to; i++ {
		data, err := proto.Marshal(wrapperspb.String(fmt.Sprintf("v-%03d", i)))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, bus.Outgoing{Subject: subject, MsgID: fmt.Sprintf("%s-%03d", prefix, i), TypeName: "google.protobuf.StringValue", Data: data})
	}
	return out
}

// packed is what a consumer saw of a message.
type packed struct{ id, typ, value string }

func receive(t *testing.T, m bus.Message) packed {
	var v wrapperspb.StringValue
	if err := m.Unmarshal(&v); err != nil {
		t.Error(err)
	}
	return packed{m.MsgID, m.Headers.Get(bus.TypeHeader), v.GetValue()}
}

// TestPublishBatchPacks: consecutive messages to one subject go out as
// packs of at most 100 (230 + 3 + 2 messages over two subjects are five
// stream messages), publishing them again stores nothing new, with packs
// off each message goes alone, and both a
// batch consumer and a one-by-one consumer see every message once, in
// order, with its own id, type and payload.
func TestPublishBatchPacks(t *testing.T) {
	bustest.ForEachBackend(t, func(t *testing.T, b *bus.Bus) {
		ctx := context.Background()
		ws1, ws2 := b.Subject(bus.KindEvents, "ws1", "track"), b.Subject(bus.KindEvents, "ws2", "track")
		msgs := append(outgoing(t, ws1, "a", 0, 230), outgoing(t, ws2, "b", 230, 233)...)
		msgs = append(msgs, outgoing(t, ws1, "c", 233, 235)...)
		for range 2 { // the second time, JetStream deduplicates every pack
			n, err := b.PublishBatch(ctx, msgs)
			if err != nil || n != len(msgs) {
				t.Fatalf("PublishBatch = %d, %v; want %d", n, err, len(msgs))
			}
			if stored, err := bus.StreamMessages(ctx, b, bus.KindEvents); err != nil || stored != 5 {
				t.Fatalf("the stream holds %d messages (%v), want 5 packs", stored, err)
			}
		}
		// With packs off (a rolling upgrade), each message goes alone.
		bus.SetNoPacks(b, true)
		if n, err := b.PublishBatch(ctx, outgoing(t, ws1, "d", 235, 238)); err != nil || n != 3 {
			t.Fatalf("PublishBatch without packs = %d, %v; want 3", n, err)
		}
		if stored, err := bus.StreamMessages(ctx, b, bus.KindEvents); err != nil || stored != 8 {
			t.Fatalf("the stream holds %d messages (%v), want 5 packs and 3 lone messages", stored, err)
		}
		msgs = append(msgs, outgoing(t, ws1, "d", 235, 238)...)
		var want []packed
		for _, o := range msgs {
			var v wrapperspb.StringValue
			_ = proto.Unmarshal(o.Data, &v)
			want = append(want, packed{o.MsgID, o.TypeName, v.GetValue()})
		}

		var mu sync.Mutex
		got := map[string][]packed{}
		var sizes []int
		add := func(durable string, ms ...bus.Message) {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range ms {
				got[durable] = append(got[durable], receive(t, m))
			}
		}
		for _, c := range []bus.Consumer{
			{Kind: bus.KindEvents, Durable: "packs-batch", MaxBatch: 150,
				BatchHandler: func(_ context.Context, ms []bus.Message) error {
					mu.Lock()
					sizes = append(sizes, len(ms))
					mu.Unlock()
					add("packs-batch", ms...)
					return nil
				},
				Handler: func(context.Context, bus.Message) error { return errors.New("not one by one") }},
			{Kind: bus.KindEvents, Durable: "packs-single",
				Handler: func(_ context.Context, m bus.Message) error { add("packs-single", m); return nil }},
		} {
			stop, err := b.Consume(ctx, c)
			if err != nil {
				t.Fatal(err)
			}
			defer stop()
		}
		waitUntil(func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(got["packs-batch"]) >= len(want) && len(got["packs-single"]) >= len(want)
		})
		time.Sleep(50 * time.Millisecond) // a duplicate would show now
		mu.Lock()
		defer mu.Unlock()
		for _, durable := range []string{"packs-batch", "packs-single"} {
			if !slices.Equal(got[durable], want) {
				t.Errorf("%s saw %d messages, want the %d published once each in order:\n got %v\nwant %v", durable, len(got[durable]), len(want), got[durable], want)
			}
		}
		if slices.Max(sizes) > 150+99 {
			t.Errorf("batch sizes %v, want at most MaxBatch plus less than a pack", sizes)
		}
	})
}

// TestPackWithBadMessage: a message that fails inside a pack has the pack
// redelivered whole, MaxDeliver times, each time its companions handled
// again (idempotent handlers) and the bad one tried once, one by one;
// then the pack is dropped, and no other message is lost.
func TestPackWithBadMessage(t *testing.T) {
	bustest.ForEachBackend(t, func(t *testing.T, b *bus.Bus) {
		ctx := context.Background()
		subject := b.Subject(bus.KindEvents, "ws1", "track")
		msgs := outgoing(t, subject, "m", 0, 10)
		if n, err := b.PublishBatch(ctx, msgs); err != nil || n != 10 {
			t.Fatalf("PublishBatch = %d, %v", n, err)
		}
		var mu sync.Mutex
		handled := map[string]int{}
		badTries, batches := 0, 0
		stop, err := b.Consume(ctx, bus.Consumer{
			Kind: bus.KindEvents, Durable: "bad-pack", MaxDeliver: 2, RetryDelay: 10 * time.Millisecond,
			BatchHandler: func(_ context.Context, ms []bus.Message) error {
				mu.Lock()
				defer mu.Unlock()
				batches++
				for _, m := range ms {
					if receive(t, m).value == "v-005" {
						return errors.New("v-005 is bad")
					}
				}
				return nil
			},
			Handler: func(_ context.Context, m bus.Message) error {
				mu.Lock()
				defer mu.Unlock()
				if v := receive(t, m).value; v == "v-005" {
					badTries++
					return errors.New("v-005 is bad")
				} else {
					handled[v]++
				}
				return nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer stop()
		waitUntil(func() bool {
			mu.Lock()
			defer mu.Unlock()
			return badTries >= 2
		})
		time.Sleep(100 * time.Millisecond) // a third delivery would show now
		mu.Lock()
		defer mu.Unlock()
		if badTries != 2 || batches != 2 {
			t.Errorf("the bad message was tried %d times in %d batches, want MaxDeliver = 2 of each", badTries, batches)
		}
		for _, o := range msgs {
			var v wrapperspb.StringValue
			_ = proto.Unmarshal(o.Data, &v)
			if v.GetValue() != "v-005" && handled[v.GetValue()] != 2 {
				t.Errorf("%s handled %d times, want once per delivery of its pack (2)", v.GetValue(), handled[v.GetValue()])
			}
		}
	})
}

// waitUntil polls done every 10 ms for up to 10 s; the caller checks what
// it waited for.
func waitUntil(done func() bool) {
	for deadline := time.Now().Add(10 * time.Second); !done() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
}
