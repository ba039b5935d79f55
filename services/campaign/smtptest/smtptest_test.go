package smtptest

import (
	"crypto/tls"
	"errors"
	"net"
	"net/smtp"
	"net/textproto"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The client side is the standard library's net/smtp, independent of the
// go-mail client these servers exist to test.

func dial(t *testing.T, s *Server) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	return c
}

func send(c *smtp.Client, from string, to []string, data string) error {
	if err := c.Mail(from); err != nil {
		return err
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(data)); err != nil {
		return err
	}
	return w.Close()
}

func replyCode(err error) int {
	var tpErr *textproto.Error
	if errors.As(err, &tpErr) {
		return tpErr.Code
	}
	return 0
}

func TestReceive(t *testing.T) {
	s := Start(t)
	if s.Host() != "127.0.0.1" || s.Port() == 0 || s.Addr() != net.JoinHostPort(s.Host(), strconv.Itoa(s.Port())) {
		t.Errorf("Addr %s, Host %s, Port %d", s.Addr(), s.Host(), s.Port())
	}
	c := dial(t, s)
	if err := send(c, "a@example.com", []string{"b@example.com", "c@example.com"}, "Subject: one\r\n\r\nbody 1\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "a@example.com", []string{"d@example.com"}, "Subject: two\r\n\r\n.dot\r\n"); err != nil {
		t.Fatal(err)
	}

	got := s.WaitFor(t, 2, 10*time.Second)
	if len(got) != 2 || s.Count() != 2 {
		t.Fatalf("got %d messages, Count %d, want 2", len(got), s.Count())
	}
	if got[0].From != "a@example.com" || strings.Join(got[0].To, ",") != "b@example.com,c@example.com" || string(got[0].Data) != "Subject: one\r\n\r\nbody 1\r\n" {
		t.Errorf("first = %+v (%q)", got[0], got[0].Data)
	}
	// Dot-stuffing undone, the envelope reset between messages.
	if strings.Join(got[1].To, ",") != "d@example.com" || string(got[1].Data) != "Subject: two\r\n\r\n.dot\r\n" {
		t.Errorf("second = %+v (%q)", got[1], got[1].Data)
	}
	if got[0].TLS || got[0].AuthUser != "" {
		t.Errorf("first TLS=%v AuthUser=%q, want neither", got[0].TLS, got[0].AuthUser)
	}
	if s.Connections() != 1 {
		t.Errorf("Connections = %d, want 1", s.Connections())
	}
	if s.CertPool() != nil || s.TLSConfig() != nil {
		t.Error("a server without TLS has a certificate")
	}
}

func TestRejectRecipient(t *testing.T) {
	s := Start(t)
	s.RejectRecipient("Bad@Example.com", 550)
	s.RejectRecipient("later@example.com", 451)
	c := dial(t, s)

	if err := c.Mail("a@example.com"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("bad@example.com"); replyCode(err) != 550 {
		t.Errorf("RCPT bad = %v, want 550", err)
	}
	if err := c.Rcpt("later@example.com"); replyCode(err) != 451 {
		t.Errorf("RCPT later = %v, want 451", err)
	}
	if err := c.Reset(); err != nil {
		t.Fatal(err)
	}

	s.RejectRecipient("bad@example.com", 0)
	if err := send(c, "a@example.com", []string{"bad@example.com"}, "\r\n"); err != nil {
		t.Errorf("accepted again: %v", err)
	}
}

func TestCloseConnections(t *testing.T) {
	s := Start(t)
	c := dial(t, s)
	if err := c.Noop(); err != nil {
		t.Fatal(err)
	}
	s.CloseConnections()
	if err := c.Noop(); err == nil {
		t.Error("NOOP on a dropped connection succeeded")
	}
	// The server still takes new ones.
	if err := dial(t, s).Noop(); err != nil {
		t.Fatal(err)
	}
	if s.Connections() != 2 {
		t.Errorf("Connections = %d, want 2", s.Connections())
	}
}

func TestStartTLSWithAuth(t *testing.T) {
	s := Start(t, WithStartTLS(), WithAuth("kizuna", "s3cret"))
	c := dial(t, s)
	if ok, _ := c.Extension("STARTTLS"); !ok {
		t.Fatal("STARTTLS not offered")
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH offered before TLS")
	}
	if err := c.Mail("a@example.com"); replyCode(err) != 502 {
		t.Errorf("MAIL before AUTH = %v, want 502", err)
	}

	conf := s.TLSConfig()
	conf.ServerName = s.Host()
	if err := c.StartTLS(conf); err != nil {
		t.Fatalf("StartTLS with the server's pool: %v", err)
	}
	if ok, mechs := c.Extension("AUTH"); !ok || mechs != "PLAIN" {
		t.Errorf("AUTH after TLS = %v %q, want PLAIN", ok, mechs)
	}
	if err := c.Auth(smtp.PlainAuth("", "kizuna", "s3cret", s.Host())); err != nil {
		t.Fatalf("AUTH: %v", err)
	}
	if err := send(c, "a@example.com", []string{"b@example.com"}, "\r\nhi\r\n"); err != nil {
		t.Fatal(err)
	}
	if got := s.WaitFor(t, 1, 10*time.Second)[0]; !got.TLS || got.AuthUser != "kizuna" {
		t.Errorf("received TLS=%v AuthUser=%q", got.TLS, got.AuthUser)
	}

	// net/smtp hangs up after a failed AUTH, hence a connection of its own.
	c = dial(t, s)
	if err := c.StartTLS(conf); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(smtp.PlainAuth("", "kizuna", "wrong", s.Host())); replyCode(err) != 535 {
		t.Errorf("AUTH with a wrong password = %v, want 535", err)
	}
}

func TestImplicitTLS(t *testing.T) {
	s := Start(t, WithImplicitTLS())
	conf := s.TLSConfig()
	conf.ServerName = s.Host()
	conn, err := tls.Dial("tcp", s.Addr(), conf)
	if err != nil {
		t.Fatalf("TLS dial with the server's pool: %v", err)
	}
	c, err := smtp.NewClient(conn, s.Host())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := send(c, "a@example.com", []string{"b@example.com"}, "\r\nhi\r\n"); err != nil {
		t.Fatal(err)
	}
	if got := s.WaitFor(t, 1, 10*time.Second)[0]; !got.TLS {
		t.Error("received without TLS")
	}

	// An untrusting client fails the handshake.
	if conn, err := tls.Dial("tcp", s.Addr(), &tls.Config{ServerName: s.Host()}); err == nil {
		_ = conn.Close()
		t.Error("TLS dial without the server's pool succeeded")
	}
}

func TestDiscard(t *testing.T) {
	s, err := NewServer(WithDiscard())
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s)
	for range 3 {
		if err := send(c, "a@example.com", []string{"b@example.com"}, "\r\nhi\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	if s.Count() != 3 || len(s.Messages()) != 0 {
		t.Errorf("Count %d, kept %d, want 3 and 0", s.Count(), len(s.Messages()))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Noop(); err == nil {
		t.Error("connection survived Close")
	}
}
