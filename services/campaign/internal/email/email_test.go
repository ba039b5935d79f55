package email

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/campaign/smtptest"
)

// waitTimeout only bounds a broken test; no assertion depends on timing.
const waitTimeout = 10 * time.Second

func plainServer(s *smtptest.Server) Server {
	return Server{Host: s.Host(), Port: s.Port(), Security: SecurityNone}
}

func newSender(t testing.TB, opts Options) *Sender {
	t.Helper()
	s := NewSender(opts)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func testMessage(i int) Message {
	return Message{
		MessageID:   fmt.Sprintf("snd_%04d@kizuna", i),
		FromAddress: "shop@example.com",
		FromName:    "キズナ商店",
		ToAddress:   fmt.Sprintf("user%d@example.com", i),
		Subject:     fmt.Sprintf("お知らせ %d", i),
		Text:        "本文です。",
	}
}

func batch(from, n int) []Message {
	msgs := make([]Message, n)
	for i := range msgs {
		msgs[i] = testMessage(from + i)
	}
	return msgs
}

func wantVerdicts(t *testing.T, got []Result, want ...Verdict) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d results, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Verdict != want[i] {
			t.Errorf("result %d = %+v, want %v", i, got[i], want[i])
		}
	}
}

func allDelivered(t *testing.T, got []Result) {
	t.Helper()
	for i, r := range got {
		if r.Verdict != Delivered {
			t.Fatalf("result %d = %+v, want delivered", i, r)
		}
	}
}

func TestSendJapaneseRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
	}{
		{
			name: "text and HTML",
			msg: Message{
				MessageID:      "snd_0190a1b2-c3d4@kizuna",
				FromAddress:    "shop@example.com",
				FromName:       "キズナ商店",
				ReplyTo:        "support@example.com",
				ToAddress:      "hanako@example.jp",
				ToName:         "山田 花子",
				Subject:        "山田花子さん、ようこそ",
				Text:           "山田花子さん\r\n\r\nご登録ありがとうございます。\r\n.ドットで始まる行\r\n",
				HTML:           "<p>山田花子さん</p>\n<p>ご登録ありがとうございます。</p>\n",
				UnsubscribeURL: "https://kizuna.example/u/abc?t=1&x=2",
			},
		},
		{
			name: "text only, long subject, quotes in names",
			msg: Message{
				MessageID:   "snd_2@kizuna",
				FromAddress: "shop@example.com",
				FromName:    `"キズナ" <商店>`,
				ToAddress:   "taro@example.jp",
				ToName:      "Taro 太郎, Jr.",
				Subject:     strings.Repeat("春の大感謝祭、全品ポイント十倍キャンペーン開催中！", 4),
				Text:        strings.Repeat("長い本文の行です。", 200),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := smtptest.Start(t)
			res := newSender(t, Options{}).Send(context.Background(), plainServer(srv), []Message{tt.msg})
			wantVerdicts(t, res, Delivered)

			got := srv.WaitFor(t, 1, waitTimeout)[0]
			if got.From != tt.msg.FromAddress || len(got.To) != 1 || got.To[0] != tt.msg.ToAddress {
				t.Errorf("envelope = %s -> %v", got.From, got.To)
			}
			for i, b := range got.Data {
				if b >= 0x80 {
					t.Fatalf("byte %d of the raw message is not 7-bit: %q", i, got.Data[max(0, i-20):i+1])
				}
			}
			checkMessage(t, got.Data, tt.msg)
		})
	}
}

// checkMessage parses raw with the standard library only and compares
// every field with what was sent.
func checkMessage(t *testing.T, raw []byte, want Message) {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("ReadMessage: %v\n%s", err, raw)
	}
	dec := new(mime.WordDecoder)
	addrs := mail.AddressParser{WordDecoder: dec}

	subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil || subject != want.Subject {
		t.Errorf("Subject = %q (%v), want %q", subject, err, want.Subject)
	}
	from, err := addrs.Parse(m.Header.Get("From"))
	if err != nil || from.Name != want.FromName || from.Address != want.FromAddress {
		t.Errorf("From = %+v (%v) from %q", from, err, m.Header.Get("From"))
	}
	to, err := addrs.Parse(m.Header.Get("To"))
	if err != nil || to.Name != want.ToName || to.Address != want.ToAddress {
		t.Errorf("To = %+v (%v) from %q", to, err, m.Header.Get("To"))
	}
	if want.ReplyTo == "" {
		if v := m.Header.Get("Reply-To"); v != "" {
			t.Errorf("Reply-To = %q, want none", v)
		}
	} else if rt, err := addrs.Parse(m.Header.Get("Reply-To")); err != nil || rt.Address != want.ReplyTo {
		t.Errorf("Reply-To = %+v (%v)", rt, err)
	}
	if got := m.Header.Get("Message-ID"); got != "<"+want.MessageID+">" {
		t.Errorf("Message-ID = %q, want <%s>", got, want.MessageID)
	}
	if got := m.Header.Get("MIME-Version"); got != "1.0" {
		t.Errorf("MIME-Version = %q", got)
	}
	if date, err := m.Header.Date(); err != nil || time.Since(date) > time.Hour || time.Until(date) > time.Hour {
		t.Errorf("Date = %v (%v)", date, err)
	}
	if want.UnsubscribeURL == "" {
		if v := m.Header.Get("List-Unsubscribe"); v != "" {
			t.Errorf("List-Unsubscribe = %q, want none", v)
		}
	} else {
		if got := m.Header.Get("List-Unsubscribe"); got != "<"+want.UnsubscribeURL+">" {
			t.Errorf("List-Unsubscribe = %q, want <%s>", got, want.UnsubscribeURL)
		}
		if got := m.Header.Get("List-Unsubscribe-Post"); got != "List-Unsubscribe=One-Click" {
			t.Errorf("List-Unsubscribe-Post = %q", got)
		}
	}

	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatalf("Content-Type %q: %v", m.Header.Get("Content-Type"), err)
	}
	parts := map[string]string{}
	if want.HTML == "" {
		if mediaType != "text/plain" || !strings.EqualFold(params["charset"], "utf-8") {
			t.Errorf("Content-Type = %q, want text/plain; charset=UTF-8", m.Header.Get("Content-Type"))
		}
		parts[mediaType] = decodeBody(t, m.Header.Get("Content-Transfer-Encoding"), m.Body)
	} else {
		if mediaType != "multipart/alternative" {
			t.Fatalf("Content-Type = %q, want multipart/alternative", m.Header.Get("Content-Type"))
		}
		mr := multipart.NewReader(m.Body, params["boundary"])
		var order []string
		for {
			p, err := mr.NextRawPart() // raw: decode quoted-printable ourselves too
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("next part: %v", err)
			}
			pt, pp, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
			if err != nil || !strings.EqualFold(pp["charset"], "utf-8") {
				t.Errorf("part Content-Type = %q (%v), want charset UTF-8", p.Header.Get("Content-Type"), err)
			}
			parts[pt] = decodeBody(t, p.Header.Get("Content-Transfer-Encoding"), p)
			order = append(order, pt)
		}
		// RFC 2046: alternatives go from plainest to richest.
		if strings.Join(order, ",") != "text/plain,text/html" {
			t.Errorf("parts = %v, want text/plain then text/html", order)
		}
		if parts["text/html"] != want.HTML {
			t.Errorf("HTML = %q, want %q", parts["text/html"], want.HTML)
		}
	}
	if parts["text/plain"] != want.Text {
		t.Errorf("text = %q, want %q", parts["text/plain"], want.Text)
	}
}

func decodeBody(t *testing.T, cte string, r io.Reader) string {
	t.Helper()
	switch strings.ToLower(cte) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, r)
	case "quoted-printable":
		r = quotedprintable.NewReader(r)
	default:
		t.Errorf("Content-Transfer-Encoding = %q, want base64 or quoted-printable", cte)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode %s body: %v", cte, err)
	}
	return string(b)
}

func TestSendPoolsConnections(t *testing.T) {
	srv := smtptest.Start(t)
	s := newSender(t, Options{MaxConnsPerServer: 3})
	for b := range 3 {
		allDelivered(t, s.Send(context.Background(), plainServer(srv), batch(b*50, 50)))
	}
	if got := srv.Count(); got != 150 {
		t.Errorf("server received %d messages, want 150", got)
	}
	if got := srv.Connections(); got < 1 || got > 3 {
		t.Errorf("server accepted %d connections, want 1 to 3", got)
	}
	// The order within a batch is per connection, but every id arrives once.
	seen := map[string]bool{}
	for _, m := range srv.Messages() {
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		id := msg.Header.Get("Message-ID")
		if seen[id] {
			t.Errorf("%s arrived twice", id)
		}
		seen[id] = true
	}
}

func TestSendConcurrentCallsShareThePool(t *testing.T) {
	srv := smtptest.Start(t)
	s := newSender(t, Options{MaxConnsPerServer: 2})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for _, r := range s.Send(context.Background(), plainServer(srv), batch(g*20, 20)) {
				if r.Verdict != Delivered {
					t.Errorf("result %+v, want delivered", r)
				}
			}
		})
	}
	wg.Wait()
	if got := srv.Count(); got != 160 {
		t.Errorf("server received %d messages, want 160", got)
	}
	if got := srv.Connections(); got > 2 {
		t.Errorf("server accepted %d connections, want at most 2", got)
	}
}

func TestSendRecipientErrors(t *testing.T) {
	srv := smtptest.Start(t)
	srv.RejectRecipient("user1@example.com", 550)
	srv.RejectRecipient("user3@example.com", 451)
	// One connection, so each failure is followed by more messages on it.
	s := newSender(t, Options{MaxConnsPerServer: 1})

	res := s.Send(context.Background(), plainServer(srv), batch(0, 5))
	wantVerdicts(t, res, Delivered, Rejected, Delivered, Retry, Delivered)
	if res[1].Code != 550 || !strings.Contains(res[1].Detail, "550") {
		t.Errorf("rejected = %+v, want code 550 and a detail", res[1])
	}
	if res[3].Code != 451 || res[3].Detail == "" {
		t.Errorf("retry = %+v, want code 451 and a detail", res[3])
	}
	var to []string
	for _, m := range srv.Messages() {
		to = append(to, m.To...)
	}
	if got := strings.Join(to, " "); got != "user0@example.com user2@example.com user4@example.com" {
		t.Errorf("delivered to %s", got)
	}
	if got := srv.Connections(); got != 1 {
		t.Errorf("server accepted %d connections, want 1: a refused recipient must not cost the connection", got)
	}
}

func TestSendReplacesConnectionAfter421(t *testing.T) {
	srv := smtptest.Start(t)
	srv.RejectRecipient("user1@example.com", 421)
	s := newSender(t, Options{MaxConnsPerServer: 1})

	res := s.Send(context.Background(), plainServer(srv), batch(0, 3))
	wantVerdicts(t, res, Delivered, Retry, Delivered)
	if res[1].Code != 421 {
		t.Errorf("result = %+v, want code 421", res[1])
	}
	// 421 means the server is closing the channel: the rest of the batch
	// goes over a new connection.
	if got := srv.Connections(); got != 2 {
		t.Errorf("server accepted %d connections, want 2", got)
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		code   int
		want   Verdict
		usable bool
	}{
		{code: 0, want: Retry, usable: false},
		{code: 421, want: Retry, usable: false},
		{code: 450, want: Retry, usable: true},
		{code: 452, want: Retry, usable: true},
		{code: 530, want: Retry, usable: true},
		{code: 550, want: Rejected, usable: true},
		{code: 552, want: Rejected, usable: true},
		{code: 554, want: Rejected, usable: true},
	}
	for _, tt := range tests {
		if v, usable := classify(tt.code); v != tt.want || usable != tt.usable {
			t.Errorf("classify(%d) = %v, usable %v; want %v, usable %v", tt.code, v, usable, tt.want, tt.usable)
		}
	}
}

func TestSendInvalidMessages(t *testing.T) {
	srv := smtptest.Start(t)
	s := newSender(t, Options{})
	bad := func(edit func(*Message)) Message {
		m := testMessage(9)
		edit(&m)
		return m
	}
	msgs := []Message{
		testMessage(0),
		bad(func(m *Message) { m.ToAddress = "not-an-address" }),
		bad(func(m *Message) { m.ToAddress = "Hanako <hanako@example.jp>" }),
		bad(func(m *Message) { m.FromAddress = "shop@" }),
		bad(func(m *Message) { m.ReplyTo = "reply" }),
		bad(func(m *Message) { m.Text = "" }),
		bad(func(m *Message) { m.MessageID = "" }),
		bad(func(m *Message) { m.MessageID = "<snd_1@kizuna>" }),
		bad(func(m *Message) { m.UnsubscribeURL = "javascript:alert(1)" }),
		bad(func(m *Message) { m.UnsubscribeURL = "https://x.example/a>b" }),
		testMessage(1),
	}
	res := s.Send(context.Background(), plainServer(srv), msgs)
	wantVerdicts(t, res, Delivered, Rejected, Rejected, Rejected, Rejected, Rejected, Rejected, Rejected, Rejected, Rejected, Delivered)
	for i, r := range res[1 : len(res)-1] {
		if r.Detail == "" || r.Code != 0 {
			t.Errorf("result %d = %+v, want a detail and no code", i+1, r)
		}
	}
	if !strings.Contains(res[1].Detail, `invalid To address "not-an-address"`) {
		t.Errorf("detail = %q", res[1].Detail)
	}
	if got := srv.Count(); got != 2 {
		t.Errorf("server received %d messages, want 2", got)
	}
}

func TestSendUnreachableServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	_ = ln.Close()

	res := newSender(t, Options{}).Send(context.Background(), Server{Host: "127.0.0.1", Port: addr.Port, Security: SecurityNone}, batch(0, 3))
	wantVerdicts(t, res, Retry, Retry, Retry)
	if res[0].Code != 0 || !strings.Contains(res[0].Detail, "refused") {
		t.Errorf("result = %+v, want connection refused", res[0])
	}
}

// silentServer accepts connections and never says a word, like a
// firewall that lets SYNs through to a dead process.
func silentServer(t *testing.T) Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Go(func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	})
	return Server{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, Security: SecurityNone}
}

func TestSendNeverHangs(t *testing.T) {
	srv := silentServer(t)
	t.Run("dial timeout", func(t *testing.T) {
		res := newSender(t, Options{DialTimeout: 50 * time.Millisecond}).Send(context.Background(), srv, batch(0, 2))
		wantVerdicts(t, res, Retry, Retry)
		if !strings.Contains(res[0].Detail, "deadline exceeded") {
			t.Errorf("detail = %q", res[0].Detail)
		}
	})
	t.Run("context deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		res := newSender(t, Options{DialTimeout: time.Hour, SendTimeout: time.Hour}).Send(ctx, srv, batch(0, 2))
		wantVerdicts(t, res, Retry, Retry)
	})
	t.Run("context already cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		sink := smtptest.Start(t)
		res := newSender(t, Options{}).Send(ctx, plainServer(sink), batch(0, 2))
		wantVerdicts(t, res, Retry, Retry)
		if !strings.Contains(res[0].Detail, "context canceled") {
			t.Errorf("detail = %q", res[0].Detail)
		}
		if sink.Count() != 0 {
			t.Errorf("server received %d messages, want 0", sink.Count())
		}
	})
}

func TestSendReplacesBrokenConnections(t *testing.T) {
	srv := smtptest.Start(t)
	s := newSender(t, Options{MaxConnsPerServer: 2})
	allDelivered(t, s.Send(context.Background(), plainServer(srv), batch(0, 10)))
	before := srv.Connections()

	srv.CloseConnections()
	allDelivered(t, s.Send(context.Background(), plainServer(srv), batch(10, 10)))
	if srv.Count() != 20 {
		t.Errorf("server received %d messages, want 20", srv.Count())
	}
	if after := srv.Connections(); after <= before || after > before+2 {
		t.Errorf("connections went from %d to %d, want up to 2 new ones", before, after)
	}
}

func TestStartTLS(t *testing.T) {
	t.Run("required and used, with AUTH", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.WithStartTLS(), smtptest.WithAuth("kizuna", "s3cret"))
		s := newSender(t, Options{TLSConfig: srv.TLSConfig()})
		res := s.Send(context.Background(), Server{Host: srv.Host(), Port: srv.Port(), Security: SecurityStartTLS, Username: "kizuna", Password: "s3cret"}, batch(0, 3))
		allDelivered(t, res)
		for _, m := range srv.WaitFor(t, 3, waitTimeout) {
			if !m.TLS || m.AuthUser != "kizuna" {
				t.Errorf("received TLS=%v as %q, want TLS as kizuna", m.TLS, m.AuthUser)
			}
		}
	})
	t.Run("server without STARTTLS", func(t *testing.T) {
		srv := smtptest.Start(t)
		res := newSender(t, Options{}).Send(context.Background(), Server{Host: srv.Host(), Port: srv.Port(), Security: SecurityStartTLS}, batch(0, 2))
		wantVerdicts(t, res, Retry, Retry)
		if !strings.Contains(res[0].Detail, "STARTTLS") {
			t.Errorf("detail = %q", res[0].Detail)
		}
		if srv.Count() != 0 {
			t.Errorf("server received %d messages in clear", srv.Count())
		}
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.WithStartTLS())
		res := newSender(t, Options{}).Send(context.Background(), Server{Host: srv.Host(), Port: srv.Port(), Security: SecurityStartTLS}, batch(0, 1))
		wantVerdicts(t, res, Retry)
		if !strings.Contains(res[0].Detail, "certificate") {
			t.Errorf("detail = %q", res[0].Detail)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.WithStartTLS(), smtptest.WithAuth("kizuna", "s3cret"))
		s := newSender(t, Options{TLSConfig: srv.TLSConfig()})
		res := s.Send(context.Background(), Server{Host: srv.Host(), Port: srv.Port(), Security: SecurityStartTLS, Username: "kizuna", Password: "wrong"}, batch(0, 2))
		// The credentials are wrong, not the recipients: nothing is rejected.
		wantVerdicts(t, res, Retry, Retry)
		if res[0].Code != 535 {
			t.Errorf("result = %+v, want code 535", res[0])
		}
	})
	t.Run("no AUTH offered in clear", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.WithStartTLS(), smtptest.WithAuth("kizuna", "s3cret"))
		res := newSender(t, Options{}).Send(context.Background(), Server{Host: srv.Host(), Port: srv.Port(), Security: SecurityNone, Username: "kizuna", Password: "s3cret"}, batch(0, 1))
		wantVerdicts(t, res, Retry)
		if !strings.Contains(res[0].Detail, "neither AUTH PLAIN nor LOGIN") {
			t.Errorf("detail = %q", res[0].Detail)
		}
	})
}

func TestImplicitTLS(t *testing.T) {
	srv := smtptest.Start(t, smtptest.WithImplicitTLS(), smtptest.WithAuth("kizuna", "s3cret"))
	s := newSender(t, Options{TLSConfig: srv.TLSConfig()})
	res := s.Send(context.Background(), Server{Host: srv.Host(), Port: srv.Port(), Security: SecurityTLS, Username: "kizuna", Password: "s3cret"}, batch(0, 2))
	allDelivered(t, res)
	for _, m := range srv.WaitFor(t, 2, waitTimeout) {
		if !m.TLS || m.AuthUser != "kizuna" {
			t.Errorf("received TLS=%v as %q, want TLS as kizuna", m.TLS, m.AuthUser)
		}
	}
}

func TestPoolPerServerSettings(t *testing.T) {
	base := Server{Host: "smtp.example.com", Port: 587, Security: SecurityStartTLS, Username: "u", Password: "p1"}
	changed := base
	changed.Password = "p2"
	if base.key() == changed.key() {
		t.Error("a changed password must make a new pool")
	}
	if base.key() != base.key() {
		t.Error("the same server must map to the same pool")
	}
	// Length-prefixed fields: moving a character across a boundary matters.
	a := Server{Host: "h", Port: 1, Username: "ab", Password: "c"}
	b := Server{Host: "h", Port: 1, Username: "a", Password: "bc"}
	if a.key() == b.key() {
		t.Error("different user/password splits share a pool key")
	}
}

func TestIdleConnectionsAreClosed(t *testing.T) {
	srv := smtptest.Start(t)
	// A long IdleTimeout keeps the janitor out; the test evicts by hand.
	s := newSender(t, Options{IdleTimeout: time.Hour})
	allDelivered(t, s.Send(context.Background(), plainServer(srv), batch(0, 1)))
	allDelivered(t, s.Send(context.Background(), plainServer(srv), batch(1, 1)))
	if got := srv.Connections(); got != 1 {
		t.Fatalf("connections = %d, want 1 reused", got)
	}

	s.evictIdle(time.Now()) // nothing has been idle for an hour yet
	allDelivered(t, s.Send(context.Background(), plainServer(srv), batch(2, 1)))
	if got := srv.Connections(); got != 1 {
		t.Fatalf("connections = %d, want 1 reused", got)
	}

	s.evictIdle(time.Now().Add(2 * time.Hour))
	s.mu.Lock()
	pools := len(s.pools)
	s.mu.Unlock()
	if pools != 0 {
		t.Errorf("%d pools left after eviction, want 0", pools)
	}
	allDelivered(t, s.Send(context.Background(), plainServer(srv), batch(3, 1)))
	if got := srv.Connections(); got != 2 {
		t.Errorf("connections = %d, want a new one after eviction", got)
	}
}

func TestClose(t *testing.T) {
	srv := smtptest.Start(t)
	s := NewSender(Options{})
	allDelivered(t, s.Send(context.Background(), plainServer(srv), batch(0, 1)))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	res := s.Send(context.Background(), plainServer(srv), batch(1, 1))
	wantVerdicts(t, res, Retry)
	if !strings.Contains(res[0].Detail, "closed") {
		t.Errorf("detail = %q", res[0].Detail)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestInvalidServer(t *testing.T) {
	res := newSender(t, Options{}).Send(context.Background(), Server{Host: "", Port: 25, Security: SecurityNone}, batch(0, 1))
	wantVerdicts(t, res, Retry)
	if !strings.Contains(res[0].Detail, "invalid SMTP server") {
		t.Errorf("detail = %q", res[0].Detail)
	}
}

func BenchmarkSendPooled(b *testing.B) {
	srv, err := smtptest.NewServer(smtptest.WithDiscard())
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	s := NewSender(Options{})
	defer s.Close()
	msgs := batch(0, 100)
	for i := range msgs {
		msgs[i].HTML = "<p>" + msgs[i].Text + "</p>"
		msgs[i].UnsubscribeURL = "https://kizuna.example/u/abc"
	}
	b.ResetTimer()
	for b.Loop() {
		for _, r := range s.Send(context.Background(), plainServer(srv), msgs) {
			if r.Verdict != Delivered {
				b.Fatalf("result %+v", r)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(msgs))/b.Elapsed().Seconds(), "mails/s")
}
