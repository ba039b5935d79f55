// Package netguard keeps the campaign service's outgoing HTTP calls
// (webhooks, the LINE API) away from the service's own network unless the
// workspace allows it: URLs that point at loopback, private or link-local
// addresses are refused by default (no SSRF).
//
// Checks happen twice. CheckURL looks at the URL alone, so the API can
// refuse an IP literal or localhost when a channel is created, with a clear
// message. NewTransport's dialer checks every address a host name resolves
// to, at connect time, and connects only to an address it checked, so a
// name that resolves to a private address, or changes its answer between
// the check and the connection (DNS rebinding), gets nowhere.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The workspace settings that relax a Policy, as error messages name them.
const (
	SettingAllowLoopback = "allow_loopback_urls"
	SettingAllowPrivate  = "allow_private_urls"
)

// MaxURLLength is the longest URL CheckURL accepts.
const MaxURLLength = 2048

// Errors, wrapped with detail; test with errors.Is.
var (
	// ErrInvalidURL is a URL that is not an absolute http(s) URL with a host.
	ErrInvalidURL = errors.New("netguard: invalid URL")
	// ErrBlocked is an address (or host) the policy refuses. The error is
	// an *AddrError.
	ErrBlocked = errors.New("netguard: address not allowed")
)

// Policy says which non-public destinations a workspace may reach. The zero
// Policy is the strict default: public addresses only.
type Policy struct {
	// AllowLoopback allows 127.0.0.0/8, ::1 and localhost
	// (allow_loopback_urls).
	AllowLoopback bool
	// AllowPrivate allows private (10/8, 172.16/12, 192.168/16, fc00::/7,
	// 100.64/10 CGNAT, and other non-routed special-purpose ranges) and
	// link-local (169.254/16, including cloud metadata services, fe80::/10)
	// addresses (allow_private_urls).
	AllowPrivate bool
}

// class is what kind of destination an address is.
type class int

const (
	classPublic class = iota
	classLoopback
	classPrivate
	classLinkLocal
	// The rest are never allowed: nothing legitimate is reached there.
	classUnspecified
	classMulticast
	classBroadcast
	classReserved
)

func (c class) String() string {
	switch c {
	case classLoopback:
		return "a loopback address"
	case classPrivate:
		return "a private address"
	case classLinkLocal:
		return "a link-local address"
	case classUnspecified:
		return "an unspecified address"
	case classMulticast:
		return "a multicast address"
	case classBroadcast:
		return "the broadcast address"
	case classReserved:
		return "a reserved address"
	}
	return "a public address"
}

// setting is the workspace setting that allows c, "" when none can.
func (c class) setting() string {
	switch c {
	case classLoopback:
		return SettingAllowLoopback
	case classPrivate, classLinkLocal:
		return SettingAllowPrivate
	}
	return ""
}

// AddrError is a destination the policy refuses.
type AddrError struct {
	// Addr is the refused address; invalid when the host name alone was
	// refused (localhost).
	Addr netip.Addr
	// Host is the host name it came from, when there was one.
	Host string
	// Kind describes the address, e.g. "a loopback address".
	Kind string
	// Setting is the workspace setting that would allow it, "" when none
	// can.
	Setting string
}

func (e *AddrError) Error() string {
	var what string
	switch {
	case e.Addr.IsValid() && e.Host != "" && e.Host != e.Addr.String():
		what = fmt.Sprintf("%s (resolved from %q)", e.Addr, e.Host)
	case e.Addr.IsValid():
		what = e.Addr.String()
	default:
		what = fmt.Sprintf("host %q", e.Host)
	}
	if e.Setting == "" {
		return fmt.Sprintf("netguard: %s is %s, which is never allowed", what, e.Kind)
	}
	return fmt.Sprintf("netguard: %s is %s, refused unless the workspace setting %s is on", what, e.Kind, e.Setting)
}

// Unwrap makes errors.Is(err, ErrBlocked) true.
func (e *AddrError) Unwrap() error { return ErrBlocked }

// CheckURL validates an absolute http or https URL: a host, no user info,
// a numeric port if any, at most MaxURLLength characters. When the host is
// an IP literal or localhost (or a name under .localhost) it applies the
// policy right away; other names are checked when they are resolved, by
// NewTransport's dialer.
func (p Policy) CheckURL(raw string) error {
	if len(raw) > MaxURLLength {
		return fmt.Errorf("%w: longer than %d characters", ErrInvalidURL, MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the URL, which may hold a secret query token.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%w: %v", ErrInvalidURL, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("%w: scheme must be http or https", ErrInvalidURL)
	case u.Opaque != "":
		return fmt.Errorf("%w: want scheme://host/...", ErrInvalidURL)
	case u.User != nil:
		return fmt.Errorf("%w: must not contain a user name or password", ErrInvalidURL)
	case u.Hostname() == "":
		return fmt.Errorf("%w: no host", ErrInvalidURL)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%w: port %q is not 1-65535", ErrInvalidURL, port)
		}
	} else if strings.HasSuffix(u.Host, ":") {
		return fmt.Errorf("%w: empty port", ErrInvalidURL)
	}

	host := u.Hostname()
	if a, err := netip.ParseAddr(host); err == nil {
		if err := p.CheckAddr(a); err != nil {
			return err
		}
		return nil
	}
	if strings.Contains(host, ":") || strings.Contains(host, "%") {
		return fmt.Errorf("%w: %q is not a valid IP address", ErrInvalidURL, host)
	}
	name := strings.TrimSuffix(strings.ToLower(host), ".")
	if looksNumeric(name) {
		// "127.1", "0x7f000001", "2130706433": not a valid dotted quad for
		// netip, yet a URL parser or libc resolver reads it as IPv4.
		return fmt.Errorf("%w: %q is neither a host name nor a dotted-quad IPv4 address", ErrInvalidURL, host)
	}
	if name == "localhost" || strings.HasSuffix(name, ".localhost") {
		if !p.AllowLoopback {
			return &AddrError{Host: host, Kind: classLoopback.String(), Setting: SettingAllowLoopback}
		}
	}
	return nil
}

// looksNumeric reports whether name's last label is a number (decimal,
// 0x hex or octal), which the WHATWG URL standard, and inet_aton, read as
// an IPv4 address in shorthand. No top-level domain is numeric.
func looksNumeric(name string) bool {
	labels := strings.Split(name, ".")
	last := labels[len(labels)-1]
	if last == "" {
		return false
	}
	if h, ok := strings.CutPrefix(last, "0x"); ok {
		for _, c := range h {
			if !strings.ContainsRune("0123456789abcdef", c) {
				return false
			}
		}
		return true
	}
	for _, c := range last {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// CheckAddr applies the policy to one address. IPv4-mapped, IPv4-compatible,
// NAT64 and 6to4 IPv6 addresses are judged by the IPv4 address inside
// them, so ::ffff:127.0.0.1 is loopback.
func (p Policy) CheckAddr(a netip.Addr) error {
	if !a.IsValid() {
		return fmt.Errorf("%w: invalid address", ErrBlocked)
	}
	c := classify(a)
	allowed := c == classPublic ||
		(c == classLoopback && p.AllowLoopback) ||
		((c == classPrivate || c == classLinkLocal) && p.AllowPrivate)
	if allowed {
		return nil
	}
	return &AddrError{Addr: a, Kind: c.String(), Setting: c.setting()}
}

// Special-purpose ranges netip has no predicate for.
var (
	cgnat          = netip.MustParsePrefix("100.64.0.0/10")
	thisNetwork    = netip.MustParsePrefix("0.0.0.0/8")
	ietfProtocol   = netip.MustParsePrefix("192.0.0.0/24")
	benchmarking   = netip.MustParsePrefix("198.18.0.0/15")
	reservedV4     = netip.MustParsePrefix("240.0.0.0/4")
	broadcast      = netip.MustParseAddr("255.255.255.255")
	siteLocalV6    = netip.MustParsePrefix("fec0::/10")
	nat64          = netip.MustParsePrefix("64:ff9b::/96")
	nat64Local     = netip.MustParsePrefix("64:ff9b:1::/48")
	sixToFour      = netip.MustParsePrefix("2002::/16")
	ipv4Compatible = netip.MustParsePrefix("::/96")
)

// classify says what a is, looking through IPv6 forms that carry an IPv4
// address to a gateway that would forward to it.
func classify(a netip.Addr) class {
	a = a.WithZone("").Unmap()
	if a.Is6() {
		b := a.As16()
		switch {
		case a.IsUnspecified():
			return classUnspecified
		case a.IsLoopback():
			return classLoopback
		case ipv4Compatible.Contains(a), nat64.Contains(a):
			return classify(netip.AddrFrom4([4]byte(b[12:16])))
		case sixToFour.Contains(a):
			return classify(netip.AddrFrom4([4]byte(b[2:6])))
		case nat64Local.Contains(a), siteLocalV6.Contains(a):
			return classPrivate
		}
	}
	switch {
	case a.IsUnspecified(), thisNetwork.Contains(a):
		return classUnspecified
	case a.IsLoopback():
		return classLoopback
	case a.IsMulticast():
		return classMulticast
	case a == broadcast:
		return classBroadcast
	case reservedV4.Contains(a):
		return classReserved
	case a.IsLinkLocalUnicast():
		return classLinkLocal
	case a.IsPrivate(), cgnat.Contains(a), ietfProtocol.Contains(a), benchmarking.Contains(a):
		return classPrivate
	}
	return classPublic
}

type policyKey struct{}

// WithPolicy returns ctx carrying p, for NewTransport's dialer: attach it
// to each request's context (http.NewRequestWithContext).
func WithPolicy(ctx context.Context, p Policy) context.Context {
	return context.WithValue(ctx, policyKey{}, p)
}

// PolicyFrom returns the policy in ctx, or the strict zero Policy.
func PolicyFrom(ctx context.Context) Policy {
	p, _ := ctx.Value(policyKey{}).(Policy)
	return p
}

// maxIdleConnsPerHost lets webhook bursts to one receiver reuse connections
// (net/http's default keeps 2).
const maxIdleConnsPerHost = 64

// NewTransport returns a transport with http.DefaultTransport's settings
// (timeouts, HTTP/2), MaxIdleConnsPerHost 64 and no proxy (a proxy would
// make the connection, out of reach of the check), whose dialer resolves
// the host, checks every address against the Policy in the request's
// context (PolicyFrom; strict when none) and connects only to an address
// that passed; the socket's address is checked once more just before
// connecting.
//
// Connections are pooled by scheme, host and port, not by policy: a
// connection opened for a request whose policy allowed a private address
// may be reused by a request to the same host and port whose policy would
// not. Where workspaces with different policies can name the same host,
// use one transport per Policy value (there are four).
func NewTransport() *http.Transport {
	var t *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t = dt.Clone()
	} else {
		t = &http.Transport{
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          100,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		}
	}
	t.Proxy = nil
	t.OnProxyConnectResponse = nil
	t.GetProxyConnectHeader = nil
	// Nothing may dial around the guard, whatever a program set on
	// http.DefaultTransport.
	t.DialTLSContext = nil
	t.DialTLS = nil
	t.Dial = nil
	t.MaxIdleConnsPerHost = maxIdleConnsPerHost
	g := &guard{
		dialer: &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second},
		lookup: net.DefaultResolver.LookupNetIP,
	}
	t.DialContext = g.DialContext
	return t
}

// guard is the checking dialer.
type guard struct {
	dialer *net.Dialer
	// lookup resolves a host name once per dial (net.Resolver.LookupNetIP).
	lookup func(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// DialContext resolves address's host, keeps the addresses the context's
// policy allows and connects to the first that answers.
func (g *guard) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("netguard: %w", err)
	}
	policy := PolicyFrom(ctx)

	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		ipNet := "ip"
		switch network {
		case "tcp4":
			ipNet = "ip4"
		case "tcp6":
			ipNet = "ip6"
		}
		addrs, err = g.lookup(ctx, ipNet, host)
		if err != nil {
			return nil, err
		}
	}

	var allowed []netip.Addr
	var refused error
	for _, a := range addrs {
		if err := policy.CheckAddr(a); err != nil {
			if refused == nil {
				var ae *AddrError
				if errors.As(err, &ae) && host != a.String() {
					ae.Host = host
				}
				refused = err
			}
			continue
		}
		allowed = append(allowed, a.Unmap())
	}
	if len(allowed) == 0 {
		if refused == nil {
			refused = fmt.Errorf("netguard: %q resolved to no address", host)
		}
		return nil, refused
	}

	// The socket is checked again right before connect: whatever address
	// reaches the kernel has passed the policy.
	d := *g.dialer
	d.Control = func(_, addr string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(addr)
		if err != nil {
			return fmt.Errorf("netguard: %w", err)
		}
		return policy.CheckAddr(ap.Addr())
	}
	var errs []error
	for _, a := range allowed {
		conn, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}
