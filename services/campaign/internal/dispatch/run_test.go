package dispatch_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/campaign/internal/campaign"
	"github.com/kizuna/kizuna/services/campaign/internal/dispatch"
	"github.com/kizuna/kizuna/services/campaign/internal/store"
	"github.com/kizuna/kizuna/services/campaign/internal/webhook"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// blockingSender answers 200 once release is closed, counting calls in
// flight.
type blockingSender struct {
	release  chan struct{}
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	calls    atomic.Int32
	started  chan struct{}
}

func (s *blockingSender) Send(ctx context.Context, _ string, _ webhook.Payload) webhook.Result {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.maxSeen.Load()
		if n <= m || s.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	s.calls.Add(1)
	select {
	case s.started <- struct{}{}:
	default:
	}
	select {
	case <-s.release:
		return webhook.Result{Verdict: webhook.Delivered, Code: 200}
	case <-ctx.Done():
		return webhook.Result{Verdict: webhook.Retry, Detail: "canceled"}
	}
}

// flakyPublisher fails its first call, then records what it publishes.
type flakyPublisher struct {
	mu        sync.Mutex
	failed    bool
	published map[string]int
}

func (p *flakyPublisher) PublishOutcome(_ context.Context, f dispatch.Final) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.failed {
		p.failed = true
		return errors.New("bus down")
	}
	p.published[f.ID]++
	return nil
}

func (p *flakyPublisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.published)
}

// TestRunBoundsConcurrencyAndStopsCleanly checks that no more than
// Concurrency calls run at once and that cancelling Run lets calls in
// flight finish and be recorded as sent rather than retried.
func TestRunBoundsConcurrencyAndStopsCleanly(t *testing.T) {
	ctx := context.Background()
	st, err := store.New(ctx, sqldbtest.SQLite(t))
	if err != nil {
		t.Fatal(err)
	}
	c := campaign.Campaign{WorkspaceID: "ws_a", ID: "cmp_1", DisplayName: "x", SegmentID: "seg_1",
		WebhookURL: "http://example.invalid/hook", MessageTemplate: "x", State: campaign.StateDraft, CreateTime: time.Now()}
	if err := st.CreateCampaign(ctx, c); err != nil {
		t.Fatal(err)
	}
	const members, concurrency = 10, 3
	ds := make([]campaign.Delivery, members)
	for i := range ds {
		ds[i] = campaign.Delivery{ID: fmt.Sprintf("dlv_%02d", i), CustomerID: fmt.Sprintf("cus_%02d", i), Status: campaign.DeliveryPending}
	}
	if err := st.InsertDeliveries(ctx, "ws_a", "cmp_1", ds); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkSending(ctx, "ws_a", "cmp_1", time.Now()); err != nil {
		t.Fatal(err)
	}

	sender := &blockingSender{release: make(chan struct{}), started: make(chan struct{}, members)}
	pub := &flakyPublisher{published: map[string]int{}}
	d := dispatch.New(dispatch.Config{
		Store: st, Sender: sender, Publisher: pub,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Concurrency:  concurrency,
		PollInterval: 10 * time.Millisecond,
	})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()

	for range concurrency {
		select {
		case <-sender.started:
		case <-time.After(10 * time.Second):
			t.Fatal("dispatcher did not start sending")
		}
	}
	time.Sleep(50 * time.Millisecond) // give it the chance to exceed the bound
	if got := sender.maxSeen.Load(); got != concurrency {
		t.Fatalf("max calls in flight = %d, want %d", got, concurrency)
	}

	cancel()
	select {
	case <-done:
		t.Fatal("Run returned while calls were in flight")
	case <-time.After(50 * time.Millisecond):
	}
	close(sender.release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after calls finished")
	}
	got, err := st.GetCampaign(ctx, "ws_a", "cmp_1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Counts.Sent != concurrency || got.Counts.Pending != members-concurrency {
		t.Fatalf("after stop: counts %+v, want %d sent and the rest pending", got.Counts, concurrency)
	}

	// A new run finishes the rest, completes the campaign and publishes
	// every outcome despite the publisher's first failure.
	runCtx, cancel = context.WithCancel(ctx)
	defer cancel()
	go func() { done <- d.Run(runCtx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err = st.GetCampaign(ctx, "ws_a", "cmp_1")
		if err != nil {
			t.Fatal(err)
		}
		if got.State == campaign.StateCompleted && pub.count() == members {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("campaign %s with %+v, %d published; want completed, %d published", got.State, got.Counts, pub.count(), members)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := sender.calls.Load(); n != members {
		t.Errorf("webhook calls = %d, want %d (one per delivery)", n, members)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
