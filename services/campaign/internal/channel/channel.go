// Package channel manages the workspace's messaging channels: it validates
// them, seals their secrets, turns them into what the senders need, and
// converts them to and from the contract.
package channel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	ingestionv1 "github.com/kizuna/kizuna/gen/kizuna/ingestion/v1"
	domain "github.com/kizuna/kizuna/services/campaign/internal/campaign"
	"github.com/kizuna/kizuna/services/campaign/internal/email"
	"github.com/kizuna/kizuna/services/campaign/internal/line"
	"github.com/kizuna/kizuna/services/campaign/internal/netguard"
	"github.com/kizuna/kizuna/services/campaign/internal/secret"
	"github.com/kizuna/kizuna/services/campaign/internal/store"
	"github.com/kizuna/kizuna/services/platform/validation"
)

// IDPrefix starts every channel id.
const IDPrefix = "chn_"

// Limits.
const (
	maxName   = 200
	maxSecret = 4096
	maxField  = 512
)

// config is the non-secret part of a channel, stored as JSON.
type config struct {
	Host        string `json:"host,omitempty"`
	Port        int32  `json:"port,omitempty"`
	Security    string `json:"security,omitempty"`
	Username    string `json:"username,omitempty"`
	FromAddress string `json:"from_address,omitempty"`
	FromName    string `json:"from_name,omitempty"`
	ReplyTo     string `json:"reply_to,omitempty"`
	APIBaseURL  string `json:"api_base_url,omitempty"`
	URL         string `json:"url,omitempty"`
}

// secrets is the sealed part.
type secrets struct {
	Password      string `json:"password,omitempty"`
	AccessToken   string `json:"channel_access_token,omitempty"`
	ChannelSecret string `json:"channel_secret,omitempty"`
	SigningSecret string `json:"signing_secret,omitempty"`
}

// Resolved is a channel ready to send on.
type Resolved struct {
	WorkspaceID, ID, Type string
	// Email: the server and the sender's identity.
	Server                         email.Server
	FromAddress, FromName, ReplyTo string
	// LINE.
	Line          line.Channel
	ChannelSecret string
	// Webhook.
	URL, SigningSecret string
}

// Policy returns the outbound URL policy of a workspace.
type Policy func(ctx context.Context, workspaceID string) (netguard.Policy, error)

// Manager carries out the channel use cases.
type Manager struct {
	store  *store.Store
	box    *secret.Box
	policy Policy
	now    func() time.Time
}

// NewManager returns a Manager.
func NewManager(st *store.Store, box *secret.Box, policy Policy, now func() time.Time) *Manager {
	return &Manager{store: st, box: box, policy: policy, now: now}
}

// Prepare validates c (its URLs against the workspace's policy) and
// returns the row of a new channel, secrets sealed, for the caller to
// store.
func (m *Manager) Prepare(ctx context.Context, workspaceID string, c *campaignv1.Channel) (store.Channel, error) {
	if c == nil {
		return store.Channel{}, validation.Invalid("channel", "is required")
	}
	policy, err := m.policy(ctx, workspaceID)
	if err != nil {
		return store.Channel{}, err
	}
	id, err := domain.NewID(IDPrefix)
	if err != nil {
		return store.Channel{}, err
	}
	now := m.now().UTC().Truncate(time.Microsecond)
	row := store.Channel{WorkspaceID: workspaceID, ID: id, CreateTime: now, UpdateTime: now}
	if err := m.fill(&row, c, secrets{}, policy); err != nil {
		return store.Channel{}, err
	}
	return row, nil
}

// Create validates c and stores it.
func (m *Manager) Create(ctx context.Context, workspaceID string, c *campaignv1.Channel) (*campaignv1.Channel, error) {
	row, err := m.Prepare(ctx, workspaceID, c)
	if err != nil {
		return nil, err
	}
	if err := m.store.CreateChannel(ctx, row); err != nil {
		return nil, fmt.Errorf("create channel: %w", err)
	}
	return m.toProto(row)
}

// Get returns the channel without its secrets.
func (m *Manager) Get(ctx context.Context, workspaceID, channelID string) (*campaignv1.Channel, error) {
	row, err := m.store.GetChannel(ctx, workspaceID, channelID)
	if err != nil {
		return nil, err
	}
	return m.toProto(row)
}

// List returns up to limit channels after the id after.
func (m *Manager) List(ctx context.Context, workspaceID, after string, limit int) ([]*campaignv1.Channel, error) {
	rows, err := m.store.ListChannels(ctx, workspaceID, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]*campaignv1.Channel, 0, len(rows))
	for _, r := range rows {
		p, err := m.toProto(r)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// Update applies the fields of c named by mask (all when empty). Empty
// secrets keep the stored ones.
func (m *Manager) Update(ctx context.Context, workspaceID string, c *campaignv1.Channel, mask *fieldmaskpb.FieldMask) (*campaignv1.Channel, error) {
	if c == nil {
		return nil, validation.Invalid("channel", "is required")
	}
	row, err := m.store.GetChannel(ctx, workspaceID, c.GetChannelId())
	if err != nil {
		return nil, err
	}
	old, err := m.openSecrets(row)
	if err != nil {
		return nil, err
	}
	current, err := m.toProto(row)
	if err != nil {
		return nil, err
	}
	if t := typeOf(c); t != "" && t != row.Type {
		return nil, validation.Invalid("channel", "cannot change the type of a %s channel", row.Type)
	}
	merged, err := applyMask(current, c, mask)
	if err != nil {
		return nil, err
	}
	policy, err := m.policy(ctx, workspaceID)
	if err != nil {
		return nil, err
	}
	row.UpdateTime = m.now().UTC().Truncate(time.Microsecond)
	if err := m.fill(&row, merged, old, policy); err != nil {
		return nil, err
	}
	if err := m.store.UpdateChannel(ctx, row); err != nil {
		return nil, err
	}
	return m.toProto(row)
}

// Delete deletes a channel that no live journey sends on.
func (m *Manager) Delete(ctx context.Context, workspaceID, channelID string, inUse func(ctx context.Context, channelID string) (string, error)) error {
	if _, err := m.store.GetChannel(ctx, workspaceID, channelID); err != nil {
		return err
	}
	if j, err := inUse(ctx, channelID); err != nil {
		return err
	} else if j != "" {
		return fmt.Errorf("channel %q is used by live journey %q; pause or archive it first: %w", channelID, j, store.ErrConflict)
	}
	return m.store.DeleteChannel(ctx, workspaceID, channelID)
}

// Resolve opens a stored channel for sending.
func (m *Manager) Resolve(row store.Channel) (Resolved, error) {
	var cfg config
	if err := json.Unmarshal([]byte(row.Config), &cfg); err != nil {
		return Resolved{}, fmt.Errorf("channel %q config: %w", row.ID, err)
	}
	sec, err := m.openSecrets(row)
	if err != nil {
		return Resolved{}, err
	}
	r := Resolved{WorkspaceID: row.WorkspaceID, ID: row.ID, Type: row.Type}
	switch row.Type {
	case store.ChannelEmail:
		r.Server = email.Server{Host: cfg.Host, Port: int(cfg.Port), Security: securityOf(cfg.Security), Username: cfg.Username, Password: sec.Password}
		r.FromAddress, r.FromName, r.ReplyTo = cfg.FromAddress, cfg.FromName, cfg.ReplyTo
	case store.ChannelLine:
		r.Line = line.Channel{ID: row.ID, BaseURL: cfg.APIBaseURL, AccessToken: sec.AccessToken}
		r.ChannelSecret = sec.ChannelSecret
	case store.ChannelWebhook:
		r.URL, r.SigningSecret = cfg.URL, sec.SigningSecret
	}
	return r, nil
}

func securityOf(s string) email.Security {
	switch s {
	case campaignv1.Security_STARTTLS.String():
		return email.SecurityStartTLS
	case campaignv1.Security_TLS.String():
		return email.SecurityTLS
	}
	return email.SecurityNone
}

func (m *Manager) openSecrets(row store.Channel) (secrets, error) {
	var s secrets
	if row.Secrets == "" {
		return s, nil
	}
	plain, err := m.box.Open(row.Secrets, associated(row))
	if err != nil {
		return s, fmt.Errorf("channel %q secrets (was KIZUNA_SECRET_KEY changed?): %w", row.ID, err)
	}
	if err := json.Unmarshal([]byte(plain), &s); err != nil {
		return s, fmt.Errorf("channel %q secrets: %w", row.ID, err)
	}
	return s, nil
}

func associated(row store.Channel) string { return row.WorkspaceID + "\x00" + row.ID }

func typeOf(c *campaignv1.Channel) string {
	switch c.GetConfig().(type) {
	case *campaignv1.Channel_Email:
		return store.ChannelEmail
	case *campaignv1.Channel_Line:
		return store.ChannelLine
	case *campaignv1.Channel_Webhook:
		return store.ChannelWebhook
	}
	return ""
}

// fill validates c and writes its settings and sealed secrets into row.
// Secrets left empty in c keep those of old.
func (m *Manager) fill(row *store.Channel, c *campaignv1.Channel, old secrets, policy netguard.Policy) error {
	var v validation.Error
	name := strings.TrimSpace(c.GetDisplayName())
	switch {
	case name == "":
		v.Add("channel.display_name", "is required")
	case utf8.RuneCountInString(name) > maxName || !utf8.ValidString(name) || strings.ContainsRune(name, 0):
		v.Addf("channel.display_name", "must be at most %d characters of valid text", maxName)
	}
	var cfg config
	sec := old
	keep := func(field, val string, dst *string) {
		if val == "" {
			return
		}
		if len(val) > maxSecret || !utf8.ValidString(val) || strings.ContainsRune(val, 0) {
			v.Addf(field, "must be at most %d bytes of valid text", maxSecret)
			return
		}
		*dst = val
	}
	text := func(field, val string, required bool) string {
		val = strings.TrimSpace(val)
		switch {
		case val == "" && required:
			v.Add(field, "is required")
		case len(val) > maxField || !utf8.ValidString(val) || strings.ContainsAny(val, "\x00\r\n"):
			v.Addf(field, "must be at most %d bytes on one line", maxField)
		}
		return val
	}
	switch k := c.GetConfig().(type) {
	case *campaignv1.Channel_Email:
		e := k.Email
		row.Type = store.ChannelEmail
		cfg.Host = text("channel.email.host", e.GetHost(), true)
		if p := e.GetPort(); p < 1 || p > 65535 {
			v.Add("channel.email.port", "must be from 1 to 65535")
		}
		cfg.Port = e.GetPort()
		switch e.GetSecurity() {
		case campaignv1.Security_NONE, campaignv1.Security_STARTTLS, campaignv1.Security_TLS:
			cfg.Security = e.GetSecurity().String()
		default:
			v.Add("channel.email.security", "must be NONE, STARTTLS or TLS")
		}
		cfg.Username = text("channel.email.username", e.GetUsername(), false)
		keep("channel.email.password", e.GetPassword(), &sec.Password)
		cfg.FromAddress = text("channel.email.from_address", e.GetFromAddress(), true)
		if a, err := mail.ParseAddress(cfg.FromAddress); cfg.FromAddress != "" && (err != nil || a.Address != cfg.FromAddress) {
			v.Add("channel.email.from_address", "must be a plain e-mail address like news@example.jp")
		}
		cfg.FromName = text("channel.email.from_name", e.GetFromName(), false)
		cfg.ReplyTo = text("channel.email.reply_to", e.GetReplyTo(), false)
		if a, err := mail.ParseAddress(cfg.ReplyTo); cfg.ReplyTo != "" && (err != nil || a.Address != cfg.ReplyTo) {
			v.Add("channel.email.reply_to", "must be a plain e-mail address")
		}
	case *campaignv1.Channel_Line:
		l := k.Line
		row.Type = store.ChannelLine
		keep("channel.line.channel_access_token", l.GetChannelAccessToken(), &sec.AccessToken)
		keep("channel.line.channel_secret", l.GetChannelSecret(), &sec.ChannelSecret)
		if sec.AccessToken == "" {
			v.Add("channel.line.channel_access_token", "is required")
		}
		if sec.ChannelSecret == "" {
			v.Add("channel.line.channel_secret", "is required (it verifies the channel's webhook)")
		}
		cfg.APIBaseURL = strings.TrimRight(strings.TrimSpace(l.GetApiBaseUrl()), "/")
		if cfg.APIBaseURL != "" {
			if err := policy.CheckURL(cfg.APIBaseURL); err != nil {
				v.Add("channel.line.api_base_url", err.Error())
			}
		}
	case *campaignv1.Channel_Webhook:
		w := k.Webhook
		row.Type = store.ChannelWebhook
		cfg.URL = strings.TrimSpace(w.GetUrl())
		if cfg.URL == "" {
			v.Add("channel.webhook.url", "is required")
		} else if err := policy.CheckURL(cfg.URL); err != nil {
			v.Add("channel.webhook.url", err.Error())
		}
		keep("channel.webhook.signing_secret", w.GetSigningSecret(), &sec.SigningSecret)
	default:
		v.Add("channel", "must set one of email, line or webhook")
	}
	if err := v.Err(); err != nil {
		return err
	}
	row.DisplayName = name
	b, err := json.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encode channel config: %w", err)
	}
	row.Config = string(b)
	row.Secrets = ""
	if sec != (secrets{}) {
		plain, err := json.Marshal(sec)
		if err != nil {
			return fmt.Errorf("encode channel secrets: %w", err)
		}
		if row.Secrets, err = m.box.Seal(string(plain), associated(*row)); err != nil {
			return fmt.Errorf("seal channel secrets: %w", err)
		}
	}
	return nil
}

// toProto renders a stored channel; secrets are reported as set or not.
func (m *Manager) toProto(row store.Channel) (*campaignv1.Channel, error) {
	var cfg config
	if err := json.Unmarshal([]byte(row.Config), &cfg); err != nil {
		return nil, fmt.Errorf("channel %q config: %w", row.ID, err)
	}
	sec, err := m.openSecrets(row)
	if err != nil {
		return nil, err
	}
	c := &campaignv1.Channel{
		ChannelId: row.ID, DisplayName: row.DisplayName,
		CreateTime: timestamppb.New(row.CreateTime), UpdateTime: timestamppb.New(row.UpdateTime),
	}
	switch row.Type {
	case store.ChannelEmail:
		c.Type = ingestionv1.ChannelType_EMAIL
		c.Config = &campaignv1.Channel_Email{Email: &campaignv1.EmailChannel{
			Host: cfg.Host, Port: cfg.Port, Security: campaignv1.Security(campaignv1.Security_value[cfg.Security]),
			Username: cfg.Username, PasswordSet: sec.Password != "", FromAddress: cfg.FromAddress, FromName: cfg.FromName, ReplyTo: cfg.ReplyTo,
		}}
	case store.ChannelLine:
		c.Type = ingestionv1.ChannelType_LINE
		c.Config = &campaignv1.Channel_Line{Line: &campaignv1.LineChannel{
			ChannelAccessTokenSet: sec.AccessToken != "", ChannelSecretSet: sec.ChannelSecret != "",
			ApiBaseUrl: cfg.APIBaseURL, WebhookPath: "/v1/channels/" + row.ID + "/line:webhook",
		}}
	case store.ChannelWebhook:
		c.Type = ingestionv1.ChannelType_WEBHOOK
		c.Config = &campaignv1.Channel_Webhook{Webhook: &campaignv1.WebhookChannel{Url: cfg.URL, SigningSecretSet: sec.SigningSecret != ""}}
	}
	return c, nil
}

// applyMask copies into current the fields of in named by mask (every
// field of in when the mask is empty).
func applyMask(current, in *campaignv1.Channel, mask *fieldmaskpb.FieldMask) (*campaignv1.Channel, error) {
	paths := mask.GetPaths()
	if len(paths) == 0 {
		out := proto.Clone(in).(*campaignv1.Channel)
		out.ChannelId = current.GetChannelId()
		return out, nil
	}
	// current comes from toProto, which never carries secrets, so only a
	// masked secret is replaced.
	out := proto.Clone(current).(*campaignv1.Channel)
	for i, p := range paths {
		if !setField(out, in, p) {
			return nil, validation.Invalid(fmt.Sprintf("update_mask.paths[%d]", i), "%q is not a settable channel field", p)
		}
	}
	return out, nil
}

// setField copies one masked field of in into out.
func setField(out, in *campaignv1.Channel, path string) bool {
	if path == "display_name" {
		out.DisplayName = in.GetDisplayName()
		return true
	}
	if e := out.GetEmail(); e != nil {
		src := in.GetEmail()
		if src == nil {
			src = &campaignv1.EmailChannel{}
		}
		switch path {
		case "email":
			out.Config = &campaignv1.Channel_Email{Email: proto.Clone(src).(*campaignv1.EmailChannel)}
		case "email.host":
			e.Host = src.GetHost()
		case "email.port":
			e.Port = src.GetPort()
		case "email.security":
			e.Security = src.GetSecurity()
		case "email.username":
			e.Username = src.GetUsername()
		case "email.password":
			e.Password = src.GetPassword()
		case "email.from_address":
			e.FromAddress = src.GetFromAddress()
		case "email.from_name":
			e.FromName = src.GetFromName()
		case "email.reply_to":
			e.ReplyTo = src.GetReplyTo()
		default:
			return false
		}
		return true
	}
	if l := out.GetLine(); l != nil {
		src := in.GetLine()
		if src == nil {
			src = &campaignv1.LineChannel{}
		}
		switch path {
		case "line":
			out.Config = &campaignv1.Channel_Line{Line: proto.Clone(src).(*campaignv1.LineChannel)}
		case "line.channel_access_token":
			l.ChannelAccessToken = src.GetChannelAccessToken()
		case "line.channel_secret":
			l.ChannelSecret = src.GetChannelSecret()
		case "line.api_base_url":
			l.ApiBaseUrl = src.GetApiBaseUrl()
		default:
			return false
		}
		return true
	}
	if w := out.GetWebhook(); w != nil {
		src := in.GetWebhook()
		if src == nil {
			src = &campaignv1.WebhookChannel{}
		}
		switch path {
		case "webhook":
			out.Config = &campaignv1.Channel_Webhook{Webhook: proto.Clone(src).(*campaignv1.WebhookChannel)}
		case "webhook.url":
			w.Url = src.GetUrl()
		case "webhook.signing_secret":
			w.SigningSecret = src.GetSigningSecret()
		default:
			return false
		}
		return true
	}
	return false
}

// ErrBadSignature reports a LINE webhook whose signature does not verify.
var ErrBadSignature = errors.New("bad X-Line-Signature")
