// Package dispatch sends pending deliveries: a loop that leases due
// deliveries from the store, posts each to its campaign's webhook with
// bounded concurrency, records the outcome with retry and backoff,
// completes finished campaigns and publishes final outcomes on the bus.
//
// Sending is at-least-once. A delivery is leased before it is sent and its
// outcome recorded afterwards; if the process dies in between, the lease
// expires and another dispatcher (or this one, restarted) sends it again.
// Receivers deduplicate on the Idempotency-Key header (the delivery id).
// Leases also keep replicas apart: a delivery is leased to one dispatcher at
// a time, and a dispatcher whose lease lapsed cannot record over a newer
// one.
package dispatch

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/kizuna/kizuna/services/campaign/internal/campaign"
	"github.com/kizuna/kizuna/services/campaign/internal/webhook"
)

// Defaults for Config.
const (
	DefaultConcurrency  = 8
	DefaultMaxAttempts  = 5
	DefaultRetryBackoff = 10 * time.Second
	DefaultMaxBackoff   = 10 * time.Minute
	DefaultPollInterval = time.Second
	// DefaultLease must outlast a webhook call (webhook.DefaultTimeout)
	// with room to record the outcome, or a slow call would be sent twice.
	DefaultLease = time.Minute
	// publishBatch bounds one pass of the outbox publisher.
	publishBatch = 100
)

// Sender posts one payload; *webhook.Sender implements it.
type Sender interface {
	Send(ctx context.Context, url string, p webhook.Payload) webhook.Result
}

// Publisher publishes a delivery's final outcome. It must be safe to call
// twice for the same delivery (the bus deduplicates on the delivery id).
type Publisher interface {
	PublishOutcome(ctx context.Context, f Final) error
}

// Config configures a Dispatcher. Store, Sender and Publisher are
// required; other zero fields take the defaults.
type Config struct {
	Store  Store
	Sender Sender
	// Publisher publishes every final outcome; it is required, since
	// consumers of the deliveries stream rely on seeing each one.
	Publisher Publisher
	Logger    *slog.Logger
	Now       func() time.Time
	// Concurrency bounds webhook calls in flight.
	Concurrency int
	// MaxAttempts is how many calls a delivery gets before it fails.
	MaxAttempts int
	// RetryBackoff is the wait after the first failed attempt; it doubles
	// with each further attempt up to MaxBackoff, with ±20% jitter so many
	// deliveries that failed together do not retry together.
	RetryBackoff time.Duration
	MaxBackoff   time.Duration
	PollInterval time.Duration
	Lease        time.Duration
}

// Dispatcher is the send loop. Create it with New and start it with Run.
type Dispatcher struct {
	cfg  Config
	wake chan struct{}
}

// New returns a Dispatcher.
func New(cfg Config) *Dispatcher {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	setDefault(&cfg.Concurrency, DefaultConcurrency)
	setDefault(&cfg.MaxAttempts, DefaultMaxAttempts)
	setDefault(&cfg.RetryBackoff, DefaultRetryBackoff)
	setDefault(&cfg.MaxBackoff, DefaultMaxBackoff)
	setDefault(&cfg.PollInterval, DefaultPollInterval)
	setDefault(&cfg.Lease, DefaultLease)
	return &Dispatcher{cfg: cfg, wake: make(chan struct{}, 1)}
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Wake makes a running dispatcher look for work now rather than at its
// next poll. It never blocks.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Run dispatches until ctx ends. Calls in flight then run to completion
// (each is bounded by the webhook timeout) and their outcomes are
// recorded, so a clean stop sends nothing twice; Run returns once they
// are done. Store errors are logged and retried at the next poll rather
// than ending the loop, since they are usually transient.
func (d *Dispatcher) Run(ctx context.Context) error {
	var (
		wg    sync.WaitGroup
		slots = make(chan struct{}, d.cfg.Concurrency)
		freed = make(chan struct{}, 1)
	)
	defer wg.Wait()
	// In-flight work outlives ctx so a stop does not turn calls that were
	// answered into retries; each call has its own timeout.
	workCtx := context.WithoutCancel(ctx)
	ticker := time.NewTicker(d.cfg.PollInterval)
	defer ticker.Stop()
	sweep := true
	for {
		if sweep {
			d.sweep(ctx)
			sweep = false
		}
		free := cap(slots) - len(slots)
		full := false
		if free > 0 {
			claims, err := d.claim(ctx, free)
			if err != nil && ctx.Err() == nil {
				d.cfg.Logger.Error("claim deliveries", slog.Any("error", err))
			}
			for _, c := range claims {
				slots <- struct{}{}
				wg.Go(func() {
					defer func() {
						<-slots
						select {
						case freed <- struct{}{}:
						default:
						}
					}()
					d.deliver(workCtx, c)
				})
			}
			full = len(claims) == free
		}
		if full {
			// Probably more due: claim again as soon as a slot frees, but
			// keep completing and publishing on the poll interval.
			select {
			case <-ctx.Done():
				return nil
			case <-freed:
			case <-ticker.C:
				sweep = true
			}
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-d.wake:
			sweep = true
		case <-ticker.C:
			sweep = true
		case <-freed:
			// A delivery finished: its campaign may be done.
			sweep = true
		}
	}
}

// claim leases up to n due deliveries under a fresh token.
func (d *Dispatcher) claim(ctx context.Context, n int) ([]Claim, error) {
	token, err := newToken()
	if err != nil {
		return nil, err
	}
	now := d.cfg.Now()
	return d.cfg.Store.ClaimDue(ctx, now, now.Add(d.cfg.Lease), token, n)
}

// sweep completes finished campaigns and publishes final outcomes.
func (d *Dispatcher) sweep(ctx context.Context) {
	if _, err := d.cfg.Store.CompleteCampaigns(ctx); err != nil && ctx.Err() == nil {
		d.cfg.Logger.Error("complete campaigns", slog.Any("error", err))
	}
	for ctx.Err() == nil {
		fs, err := d.cfg.Store.Unpublished(ctx, publishBatch)
		if err != nil {
			if ctx.Err() == nil {
				d.cfg.Logger.Error("read unpublished outcomes", slog.Any("error", err))
			}
			return
		}
		// Publish the batch, then mark what was published in one write.
		// An outcome published but left unmarked (the mark failed, or the
		// process died) is published again at a later sweep.
		n := 0
		var pubErr error
		for _, f := range fs {
			if pubErr = d.cfg.Publisher.PublishOutcome(ctx, f); pubErr != nil {
				if ctx.Err() == nil {
					d.cfg.Logger.Warn("publish delivery outcome", slog.String("delivery_id", f.ID), slog.Any("error", pubErr))
				}
				break
			}
			n++
		}
		if n > 0 {
			if err := d.cfg.Store.MarkPublished(ctx, fs[:n]); err != nil {
				if ctx.Err() == nil {
					d.cfg.Logger.Error("mark outcomes published", slog.Int("outcomes", n), slog.Any("error", err))
				}
				return
			}
		}
		if pubErr != nil || len(fs) < publishBatch {
			return
		}
	}
}

// deliver makes one attempt at c and records its outcome.
func (d *Dispatcher) deliver(ctx context.Context, c Claim) {
	res := d.cfg.Sender.Send(ctx, c.WebhookURL, webhook.Payload{
		DeliveryID:  c.ID,
		CampaignID:  c.CampaignID,
		CustomerID:  c.CustomerID,
		WorkspaceID: c.WorkspaceID,
		Message:     c.Message,
	})
	o := d.outcome(c, res)
	ok, err := d.cfg.Store.Record(ctx, c, o)
	switch {
	case err != nil:
		// The lease will expire and the delivery be sent again.
		d.deliveryLogger(c).Error("record delivery outcome", slog.Any("error", err))
	case !ok:
		d.deliveryLogger(c).Warn("delivery lease lost before its outcome was recorded; another attempt owns it")
	case o.Status == campaign.DeliveryFailed:
		d.deliveryLogger(c).Info("delivery failed", slog.Int("attempts", c.Attempts+1), slog.String("last_error", o.LastError))
	}
}

// deliveryLogger is the logger for lines about c. It is built only when
// there is something to log: most deliveries log nothing.
func (d *Dispatcher) deliveryLogger(c Claim) *slog.Logger {
	return d.cfg.Logger.With(slog.String("workspace_id", c.WorkspaceID), slog.String("delivery_id", c.ID))
}

// outcome turns a webhook result into the delivery's next state. The
// store makes LastError storable text when it records the outcome.
func (d *Dispatcher) outcome(c Claim, res webhook.Result) Outcome {
	now := d.cfg.Now()
	o := Outcome{ResponseCode: res.Code, LastError: res.Detail}
	attempt := c.Attempts + 1
	switch {
	case res.Verdict == webhook.Delivered:
		o.Status, o.SendTime, o.LastError = campaign.DeliverySent, now, ""
	case res.Verdict == webhook.Retry && attempt < d.cfg.MaxAttempts:
		o.Status, o.RetryAt = campaign.DeliveryPending, now.Add(d.backoff(attempt))
	case res.Verdict == webhook.Retry:
		o.Status = campaign.DeliveryFailed
		o.LastError = fmt.Sprintf("gave up after %d attempts: %s", attempt, o.LastError)
	default:
		o.Status = campaign.DeliveryFailed
	}
	return o
}

// backoff is the wait after the given failed attempt (1-based).
func (d *Dispatcher) backoff(attempt int) time.Duration {
	b := d.cfg.RetryBackoff
	for i := 1; i < attempt && b < d.cfg.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, d.cfg.MaxBackoff)
	jitter := time.Duration(rand.Int64N(int64(b)/5*2+1)) - b/5
	return b + jitter
}

func newToken() (string, error) {
	b := make([]byte, 12)
	if _, err := crand.Read(b); err != nil {
		return "", fmt.Errorf("lease token: %w", err)
	}
	return hex.EncodeToString(b), nil
}
