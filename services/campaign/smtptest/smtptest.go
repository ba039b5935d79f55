// Package smtptest runs an in-process SMTP sink for tests: it accepts every
// message on 127.0.0.1 and keeps it for inspection. It can offer STARTTLS or
// implicit TLS with a self-signed certificate, require AUTH PLAIN, answer
// chosen recipients with an error, and drop its connections, which is enough
// to exercise a client's TLS, authentication, error and pooling paths.
package smtptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Received is one message as it arrived.
type Received struct {
	// From and To are the envelope (MAIL FROM and RCPT TO), not headers.
	From string
	To   []string
	// Data is the raw RFC 5322 message, as the client sent it after DATA.
	Data []byte
	// TLS reports whether the session was encrypted when DATA arrived.
	TLS bool
	// AuthUser is the user name the session authenticated as, if any.
	AuthUser string
}

// Option configures a Server.
type Option func(*config)

type config struct {
	startTLS, implicitTLS bool
	username, password    string
	discard               bool
}

// WithStartTLS offers STARTTLS with a self-signed certificate for
// 127.0.0.1, ::1 and localhost; clients trust it through TLSConfig.
func WithStartTLS() Option { return func(c *config) { c.startTLS = true } }

// WithImplicitTLS makes the server speak TLS from the first byte (SMTPS,
// port 465 style) with the same self-signed certificate.
func WithImplicitTLS() Option { return func(c *config) { c.implicitTLS = true } }

// WithAuth offers AUTH PLAIN (only once the session is encrypted, as real
// servers do) and refuses MAIL FROM until the client has authenticated
// with this user name and password.
func WithAuth(username, password string) Option {
	return func(c *config) { c.username, c.password = username, password }
}

// WithDiscard counts messages without keeping them, so a benchmark's
// memory does not grow with b.N. Messages then returns nothing; use Count.
func WithDiscard() Option { return func(c *config) { c.discard = true } }

// Server is a running SMTP sink. Its methods are safe for concurrent use.
type Server struct {
	cfg      config
	smtp     *smtp.Server
	ln       net.Listener
	served   chan struct{} // closed when Serve returns
	tlsConf  *tls.Config   // server side; nil without TLS
	certPool *x509.CertPool

	mu       sync.Mutex
	msgs     []Received
	count    int
	accepted int
	open     map[net.Conn]struct{}
	rejects  map[string]int
	arrived  chan struct{} // closed and replaced whenever a message arrives
}

// Start starts a Server on 127.0.0.1 and stops it when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := NewServer(opts...)
	if err != nil {
		t.Fatalf("smtptest: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// NewServer starts a Server on 127.0.0.1 with a free port, for use outside
// tests (benchmarks, manual runs). Stop it with Close.
func NewServer(opts ...Option) (*Server, error) {
	s := &Server{
		served:  make(chan struct{}),
		open:    make(map[net.Conn]struct{}),
		rejects: make(map[string]int),
		arrived: make(chan struct{}),
	}
	for _, o := range opts {
		o(&s.cfg)
	}
	if s.cfg.startTLS || s.cfg.implicitTLS {
		cert, pool, err := selfSigned()
		if err != nil {
			return nil, err
		}
		s.tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.certPool = pool
	}

	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("smtptest: listen: %w", err)
	}
	// Counting below TLS so that Connections and CloseConnections see the
	// TCP connections, and go-smtp still sees *tls.Conn for implicit TLS.
	s.ln = &countingListener{Listener: tcp, s: s}
	ln := s.ln
	if s.cfg.implicitTLS {
		ln = tls.NewListener(s.ln, s.tlsConf)
	}

	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.MaxMessageBytes = 10 << 20
	srv.ReadTimeout = time.Minute
	srv.WriteTimeout = time.Minute
	// A client hanging up is normal here; go-smtp would log it to stderr.
	srv.ErrorLog = log.New(io.Discard, "", 0)
	if s.cfg.startTLS {
		srv.TLSConfig = s.tlsConf
	}
	s.smtp = srv

	go func() {
		defer close(s.served)
		_ = srv.Serve(ln)
	}()
	return s, nil
}

// Close stops the server and closes its connections.
func (s *Server) Close() error {
	err := s.smtp.Close()
	<-s.served
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// Addr is the listening address, host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Host is the listening IP, always 127.0.0.1.
func (s *Server) Host() string { return s.ln.Addr().(*net.TCPAddr).IP.String() }

// Port is the listening port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// CertPool holds the self-signed certificate, nil without TLS.
func (s *Server) CertPool() *x509.CertPool { return s.certPool }

// TLSConfig is a client configuration trusting the server's certificate,
// nil without TLS.
func (s *Server) TLSConfig() *tls.Config {
	if s.certPool == nil {
		return nil
	}
	return &tls.Config{RootCAs: s.certPool, MinVersion: tls.VersionTLS12}
}

// Messages returns what arrived so far, in order.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.msgs...)
}

// Count is the number of messages accepted so far, kept or discarded.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// WaitFor waits until at least n messages have arrived and returns them
// all; it fails the test if they do not arrive within timeout.
func (s *Server) WaitFor(t testing.TB, n int, timeout time.Duration) []Received {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		count, arrived := s.count, s.arrived
		s.mu.Unlock()
		if count >= n {
			return s.Messages()
		}
		select {
		case <-arrived:
		case <-deadline.C:
			t.Fatalf("smtptest: %d of %d messages arrived within %v", count, n, timeout)
			return nil
		}
	}
}

// Connections is the number of TCP connections accepted so far.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

// CloseConnections drops every open connection without a word, as a
// restarting server or a NAT timeout would, so a client's pool must notice.
func (s *Server) CloseConnections() {
	s.mu.Lock()
	conns := make([]net.Conn, 0, len(s.open))
	for c := range s.open {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// RejectRecipient makes RCPT TO:<addr> answer code (a 4xx or 5xx), from
// now on. A code of 0 accepts the address again.
func (s *Server) RejectRecipient(addr string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if code == 0 {
		delete(s.rejects, strings.ToLower(addr))
		return
	}
	s.rejects[strings.ToLower(addr)] = code
}

func (s *Server) rejection(addr string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	code, ok := s.rejects[strings.ToLower(addr)]
	return code, ok
}

func (s *Server) add(r Received) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count++
	if !s.cfg.discard {
		s.msgs = append(s.msgs, r)
	}
	close(s.arrived)
	s.arrived = make(chan struct{})
}

// session is one SMTP session; go-smtp calls it from one goroutine.
type session struct {
	s        *Server
	conn     *smtp.Conn
	authUser string
	from     string
	to       []string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	if ss.s.cfg.username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(mech string) (sasl.Server, error) {
	if ss.s.cfg.username == "" || mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != ss.s.cfg.username || password != ss.s.cfg.password {
			return smtp.ErrAuthFailed
		}
		ss.authUser = username
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.cfg.username != "" && ss.authUser == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if code, ok := ss.s.rejection(to); ok {
		enhanced := smtp.EnhancedCode{5, 1, 1}
		if code < 500 {
			enhanced = smtp.EnhancedCode{4, 2, 1}
		}
		return &smtp.SMTPError{Code: code, EnhancedCode: enhanced, Message: "recipient rejected by smtptest"}
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("smtptest: read data: %w", err)
	}
	_, isTLS := ss.conn.TLSConnectionState()
	ss.s.add(Received{From: ss.from, To: ss.to, Data: data, TLS: isTLS, AuthUser: ss.authUser})
	return nil
}

func (ss *session) Reset() {
	ss.from, ss.to = "", nil
}

func (ss *session) Logout() error { return nil }

// countingListener counts accepted connections and tracks the open ones.
type countingListener struct {
	net.Listener
	s *Server
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, s: l.s}
	l.s.mu.Lock()
	l.s.accepted++
	l.s.open[tc] = struct{}{}
	l.s.mu.Unlock()
	return tc, nil
}

type trackedConn struct {
	net.Conn
	s *Server
}

func (c *trackedConn) Close() error {
	c.s.mu.Lock()
	delete(c.s.open, c)
	c.s.mu.Unlock()
	return c.Conn.Close()
}

// selfSigned makes a throwaway certificate for the loopback names.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("smtptest: generate key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{"smtptest"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		// Self-signed and trusted directly, so it is its own CA.
		IsCA:        true,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:    []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("smtptest: create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("smtptest: parse certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}
