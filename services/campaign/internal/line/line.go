// Package line sends campaign messages through the LINE Messaging API (push
// and multicast text messages) and reads LINE's webhook calls (follow,
// unfollow and the rest).
//
// Every send carries an X-Line-Retry-Key chosen by the caller and kept for
// all retries of that send, inside one call and across calls. LINE accepts
// a key once and answers 409 to any repeat, so retrying a call whose answer
// was lost (a timeout, a 5xx after LINE had accepted it) never sends the
// message twice. LINE keeps a key for 24 hours: retries with the same key
// must happen within that window.
package line

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/google/uuid"
)

// Defaults for Options and Channel.
const (
	DefaultBaseURL     = "https://api.line.me"
	DefaultTimeout     = 10 * time.Second
	DefaultMaxAttempts = 4
	DefaultBaseBackoff = 500 * time.Millisecond
	DefaultMaxBackoff  = 30 * time.Second
	// The default rates are half LINE's published per-channel limits
	// (push 2,000/s, multicast 200/s), leaving room for other systems
	// sharing the channel and for the token bucket's burst.
	DefaultPushRate      = 1000
	DefaultMulticastRate = 100
)

// LINE's limits on one send.
const (
	MaxMulticastRecipients = 500
	MaxMessages            = 5
	// MaxTextLength is counted in UTF-16 code units, as LINE counts it:
	// an emoji outside the BMP counts as two.
	MaxTextLength = 5000
)

// maxBodyBytes bounds how much of a response is read: enough for any error
// LINE sends, and the rest is not worth holding a connection for.
const maxBodyBytes = 64 << 10

// Channel is a LINE Messaging API channel (one LINE Official Account).
type Channel struct {
	// ID keys the channel's rate limits; LINE counts limits per channel.
	ID string
	// BaseURL is DefaultBaseURL when empty; tests point it at linetest.
	BaseURL     string
	AccessToken string
}

// Verdict classifies the outcome of a send.
type Verdict int

// The verdicts.
const (
	// Delivered: LINE accepted the request (2xx), now or earlier (409).
	Delivered Verdict = iota + 1
	// Retry: every attempt failed with a network error, a timeout, 429 or
	// 5xx, or ctx ended. The caller retries later with the same key.
	Retry
	// Rejected: the request is invalid or not authorised (any other 4xx,
	// or it failed validation here); sending it again would not help.
	Rejected
)

func (v Verdict) String() string {
	switch v {
	case Delivered:
		return "delivered"
	case Retry:
		return "retry"
	case Rejected:
		return "rejected"
	}
	return "Verdict(" + strconv.Itoa(int(v)) + ")"
}

// Result is the outcome of a send.
type Result struct {
	Verdict Verdict
	// Code is the last HTTP status, 0 if no response arrived.
	Code int
	// RequestID is LINE's id of the request that was accepted: the
	// x-line-request-id of a 2xx, or the x-line-accepted-request-id of a
	// 409. LINE support asks for it.
	RequestID string
	// AlreadyAccepted: LINE answered 409, so this retry key was accepted
	// by an earlier request. The message went out then; it counts as
	// Delivered.
	AlreadyAccepted bool
	// Detail explains a result other than Delivered, for the delivery's
	// last_error.
	Detail string
}

// Options configures a Client. Zero fields take the defaults.
type Options struct {
	// HTTPClient is copied; the copy never follows redirects and gets
	// DefaultTimeout when it has no timeout, so every attempt is bounded.
	// The caller supplies one whose dialer refuses private addresses.
	HTTPClient *http.Client
	// MaxAttempts bounds the attempts within one call.
	MaxAttempts int
	// BaseBackoff is the wait after the first failed attempt; it doubles
	// with each further attempt up to MaxBackoff, with ±20% jitter so calls
	// that failed together do not retry together. A 429's Retry-After is
	// waited out when longer, but never beyond MaxBackoff.
	BaseBackoff, MaxBackoff time.Duration
	// PushRate and MulticastRate (requests per second) are the token
	// buckets' rates, one bucket per channel ID and endpoint.
	PushRate, MulticastRate float64
	// Sleep waits d or until ctx ends. Tests make it instant.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock of the rate limits and of 429 holds. Tests fix it.
	Now func() time.Time
}

// Client sends to LINE. It is safe for concurrent use; share one per
// process so that every send on a channel goes through the same buckets.
type Client struct {
	http        *http.Client
	maxAttempts int
	baseBackoff time.Duration
	maxBackoff  time.Duration
	rates       [2]float64 // by endpoint
	sleep       func(ctx context.Context, d time.Duration) error
	now         func() time.Time

	mu      sync.Mutex
	buckets map[bucketKey]*bucket
}

// NewClient returns a Client with opts' zero fields set to the defaults.
func NewClient(opts Options) *Client {
	hc := &http.Client{}
	if opts.HTTPClient != nil {
		copied := *opts.HTTPClient
		hc = &copied
	}
	if hc.Timeout == 0 {
		hc.Timeout = DefaultTimeout
	}
	// LINE's API does not redirect; following one would send the access
	// token somewhere unexpected.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c := &Client{
		http:        hc,
		maxAttempts: positive(opts.MaxAttempts, DefaultMaxAttempts),
		baseBackoff: positive(opts.BaseBackoff, DefaultBaseBackoff),
		maxBackoff:  positive(opts.MaxBackoff, DefaultMaxBackoff),
		sleep:       opts.Sleep,
		now:         opts.Now,
		buckets:     map[bucketKey]*bucket{},
	}
	c.rates[push] = positive(opts.PushRate, DefaultPushRate)
	c.rates[multicast] = positive(opts.MulticastRate, DefaultMulticastRate)
	if c.sleep == nil {
		c.sleep = sleep
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c
}

// positive returns v, or def when v is not positive (NaN included).
func positive[T int | float64 | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// endpoint is a LINE send API; each has its own rate limit.
type endpoint int

const (
	push endpoint = iota
	multicast
)

func (e endpoint) String() string {
	if e == push {
		return "push"
	}
	return "multicast"
}

func (e endpoint) path() string {
	if e == push {
		return "/v2/bot/message/push"
	}
	return "/v2/bot/message/multicast"
}

type sendRequest struct {
	To       any           `json:"to"`
	Messages []textMessage `json:"messages"`
}

type textMessage struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// Push sends texts (1 to MaxMessages text messages) to one user, group or
// room: POST {base}/v2/bot/message/push. retryKey must be a UUID, the same
// for every retry of this send.
func (c *Client) Push(ctx context.Context, ch Channel, retryKey string, to string, texts []string) Result {
	if to == "" {
		return rejected("push: no recipient")
	}
	return c.send(ctx, ch, push, retryKey, to, texts)
}

// Multicast sends the same texts to up to MaxMulticastRecipients users:
// POST {base}/v2/bot/message/multicast. retryKey must be a UUID, the same
// for every retry of this batch (so the batch must not change between
// retries).
func (c *Client) Multicast(ctx context.Context, ch Channel, retryKey string, to []string, texts []string) Result {
	if len(to) == 0 || len(to) > MaxMulticastRecipients {
		return rejected(fmt.Sprintf("multicast: %d recipients, want 1 to %d", len(to), MaxMulticastRecipients))
	}
	for i, id := range to {
		if id == "" {
			return rejected(fmt.Sprintf("multicast: recipient %d is empty", i))
		}
	}
	return c.send(ctx, ch, multicast, retryKey, to, texts)
}

func rejected(detail string) Result {
	return Result{Verdict: Rejected, Detail: detail}
}

func (c *Client) send(ctx context.Context, ch Channel, ep endpoint, retryKey string, to any, texts []string) Result {
	if err := validate(ch, retryKey, texts); err != nil {
		return rejected(fmt.Sprintf("%s: %v", ep, err))
	}
	msgs := make([]textMessage, len(texts))
	for i, t := range texts {
		msgs[i] = textMessage{Type: "text", Text: t}
	}
	body, err := json.Marshal(sendRequest{To: to, Messages: msgs})
	if err != nil {
		return rejected(fmt.Sprintf("%s: encode request: %v", ep, err))
	}
	base := ch.BaseURL
	if base == "" {
		base = DefaultBaseURL
	}
	url := strings.TrimRight(base, "/") + ep.path()
	b := c.bucket(ch.ID, ep)

	var last Result
	for attempt := 1; ; attempt++ {
		if err := c.wait(ctx, b); err != nil {
			last.Verdict = Retry
			last.Detail = fmt.Sprintf("%s: waiting to send (attempt %d): %v", ep, attempt, err)
			return last
		}
		res, retryAfter := c.attempt(ctx, ch, ep, url, retryKey, body)
		if res.Verdict != Retry {
			return res
		}
		last = res
		d := c.backoff(attempt, retryAfter)
		tooMany := res.Code == http.StatusTooManyRequests
		if tooMany {
			// LINE counts rate limits and quotas per channel, so every
			// call on this channel holds off, not only this one.
			b.holdUntil(c.now().Add(d))
		}
		if attempt >= c.maxAttempts {
			last.Detail = fmt.Sprintf("%s after %d attempts", last.Detail, attempt)
			return last
		}
		if tooMany {
			continue // the next wait sleeps the hold out
		}
		if err := c.sleep(ctx, d); err != nil {
			last.Detail = fmt.Sprintf("%s; backing off: %v", last.Detail, err)
			return last
		}
	}
}

func validate(ch Channel, retryKey string, texts []string) error {
	if ch.ID == "" {
		// Rate limits are keyed by it: unrelated channels would share one.
		return fmt.Errorf("channel has no id")
	}
	if ch.AccessToken == "" {
		return fmt.Errorf("channel %s has no access token", ch.ID)
	}
	// LINE wants the hyphenated hex form; uuid.Parse also takes others.
	if _, err := uuid.Parse(retryKey); err != nil || len(retryKey) != 36 {
		return fmt.Errorf("retry key %q is not a UUID", retryKey)
	}
	if len(texts) == 0 || len(texts) > MaxMessages {
		return fmt.Errorf("%d messages, want 1 to %d", len(texts), MaxMessages)
	}
	for i, t := range texts {
		if t == "" {
			return fmt.Errorf("message %d is empty", i)
		}
		if n := utf16Len(t); n > MaxTextLength {
			return fmt.Errorf("message %d is %d characters (UTF-16), LINE allows %d", i, n, MaxTextLength)
		}
	}
	return nil
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// attempt makes one request. A Retry result comes with the 429's
// Retry-After, if any.
func (c *Client) attempt(ctx context.Context, ch Channel, ep endpoint, url, retryKey string, body []byte) (Result, time.Duration) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return rejected(fmt.Sprintf("%s: build request: %v", ep, err)), 0
	}
	req.Header.Set("Authorization", "Bearer "+ch.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Line-Retry-Key", retryKey)
	resp, err := c.http.Do(req)
	if err != nil {
		// LINE may have accepted it; the retry key makes a retry safe.
		return Result{Verdict: Retry, Detail: fmt.Sprintf("%s: %v", ep, err)}, 0
	}
	defer resp.Body.Close()
	// Read the whole (bounded) body so the connection can be reused.
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		// A body cut short does not matter: the status says LINE accepted.
		return Result{Verdict: Delivered, Code: code, RequestID: resp.Header.Get("X-Line-Request-Id")}, 0
	case code == http.StatusConflict:
		return Result{
			Verdict:         Delivered,
			Code:            code,
			RequestID:       resp.Header.Get("X-Line-Accepted-Request-Id"),
			AlreadyAccepted: true,
		}, 0
	}
	detail := fmt.Sprintf("%s: %s", ep, errorDetail(code, raw))
	if err != nil {
		detail += fmt.Sprintf(" (reading body: %v)", err)
	}
	switch {
	case code == http.StatusTooManyRequests:
		return Result{Verdict: Retry, Code: code, Detail: detail}, retryAfter(resp.Header.Get("Retry-After"), c.now())
	case code >= 500:
		return Result{Verdict: Retry, Code: code, Detail: detail}, 0
	default:
		return Result{Verdict: Rejected, Code: code, Detail: detail}, 0
	}
}

// lineError is the body of LINE's error responses.
type lineError struct {
	Message string `json:"message"`
	Details []struct {
		Message  string `json:"message"`
		Property string `json:"property"`
	} `json:"details"`
}

// errorDetail describes an error response with LINE's own message, which
// names the field at fault, when the body has one.
func errorDetail(code int, body []byte) string {
	s := fmt.Sprintf("HTTP %d %s", code, http.StatusText(code))
	var e lineError
	if json.Unmarshal(body, &e) != nil || e.Message == "" {
		return s
	}
	s += ": " + e.Message
	for i, d := range e.Details {
		if i == 0 {
			s += " ("
		} else {
			s += "; "
		}
		if d.Property != "" {
			s += d.Property + ": "
		}
		s += d.Message
		if i == len(e.Details)-1 {
			s += ")"
		}
	}
	return s
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil {
		// Capped before multiplying so a huge value cannot overflow; the
		// caller caps it again at MaxBackoff.
		return time.Duration(min(max(s, 0), 24*60*60)) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// backoff is the wait after failed attempt number attempt (from 1).
func (c *Client) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := c.baseBackoff
	for i := 1; i < attempt && d < c.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.maxBackoff)
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	// Waiting longer than Retry-After still honours it, and keeps 429s
	// with "Retry-After: 0" from turning into a tight loop.
	return min(max(d, retryAfter), c.maxBackoff)
}
