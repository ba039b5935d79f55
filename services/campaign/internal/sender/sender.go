// Package sender sends the messages journeys queue. A loop leases due
// sends in batches, and for each workspace in a batch reads the settings,
// profiles, opt-outs and recent sends once; it then applies consent,
// addresses, quiet hours and frequency caps in that order, renders the
// step's templates, sends over e-mail (pooled SMTP), LINE (push, or
// multicast for identical messages) or webhooks, and records every outcome
// in one transaction. Final outcomes are published on the deliveries
// stream.
//
// A send is leased before it goes out and recorded after; a process that
// dies in between leaves the lease to expire and the send is made again
// with the same idempotency key towards the channel (the e-mail Message-ID,
// LINE's X-Line-Retry-Key, the webhook's Idempotency-Key), so receivers
// that honour the key see it once.
package sender

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	"github.com/kizuna/kizuna/services/campaign/internal/channel"
	"github.com/kizuna/kizuna/services/campaign/internal/email"
	"github.com/kizuna/kizuna/services/campaign/internal/journey"
	"github.com/kizuna/kizuna/services/campaign/internal/line"
	"github.com/kizuna/kizuna/services/campaign/internal/message"
	"github.com/kizuna/kizuna/services/campaign/internal/netguard"
	"github.com/kizuna/kizuna/services/campaign/internal/peers"
	"github.com/kizuna/kizuna/services/campaign/internal/runner"
	"github.com/kizuna/kizuna/services/campaign/internal/store"
	"github.com/kizuna/kizuna/services/campaign/internal/unsub"
	"github.com/kizuna/kizuna/services/campaign/internal/webhook"
)

// Defaults for Config.
const (
	DefaultBatch        = 1000
	DefaultConcurrency  = 64
	DefaultMaxAttempts  = 5
	DefaultRetryBackoff = 10 * time.Second
	DefaultMaxBackoff   = 10 * time.Minute
	DefaultLease        = 2 * time.Minute
	DefaultPollInterval = time.Second
)

// Peers is what the sender asks other services.
type Peers interface {
	Profiles(ctx context.Context, workspaceID string, ids []string) (map[string]peers.Profile, error)
	Settings(ctx context.Context, workspaceID string) (peers.Settings, error)
	// Features is asked only for sends whose templates read them.
	Features(ctx context.Context, workspaceID, customerID string) (map[string]any, error)
}

// Config configures a Sender.
type Config struct {
	Store    *store.Store
	Journeys *runner.Cache
	Channels *channel.Manager
	Peers    Peers
	// Recorded, when set, is called after a batch's final outcomes were
	// recorded: the outcomes relay (outside the sender) has work.
	Recorded func()
	Email    *email.Sender
	// Line makes a LINE client for an HTTP client (one per URL policy).
	Line func(*http.Client) *line.Client
	// Webhook makes a webhook sender for an HTTP client.
	Webhook func(*http.Client) *webhook.Sender
	// Transport makes the guarded transport of one URL policy; default
	// netguard.NewTransport.
	Transport func() http.RoundTripper
	Unsub     *unsub.Signer
	// PublicURL is where the gateway serves unsubscribe links.
	PublicURL    string
	Logger       *slog.Logger
	Now          func() time.Time
	Batch        int
	Concurrency  int
	MaxAttempts  int
	RetryBackoff time.Duration
	MaxBackoff   time.Duration
	Lease        time.Duration
	PollInterval time.Duration
}

// Sender is the send loop.
type Sender struct {
	cfg  Config
	wake chan struct{}

	// sends counts final outcomes by channel type, status and reason.
	sends metric.Int64Counter

	// claimMu lets one loop claim at a time: two claims racing over
	// PostgreSQL's SKIP LOCKED split sends that were due together, so one
	// LINE multicast would go out as several requests.
	claimMu sync.Mutex

	mu        sync.Mutex
	templates map[string]*message.Template
	byPolicy  map[netguard.Policy]*clients
}

// clients are the HTTP clients of one URL policy: pooled connections are
// never shared between workspaces with different policies.
type clients struct {
	line    *line.Client
	webhook *webhook.Sender
}

// New returns a Sender.
func New(cfg Config) *Sender {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Transport == nil {
		cfg.Transport = func() http.RoundTripper { return netguard.NewTransport() }
	}
	setDefault(&cfg.Batch, DefaultBatch)
	setDefault(&cfg.Concurrency, DefaultConcurrency)
	setDefault(&cfg.MaxAttempts, DefaultMaxAttempts)
	setDefault(&cfg.RetryBackoff, DefaultRetryBackoff)
	setDefault(&cfg.MaxBackoff, DefaultMaxBackoff)
	setDefault(&cfg.Lease, DefaultLease)
	setDefault(&cfg.PollInterval, DefaultPollInterval)
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	// An error means an invalid instrument name, fixed here; the no-op
	// counter it returns then is harmless.
	sends, _ := otel.Meter("github.com/kizuna/kizuna/services/campaign").Int64Counter("kizuna.campaign.sends",
		metric.WithDescription("Final send outcomes, by channel_type (email, line, webhook), status (sent, failed, skipped) and reason (why skipped)."),
		metric.WithUnit("{send}"))
	return &Sender{cfg: cfg, wake: make(chan struct{}, 1), templates: map[string]*message.Template{}, byPolicy: map[netguard.Policy]*clients{}, sends: sends}
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// Wake makes the loop look for due sends now. It never blocks.
func (s *Sender) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run sends due sends until ctx ends. Calls in flight finish and are
// recorded before it returns.
//
// Two loops claim batches side by side, so one batch's database work
// overlaps the other's calls to the channels; leases keep them apart.
func (s *Sender) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() { s.loop(ctx) })
	}
	wg.Wait()
	return nil
}

// workers is how many send loops Run starts.
const workers = 2

func (s *Sender) loop(ctx context.Context) {
	ticker := time.NewTicker(s.cfg.PollInterval)
	defer ticker.Stop()
	work := context.WithoutCancel(ctx)
	for {
		for ctx.Err() == nil {
			n, err := s.SendDue(work)
			if err != nil {
				s.cfg.Logger.Error("send due messages", slog.Any("error", err))
			}
			if err != nil || n < s.cfg.Batch {
				break
			}
			// More may be due: the other loop claims the next batch
			// while this one sends.
			s.Wake()
		}
		if s.cfg.Recorded != nil {
			s.cfg.Recorded()
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-ticker.C:
		}
	}
}

// SendDue claims one batch of due sends, sends them and records the
// outcomes; it returns how many it claimed.
func (s *Sender) SendDue(ctx context.Context) (int, error) {
	token, err := newToken()
	if err != nil {
		return 0, err
	}
	s.claimMu.Lock()
	now := s.cfg.Now()
	claims, err := s.cfg.Store.ClaimDueSends(ctx, now, now.Add(s.cfg.Lease), token, s.cfg.Batch)
	s.claimMu.Unlock()
	if err != nil || len(claims) == 0 {
		return 0, err
	}
	byWorkspace := map[string][]store.Send{}
	for _, c := range claims {
		byWorkspace[c.WorkspaceID] = append(byWorkspace[c.WorkspaceID], c)
	}
	var outcomes []store.Outcome
	for ws, sds := range byWorkspace {
		os, err := s.sendWorkspace(ctx, ws, sds, now)
		if err != nil {
			// Left leased: tried again when the lease ends.
			s.cfg.Logger.Warn("sends will be retried", slog.String("workspace_id", ws), slog.Int("sends", len(sds)), slog.Any("error", err))
			continue
		}
		outcomes = append(outcomes, os...)
	}
	if _, err := s.cfg.Store.RecordOutcomes(ctx, outcomes); err != nil {
		return len(claims), err
	}
	for _, o := range outcomes {
		switch o.Status {
		case store.SendSent, store.SendFailed, store.SendSkipped:
			s.sends.Add(ctx, 1, metric.WithAttributes(attribute.String("channel_type", o.Send.ChannelType),
				attribute.String("status", o.Status), attribute.String("reason", o.Reason)))
		}
	}
	return len(claims), nil
}

// job is one send on its way out.
type job struct {
	send    store.Send
	ch      channel.Resolved
	profile peers.Profile
	subject string
	text    string
	html    string
	unsub   string
	out     store.Outcome
}

func (s *Sender) sendWorkspace(ctx context.Context, ws string, sds []store.Send, now time.Time) ([]store.Outcome, error) {
	settings, err := s.cfg.Peers.Settings(ctx, ws)
	if err != nil {
		return nil, err
	}
	live, err := s.cfg.Journeys.Live(ctx, ws)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(sds))
	seen := map[string]bool{}
	for _, sd := range sds {
		if !seen[sd.CustomerID] {
			seen[sd.CustomerID] = true
			ids = append(ids, sd.CustomerID)
		}
	}
	profiles, err := s.cfg.Peers.Profiles(ctx, ws, ids)
	if err != nil {
		return nil, err
	}
	optedOut, err := s.cfg.Store.OptedOut(ctx, ws, ids)
	if err != nil {
		return nil, err
	}
	var longest time.Duration
	for _, c := range settings.Caps {
		longest = max(longest, c.Period)
	}
	var recent map[string]map[string][]time.Time
	if longest > 0 {
		if recent, err = s.cfg.Store.SentSince(ctx, ws, ids, now.Add(-longest)); err != nil {
			return nil, err
		}
	}
	channels := map[string]*channel.Resolved{}
	chanErr := map[string]bool{}
	resolve := func(id string) (*channel.Resolved, error) {
		if r, ok := channels[id]; ok || chanErr[id] {
			return r, nil
		}
		row, err := s.cfg.Store.GetChannel(ctx, ws, id)
		if err != nil {
			chanErr[id] = true
			return nil, nil // a deleted channel: its sends are skipped
		}
		r, err := s.cfg.Channels.Resolve(row)
		if err != nil {
			return nil, err
		}
		channels[id] = &r
		return &r, nil
	}
	// In-batch sends count towards caps too.
	planned := map[string]map[string]int{}
	var jobs []*job
	var outcomes []store.Outcome
	skip := func(sd store.Send, reason, detail string) {
		outcomes = append(outcomes, store.Outcome{Send: sd, Status: store.SendSkipped, Reason: reason, Error: detail})
	}
	// Sends of one customer are decided in creation order, so caps keep
	// the earlier ones.
	sort.SliceStable(sds, func(i, j int) bool { return sds[i].ID < sds[j].ID })
	for _, sd := range sds {
		ch, err := resolve(sd.ChannelID)
		if err != nil {
			return nil, err
		}
		if ch == nil {
			skip(sd, campaignv1.SkipReason_CHANNEL_DELETED.String(), "")
			continue
		}
		p, ok := profiles[sd.CustomerID]
		if !ok {
			skip(sd, campaignv1.SkipReason_NO_PROFILE.String(), "")
			continue
		}
		if p.Suppressed {
			skip(sd, campaignv1.SkipReason_SUPPRESSED.String(), "")
			continue
		}
		if optedOut[sd.CustomerID][ch.Type] || (ch.Type == store.ChannelEmail && p.Traits["emailOptIn"] == false) {
			skip(sd, campaignv1.SkipReason_NO_CONSENT.String(), "")
			continue
		}
		if purpose := marketingPurpose[ch.Type]; purpose != "" && !sd.Transactional {
			if ok, why := p.MarketingAllowed(purpose, settings.RequireConsent); !ok {
				skip(sd, campaignv1.SkipReason_NO_CONSENT.String(), why)
				continue
			}
		}
		if (ch.Type == store.ChannelEmail && p.Email == "") || (ch.Type == store.ChannelLine && p.LineUserID == "") {
			skip(sd, campaignv1.SkipReason_NO_ADDRESS.String(), "")
			continue
		}
		if !sd.Transactional && settings.Quiet != nil {
			tz, _ := p.Traits["timezone"].(string)
			if until, in := settings.Quiet.Until(now, journey.Location(tz, settings.Timezone)); in {
				outcomes = append(outcomes, store.Outcome{Send: sd, Status: store.SendDeferred, PlannedTime: until})
				continue
			}
		}
		if c, capped := settings.Caps[store.ContractChannelType(ch.Type)]; capped && !sd.Transactional {
			n := planned[sd.CustomerID][ch.Type]
			for _, at := range recent[sd.CustomerID][ch.Type] {
				if !at.Before(now.Add(-c.Period)) {
					n++
				}
			}
			if n >= c.Max {
				skip(sd, campaignv1.SkipReason_FREQUENCY_CAP.String(), fmt.Sprintf("%d of %d sends in %s", n, c.Max, c.Period))
				continue
			}
		}
		j := &job{send: sd, ch: *ch, profile: p}
		if err := s.render(ctx, live, j); errors.Is(err, peers.ErrUnavailable) {
			return nil, err // segmentation is down: the batch is tried again
		} else if err != nil {
			skip(sd, campaignv1.SkipReason_RENDER_FAILED.String(), err.Error())
			continue
		}
		if planned[sd.CustomerID] == nil {
			planned[sd.CustomerID] = map[string]int{}
		}
		planned[sd.CustomerID][ch.Type]++
		jobs = append(jobs, j)
	}
	policy := netguard.Policy{AllowLoopback: settings.AllowLoopback, AllowPrivate: settings.AllowPrivate}
	s.deliver(netguard.WithPolicy(ctx, policy), policy, jobs, now)
	for _, j := range jobs {
		outcomes = append(outcomes, j.out)
	}
	return outcomes, nil
}

// readsFeatures reports whether any of the templates names one of
// peers.FeatureNames (a mention in plain text only costs a call).
func readsFeatures(srcs ...string) bool {
	for _, src := range srcs {
		for _, name := range peers.FeatureNames {
			if strings.Contains(src, name) {
				return true
			}
		}
	}
	return false
}

// render fills the job's texts from its step's templates.
func (s *Sender) render(ctx context.Context, live *runner.Live, j *job) error {
	jr, ok := live.Journeys[j.send.JourneyID]
	if !ok {
		return fmt.Errorf("journey %q is not live", j.send.JourneyID)
	}
	step := jr.Graph.Step(j.send.StepID).GetSend()
	if step == nil {
		return fmt.Errorf("step %q is not a send step", j.send.StepID)
	}
	subject, text, html := step.GetSubject(), step.GetText(), step.GetHtml()
	if j.send.Variant != "" {
		v := runner.VariantNamed(step, j.send.Variant)
		if v == nil {
			return fmt.Errorf("step %q has no variant %q", j.send.StepID, j.send.Variant)
		}
		subject, text, html = v.GetSubject(), v.GetText(), v.GetHtml()
	}
	var event map[string]any
	if err := json.Unmarshal([]byte(j.send.Event), &event); err != nil || event == nil {
		event = map[string]any{}
	}
	traits := j.profile.Traits
	if traits == nil {
		traits = map[string]any{}
	}
	if !j.send.Transactional && s.cfg.Unsub != nil {
		j.unsub = s.cfg.PublicURL + "/unsubscribe/" + s.cfg.Unsub.Token(unsub.Claims{
			WorkspaceID: j.send.WorkspaceID, CustomerID: j.send.CustomerID, ChannelType: j.ch.Type, SendID: j.send.ID,
		})
	}
	customer := map[string]any{"customer_id": j.send.CustomerID, "traits": traits}
	if readsFeatures(subject, text, html) {
		// Computed and predicted traits live in segmentation: asked for
		// only by the templates that use them, so a broadcast of plain
		// templates makes no extra call.
		f, err := s.cfg.Peers.Features(ctx, j.send.WorkspaceID, j.send.CustomerID)
		if err != nil {
			return err
		}
		maps.Copy(customer, f)
	}
	bindings := map[string]any{
		"customer":        customer,
		"event":           map[string]any{"properties": event},
		"journey":         map[string]any{"journey_id": jr.ID, "display_name": jr.Definition.GetDisplayName()},
		"unsubscribe_url": j.unsub,
	}
	key := j.send.JourneyID + "\x00" + j.send.StepID + "\x00" + j.send.Variant + "\x00"
	for _, f := range []struct {
		name string
		src  string
		dst  *string
	}{{"subject", subject, &j.subject}, {"text", text, &j.text}, {"html", html, &j.html}} {
		if f.src == "" {
			continue
		}
		t, err := s.template(key+f.name, f.src)
		if err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		out, err := t.RenderBounded(bindings)
		if err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
		*f.dst = out
	}
	// A subject is one line.
	j.subject = strings.Join(strings.Fields(j.subject), " ")
	return nil
}

// template parses src once per journey step: an active journey's
// definition never changes.
func (s *Sender) template(key, src string) (*message.Template, error) {
	s.mu.Lock()
	t, ok := s.templates[key]
	s.mu.Unlock()
	if ok {
		return t, nil
	}
	t, err := message.Parse(src)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if len(s.templates) > 10000 {
		s.templates = map[string]*message.Template{}
	}
	s.templates[key] = t
	s.mu.Unlock()
	return t, nil
}

func (s *Sender) clientsFor(p netguard.Policy) *clients {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.byPolicy[p]
	if !ok {
		hc := &http.Client{Transport: s.cfg.Transport(), Timeout: webhook.DefaultTimeout}
		c = &clients{line: s.cfg.Line(hc), webhook: s.cfg.Webhook(hc)}
		s.byPolicy[p] = c
	}
	return c
}

// deliver sends jobs, concurrently, and fills each job's outcome.
func (s *Sender) deliver(ctx context.Context, policy netguard.Policy, jobs []*job, now time.Time) {
	cl := s.clientsFor(policy)
	var mails = map[string][]*job{}
	var lines = map[string][]*job{}
	var tasks []func()
	for _, j := range jobs {
		switch j.ch.Type {
		case store.ChannelEmail:
			mails[j.ch.ID] = append(mails[j.ch.ID], j)
		case store.ChannelLine:
			key := j.send.BatchKey
			if key == "" {
				key = "new\x00" + j.ch.ID + "\x00" + j.text
			}
			lines[key] = append(lines[key], j)
		case store.ChannelWebhook:
			tasks = append(tasks, func() { s.sendWebhook(ctx, cl.webhook, j) })
		}
	}
	for _, group := range mails {
		for start := 0; start < len(group); start += 100 {
			batch := group[start:min(start+100, len(group))]
			tasks = append(tasks, func() { s.sendMails(ctx, batch) })
		}
	}
	for key, group := range lines {
		for start := 0; start < len(group); start += line.MaxMulticastRecipients {
			batch := group[start:min(start+line.MaxMulticastRecipients, len(group))]
			tasks = append(tasks, func() { s.sendLine(ctx, cl.line, key, batch) })
		}
	}
	var wg sync.WaitGroup
	slots := make(chan struct{}, s.cfg.Concurrency)
	for _, t := range tasks {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			t()
		})
	}
	wg.Wait()
}

func (s *Sender) sendWebhook(ctx context.Context, w *webhook.Sender, j *job) {
	res := w.Send(ctx, j.ch.URL, webhook.Payload{
		SendID: j.send.ID, WorkspaceID: j.send.WorkspaceID, JourneyID: j.send.JourneyID, StepID: j.send.StepID,
		CustomerID: j.send.CustomerID, Message: j.text, UnsubscribeURL: j.unsub,
	}, j.ch.SigningSecret)
	s.finish(j, verdictOf(res.Verdict, webhook.Delivered, webhook.Retry), j.send.ID, res.Detail)
}

func (s *Sender) sendMails(ctx context.Context, batch []*job) {
	msgs := make([]email.Message, len(batch))
	for i, j := range batch {
		domain := "kizuna.invalid"
		if _, d, ok := strings.Cut(j.ch.FromAddress, "@"); ok {
			domain = d
		}
		name, _ := j.profile.Traits["name"].(string)
		msgs[i] = email.Message{
			MessageID:   j.send.ID + "@" + domain,
			FromAddress: j.ch.FromAddress, FromName: j.ch.FromName, ReplyTo: j.ch.ReplyTo,
			ToAddress: j.profile.Email, ToName: strings.TrimSpace(name),
			Subject: j.subject, Text: j.text, HTML: j.html, UnsubscribeURL: j.unsub,
		}
	}
	results := s.cfg.Email.Send(ctx, batch[0].ch.Server, msgs)
	for i, j := range batch {
		j.out.Subject = j.subject
		s.finish(j, verdictOf(results[i].Verdict, email.Delivered, email.Retry), "<"+msgs[i].MessageID+">", results[i].Detail)
	}
}

func (s *Sender) sendLine(ctx context.Context, c *line.Client, key string, batch []*job) {
	texts := []string{batch[0].text}
	if len(batch) == 1 && batch[0].send.BatchKey == "" {
		j := batch[0]
		res := c.Push(ctx, j.ch.Line, retryKey(j.send.ID), j.profile.LineUserID, texts)
		s.finish(j, verdictOf(res.Verdict, line.Delivered, line.Retry), res.RequestID, res.Detail)
		return
	}
	retry := batch[0].send.BatchKey
	if retry == "" {
		retry = uuid.NewString()
	}
	to := make([]string, len(batch))
	for i, j := range batch {
		to[i] = j.profile.LineUserID
	}
	res := c.Multicast(ctx, batch[0].ch.Line, retry, to, texts)
	for _, j := range batch {
		j.out.BatchKey = retry
		s.finish(j, verdictOf(res.Verdict, line.Delivered, line.Retry), res.RequestID, res.Detail)
	}
}

// retryKey is the stable X-Line-Retry-Key of a pushed send.
func retryKey(sendID string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte("kizuna:send:"+sendID)).String()
}

type verdict int

const (
	verdictSent verdict = iota + 1
	verdictRetry
	verdictRejected
)

// verdictOf reads a channel's verdict: each channel package names the same
// three outcomes in a type of its own.
func verdictOf[V comparable](v, delivered, retry V) verdict {
	switch v {
	case delivered:
		return verdictSent
	case retry:
		return verdictRetry
	}
	return verdictRejected
}

// finish turns one attempt's result into the job's outcome.
func (s *Sender) finish(j *job, v verdict, providerID, detail string) {
	now := s.cfg.Now()
	o := store.Outcome{Send: j.send, Attempted: true, Subject: j.subject, Body: j.text, BatchKey: j.out.BatchKey, ProviderMessageID: providerID}
	attempt := j.send.Attempts + 1
	switch {
	case v == verdictSent:
		o.Status, o.SendTime = store.SendSent, now
	case v == verdictRetry && attempt < s.cfg.MaxAttempts:
		o.Status, o.PlannedTime, o.Error = store.SendPending, now.Add(s.backoff(attempt)), detail
	case v == verdictRetry:
		o.Status, o.Error = store.SendFailed, fmt.Sprintf("gave up after %d attempts: %s", attempt, detail)
	default:
		o.Status, o.Error = store.SendFailed, detail
	}
	j.out = o
}

// backoff is the wait after the given failed attempt, doubling with ±20 %
// jitter so sends that failed together do not retry together.
func (s *Sender) backoff(attempt int) time.Duration {
	b := s.cfg.RetryBackoff
	for i := 1; i < attempt && b < s.cfg.MaxBackoff; i++ {
		b *= 2
	}
	b = min(b, s.cfg.MaxBackoff)
	return b + time.Duration(rand.Int64N(int64(b)/5*2+1)) - b/5
}

func newToken() (string, error) {
	b := make([]byte, 12)
	if _, err := crand.Read(b); err != nil {
		return "", fmt.Errorf("lease token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// marketingPurpose is the consent purpose a marketing send on a channel
// type needs; webhooks carry none.
var marketingPurpose = map[string]string{
	store.ChannelEmail: peers.PurposeMarketingEmail,
	store.ChannelLine:  peers.PurposeMarketingLine,
}
