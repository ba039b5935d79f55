package email

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"

	gomail "github.com/wneessen/go-mail"
)

// Message is one e-mail to one recipient.
type Message struct {
	// MessageID is the full Message-ID without angle brackets (e.g.
	// "snd_0190...@kizuna"); stable per send so a resend after a crash
	// carries the same id.
	MessageID             string
	FromAddress, FromName string
	ReplyTo               string
	ToAddress, ToName     string
	Subject, Text, HTML   string // HTML optional; Text required
	// UnsubscribeURL, when set, adds `List-Unsubscribe: <url>` and
	// `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058).
	UnsubscribeURL string
}

// build turns m into a go-mail message, or explains why m cannot be sent
// at all (retrying would not help, so the caller reports Rejected).
//
// Bodies are base64: Japanese text in quoted-printable is three times its
// size and unreadable raw, and base64 keeps every line 7-bit and short for
// any relay. Headers are RFC 2047 encoded words in UTF-8.
func build(m Message) (*gomail.Msg, error) {
	from, err := parseAddr("From", m.FromAddress)
	if err != nil {
		return nil, err
	}
	to, err := parseAddr("To", m.ToAddress)
	if err != nil {
		return nil, err
	}
	if err := checkMessageID(m.MessageID); err != nil {
		return nil, err
	}
	if m.Text == "" {
		return nil, errors.New("message has no text body")
	}

	msg := gomail.NewMsg(
		gomail.WithCharset(gomail.CharsetUTF8),
		gomail.WithEncoding(gomail.EncodingB64),
		gomail.WithNoDefaultUserAgent(),
	)
	from.Name = m.FromName
	to.Name = m.ToName
	msg.FromMailAddress(from)
	msg.ToMailAddress(to)
	if m.ReplyTo != "" {
		replyTo, err := parseAddr("Reply-To", m.ReplyTo)
		if err != nil {
			return nil, err
		}
		msg.ReplyToMailAddress(replyTo)
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(m.MessageID)
	msg.SetDate()
	if m.UnsubscribeURL != "" {
		if err := checkUnsubscribeURL(m.UnsubscribeURL); err != nil {
			return nil, err
		}
		// Not SetListUnsubscribeOneClick: it refuses anything but https,
		// and development setups unsubscribe through http://localhost.
		msg.SetListUnsubscribe(m.UnsubscribeURL)
		msg.SetListUnsubscribePost()
	}
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// parseAddr accepts a bare address ("a@example.com") only: a display name
// belongs in the separate name field, where it gets encoded properly.
func parseAddr(field, addr string) (*mail.Address, error) {
	parsed, err := mail.ParseAddress(addr)
	if err != nil {
		return nil, fmt.Errorf("invalid %s address %q: %w", field, addr, err)
	}
	if parsed.Address != addr {
		return nil, fmt.Errorf("invalid %s address %q: want a bare address like a@example.com", field, addr)
	}
	return parsed, nil
}

// checkMessageID insists on an id-left "@" id-right form with nothing that
// would break the header, since the id is how a resend is recognised.
func checkMessageID(id string) error {
	left, right, ok := strings.Cut(id, "@")
	if !ok || left == "" || right == "" || strings.ContainsAny(id, "<>\"\\ \t\r\n") || !isASCII(id) {
		return fmt.Errorf("invalid Message-ID %q: want id@domain without angle brackets", id)
	}
	return nil
}

// checkUnsubscribeURL guards the preformatted List-Unsubscribe header,
// which go-mail writes as given.
func checkUnsubscribeURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid unsubscribe URL %q: %w", raw, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.ContainsAny(raw, "<> \t\r\n") || !isASCII(raw) {
		return fmt.Errorf("invalid unsubscribe URL %q: want an absolute http(s) URL", raw)
	}
	return nil
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
