// Package outbox is the one relay of Kizuna's transactional outboxes: a
// service writes the messages it must publish in the same transaction as
// its state, and the relay publishes them to the bus afterwards, deleting
// (or marking) what was published. Each service supplies one pass — read
// pending rows, publish them, forget them — and the relay decides when to
// run it: when woken after a commit, on a ticker (a publish that failed is
// retried), with backoff while the bus is failing, and a last time at
// shutdown so what was stored before is published.
//
// With many replicas against one database only the holder of the
// "outbox:<name>" lease relays, so messages go out once and in order; a
// replica that dies leaves the lease to expire and another takes over.
// Publishes carry message ids, so the rare overlap (a holder paused past
// its lease) is deduplicated by JetStream.
package outbox

import (
	"context"
	"log/slog"
	"time"

	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/lease"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// Defaults of Options.
const (
	DefaultInterval   = 250 * time.Millisecond
	DefaultMaxBackoff = 10 * time.Second
	// FinalFlushTimeout bounds the last pass at shutdown.
	FinalFlushTimeout = 5 * time.Second
)

// Options configure a Relay.
type Options struct {
	// Name names the outbox in logs, in the kizuna.outbox.backlog gauge
	// and in its lease.
	Name string
	// DB holds the outbox and the lease.
	DB *sqldb.DB
	// Pass publishes what is pending until none is left or a publish
	// fails; what failed stays for the next pass.
	Pass func(ctx context.Context) error
	// Backlog counts the pending rows (one indexed COUNT) for the gauge;
	// nil reports none.
	Backlog func(ctx context.Context) (int64, error)
	Logger  *slog.Logger
	// Interval is how often the relay looks without being woken.
	Interval   time.Duration
	MaxBackoff time.Duration
	// LeaseTTL; lease.DefaultTTL when zero.
	LeaseTTL time.Duration
	// Stopping, when set, is called once ctx ends and before the final
	// pass: stop what writes to the outbox, so the pass takes it all.
	Stopping func()
	// MinGap spaces out passes: a wake-up less than MinGap after the
	// previous pass started waits for the rest of it. A pass costs a read
	// and a write transaction whatever it carries; under a stream of
	// small commits (single tracking calls) one pass per commit cost more
	// than publishing. A lone commit after a quiet spell is still relayed
	// at once. Zero: no spacing.
	MinGap time.Duration
}

// Relay runs Options.Pass; see the package comment.
type Relay struct {
	opts  Options
	lease *lease.Lease
	wake  chan struct{}
}

// New returns a relay; Run it, and Wake it after each commit that wrote to
// the outbox.
func New(opts Options) *Relay {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	return &Relay{opts: opts, lease: lease.New(opts.DB, "outbox:"+opts.Name, lease.Options{TTL: opts.LeaseTTL}),
		wake: make(chan struct{}, 1)}
}

// Wake makes the relay look now; it never blocks.
func (r *Relay) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run relays until ctx ends, then makes a last pass (when this replica
// holds the lease) and releases the lease. It returns nil after ctx ends,
// and an error only if it cannot start.
func (r *Relay) Run(ctx context.Context) error {
	if r.opts.Backlog != nil {
		stop, err := bus.ObserveOutbox(r.opts.Name, r.opts.Backlog)
		if err != nil {
			return err
		}
		defer stop()
	}
	tick := time.NewTicker(r.opts.Interval)
	defer tick.Stop()
	var backoff time.Duration
	var lastPass time.Time
	for {
		select {
		case <-ctx.Done():
			r.stop(ctx)
			return nil
		case <-r.wake:
			if wait := r.opts.MinGap - time.Since(lastPass); wait > 0 {
				select {
				case <-ctx.Done():
					continue
				case <-time.After(wait):
				}
			}
		case <-tick.C:
		}
		if backoff > 0 {
			select {
			case <-ctx.Done():
				continue
			case <-time.After(backoff):
			}
		}
		lastPass = time.Now()
		if err := r.pass(ctx); err != nil {
			backoff = min(max(2*backoff, 100*time.Millisecond), r.opts.MaxBackoff)
			if ctx.Err() == nil {
				r.opts.Logger.ErrorContext(ctx, "relay outbox to bus", slog.String("outbox", r.opts.Name),
					slog.Any("error", err), slog.Duration("retry_in", backoff))
			}
			continue
		}
		backoff = 0
	}
}

// pass runs one pass when this replica holds the lease.
func (r *Relay) pass(ctx context.Context) error {
	held, err := r.lease.Hold(ctx)
	if err != nil || !held {
		return err
	}
	return r.opts.Pass(ctx)
}

// stop flushes what is left and hands the lease over.
func (r *Relay) stop(ctx context.Context) {
	if r.opts.Stopping != nil {
		r.opts.Stopping()
	}
	final, cancel := context.WithTimeout(context.WithoutCancel(ctx), FinalFlushTimeout)
	defer cancel()
	if err := r.pass(final); err != nil {
		r.opts.Logger.WarnContext(final, "outbox not fully published at shutdown; it will be on next start",
			slog.String("outbox", r.opts.Name), slog.Any("error", err))
	}
	if err := r.lease.Release(final); err != nil {
		r.opts.Logger.WarnContext(final, "release outbox lease", slog.String("outbox", r.opts.Name), slog.Any("error", err))
	}
}
