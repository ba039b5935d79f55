package email

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// quitTimeout bounds the polite QUIT when a pooled connection is closed.
const quitTimeout = time.Second

// poolKey identifies a Server without keeping its password in the map.
type poolKey [sha256.Size]byte

func (srv Server) key() poolKey {
	h := sha256.New()
	for _, field := range []string{srv.Host, strconv.Itoa(srv.Port), strconv.Itoa(int(srv.Security)), srv.Username, srv.Password} {
		// Length-prefixed, so that no two different Servers hash alike.
		h.Write(binary.AppendUvarint(nil, uint64(len(field))))
		h.Write([]byte(field))
	}
	return poolKey(h.Sum(nil))
}

func (srv Server) validate() error {
	switch {
	case srv.Host == "" || strings.ContainsAny(srv.Host, "/ \t\r\n"):
		return fmt.Errorf("invalid SMTP server: host %q", srv.Host)
	case srv.Port < 1 || srv.Port > 65535:
		return fmt.Errorf("invalid SMTP server: port %d", srv.Port)
	case srv.Security < SecurityNone || srv.Security > SecurityTLS:
		return fmt.Errorf("invalid SMTP server: security %v", srv.Security)
	}
	return nil
}

// pool holds the connections to one Server. A token in tokens stands for
// a connection in use (or being opened); idle ones hold none. Since a
// connection is only opened when none is idle, open connections never
// outnumber the tokens, MaxConnsPerServer.
type pool struct {
	srv    Server
	addr   string // host:port
	opts   Options
	tls    *tls.Config
	tokens chan struct{}

	mu     sync.Mutex
	idle   []*conn // most recently used last
	closed bool

	users int // Sends using the pool; guarded by Sender.mu
}

func newPool(srv Server, opts Options) *pool {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if opts.TLSConfig != nil {
		tlsConf = opts.TLSConfig.Clone()
	}
	if tlsConf.ServerName == "" {
		tlsConf.ServerName = srv.Host
	}
	return &pool{
		srv:    srv,
		addr:   net.JoinHostPort(srv.Host, strconv.Itoa(srv.Port)),
		opts:   opts,
		tls:    tlsConf,
		tokens: make(chan struct{}, opts.MaxConnsPerServer),
	}
}

// drain sends messages from queue over one connection at a time until the
// queue is empty, replacing the connection when it breaks. It returns why
// it stopped early (no connection, ctx ended), leaving the messages it did
// not attempt without a Result.
func (p *pool) drain(ctx context.Context, queue <-chan int, msgs []*gomail.Msg, results []Result) error {
	var c *conn
	defer func() {
		if c != nil {
			p.release(c)
		}
	}()
	for {
		if c == nil {
			// No connection is opened for an already empty queue.
			if len(queue) == 0 {
				return nil
			}
			var err error
			if c, err = p.acquire(ctx); err != nil {
				return err
			}
		}
		i, ok := <-queue
		if !ok {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("send to %s: %w", p.addr, err)
		}
		results[i] = c.send(ctx, msgs[i])
		if c.broken {
			p.release(c)
			c = nil
		}
	}
}

// acquire returns a live connection, idle or new, once fewer than
// MaxConnsPerServer are in use.
func (p *pool) acquire(ctx context.Context) (*conn, error) {
	// select picks at random when both are ready; a done ctx must win.
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("send to %s: %w", p.addr, err)
	}
	select {
	case p.tokens <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for a connection to %s: %w", p.addr, ctx.Err())
	}
	for {
		c, err := p.popIdle()
		if err != nil {
			<-p.tokens
			return nil, err
		}
		if c == nil {
			break
		}
		// The server may have hung up while the connection sat idle
		// (its own idle timeout, a restart); a NOOP finds out before a
		// message is spent on it.
		if c.noop(ctx, p.opts.DialTimeout) == nil {
			return c, nil
		}
		c.close()
	}
	c, err := p.dial(ctx)
	if err != nil {
		<-p.tokens
		return nil, err
	}
	return c, nil
}

func (p *pool) popIdle() (*conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errClosed
	}
	if len(p.idle) == 0 {
		return nil, nil
	}
	c := p.idle[len(p.idle)-1]
	p.idle = p.idle[:len(p.idle)-1]
	return c, nil
}

// release returns c to the idle list, or closes it when it is broken or
// the pool is closed.
func (p *pool) release(c *conn) {
	p.mu.Lock()
	keep := !c.broken && !p.closed
	if keep {
		c.lastUsed = time.Now()
		p.idle = append(p.idle, c)
	}
	p.mu.Unlock()
	if !keep {
		c.close()
	}
	<-p.tokens
}

// takeIdleBefore removes and returns the connections idle since before t.
func (p *pool) takeIdleBefore(t time.Time) []*conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	var stale []*conn
	p.idle = slices.DeleteFunc(p.idle, func(c *conn) bool {
		if c.lastUsed.Before(t) {
			stale = append(stale, c)
			return true
		}
		return false
	})
	return stale
}

// empty reports whether no connection is open or in use.
func (p *pool) empty() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle) == 0 && len(p.tokens) == 0
}

// close closes the idle connections and makes the pool refuse new ones;
// those in use are closed on release.
func (p *pool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	closeAll(idle)
}

// closeAll closes conns in parallel, so that slow servers cost one
// quitTimeout, not one each.
func closeAll(conns []*conn) {
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(c.close)
	}
	wg.Wait()
}

// dial opens a connection: TCP, TLS as srv.Security asks, EHLO, AUTH.
func (p *pool) dial(ctx context.Context) (*conn, error) {
	ctx, cancel := context.WithTimeout(ctx, p.opts.DialTimeout)
	defer cancel()

	c := &conn{}
	var stop func() bool
	// Our own dialer, to hold the TCP socket: go-mail takes no context
	// once connected, so closing the socket is the only way to stop it.
	dialFn := func(dctx context.Context, _, _ string) (net.Conn, error) {
		raw, err := (&net.Dialer{}).DialContext(dctx, "tcp", p.addr)
		if err != nil {
			return nil, err
		}
		c.raw = raw
		// Bounds the greeting, EHLO, STARTTLS and AUTH by DialTimeout and
		// the caller's ctx; go-mail would give them SendTimeout.
		stop = context.AfterFunc(ctx, func() { _ = raw.Close() })
		if p.srv.Security != SecurityTLS {
			return raw, nil
		}
		tc := tls.Client(raw, p.tls)
		if err := tc.HandshakeContext(dctx); err != nil {
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		return tc, nil
	}

	policy := gomail.NoTLS
	if p.srv.Security == SecurityStartTLS {
		// Mandatory: go-mail fails when the server does not offer STARTTLS.
		policy = gomail.TLSMandatory
	}
	opts := []gomail.Option{
		gomail.WithPort(p.srv.Port),
		gomail.WithTimeout(p.opts.SendTimeout),
		gomail.WithHELO(p.opts.HelloName),
		gomail.WithDialContextFunc(dialFn),
		gomail.WithTLSConfig(p.tls),
		gomail.WithTLSPolicy(policy),
		// acquire checks idle connections itself; go-mail would NOOP
		// before every single message.
		gomail.WithoutNoop(),
		// A completed DATA already ends the transaction (RFC 5321
		// 4.1.1.4); go-mail's RSET after each message is a wasted round
		// trip. It still resets after a failed MAIL or RCPT, as does send.
		gomail.WithoutRset(),
	}
	if p.srv.Username != "" {
		opts = append(opts, gomail.WithSMTPAuthCustom(&plainOrLogin{user: p.srv.Username, pass: p.srv.Password, host: p.srv.Host}))
	}
	client, err := gomail.NewClient(p.srv.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("configure SMTP client for %s: %w", p.addr, err)
	}
	sc, err := client.DialToSMTPClientWithContext(ctx)
	if stop != nil && !stop() && err == nil {
		// ctx ended just as the handshake finished: the socket is closed.
		err = ctx.Err()
	}
	if err != nil {
		// go-mail leaves the socket open when EHLO, STARTTLS or AUTH fails.
		if c.raw != nil {
			_ = c.raw.Close()
		}
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w: %w", ctxErr, err)
		}
		return nil, fmt.Errorf("connect to %s (%v): %w", p.addr, p.srv.Security, err)
	}
	c.client, c.smtp = client, sc
	return c, nil
}

// conn is one pooled SMTP connection, used by one goroutine at a time.
type conn struct {
	raw      net.Conn // the TCP socket, under any TLS
	client   *gomail.Client
	smtp     *smtp.Client
	lastUsed time.Time
	broken   bool
}

// send sends one message and classifies the outcome.
func (c *conn) send(ctx context.Context, msg *gomail.Msg) Result {
	err := c.guard(ctx, func() error { return c.client.SendWithSMTPClient(c.smtp, msg) })
	if err == nil || msg.IsDelivered() {
		return Result{Verdict: Delivered}
	}
	var sendErr *gomail.SendError
	code := 0
	if errors.As(err, &sendErr) {
		code = sendErr.ErrorCode()
	}
	verdict, usable := classify(code)
	if !usable {
		c.broken = true
	}
	// go-mail resets after a failed MAIL or RCPT but not after a failed
	// DATA; one more RSET leaves the connection clean either way.
	if !c.broken && c.guard(ctx, c.smtp.Reset) != nil {
		c.broken = true
	}
	return Result{Verdict: verdict, Code: code, Detail: err.Error()}
}

// noop checks an idle connection, bounded by DialTimeout: a server that
// does not answer a NOOP promptly is not worth keeping.
func (c *conn) noop(ctx context.Context, timeout time.Duration) error {
	if err := c.raw.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	return c.guard(ctx, c.smtp.Noop)
}

// guard runs f, closing the socket if ctx ends first.
func (c *conn) guard(ctx context.Context, f func() error) error {
	stop := context.AfterFunc(ctx, func() { _ = c.raw.Close() })
	err := f()
	if !stop() {
		c.broken = true
		if err != nil {
			err = fmt.Errorf("%w: %w", ctx.Err(), err)
		}
	}
	return err
}

// close says QUIT when the connection is healthy and closes the socket.
func (c *conn) close() {
	if !c.broken {
		_ = c.raw.SetDeadline(time.Now().Add(quitTimeout))
		_ = c.smtp.Quit()
	}
	_ = c.raw.Close()
}

// plainOrLogin authenticates with PLAIN, else LOGIN, whichever the server
// offers. go-mail's own discovery cannot be used: with a custom dialer it
// believes an implicit-TLS connection is unencrypted and never picks PLAIN
// or LOGIN. go-mail's mechanisms still refuse to send the password over an
// unencrypted connection, except to localhost.
type plainOrLogin struct {
	user, pass, host string
	chosen           smtp.Auth
}

func (a *plainOrLogin) Start(info *smtp.ServerInfo) (string, []byte, error) {
	offers := func(mech string) bool {
		return slices.ContainsFunc(info.Auth, func(m string) bool { return strings.EqualFold(m, mech) })
	}
	switch {
	case offers("PLAIN"):
		a.chosen = smtp.PlainAuth("", a.user, a.pass, a.host, false)
	case offers("LOGIN"):
		a.chosen = smtp.LoginAuth(a.user, a.pass, a.host, false)
	default:
		return "", nil, fmt.Errorf("server offers neither AUTH PLAIN nor LOGIN (offers %q)", strings.Join(info.Auth, " "))
	}
	return a.chosen.Start(info)
}

func (a *plainOrLogin) Next(fromServer []byte, more bool) ([]byte, error) {
	return a.chosen.Next(fromServer, more)
}
