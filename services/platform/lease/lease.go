// Package lease gives one replica of a service, among many sharing a
// database, the right to do a piece of work for a while: the outbox relay,
// a periodic sweep, timers. A lease is a row in the service's own database
// (table kizuna_leases, created on first use) naming its holder and when it
// expires; the holder renews it well before then, and another replica takes
// it over only once it has expired, so a crashed holder delays the work by
// at most the lease's TTL. It needs no extra infrastructure (no etcd, no
// Kubernetes API access) and works the same on SQLite and PostgreSQL.
//
// A lease excludes by time: a holder paused longer than the TTL (a long GC
// stop, a frozen VM) may overlap its successor briefly. Work under a lease
// must therefore stay idempotent (publishes carry message ids JetStream
// deduplicates; sweeps recompute state), the lease only keeps replicas from
// doing it twice in the normal case.
package lease

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// DefaultTTL is how long a lease lasts without renewal.
const DefaultTTL = 15 * time.Second

// Lease is one named lease as seen by one holder (one process).
type Lease struct {
	db     *sqldb.DB
	name   string
	holder string
	ttl    time.Duration
	now    func() time.Time

	mu      sync.Mutex
	held    bool
	renewed time.Time // when held was last confirmed
}

// Options configure New.
type Options struct {
	// TTL is how long the lease lasts unrenewed; DefaultTTL when zero.
	TTL time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// New returns the lease called name in db, held (when acquired) by this
// process under the holder id HolderID.
func New(db *sqldb.DB, name string, opts Options) *Lease {
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b) // crypto/rand.Read does not fail
	return &Lease{db: db, name: name, holder: HolderID(hex.EncodeToString(b)), ttl: opts.TTL, now: opts.Now}
}

// HolderID is the holder id of a lease of this process: "<host>/<pid>/<nonce>",
// so an operator reading kizuna_leases sees which pod (the host name in
// Kubernetes) and process holds the work; the nonce keeps two leases of one
// process apart.
func HolderID(nonce string) string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), nonce)
}

// Holder is this process's holder id.
func (l *Lease) Holder() string { return l.holder }

// TTL is how long the lease lasts unrenewed.
func (l *Lease) TTL() time.Duration { return l.ttl }

// Hold reports whether this process holds the lease, acquiring or renewing
// it in the database when the last confirmation is older than a third of
// the TTL (so a holder renews about three times per TTL and a busy caller
// costs no query per call).
func (l *Lease) Hold(ctx context.Context) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if l.held && now.Sub(l.renewed) < l.ttl/3 {
		return true, nil
	}
	held, err := l.acquire(ctx, now)
	if err != nil {
		l.held = false
		return false, err
	}
	l.held, l.renewed = held, now
	return held, nil
}

// acquire takes the lease when it is free, expired or already ours, and
// extends it by the TTL; it reports whether we hold it now.
func (l *Lease) acquire(ctx context.Context, now time.Time) (bool, error) {
	if err := ensureTable(ctx, l.db); err != nil {
		return false, err
	}
	res, err := l.db.ExecWrite(ctx, `INSERT INTO kizuna_leases (name, holder, expire_ms) VALUES ($1, $2, $3)
ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expire_ms = excluded.expire_ms
WHERE kizuna_leases.holder = excluded.holder OR kizuna_leases.expire_ms < $4`,
		l.name, l.holder, now.Add(l.ttl).UnixMilli(), now.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("lease %s: acquire: %w", l.name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("lease %s: acquire: %w", l.name, err)
	}
	return n == 1, nil
}

// Release gives the lease up now, so another replica takes it without
// waiting for it to expire (a clean shutdown).
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.held {
		return nil
	}
	l.held = false
	if _, err := l.db.ExecWrite(ctx, `DELETE FROM kizuna_leases WHERE name = $1 AND holder = $2`, l.name, l.holder); err != nil {
		return fmt.Errorf("lease %s: release: %w", l.name, err)
	}
	return nil
}

// tables remembers the databases whose lease table exists.
var tables sync.Map // *sqldb.DB → struct{}

// ensureTable creates the lease table in db's schema once per process.
func ensureTable(ctx context.Context, db *sqldb.DB) error {
	if _, ok := tables.Load(db); ok {
		return nil
	}
	create := func() error {
		_, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS kizuna_leases (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  expire_ms BIGINT NOT NULL
)`)
		return err
	}
	// Two replicas creating the table at once on PostgreSQL: one of them
	// gets a unique violation on the catalogue, or "relation already
	// exists"; the table is there then, which a second try confirms.
	err := create()
	if err != nil && !sqldb.IsUniqueViolation(err) {
		err = create()
	}
	if err != nil && !sqldb.IsUniqueViolation(err) {
		return fmt.Errorf("create lease table: %w", err)
	}
	tables.Store(db, struct{}{})
	return nil
}

// Every runs fn every interval while ctx lasts, on one replica at a time:
// only while l is held. The lease is renewed (or, by a replica waiting for
// it, tried) every quarter TTL on its own, whatever the interval and however
// long fn runs, so a holder that dies hands the work over within about one
// TTL — not one interval — and a long fn does not lose the lease midway. It
// releases l when ctx ends. Errors of fn and of the lease are given to
// onError (and the next round runs as usual).
func Every(ctx context.Context, l *Lease, interval time.Duration, fn func(context.Context) error, onError func(error)) {
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = l.Release(rctx)
	}()
	ctx, cancel := context.WithCancel(ctx)
	// A hold is never cancelled half-way: on PostgreSQL a cancelled
	// statement can still commit on the server after the client gave up,
	// and renew the lease after the Release above (seen under load: a
	// stopped replica kept its lease for a TTL).
	hold := func() (bool, error) {
		hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), max(l.ttl, time.Second))
		defer cancel()
		return l.Hold(hctx)
	}
	var renewals sync.WaitGroup
	defer func() { cancel(); renewals.Wait() }()
	renewals.Go(func() {
		tick := time.NewTicker(max(l.ttl/4, time.Millisecond))
		defer tick.Stop()
		for {
			if _, err := hold(); err != nil && ctx.Err() == nil {
				onError(err)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		held, err := hold()
		if err != nil || !held {
			continue // the renewal loop reports lease errors
		}
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			onError(err)
		}
	}
}
