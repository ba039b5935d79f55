// Package email sends campaign e-mail through the workspace's SMTP server
// over pooled connections, and classifies each message's outcome:
// delivered, worth retrying, or rejected for good.
//
// Messages are UTF-8 throughout (RFC 2047 headers, base64 bodies) so that
// Japanese subjects, names and bodies arrive readable in any client.
package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/textproto"
	"os"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Security is how a connection is protected.
type Security int

// The security modes.
const (
	// SecurityNone is plain SMTP, no TLS at all.
	SecurityNone Security = iota + 1
	// SecurityStartTLS upgrades with STARTTLS and fails when the server
	// does not offer it: a silent downgrade would send in clear.
	SecurityStartTLS
	// SecurityTLS is implicit TLS from the first byte (SMTPS, port 465).
	SecurityTLS
)

func (s Security) String() string {
	switch s {
	case SecurityNone:
		return "none"
	case SecurityStartTLS:
		return "starttls"
	case SecurityTLS:
		return "tls"
	}
	return fmt.Sprintf("Security(%d)", int(s))
}

// Server is where and how to connect.
type Server struct {
	Host     string
	Port     int
	Security Security
	// Username, when set, makes the connection authenticate (PLAIN, else
	// LOGIN), which the library allows only over TLS or to localhost.
	Username, Password string
}

// Verdict classifies the outcome of one message.
type Verdict int

// The verdicts.
const (
	// Delivered: the server accepted the message (250 after DATA).
	Delivered Verdict = iota + 1
	// Retry: a network error, a timeout, an SMTP 4xx, or a connection
	// that could not be opened (refused, TLS, AUTH); the same message may
	// go through later. A message whose connection broke after DATA
	// may in fact have arrived: its stable Message-ID lets the receiving
	// side spot the duplicate.
	Retry
	// Rejected: an SMTP 5xx for this message or recipient, or a message
	// that cannot be sent as built (invalid address, no text); retrying
	// would not help.
	Rejected
)

func (v Verdict) String() string {
	switch v {
	case Delivered:
		return "delivered"
	case Retry:
		return "retry"
	case Rejected:
		return "rejected"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// Result is the outcome of one message.
type Result struct {
	Verdict Verdict
	// Code is the SMTP reply code when one is known, else 0.
	Code int
	// Detail explains a result other than Delivered, for the delivery's
	// last_error.
	Detail string
}

// Options configures a Sender. Zero values take the defaults.
type Options struct {
	// MaxConnsPerServer is how many connections to one Server are kept
	// open and used concurrently (default 4).
	MaxConnsPerServer int
	// IdleTimeout closes pooled connections left idle this long
	// (default 30s).
	IdleTimeout time.Duration
	// DialTimeout bounds opening a connection: TCP, greeting, EHLO, TLS
	// and AUTH (default 10s). SendTimeout bounds one message on an open
	// connection (default 30s).
	DialTimeout, SendTimeout time.Duration
	// TLSConfig is cloned for every connection; nil means the system roots.
	// An empty ServerName becomes Server.Host. Tests pass one trusting
	// their own certificate.
	TLSConfig *tls.Config
	// HelloName is the EHLO name (default os.Hostname()).
	HelloName string
}

// The defaults for Options.
const (
	DefaultMaxConnsPerServer = 4
	DefaultIdleTimeout       = 30 * time.Second
	DefaultDialTimeout       = 10 * time.Second
	DefaultSendTimeout       = 30 * time.Second
)

// errClosed is the Retry detail for a Send after Close.
var errClosed = errors.New("email sender is closed")

// Sender sends messages over pooled SMTP connections, one pool per Server
// (every field counts, so a changed password is simply a new pool and the
// old one ages out). It is safe for concurrent use.
type Sender struct {
	opts Options

	mu     sync.Mutex
	pools  map[poolKey]*pool
	closed bool

	stop chan struct{} // closed by Close to end the janitor
	done chan struct{} // closed when the janitor has ended
}

// NewSender returns a Sender; Close it to release its connections.
func NewSender(opts Options) *Sender {
	if opts.MaxConnsPerServer <= 0 {
		opts.MaxConnsPerServer = DefaultMaxConnsPerServer
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	if opts.SendTimeout <= 0 {
		opts.SendTimeout = DefaultSendTimeout
	}
	if opts.HelloName == "" {
		// go-mail refuses an empty EHLO name.
		opts.HelloName = "localhost"
		if h, err := os.Hostname(); err == nil && h != "" {
			opts.HelloName = h
		}
	}
	s := &Sender{
		opts:  opts,
		pools: make(map[poolKey]*pool),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go s.janitor()
	return s
}

// Send sends msgs (one batch, typically up to ~100) to srv and returns
// one Result per message, in order. The batch is spread over up to
// MaxConnsPerServer connections, which stay open for later calls.
//
// Send never returns before every message has a Result, and never takes
// much longer than ctx allows: a connection in use when ctx ends is closed.
func (s *Sender) Send(ctx context.Context, srv Server, msgs []Message) []Result {
	results := make([]Result, len(msgs))
	built := make([]*gomail.Msg, len(msgs))
	queue := make(chan int, len(msgs))
	for i, m := range msgs {
		b, err := build(m)
		if err != nil {
			results[i] = Result{Verdict: Rejected, Detail: err.Error()}
			continue
		}
		built[i] = b
		queue <- i
	}
	close(queue)
	if len(queue) == 0 {
		return results
	}

	failure := s.sendAll(ctx, srv, queue, built, results)
	// Whatever was not attempted (no connection, ctx ended) is worth
	// another try: nothing is known about those recipients.
	for i := range results {
		if results[i].Verdict == 0 {
			if failure == nil {
				failure = errors.New("message not attempted") // not expected: drain stops early only with an error
			}
			results[i] = Result{Verdict: Retry, Code: replyCode(failure), Detail: failure.Error()}
		}
	}
	return results
}

// sendAll drains queue over up to MaxConnsPerServer connections and
// returns why a message was left unattempted, if one was.
func (s *Sender) sendAll(ctx context.Context, srv Server, queue <-chan int, msgs []*gomail.Msg, results []Result) error {
	if err := srv.validate(); err != nil {
		return err
	}
	p, err := s.acquirePool(srv)
	if err != nil {
		return err
	}
	defer s.releasePool(p)

	workers := min(s.opts.MaxConnsPerServer, len(queue))
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { errs[w] = p.drain(ctx, queue, msgs, results) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Close closes the idle connections and makes later Sends return Retry;
// connections in use are closed as their Send finishes.
func (s *Sender) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	pools := s.pools
	s.pools = make(map[poolKey]*pool)
	s.mu.Unlock()

	close(s.stop)
	<-s.done
	for _, p := range pools {
		p.close()
	}
	return nil
}

func (s *Sender) acquirePool(srv Server) (*pool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errClosed
	}
	key := srv.key()
	p, ok := s.pools[key]
	if !ok {
		p = newPool(srv, s.opts)
		s.pools[key] = p
	}
	// users keeps the janitor from dropping a pool a Send is about to use.
	p.users++
	return p, nil
}

func (s *Sender) releasePool(p *pool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p.users--
}

// janitor closes idle connections and forgets empty pools, so an old
// password's pool or a server no longer used costs nothing.
func (s *Sender) janitor() {
	defer close(s.done)
	t := time.NewTicker(max(s.opts.IdleTimeout/2, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			s.evictIdle(now)
		}
	}
}

// evictIdle closes connections idle since before now-IdleTimeout and drops
// pools left with no connection and no Send using them.
func (s *Sender) evictIdle(now time.Time) {
	s.mu.Lock()
	var stale []*conn
	for key, p := range s.pools {
		stale = append(stale, p.takeIdleBefore(now.Add(-s.opts.IdleTimeout))...)
		if p.users == 0 && p.empty() {
			delete(s.pools, key)
		}
	}
	s.mu.Unlock()
	// QUIT waits for the server; do it outside the lock.
	closeAll(stale)
}

// classify maps the SMTP reply code of a failed message (0 when no reply
// came) to a verdict, and says whether the connection is still usable.
func classify(code int) (v Verdict, usable bool) {
	switch {
	case code == 0:
		// No reply: the connection itself failed.
		return Retry, false
	case code == 421:
		// "Service not available, closing transmission channel".
		return Retry, false
	case code == 530:
		// "Authentication required" (RFC 4954) is about the account's
		// settings, not the recipient; rejecting would bounce everyone.
		return Retry, true
	case code >= 500:
		return Rejected, true
	default:
		return Retry, true
	}
}

// replyCode is the SMTP reply code inside err, 0 when there is none.
func replyCode(err error) int {
	var tpErr *textproto.Error
	if errors.As(err, &tpErr) {
		return tpErr.Code
	}
	var sendErr *gomail.SendError
	if errors.As(err, &sendErr) {
		return sendErr.ErrorCode()
	}
	return 0
}
