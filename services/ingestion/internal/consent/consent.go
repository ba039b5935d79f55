// Package consent reads a customer's consent per purpose (marketing_email,
// marketing_line, analytics, …) out of the messages ingestion stores, and
// folds the statements into the record a profile shows.
//
// A statement grants or withdraws one purpose at a time, from a source. It
// comes from:
//
//   - identify traits.consent: {"marketing_email": true, "analytics":
//     {"granted": false, "time": "2026-12-01T09:00:00Z", "source":
//     "web_form"}} (a bare boolean, or an object with granted and optional
//     time and source);
//   - the track event "Consent Updated" with the same object in
//     properties.consent (what PUT /v1/customers/{id}/consent records);
//   - Segment's consent management: the track event "Segment Consent
//     Preference Updated" with context.consent.categoryPreferences
//     {"Advertising": true, …}, each category read as a purpose
//     ("Advertising" → advertising);
//   - "Unsubscribed" (properties.channel email or line: marketing_email or
//     marketing_line withdrawn; campaign's unsubscribe link records it) and
//     "LINE Unfollowed" / "LINE Followed" (marketing_line withdrawn /
//     granted).
//
// The latest statement per purpose wins (by its time: the given time, else
// the event's timestamp); at equal times a withdrawal wins. A merge keeps the
// latest statement of either customer per purpose, and an undone merge
// folds each customer's own events again, so consents follow the events
// they came from.
package consent

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Well-known purposes. Any name of 1 to MaxPurposeLength lower-case ASCII
// letters, digits and underscores is a purpose.
const (
	MarketingEmail = "marketing_email"
	MarketingLine  = "marketing_line"
	Analytics      = "analytics"
)

// Event names with a meaning for consent.
const (
	EventConsentUpdated  = "Consent Updated"
	EventSegmentConsent  = "Segment Consent Preference Updated"
	EventUnsubscribed    = "Unsubscribed"
	EventLineFollowed    = "LINE Followed"
	EventLineUnfollowed  = "LINE Unfollowed"
	TraitConsent         = "consent"
	SourceIdentify       = "identify"
	SourceEvent          = "consent_updated_event"
	SourceSegment        = "segment_consent"
	SourceUnsubscribed   = "unsubscribed_event"
	SourceLineFollow     = "line_follow"
	SourceLineUnfollow   = "line_unfollow"
	SourceAPI            = "api"
	MaxPurposeLength     = 64
	MaxSourceLength      = 100
	MaxPurposesPerRecord = 64
)

// Statement grants or withdraws one purpose.
type Statement struct {
	Purpose string
	Granted bool
	Time    time.Time
	Source  string
}

// Record is the standing consent for one purpose, as stored (JSON in
// customers.consents, time in Unix microseconds).
type Record struct {
	Granted bool   `json:"granted"`
	Time    int64  `json:"time"`
	Source  string `json:"source"`
}

// State is a customer's consents by purpose.
type State map[string]Record

// ValidPurpose reports whether p is a purpose name.
func ValidPurpose(p string) bool {
	if p == "" || len(p) > MaxPurposeLength || p[0] == '_' {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// PurposeOf reads a category name as a purpose: lower case, spaces and
// hyphens as underscores ("Functional Cookies" → functional_cookies); ""
// when it cannot be one.
func PurposeOf(s string) string {
	p := strings.Map(func(r rune) rune {
		switch {
		case r >= 'A' && r <= 'Z':
			return r + ('a' - 'A')
		case r == ' ' || r == '-':
			return '_'
		}
		return r
	}, strings.TrimSpace(s))
	if !ValidPurpose(p) {
		return ""
	}
	return p
}

// Decode reads a stored state; "" is none.
func Decode(s string) (State, error) {
	st := State{}
	if s == "" || s == "{}" {
		return st, nil
	}
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		return nil, fmt.Errorf("decode consents: %w", err)
	}
	return st, nil
}

// Encode writes the state for storage.
func (s State) Encode() (string, error) {
	if len(s) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("encode consents: %w", err)
	}
	return string(b), nil
}

// later reports whether r replaces the standing record cur: a later time,
// or the same time and a withdrawal.
func later(r, cur Record) bool {
	return r.Time > cur.Time || (r.Time == cur.Time && !r.Granted && cur.Granted)
}

// Apply records statements; it reports whether the state changed. A new
// purpose beyond MaxPurposesPerRecord is ignored.
func (s State) Apply(sts []Statement) bool {
	changed := false
	for _, st := range sts {
		r := Record{Granted: st.Granted, Time: st.Time.UnixMicro(), Source: st.Source}
		cur, ok := s[st.Purpose]
		if !ok && len(s) >= MaxPurposesPerRecord {
			continue
		}
		if !ok || later(r, cur) {
			s[st.Purpose] = r
			changed = true
		}
	}
	return changed
}

// Absorb takes o's records that are later than s's (a merge).
func (s State) Absorb(o State) {
	for _, p := range slices.Sorted(maps.Keys(o)) {
		r := o[p]
		if cur, ok := s[p]; ok && !later(r, cur) {
			continue
		}
		if _, ok := s[p]; !ok && len(s) >= MaxPurposesPerRecord {
			continue
		}
		s[p] = r
	}
}

// Purposes lists the state's purposes in name order.
func (s State) Purposes() []string { return slices.Sorted(maps.Keys(s)) }

// FromMessage returns the consent statements a message makes (see the
// package documentation); at is the event's timestamp, the time of a
// statement without its own. kind is the message type ("identify",
// "track", …).
func FromMessage(kind, name string, traits, props, context map[string]any, at time.Time) []Statement {
	switch kind {
	case "identify":
		return fromObject(traits[TraitConsent], SourceIdentify, at)
	case "track":
	default:
		return nil
	}
	switch name {
	case EventConsentUpdated:
		return fromObject(props[TraitConsent], SourceEvent, at)
	case EventSegmentConsent:
		c, _ := context["consent"].(map[string]any)
		prefs, _ := c["categoryPreferences"].(map[string]any)
		var out []Statement
		for _, k := range slices.Sorted(maps.Keys(prefs)) {
			g, ok := prefs[k].(bool)
			if p := PurposeOf(k); ok && p != "" {
				out = append(out, Statement{Purpose: p, Granted: g, Time: at, Source: SourceSegment})
			}
		}
		return out
	case EventUnsubscribed:
		ch, _ := props["channel"].(string)
		p := ""
		switch strings.ToLower(strings.TrimSpace(ch)) {
		case "email", "e-mail", "mail":
			p = MarketingEmail
		case "line":
			p = MarketingLine
		default:
			return nil
		}
		return []Statement{{Purpose: p, Granted: false, Time: at, Source: source(props["source"], SourceUnsubscribed)}}
	case EventLineUnfollowed:
		return []Statement{{Purpose: MarketingLine, Granted: false, Time: at, Source: SourceLineUnfollow}}
	case EventLineFollowed:
		return []Statement{{Purpose: MarketingLine, Granted: true, Time: at, Source: SourceLineFollow}}
	}
	return nil
}

// fromObject reads {"purpose": bool | {"granted": bool, "time": RFC 3339,
// "source": string}}; entries of another shape are ignored (the raw value
// stays in the event).
func fromObject(v any, defSource string, at time.Time) []Statement {
	obj, _ := v.(map[string]any)
	var out []Statement
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		if !ValidPurpose(k) {
			continue
		}
		st := Statement{Purpose: k, Time: at, Source: defSource}
		switch x := obj[k].(type) {
		case bool:
			st.Granted = x
		case map[string]any:
			g, ok := x["granted"].(bool)
			if !ok {
				continue
			}
			st.Granted = g
			if ts, ok := x["time"].(string); ok {
				if t, err := time.Parse(time.RFC3339Nano, ts); err == nil && !t.After(at) {
					st.Time = t.UTC()
				}
			}
			st.Source = source(x["source"], defSource)
		default:
			continue
		}
		out = append(out, st)
	}
	return out
}

// source returns v when it is a usable source name, else def.
func source(v any, def string) string {
	s, _ := v.(string)
	s = strings.TrimSpace(s)
	if s == "" || utf8.RuneCountInString(s) > MaxSourceLength || !utf8.ValidString(s) {
		return def
	}
	return s
}
