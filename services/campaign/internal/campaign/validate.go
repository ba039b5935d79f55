package campaign

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/kizuna/kizuna/services/campaign/internal/message"

	"github.com/kizuna/kizuna/services/platform/validation"
)

// Input limits. They bound what one request can make the service store or
// do; the values leave generous room for real use.
const (
	MaxDisplayNameChars = 200
	MaxIDChars          = 128
	MaxURLChars         = 2048
	// DefaultPageSize and MaxPageSize apply to every List call.
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// CampaignIDPrefix starts campaign ids; ids are the prefix and a UUIDv7.
const CampaignIDPrefix = "cmp_"

// validateNew checks a campaign to be created; field paths are those of
// CreateCampaignRequest.
func validateNew(c Campaign) error {
	var v validation.Error
	switch n := utf8.RuneCountInString(c.DisplayName); {
	case strings.TrimSpace(c.DisplayName) == "":
		v.Add("campaign.display_name", "is required")
	case n > MaxDisplayNameChars:
		v.Add("campaign.display_name", fmt.Sprintf("must be at most %d characters, is %d", MaxDisplayNameChars, n))
	case strings.ContainsRune(c.DisplayName, 0):
		v.Add("campaign.display_name", "must not contain NUL characters")
	}
	checkID(&v, "campaign.segment_id", c.SegmentID)
	if c.WebhookURL == "" {
		v.Add("campaign.webhook.url", "is required: the webhook channel is the only channel")
	} else if err := checkWebhookURL(c.WebhookURL); err != nil {
		v.Add("campaign.webhook.url", err.Error())
	}
	switch {
	case strings.TrimSpace(c.MessageTemplate) == "":
		v.Add("campaign.message_template", "is required")
	case len(c.MessageTemplate) > message.MaxTemplateBytes:
		v.Add("campaign.message_template", fmt.Sprintf("must be at most %d bytes, is %d", message.MaxTemplateBytes, len(c.MessageTemplate)))
	case strings.ContainsRune(c.MessageTemplate, 0):
		v.Add("campaign.message_template", "must not contain NUL characters")
	default:
		if _, err := message.Parse(c.MessageTemplate); err != nil {
			v.Add("campaign.message_template", "is not a valid Liquid template: "+err.Error())
		}
	}
	return v.Err()
}

// checkWebhookURL accepts absolute http and https URLs with a host.
func checkWebhookURL(raw string) error {
	if len(raw) > MaxURLChars {
		return fmt.Errorf("must be at most %d characters", MaxURLChars)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("is not a URL: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("must be an absolute http or https URL")
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("must name a host")
	}
	if u.User != nil {
		// Credentials in the URL would be echoed back by GetCampaign.
		return fmt.Errorf("must not contain credentials")
	}
	return nil
}

// checkID records a violation when id is empty, too long or not storable
// text (PostgreSQL rejects NUL and invalid UTF-8).
func checkID(v *validation.Error, field, id string) {
	switch {
	case id == "":
		v.Add(field, "is required")
	case len(id) > MaxIDChars:
		v.Add(field, fmt.Sprintf("must be at most %d characters", MaxIDChars))
	case !utf8.ValidString(id) || strings.ContainsRune(id, 0):
		v.Add(field, "must be valid UTF-8 without NUL characters")
	}
}

// Page is a List request's paging parameters.
type Page struct {
	Size  int32
	Token string
}

// resolve checks the page and returns the limit and the id after which the
// page starts ("" for the first page). Sizes above the maximum are lowered
// to it, as AIP-158 asks.
func (p Page) resolve(idPrefix string) (limit int, after string, err error) {
	var v validation.Error
	switch {
	case p.Size < 0:
		v.Add("page_size", "must not be negative")
	case p.Size == 0:
		limit = DefaultPageSize
	case p.Size > MaxPageSize:
		limit = MaxPageSize
	default:
		limit = int(p.Size)
	}
	if p.Token != "" {
		id, ok := decodePageToken(p.Token, idPrefix)
		if !ok {
			v.Add("page_token", "is not a token returned by this method")
		}
		after = id
	}
	return limit, after, v.Err()
}

// Page tokens are the last id of the previous page, base64url-encoded so
// callers treat them as opaque.
func encodePageToken(lastID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(lastID))
}

func decodePageToken(token, idPrefix string) (string, bool) {
	if len(token) > 4*MaxIDChars {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return "", false
	}
	id := string(b)
	if !strings.HasPrefix(id, idPrefix) || len(id) > MaxIDChars || !utf8.ValidString(id) || strings.ContainsRune(id, 0) {
		return "", false
	}
	return id, true
}

// Resolve is resolve for the other resources of the service (journeys,
// channels, sends, entries), whose ids carry their own prefixes.
func (p Page) Resolve(idPrefix string) (limit int, after string, err error) {
	return p.resolve(idPrefix)
}

// TrimPage is trimPage for the other resources of the service.
func TrimPage[T any](items []T, limit int, id func(T) string) ([]T, string) {
	return trimPage(items, limit, id)
}
