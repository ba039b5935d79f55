// Package workspace holds what ingestion knows of a tenant: its settings
// (phone region, time zone, quiet hours, frequency caps, consent and URL
// policies, event retention) and its API keys. The other services read these
// through WorkspaceService; the types live here, not in the SQL store, so
// that the API layer and the domain packages depend on them without
// depending on SQL.
package workspace

import (
	"errors"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/conflict"
)

// ErrNotFound reports a missing workspace or API key.
var ErrNotFound = errors.New("not found")

// Workspace is a tenant.
type Workspace struct {
	ID          string
	DisplayName string
	CreateTime  time.Time
	// PhoneRegion is the ISO 3166-1 region phone numbers without a country
	// code are read in.
	PhoneRegion string
	// Timezone is the IANA time zone of customers without a timezone
	// trait; DefaultTimezone when never set.
	Timezone string
	// QuietHours is the daily window of local time no marketing send
	// leaves in; the zero value means none.
	QuietHours QuietHours
	// FrequencyCaps limit marketing sends per customer, at most one per
	// channel type.
	FrequencyCaps []FrequencyCap
	// AllowLoopbackURLs and AllowPrivateURLs let webhook and API base URLs
	// point at loopback, and at private and link-local, addresses.
	AllowLoopbackURLs bool
	AllowPrivateURLs  bool
	// RequireConsent makes marketing sends need a granted consent for
	// their purpose, not only the absence of a withdrawal.
	RequireConsent bool
	// EventRetentionDays is how many days raw events are kept after
	// their receipt; 0 keeps them forever.
	EventRetentionDays int
}

// MaxEventRetentionDays bounds Workspace.EventRetentionDays (ten years).
const MaxEventRetentionDays = 3650

// DefaultTimezone is the time zone of a workspace that never set one.
const DefaultTimezone = "Asia/Tokyo"

// QuietHours is a daily window of local time, "HH:MM" to "HH:MM"; an end
// before the start crosses midnight. Both empty: no quiet hours.
type QuietHours struct {
	Start, End string
}

// IsZero reports whether there are no quiet hours.
func (q QuietHours) IsZero() bool { return q.Start == "" && q.End == "" }

// Channel types of frequency caps, as stored.
const (
	ChannelEmail   = "email"
	ChannelLine    = "line"
	ChannelWebhook = "webhook"
)

// FrequencyCap allows at most MaxSends marketing sends on a channel type to
// one customer in any Period. It is stored as JSON in workspaces.frequency_caps.
type FrequencyCap struct {
	Channel  string        `json:"channel"`
	MaxSends int           `json:"max_sends"`
	Period   time.Duration `json:"period_ns"`
}

// Kinds of API keys, as stored.
const (
	KeyKindWrite  = "write"
	KeyKindSecret = "secret"
)

// APIKey describes a key; the key itself is never stored, only its hash.
type APIKey struct {
	ID          string
	WorkspaceID string
	DisplayName string
	Kind        string // KeyKindWrite or KeyKindSecret
	Scopes      []string
	// Prefix is the key's first characters, to tell keys apart.
	Prefix     string
	CreateTime time.Time
	// RevokeTime is zero while the key works.
	RevokeTime time.Time
}

// APIKeyPage is one page of a workspace's keys.
type APIKeyPage struct {
	Keys      []APIKey
	NextToken string
}

// CheckRevoke refuses a key revoking itself (keyHash is the hash of the key
// to revoke, callerHash that of the caller's), so that a workspace is
// never locked out by a slip.
func CheckRevoke(keyHash, callerHash string) error {
	if keyHash == callerHash {
		return conflict.Errorf("SELF_REVOKE", "an API key cannot revoke itself; use another key with the admin scope")
	}
	return nil
}
