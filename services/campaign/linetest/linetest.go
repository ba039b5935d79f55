// Package linetest is a fake LINE Messaging API for tests: the push and
// multicast endpoints, checked the way LINE checks them, recording what
// each user was sent. It also builds signed webhook bodies for tests of
// the receiving side.
//
// It is deliberately written apart from the client in internal/line, so
// that a mistake in one is not mirrored in the other.
package linetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/google/uuid"
)

// LINE's limits, as the fake enforces them.
const (
	maxRecipients = 500
	maxMessages   = 5
	maxTextLength = 5000 // UTF-16 code units
	maxBodyBytes  = 1 << 20
)

// Server is a running fake. Its methods are safe for concurrent use.
type Server struct {
	// URL is the base URL to give the client in place of
	// https://api.line.me.
	URL string

	srv   *httptest.Server
	token string

	mu        sync.Mutex
	requests  int
	failN     int
	failCode  int
	keys      []string          // distinct retry keys, in first-seen order
	seenKeys  map[string]bool   // keys in keys
	accepted  map[string]string // retry key -> request id that accepted it
	sent      map[string][]string
	messageID int
	changed   chan struct{} // closed and replaced whenever sent changes
}

// Start starts a fake accepting accessToken, closed when t ends.
func Start(t testing.TB, accessToken string) *Server {
	t.Helper()
	s := New(accessToken)
	t.Cleanup(s.Close)
	return s
}

// New starts a fake accepting accessToken; Close it when done. Tests
// should prefer Start.
func New(accessToken string) *Server {
	s := &Server{
		token:    accessToken,
		seenKeys: map[string]bool{},
		accepted: map[string]string{},
		sent:     map[string][]string{},
		changed:  make(chan struct{}),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v2/bot/message/push", func(w http.ResponseWriter, r *http.Request) { s.handle(w, r, false) })
	mux.HandleFunc("POST /v2/bot/message/multicast", func(w http.ResponseWriter, r *http.Request) { s.handle(w, r, true) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.count(r)
		writeError(w, http.StatusNotFound, "Not found")
	})
	s.srv = httptest.NewServer(mux)
	s.URL = s.srv.URL
	return s
}

// Close shuts the fake down.
func (s *Server) Close() { s.srv.Close() }

// FailNext makes the next n requests answer code before any check, as if
// LINE were overloaded (429, with "Retry-After: 0") or failing (500).
// Requests after those are handled normally.
func (s *Server) FailNext(n int, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failCode = n, code
}

// Accepted returns the texts each user received, in order, counted once per
// accepted request: a repeat of an accepted retry key gets 409 and adds
// nothing.
func (s *Server) Accepted() map[string][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]string, len(s.sent))
	for u, texts := range s.sent {
		out[u] = append([]string(nil), texts...)
	}
	return out
}

// Requests returns how many requests the fake has seen, failed, rejected
// and 409 ones included.
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// RetryKeys returns the distinct X-Line-Retry-Key values the fake has
// seen, failed requests included, in the order first seen.
func (s *Server) RetryKeys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.keys...)
}

// WaitForUsers waits until at least n users have received something, then
// returns Accepted. It fails t if that takes longer than timeout. Call it
// from the test's goroutine.
func (s *Server) WaitForUsers(t testing.TB, n int, timeout time.Duration) map[string][]string {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		got, changed := len(s.sent), s.changed
		s.mu.Unlock()
		if got >= n {
			return s.Accepted()
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("linetest: %d users received messages within %v, want %d", got, timeout, n)
			return nil
		}
	}
}

// count records a request and reports whether FailNext wants it failed,
// and with which code.
func (s *Server) count(r *http.Request) (failCode int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	if k := r.Header.Get("X-Line-Retry-Key"); k != "" && !s.seenKeys[k] {
		s.seenKeys[k] = true
		s.keys = append(s.keys, k)
	}
	if s.failN > 0 {
		s.failN--
		return s.failCode
	}
	return 0
}

type sendRequest struct {
	To       json.RawMessage `json:"to"`
	Messages []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	} `json:"messages"`
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request, multicast bool) {
	if code := s.count(r); code != 0 {
		if code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "0")
			writeError(w, code, "Too many requests")
			return
		}
		writeError(w, code, http.StatusText(code))
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+s.token {
		writeError(w, http.StatusUnauthorized, "Authentication failed. Confirm that the access token in the authorization header is valid.")
		return
	}
	if r.Header.Get("Content-Type") != "application/json" {
		writeError(w, http.StatusBadRequest, "Content-Type must be application/json")
		return
	}
	// LINE makes the key optional; the fake requires it, since a send
	// without one cannot be retried safely.
	key := r.Header.Get("X-Line-Retry-Key")
	if _, err := uuid.Parse(key); err != nil || len(key) != 36 {
		writeError(w, http.StatusBadRequest, "The value for the 'X-Line-Retry-Key' header is invalid")
		return
	}
	var req sendRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "The request body could not be parsed as JSON")
		return
	}
	to, problem := recipients(req.To, multicast)
	if problem == "" {
		problem = checkMessages(req)
	}
	if problem != "" {
		writeError(w, http.StatusBadRequest, "The request body has 1 error(s)", problem)
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	requestID := uuid.NewString()
	w.Header().Set("X-Line-Request-Id", requestID)
	if first, ok := s.accepted[key]; ok {
		w.Header().Set("X-Line-Accepted-Request-Id", first)
		writeError(w, http.StatusConflict, "The retry key is already accepted")
		return
	}
	s.accepted[key] = requestID
	var sent []map[string]string
	for _, u := range to {
		for _, m := range req.Messages {
			s.sent[u] = append(s.sent[u], m.Text)
		}
	}
	for range req.Messages {
		s.messageID++
		sent = append(sent, map[string]string{"id": strconv.Itoa(s.messageID), "quoteToken": uuid.NewString()})
	}
	close(s.changed)
	s.changed = make(chan struct{})
	if multicast {
		writeJSON(w, http.StatusOK, map[string]any{})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"sentMessages": sent})
}

// recipients reads "to": a string for push, an array for multicast. A
// non-empty problem names what is wrong, as "property: message".
func recipients(raw json.RawMessage, multicast bool) (to []string, problem string) {
	if !multicast {
		var u string
		if err := json.Unmarshal(raw, &u); err != nil || u == "" {
			return nil, "to: must be a non-empty string"
		}
		return []string{u}, ""
	}
	if err := json.Unmarshal(raw, &to); err != nil || to == nil {
		return nil, "to: must be an array of user IDs"
	}
	if len(to) == 0 || len(to) > maxRecipients {
		return nil, fmt.Sprintf("to: size must be between 1 and %d", maxRecipients)
	}
	for i, u := range to {
		if u == "" {
			return nil, fmt.Sprintf("to[%d]: may not be empty", i)
		}
	}
	return to, ""
}

func checkMessages(req sendRequest) string {
	if len(req.Messages) == 0 || len(req.Messages) > maxMessages {
		return fmt.Sprintf("messages: size must be between 1 and %d", maxMessages)
	}
	for i, m := range req.Messages {
		if m.Type != "text" {
			return fmt.Sprintf("messages[%d].type: the fake accepts text messages only", i)
		}
		if m.Text == "" {
			return fmt.Sprintf("messages[%d].text: may not be empty", i)
		}
		if n := len(utf16.Encode([]rune(m.Text))); n > maxTextLength {
			return fmt.Sprintf("messages[%d].text: length must be between 0 and %d", i, maxTextLength)
		}
	}
	return ""
}

// writeError answers like LINE: {"message": ..., "details": [{"message",
// "property"}]}, each detail given as "property: message".
func writeError(w http.ResponseWriter, code int, message string, details ...string) {
	body := map[string]any{"message": message}
	if len(details) > 0 {
		var ds []map[string]string
		for _, d := range details {
			prop, msg, _ := strings.Cut(d, ": ")
			ds = append(ds, map[string]string{"property": prop, "message": msg})
		}
		body["details"] = ds
	}
	writeJSON(w, code, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
