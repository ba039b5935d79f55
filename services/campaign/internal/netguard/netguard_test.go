package netguard

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
)

var (
	strict   = Policy{}
	loopback = Policy{AllowLoopback: true}
	private  = Policy{AllowPrivate: true}
	all      = Policy{AllowLoopback: true, AllowPrivate: true}
)

func TestCheckAddr(t *testing.T) {
	tests := []struct {
		addr string
		// Which policies allow it: strict, loopback-only, private-only, both.
		strict, loopback, private, all bool
		setting                        string
	}{
		{"93.184.216.34", true, true, true, true, ""},
		{"8.8.8.8", true, true, true, true, ""},
		{"2606:2800:220:1:248:1893:25c8:1946", true, true, true, true, ""},
		{"::ffff:93.184.216.34", true, true, true, true, ""},
		{"64:ff9b::808:808", true, true, true, true, ""}, // NAT64 of 8.8.8.8

		{"127.0.0.1", false, true, false, true, SettingAllowLoopback},
		{"127.255.255.254", false, true, false, true, SettingAllowLoopback},
		{"::1", false, true, false, true, SettingAllowLoopback},
		{"::ffff:127.0.0.1", false, true, false, true, SettingAllowLoopback},
		{"::127.0.0.1", false, true, false, true, SettingAllowLoopback},     // IPv4-compatible
		{"64:ff9b::7f00:1", false, true, false, true, SettingAllowLoopback}, // NAT64
		{"2002:7f00:1::1", false, true, false, true, SettingAllowLoopback},  // 6to4

		{"10.0.0.1", false, false, true, true, SettingAllowPrivate},
		{"172.16.0.1", false, false, true, true, SettingAllowPrivate},
		{"172.31.255.255", false, false, true, true, SettingAllowPrivate},
		{"192.168.1.1", false, false, true, true, SettingAllowPrivate},
		{"100.64.0.1", false, false, true, true, SettingAllowPrivate},
		{"100.127.255.255", false, false, true, true, SettingAllowPrivate},
		{"198.18.0.1", false, false, true, true, SettingAllowPrivate},
		{"fc00::1", false, false, true, true, SettingAllowPrivate},
		{"fd00:ec2::254", false, false, true, true, SettingAllowPrivate},
		{"::ffff:10.1.2.3", false, false, true, true, SettingAllowPrivate},
		{"::ffff:192.168.0.1", false, false, true, true, SettingAllowPrivate},
		{"169.254.169.254", false, false, true, true, SettingAllowPrivate},
		{"169.254.0.1", false, false, true, true, SettingAllowPrivate},
		{"::ffff:169.254.169.254", false, false, true, true, SettingAllowPrivate},
		{"fe80::1", false, false, true, true, SettingAllowPrivate},
		{"fe80::1%eth0", false, false, true, true, SettingAllowPrivate},

		{"0.0.0.0", false, false, false, false, ""},
		{"0.1.2.3", false, false, false, false, ""},
		{"::", false, false, false, false, ""},
		{"::ffff:0.0.0.0", false, false, false, false, ""},
		{"224.0.0.1", false, false, false, false, ""},
		{"239.255.255.250", false, false, false, false, ""},
		{"ff02::1", false, false, false, false, ""},
		{"255.255.255.255", false, false, false, false, ""},
		{"240.0.0.1", false, false, false, false, ""},

		// Just outside the ranges.
		{"172.15.255.255", true, true, true, true, ""},
		{"172.32.0.1", true, true, true, true, ""},
		{"100.63.255.255", true, true, true, true, ""},
		{"100.128.0.1", true, true, true, true, ""},
		{"126.255.255.255", true, true, true, true, ""},
		{"128.0.0.1", true, true, true, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			a := netip.MustParseAddr(tt.addr)
			for _, c := range []struct {
				name string
				p    Policy
				want bool
			}{{"strict", strict, tt.strict}, {"loopback", loopback, tt.loopback}, {"private", private, tt.private}, {"all", all, tt.all}} {
				err := c.p.CheckAddr(a)
				if (err == nil) != c.want {
					t.Errorf("%s policy: CheckAddr = %v, want allowed %v", c.name, err, c.want)
				}
				if err == nil {
					continue
				}
				if !errors.Is(err, ErrBlocked) {
					t.Errorf("%s policy: error %v is not ErrBlocked", c.name, err)
				}
				var ae *AddrError
				if !errors.As(err, &ae) || ae.Setting != tt.setting {
					t.Errorf("%s policy: error %v names setting %q, want %q", c.name, err, ae.Setting, tt.setting)
				}
				if !strings.Contains(err.Error(), a.String()) {
					t.Errorf("error %q does not name the address", err)
				}
				if tt.setting != "" && !strings.Contains(err.Error(), tt.setting) {
					t.Errorf("error %q does not name the setting %s", err, tt.setting)
				}
			}
		})
	}
	if err := strict.CheckAddr(netip.Addr{}); !errors.Is(err, ErrBlocked) {
		t.Errorf("zero Addr: %v", err)
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url    string
		policy Policy
		want   error // nil, ErrInvalidURL or ErrBlocked
		msg    string
	}{
		{"https://example.com/hook", strict, nil, ""},
		{"http://example.com:8080/a?b=c#d", strict, nil, ""},
		{"HTTPS://Example.COM/hook", strict, nil, ""},
		{"https://93.184.216.34/hook", strict, nil, ""},
		{"https://[2606:2800:220:1:248:1893:25c8:1946]/", strict, nil, ""},
		{"https://api.line.me", strict, nil, ""},
		// A name that resolves privately passes here; the dialer refuses it.
		{"https://internal.corp.example/", strict, nil, ""},

		{"http://127.0.0.1:8080/", strict, ErrBlocked, "allow_loopback_urls"},
		{"http://127.0.0.1:8080/", loopback, nil, ""},
		{"http://[::1]/", strict, ErrBlocked, "allow_loopback_urls"},
		{"http://[::1]/", loopback, nil, ""},
		{"http://[::ffff:127.0.0.1]/", strict, ErrBlocked, "allow_loopback_urls"},
		{"http://localhost:3000/", strict, ErrBlocked, "allow_loopback_urls"},
		{"http://LOCALHOST./", strict, ErrBlocked, "allow_loopback_urls"},
		{"http://api.localhost/", strict, ErrBlocked, "allow_loopback_urls"},
		{"http://localhost:3000/", loopback, nil, ""},
		{"http://localhost:3000/", private, ErrBlocked, "allow_loopback_urls"},
		{"http://169.254.169.254/latest/meta-data/", strict, ErrBlocked, "allow_private_urls"},
		{"http://169.254.169.254/latest/meta-data/", loopback, ErrBlocked, "allow_private_urls"},
		{"http://169.254.169.254/latest/meta-data/", private, nil, ""},
		{"http://10.0.0.5/", strict, ErrBlocked, "allow_private_urls"},
		{"http://[fe80::1%25eth0]/", strict, ErrBlocked, "allow_private_urls"},
		{"http://0.0.0.0:8080/", all, ErrBlocked, "never allowed"},
		{"http://[::]/", all, ErrBlocked, "never allowed"},
		{"http://224.0.0.1/", all, ErrBlocked, "never allowed"},

		{"ftp://example.com/", strict, ErrInvalidURL, "http or https"},
		{"file:///etc/passwd", strict, ErrInvalidURL, "http or https"},
		{"gopher://127.0.0.1/", all, ErrInvalidURL, "http or https"},
		{"//example.com/hook", strict, ErrInvalidURL, "http or https"},
		{"/hook", strict, ErrInvalidURL, "http or https"},
		{"example.com/hook", strict, ErrInvalidURL, "http or https"},
		{"", strict, ErrInvalidURL, ""},
		{"http:example.com", strict, ErrInvalidURL, ""},
		{"http:///path", strict, ErrInvalidURL, "no host"},
		{"http://:8080/", strict, ErrInvalidURL, "no host"},
		{"https://user:pass@example.com/", strict, ErrInvalidURL, "user name"},
		{"https://user@example.com/", strict, ErrInvalidURL, "user name"},
		{"https://example.com:0/", strict, ErrInvalidURL, "port"},
		{"https://example.com:70000/", strict, ErrInvalidURL, "port"},
		{"https://example.com:/", strict, ErrInvalidURL, "port"},
		{"http://127.1/", all, ErrInvalidURL, "dotted-quad"},
		{"http://2130706433/", all, ErrInvalidURL, "dotted-quad"},
		{"http://0x7f000001/", all, ErrInvalidURL, "dotted-quad"},
		{"http://0177.0.0.1/", all, ErrInvalidURL, "dotted-quad"},
		{"http://example.com /", strict, ErrInvalidURL, ""},
		{"https://example.com/" + strings.Repeat("a", MaxURLLength), strict, ErrInvalidURL, "2048"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			err := tt.policy.CheckURL(tt.url)
			switch {
			case tt.want == nil && err != nil:
				t.Fatalf("CheckURL = %v, want nil", err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("CheckURL = %v, want %v", err, tt.want)
			case err != nil && !strings.Contains(err.Error(), tt.msg):
				t.Fatalf("CheckURL = %q, want it to mention %q", err, tt.msg)
			}
		})
	}
	// A URL of exactly the limit passes.
	u := "https://example.com/"
	if err := strict.CheckURL(u + strings.Repeat("a", MaxURLLength-len(u))); err != nil {
		t.Errorf("URL of %d characters: %v", MaxURLLength, err)
	}
	// Errors never echo a URL's query (it may hold a token).
	if err := strict.CheckURL("https://user:pw@example.com/?token=s3cret"); err == nil || strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "pw") {
		t.Errorf("error %v echoes the URL", err)
	}
}

func TestPolicyContext(t *testing.T) {
	if p := PolicyFrom(context.Background()); p != (Policy{}) {
		t.Errorf("PolicyFrom(empty) = %+v, want the strict zero Policy", p)
	}
	ctx := WithPolicy(context.Background(), all)
	if p := PolicyFrom(ctx); p != all {
		t.Errorf("PolicyFrom = %+v, want %+v", p, all)
	}
	if p := PolicyFrom(WithPolicy(ctx, strict)); p != strict {
		t.Errorf("inner WithPolicy does not win: %+v", p)
	}
}

// get sends GET url through a fresh transport with policy p in the context
// (none when p is nil).
func get(t *testing.T, tr *http.Transport, rawURL string, p *Policy) (string, error) {
	t.Helper()
	ctx := t.Context()
	if p != nil {
		ctx = WithPolicy(ctx, *p)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return string(b), err
}

func newLoopbackServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.WriteString(w, "internal")
	}))
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.Listener.Addr().String(), "127.0.0.1:") {
		t.Fatalf("test server on %s, want 127.0.0.1", srv.Listener.Addr())
	}
	return srv, &hits
}

func TestTransportRefusesLoopbackByDefault(t *testing.T) {
	srv, hits := newLoopbackServer(t)
	for name, p := range map[string]*Policy{"no policy in context": nil, "zero policy": {}, "private only": &private} {
		t.Run(name, func(t *testing.T) {
			tr := NewTransport()
			defer tr.CloseIdleConnections()
			_, err := get(t, tr, srv.URL+"/x", p)
			if err == nil {
				t.Fatal("request to 127.0.0.1 succeeded")
			}
			if !errors.Is(err, ErrBlocked) {
				t.Errorf("error %v is not ErrBlocked", err)
			}
			for _, want := range []string{"127.0.0.1", SettingAllowLoopback} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %s", err, want)
				}
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("server got %d requests", n)
	}

	t.Run("allowed with AllowLoopback", func(t *testing.T) {
		tr := NewTransport()
		defer tr.CloseIdleConnections()
		body, err := get(t, tr, srv.URL+"/x", &loopback)
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		if body != "internal" || hits.Load() != 1 {
			t.Fatalf("body %q, hits %d", body, hits.Load())
		}
	})
}

func TestTransportSettings(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1")
	tr := NewTransport()
	if tr.Proxy != nil {
		t.Error("Proxy is set; a proxy would connect out of the guard's reach")
	}
	if tr.MaxIdleConnsPerHost != 64 {
		t.Errorf("MaxIdleConnsPerHost = %d", tr.MaxIdleConnsPerHost)
	}
	def := http.DefaultTransport.(*http.Transport)
	if tr.TLSHandshakeTimeout != def.TLSHandshakeTimeout || tr.IdleConnTimeout != def.IdleConnTimeout || tr.MaxIdleConns != def.MaxIdleConns {
		t.Error("transport does not keep http.DefaultTransport's settings")
	}
	if tr == def {
		t.Error("NewTransport returned http.DefaultTransport itself")
	}
	// With the proxy variables set, a loopback request still goes direct.
	srv, _ := newLoopbackServer(t)
	if body, err := get(t, tr, srv.URL, &loopback); err != nil || body != "internal" {
		t.Fatalf("GET with proxy variables set = %q, %v", body, err)
	}
}

// fakeLookup answers host names from a table and counts lookups.
type fakeLookup struct {
	answers map[string][]netip.Addr
	calls   atomic.Int32
}

func (f *fakeLookup) lookup(_ context.Context, _, host string) ([]netip.Addr, error) {
	f.calls.Add(1)
	if a, ok := f.answers[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func guardedTransport(f *fakeLookup) *http.Transport {
	tr := NewTransport()
	g := &guard{dialer: &net.Dialer{}, lookup: f.lookup}
	tr.DialContext = g.DialContext
	return tr
}

func TestTransportChecksResolvedAddresses(t *testing.T) {
	srv, hits := newLoopbackServer(t)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	f := &fakeLookup{answers: map[string][]netip.Addr{
		"rebind.example":   {netip.MustParseAddr("127.0.0.1")},
		"metadata.example": {netip.MustParseAddr("169.254.169.254")},
		// A public-looking answer mixed with internal ones: only checked
		// addresses are dialled, in order.
		"mixed.example": {netip.MustParseAddr("10.255.255.1"), netip.MustParseAddr("::ffff:127.0.0.1")},
	}}

	t.Run("name resolving to loopback", func(t *testing.T) {
		tr := guardedTransport(f)
		defer tr.CloseIdleConnections()
		_, err := get(t, tr, "http://rebind.example:"+port+"/", nil)
		if !errors.Is(err, ErrBlocked) {
			t.Fatalf("err = %v, want ErrBlocked", err)
		}
		if !strings.Contains(err.Error(), `127.0.0.1 (resolved from "rebind.example")`) || !strings.Contains(err.Error(), SettingAllowLoopback) {
			t.Errorf("error %q does not name the address, host and setting", err)
		}
	})
	t.Run("name resolving to the metadata service", func(t *testing.T) {
		tr := guardedTransport(f)
		defer tr.CloseIdleConnections()
		_, err := get(t, tr, "http://metadata.example/latest/", &loopback)
		if !errors.Is(err, ErrBlocked) || !strings.Contains(err.Error(), SettingAllowPrivate) {
			t.Fatalf("err = %v, want ErrBlocked naming %s", err, SettingAllowPrivate)
		}
	})
	t.Run("only allowed addresses are dialled", func(t *testing.T) {
		tr := guardedTransport(f)
		defer tr.CloseIdleConnections()
		before := f.calls.Load()
		// 10.255.255.1 is refused (not private-allowed) and never dialled;
		// the loopback address is allowed and answers.
		body, err := get(t, tr, "http://mixed.example:"+port+"/", &loopback)
		if err != nil || body != "internal" {
			t.Fatalf("GET = %q, %v", body, err)
		}
		if n := f.calls.Load() - before; n != 1 {
			t.Errorf("lookups per dial = %d, want 1 (the address checked is the one dialled)", n)
		}
	})
	t.Run("unknown name", func(t *testing.T) {
		tr := guardedTransport(f)
		defer tr.CloseIdleConnections()
		if _, err := get(t, tr, "http://nx.example/", &all); err == nil || errors.Is(err, ErrBlocked) {
			t.Fatalf("err = %v, want a lookup error", err)
		}
	})
	if n := hits.Load(); n != 1 {
		t.Errorf("server hits = %d, want 1", n)
	}
}

func TestDialContextIPLiteral(t *testing.T) {
	// An IP literal is checked without a lookup.
	f := &fakeLookup{}
	g := &guard{dialer: &net.Dialer{}, lookup: f.lookup}
	srv, hits := newLoopbackServer(t)
	u, _ := url.Parse(srv.URL)
	if _, err := g.DialContext(t.Context(), "tcp", u.Host); !errors.Is(err, ErrBlocked) {
		t.Fatalf("DialContext(%s) = %v, want ErrBlocked", u.Host, err)
	}
	conn, err := g.DialContext(WithPolicy(t.Context(), loopback), "tcp", u.Host)
	if err != nil {
		t.Fatalf("DialContext with AllowLoopback: %v", err)
	}
	_ = conn.Close()
	if n := f.calls.Load(); n != 0 {
		t.Errorf("lookups = %d, want none for an IP literal", n)
	}
	if hits.Load() != 0 {
		t.Fatal("unexpected request")
	}
}
