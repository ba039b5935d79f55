package normalize

import (
	"strings"

	"golang.org/x/net/idna"
)

// EmailOptions controls the optional, provider-specific e-mail rules.
type EmailOptions struct {
	// ProviderRules applies mailbox-provider aliasing: for gmail.com and
	// googlemail.com dots in the local part are ignored and a "+tag" suffix
	// is removed. It is opt-in because it changes the address a person
	// typed; use it for matching, not for sending.
	ProviderRules bool
}

// Email is a normalised e-mail address.
type Email struct {
	// Value is the address trimmed, NFKC-folded, lower-cased and with an
	// ASCII (punycode) domain. It is set even when Valid is false so that a
	// bad address is kept for review rather than silently dropped.
	Value string
	// Valid reports that the address passed the syntax check. Only valid
	// addresses should be used as a matching identifier.
	Valid  bool
	Issues []Issue // IssueInvalidEmail when !Valid and the input was not empty
}

// idnaProfile converts internationalised domains to ASCII. The Lookup
// profile is what a resolver does, so two spellings of one domain end up
// identical; it also lower-cases and width-folds.
var idnaProfile = idna.Lookup

// NormalizeEmail normalises one e-mail address. An empty input yields an
// empty, valid-but-empty result (no issue): absence is not an error.
func NormalizeEmail(s string, opt EmailOptions) Email {
	s = Text(s)
	if s == "" {
		return Email{}
	}
	// Mailto links and angle brackets are copied from mail clients often.
	s = strings.TrimPrefix(strings.TrimPrefix(s, "mailto:"), "MAILTO:")
	s = strings.TrimSpace(strings.Trim(s, "<>"))
	s = strings.ToLower(s)
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.ContainsAny(s, " ") {
		return Email{Value: s, Issues: []Issue{IssueInvalidEmail}}
	}
	local, domain := s[:at], s[at+1:]
	domain = strings.TrimSuffix(domain, ".")
	if !isPlainASCII(domain) {
		if d, err := idnaProfile.ToASCII(domain); err == nil {
			domain = d
		} else {
			return Email{Value: local + "@" + domain, Issues: []Issue{IssueInvalidEmail}}
		}
	}
	if opt.ProviderRules {
		local, domain = applyProviderRules(local, domain)
	}
	v := local + "@" + domain
	if !validLocal(local) || !validDomain(domain) || len(v) > 254 {
		return Email{Value: v, Issues: []Issue{IssueInvalidEmail}}
	}
	return Email{Value: v, Valid: true}
}

func applyProviderRules(local, domain string) (string, string) {
	switch domain {
	case "gmail.com", "googlemail.com":
		if i := strings.IndexByte(local, '+'); i > 0 {
			local = local[:i]
		}
		local = strings.ReplaceAll(local, ".", "")
		domain = "gmail.com"
	}
	return local, domain
}

// validLocal accepts the RFC 5322 dot-atom form. Quoted local parts and
// non-ASCII (SMTPUTF8) mailboxes are rejected on purpose: Japanese mail
// systems do not deliver to them and they are nearly always typing errors.
// Consecutive or leading/trailing dots are accepted only because Japanese
// carriers (docomo, au) issued such addresses for years and they do work.
func validLocal(l string) bool {
	if l == "" || len(l) > 64 {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func validDomain(d string) bool {
	if len(d) < 3 || len(d) > 253 {
		return false
	}
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, lb := range labels {
		if lb == "" || len(lb) > 63 || lb[0] == '-' || lb[len(lb)-1] == '-' {
			return false
		}
		for i := 0; i < len(lb); i++ {
			c := lb[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	// A numeric TLD means an IP address literal typed without brackets.
	for i := 0; i < len(tld); i++ {
		if tld[i] < '0' || tld[i] > '9' {
			return true
		}
	}
	return false
}
