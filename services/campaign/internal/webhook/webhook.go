// Package webhook posts journey and campaign messages to customer-supplied
// URLs and
// classifies the answer: delivered, worth retrying, or rejected for good.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// UserAgent identifies Kizuna's webhook calls to receivers.
const UserAgent = "kizuna-campaign/1"

// DefaultTimeout bounds one webhook call when the caller's client has no
// timeout of its own.
const DefaultTimeout = 10 * time.Second

// maxDrainBytes is how much of a response body is read so the connection
// can be reused; the body itself is not used.
const maxDrainBytes = 64 << 10

// Payload is the JSON body of a webhook call: one send of a journey (a
// campaign's journey among them).
type Payload struct {
	SendID         string `json:"send_id"`
	WorkspaceID    string `json:"workspace_id"`
	JourneyID      string `json:"journey_id"`
	StepID         string `json:"step_id"`
	CustomerID     string `json:"customer_id"`
	Message        string `json:"message"`
	UnsubscribeURL string `json:"unsubscribe_url,omitempty"`
}

// Verdict classifies the result of one call.
type Verdict int

// The verdicts.
const (
	// Delivered: the receiver answered 2xx.
	Delivered Verdict = iota + 1
	// Retry: a network error, a timeout, 408, 429 or 5xx; the receiver may
	// accept the same call later.
	Retry
	// Rejected: any other answer (4xx, or a redirect, which is not
	// followed because re-sending a POST elsewhere is the receiver's call
	// to make by fixing the URL); retrying would not help.
	Rejected
)

// Result is the outcome of one call.
type Result struct {
	Verdict Verdict
	// Code is the HTTP status, 0 when no response arrived.
	Code int
	// Detail explains a result other than Delivered, for the delivery's
	// last_error.
	Detail string
}

// Sender posts payloads. It is safe for concurrent use.
type Sender struct {
	client *http.Client
}

// NewSender returns a Sender using a copy of client (nil means a default
// client). The copy never follows redirects, and gets DefaultTimeout when
// client has no timeout, so every call is bounded.
func NewSender(client *http.Client) *Sender {
	c := &http.Client{}
	if client != nil {
		copied := *client
		c = &copied
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Sender{client: c}
}

// Timeout is the longest one call can take.
func (s *Sender) Timeout() time.Duration {
	return s.client.Timeout
}

// Send posts p to url with Idempotency-Key set to the send id, so a
// receiver can drop the duplicates a retry after a crash implies, and,
// when signingSecret is set, the body's signature.
func (s *Sender) Send(ctx context.Context, url string, p Payload, signingSecret string) Result {
	body, err := json.Marshal(p)
	if err != nil {
		return Result{Verdict: Rejected, Detail: fmt.Sprintf("encode payload: %v", err)}
	}
	return s.Post(ctx, url, p.SendID, body, signingSecret)
}

// SignatureHeader carries the hex HMAC-SHA256 of the body with the
// channel's signing secret, when it has one.
const SignatureHeader = "X-Kizuna-Signature"

// Post posts a JSON body to url with the given Idempotency-Key and, when
// signingSecret is set, the body's signature.
func (s *Sender) Post(ctx context.Context, url, idempotencyKey string, body []byte, signingSecret string) Result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		// The URL was validated when it was configured.
		return Result{Verdict: Rejected, Detail: fmt.Sprintf("build request: %v", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", idempotencyKey)
	req.Header.Set("User-Agent", UserAgent)
	if signingSecret != "" {
		mac := hmac.New(sha256.New, []byte(signingSecret))
		mac.Write(body)
		req.Header.Set(SignatureHeader, hex.EncodeToString(mac.Sum(nil)))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return Result{Verdict: Retry, Detail: fmt.Sprintf("post: %v", err)}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrainBytes))
	_ = resp.Body.Close()
	return classify(resp.StatusCode)
}

func classify(code int) Result {
	r := Result{Code: code, Detail: fmt.Sprintf("HTTP %d %s", code, http.StatusText(code))}
	switch {
	case code >= 200 && code < 300:
		return Result{Verdict: Delivered, Code: code}
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
		r.Verdict = Retry
	default:
		r.Verdict = Rejected
	}
	return r
}
