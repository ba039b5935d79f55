package line_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kizuna/kizuna/services/campaign/internal/line"
	"github.com/kizuna/kizuna/services/campaign/linetest"
)

const token = "test-access-token"

// sleeps records the waits a Client asks for and returns at once, so no
// test depends on real time.
type sleeps struct {
	mu  sync.Mutex
	d   []time.Duration
	err error // returned by every sleep when set
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	if s.err != nil {
		return s.err
	}
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// fixedClock stops the limiter's clock, so token-bucket waits are exact.
func fixedClock() time.Time { return time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) }

func newClient(opts line.Options) (*line.Client, *sleeps) {
	s := &sleeps{}
	if opts.Sleep == nil {
		opts.Sleep = s.sleep
	}
	return line.NewClient(opts), s
}

func channel(srv *linetest.Server) line.Channel {
	return line.Channel{ID: "ch1", BaseURL: srv.URL, AccessToken: token}
}

func users(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("U%032x", i)
	}
	return out
}

func TestPush(t *testing.T) {
	srv := linetest.Start(t, token)
	c, slept := newClient(line.Options{})
	res := c.Push(context.Background(), channel(srv), uuid.NewString(), "Ualice", []string{"こんにちは", "50% off today"})
	if res.Verdict != line.Delivered || res.Code != 200 || res.RequestID == "" || res.AlreadyAccepted {
		t.Fatalf("Push = %+v, want Delivered 200 with a request id", res)
	}
	want := map[string][]string{"Ualice": {"こんにちは", "50% off today"}}
	if got := srv.Accepted(); !reflect.DeepEqual(got, want) {
		t.Errorf("fake accepted %v, want %v", got, want)
	}
	if n := srv.Requests(); n != 1 {
		t.Errorf("fake saw %d requests, want 1", n)
	}
	if d := slept.all(); len(d) != 0 {
		t.Errorf("slept %v, want no waits", d)
	}
}

func TestMulticast(t *testing.T) {
	srv := linetest.Start(t, token)
	c, _ := newClient(line.Options{})
	to := users(line.MaxMulticastRecipients)
	res := c.Multicast(context.Background(), channel(srv), uuid.NewString(), to, []string{"Spring sale"})
	if res.Verdict != line.Delivered || res.Code != 200 || res.RequestID == "" {
		t.Fatalf("Multicast = %+v, want Delivered 200 with a request id", res)
	}
	got := srv.WaitForUsers(t, len(to), time.Second)
	if len(got) != len(to) {
		t.Errorf("%d users received messages, want %d", len(got), len(to))
	}
	for _, u := range to {
		if !reflect.DeepEqual(got[u], []string{"Spring sale"}) {
			t.Errorf("user %s received %q, want exactly one message", u, got[u])
		}
	}
	if n := srv.Requests(); n != 1 {
		t.Errorf("fake saw %d requests, want 1", n)
	}
}

func TestRetriesUntilAccepted(t *testing.T) {
	for _, code := range []int{500, 503, 429} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			srv := linetest.Start(t, token)
			srv.FailNext(2, code)
			c, slept := newClient(line.Options{})
			key := uuid.NewString()
			res := c.Push(context.Background(), channel(srv), key, "Ualice", []string{"hi"})
			if res.Verdict != line.Delivered || res.Code != 200 || res.AlreadyAccepted {
				t.Fatalf("Push = %+v, want Delivered 200", res)
			}
			if n := srv.Requests(); n != 3 {
				t.Errorf("fake saw %d requests, want 3", n)
			}
			if keys := srv.RetryKeys(); !reflect.DeepEqual(keys, []string{key}) {
				t.Errorf("fake saw retry keys %q, want only %q", keys, key)
			}
			if got := srv.Accepted(); !reflect.DeepEqual(got, map[string][]string{"Ualice": {"hi"}}) {
				t.Errorf("fake accepted %v, want one message", got)
			}
			if d := slept.all(); len(d) != 2 {
				t.Errorf("slept %v, want 2 backoffs", d)
			}
		})
	}
}

func TestGivesUpAfterMaxAttempts(t *testing.T) {
	for _, code := range []int{500, 429} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			srv := linetest.Start(t, token)
			srv.FailNext(1000, code)
			c, slept := newClient(line.Options{Now: fixedClock})
			res := c.Push(context.Background(), channel(srv), uuid.NewString(), "Ualice", []string{"hi"})
			if res.Verdict != line.Retry || res.Code != code || !strings.Contains(res.Detail, "after 4 attempts") {
				t.Fatalf("Push = %+v, want Retry %d after 4 attempts", res, code)
			}
			if n := srv.Requests(); n != line.DefaultMaxAttempts {
				t.Errorf("fake saw %d requests, want %d", n, line.DefaultMaxAttempts)
			}
			if got := srv.Accepted(); len(got) != 0 {
				t.Errorf("fake accepted %v, want nothing", got)
			}
			// Three waits between four attempts, each ≈ twice the last:
			// 500ms, 1s, 2s with ±20% jitter, so the ranges never overlap.
			d := slept.all()
			if len(d) != 3 {
				t.Fatalf("slept %v, want 3 backoffs", d)
			}
			for i, want := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second} {
				if d[i] < want*8/10 || d[i] > want*12/10 {
					t.Errorf("backoff %d = %v, want %v ±20%%", i, d[i], want)
				}
				if i > 0 && d[i] <= d[i-1] {
					t.Errorf("backoff %d = %v, not longer than %v", i, d[i], d[i-1])
				}
			}
		})
	}
}

// A 429 holds the whole channel, not only the call that got it: LINE counts
// limits per channel.
func TestTooManyRequestsHoldsChannel(t *testing.T) {
	srv := linetest.Start(t, token)
	c, slept := newClient(line.Options{Now: fixedClock})
	ctx := context.Background()
	srv.FailNext(1, 429)
	if res := c.Push(ctx, channel(srv), uuid.NewString(), "Ualice", []string{"hi"}); res.Verdict != line.Delivered {
		t.Fatalf("first Push = %+v, want Delivered", res)
	}
	held := slept.all()
	if len(held) != 1 || held[0] <= 0 {
		t.Fatalf("slept %v, want one hold after the 429", held)
	}
	// The clock is stopped, so the hold is still on for the same channel
	// and endpoint...
	if res := c.Push(ctx, channel(srv), uuid.NewString(), "Ubob", []string{"hi"}); res.Verdict != line.Delivered {
		t.Fatalf("second Push = %+v, want Delivered", res)
	}
	if d := slept.all(); len(d) != 2 || d[1] != held[0] {
		t.Errorf("slept %v, want the second call to wait out the hold %v", d, held[0])
	}
	// ...but not for another channel.
	other := channel(srv)
	other.ID = "ch2"
	if res := c.Push(ctx, other, uuid.NewString(), "Ucarol", []string{"hi"}); res.Verdict != line.Delivered {
		t.Fatalf("Push on ch2 = %+v, want Delivered", res)
	}
	if d := slept.all(); len(d) != 2 {
		t.Errorf("slept %v, want no wait on another channel", d)
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"20", 20 * time.Second},
		{"120", line.DefaultMaxBackoff}, // bounded
		{fixedClock().Add(25 * time.Second).Format(http.TimeFormat), 25 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) == 1 {
					w.Header().Set("Retry-After", tt.header)
					w.WriteHeader(http.StatusTooManyRequests)
					return
				}
				w.Header().Set("X-Line-Request-Id", "req-2")
				fmt.Fprint(w, `{"sentMessages":[]}`)
			}))
			defer srv.Close()
			c, slept := newClient(line.Options{Now: fixedClock})
			ch := line.Channel{ID: "ch1", BaseURL: srv.URL, AccessToken: token}
			res := c.Push(context.Background(), ch, uuid.NewString(), "Ualice", []string{"hi"})
			if res.Verdict != line.Delivered || res.RequestID != "req-2" {
				t.Fatalf("Push = %+v, want Delivered req-2", res)
			}
			if d := slept.all(); len(d) != 1 || d[0] != tt.want {
				t.Errorf("slept %v, want [%v]", d, tt.want)
			}
		})
	}
}

func TestRepeatAfterAcceptanceIsAlreadyAccepted(t *testing.T) {
	srv := linetest.Start(t, token)
	c, _ := newClient(line.Options{})
	key := uuid.NewString()
	first := c.Push(context.Background(), channel(srv), key, "Ualice", []string{"hi"})
	if first.Verdict != line.Delivered {
		t.Fatalf("first Push = %+v, want Delivered", first)
	}
	again := c.Push(context.Background(), channel(srv), key, "Ualice", []string{"hi"})
	if again.Verdict != line.Delivered || !again.AlreadyAccepted || again.Code != http.StatusConflict || again.RequestID != first.RequestID {
		t.Errorf("repeat Push = %+v, want Delivered, AlreadyAccepted, 409, request id %s", again, first.RequestID)
	}
	if got := srv.Accepted(); !reflect.DeepEqual(got, map[string][]string{"Ualice": {"hi"}}) {
		t.Errorf("fake accepted %v, want one message", got)
	}
}

// loseFirstResponse delivers every request but reports the first one as a
// network error, as when LINE accepts a send and the answer is lost.
type loseFirstResponse struct {
	lost bool
}

func (l *loseFirstResponse) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || l.lost {
		return resp, err
	}
	l.lost = true
	resp.Body.Close()
	return nil, errors.New("connection reset after the request was sent")
}

func TestLostAnswerIsNotSentTwice(t *testing.T) {
	srv := linetest.Start(t, token)
	c, _ := newClient(line.Options{HTTPClient: &http.Client{Transport: &loseFirstResponse{}}})
	to := users(3)
	res := c.Multicast(context.Background(), channel(srv), uuid.NewString(), to, []string{"hi"})
	if res.Verdict != line.Delivered || !res.AlreadyAccepted {
		t.Fatalf("Multicast = %+v, want Delivered, AlreadyAccepted", res)
	}
	got := srv.Accepted()
	for _, u := range to {
		if len(got[u]) != 1 {
			t.Errorf("user %s received %q, want exactly one message", u, got[u])
		}
	}
	if n := srv.Requests(); n != 2 {
		t.Errorf("fake saw %d requests, want 2", n)
	}
}

func TestRejected(t *testing.T) {
	srv := linetest.Start(t, token)
	c, slept := newClient(line.Options{})
	ch := channel(srv)
	ch.AccessToken = "wrong"
	res := c.Push(context.Background(), ch, uuid.NewString(), "Ualice", []string{"hi"})
	if res.Verdict != line.Rejected || res.Code != http.StatusUnauthorized || !strings.Contains(res.Detail, "Authentication failed") {
		t.Errorf("Push with a bad token = %+v, want Rejected 401 with LINE's message", res)
	}
	if n := srv.Requests(); n != 1 {
		t.Errorf("fake saw %d requests, want 1 (no retries)", n)
	}
	if d := slept.all(); len(d) != 0 {
		t.Errorf("slept %v, want no backoff", d)
	}
}

func TestRejectedDetail(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"message":"The request body has 2 error(s)","details":[`+
			`{"message":"May not be empty","property":"messages[0].text"},`+
			`{"message":"Invalid user ID","property":"to"}]}`)
	}))
	defer srv.Close()
	c, _ := newClient(line.Options{})
	ch := line.Channel{ID: "ch1", BaseURL: srv.URL, AccessToken: token}
	res := c.Push(context.Background(), ch, uuid.NewString(), "Ualice", []string{"hi"})
	want := "push: HTTP 400 Bad Request: The request body has 2 error(s) (messages[0].text: May not be empty; to: Invalid user ID)"
	if res.Verdict != line.Rejected || res.Code != 400 || res.Detail != want {
		t.Errorf("Push = %+v, want Rejected 400 with detail %q", res, want)
	}
}

func TestValidation(t *testing.T) {
	srv := linetest.Start(t, token)
	c, _ := newClient(line.Options{})
	ok := channel(srv)
	key := uuid.NewString()
	hi := []string{"hi"}
	tests := []struct {
		name   string
		send   func() line.Result
		accept bool
	}{
		{"no retry key", func() line.Result { return c.Push(context.Background(), ok, "", "U1", hi) }, false},
		{"retry key not a UUID", func() line.Result { return c.Push(context.Background(), ok, "dlv_123", "U1", hi) }, false},
		{"retry key without hyphens", func() line.Result {
			return c.Push(context.Background(), ok, strings.ReplaceAll(uuid.NewString(), "-", ""), "U1", hi)
		}, false},
		{"no texts", func() line.Result { return c.Push(context.Background(), ok, key, "U1", nil) }, false},
		{"six texts", func() line.Result { return c.Push(context.Background(), ok, key, "U1", make([]string, 6)) }, false},
		{"empty text", func() line.Result { return c.Push(context.Background(), ok, key, "U1", []string{"a", ""}) }, false},
		{"5001 characters", func() line.Result {
			return c.Push(context.Background(), ok, key, "U1", []string{strings.Repeat("a", 5001)})
		}, false},
		// 🍎 is two UTF-16 code units, so 2,501 of them are 5,002 characters to LINE.
		{"2501 emoji", func() line.Result {
			return c.Push(context.Background(), ok, key, "U1", []string{strings.Repeat("🍎", 2501)})
		}, false},
		{"no recipient", func() line.Result { return c.Push(context.Background(), ok, key, "", hi) }, false},
		{"no multicast recipients", func() line.Result { return c.Multicast(context.Background(), ok, key, nil, hi) }, false},
		{"501 multicast recipients", func() line.Result { return c.Multicast(context.Background(), ok, key, users(501), hi) }, false},
		{"empty multicast recipient", func() line.Result {
			return c.Multicast(context.Background(), ok, key, []string{"U1", ""}, hi)
		}, false},
		{"channel without token", func() line.Result {
			return c.Push(context.Background(), line.Channel{ID: "ch1", BaseURL: srv.URL}, key, "U1", hi)
		}, false},
		{"channel without id", func() line.Result {
			return c.Push(context.Background(), line.Channel{BaseURL: srv.URL, AccessToken: token}, key, "U1", hi)
		}, false},
		// The limits themselves pass.
		{"5000 characters", func() line.Result {
			return c.Push(context.Background(), ok, uuid.NewString(), "U1", []string{strings.Repeat("a", 5000)})
		}, true},
		{"2500 emoji and five texts", func() line.Result {
			e := strings.Repeat("🍎", 2500)
			return c.Push(context.Background(), ok, uuid.NewString(), "U2", []string{e, e, e, e, e})
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.Requests()
			res := tt.send()
			if tt.accept {
				if res.Verdict != line.Delivered {
					t.Errorf("got %+v, want Delivered", res)
				}
				return
			}
			if res.Verdict != line.Rejected || res.Code != 0 || res.Detail == "" {
				t.Errorf("got %+v, want Rejected with a detail and no HTTP status", res)
			}
			if n := srv.Requests() - before; n != 0 {
				t.Errorf("sent %d requests, want none", n)
			}
		})
	}
}

// With the clock stopped, a bucket of rate 1/s and burst 1 gives exact
// waits: nothing for the first call, then 1s, then 2s.
func TestRateLimit(t *testing.T) {
	srv := linetest.Start(t, token)
	c, slept := newClient(line.Options{PushRate: 1, MulticastRate: 1, Now: fixedClock})
	ctx := context.Background()
	pushTo := func(ch line.Channel, u string) {
		t.Helper()
		if res := c.Push(ctx, ch, uuid.NewString(), u, []string{"hi"}); res.Verdict != line.Delivered {
			t.Fatalf("Push = %+v, want Delivered", res)
		}
	}
	ch1 := channel(srv)
	pushTo(ch1, "U1")
	pushTo(ch1, "U2")
	pushTo(ch1, "U3")
	want := []time.Duration{time.Second, 2 * time.Second}
	if d := slept.all(); !reflect.DeepEqual(d, want) {
		t.Errorf("waits on one channel = %v, want %v", d, want)
	}
	// Another channel, and multicast on the same channel, have buckets of
	// their own.
	ch2 := channel(srv)
	ch2.ID = "ch2"
	pushTo(ch2, "U4")
	if res := c.Multicast(ctx, ch1, uuid.NewString(), []string{"U5"}, []string{"hi"}); res.Verdict != line.Delivered {
		t.Fatalf("Multicast = %+v, want Delivered", res)
	}
	if d := slept.all(); !reflect.DeepEqual(d, want) {
		t.Errorf("waits = %v, want no more than %v", d, want)
	}
}

func TestRateLimitWaitEndsWithContext(t *testing.T) {
	srv := linetest.Start(t, token)
	slept := &sleeps{}
	c := line.NewClient(line.Options{PushRate: 1, Now: fixedClock, Sleep: slept.sleep})
	ctx := context.Background()
	ch := channel(srv)
	if res := c.Push(ctx, ch, uuid.NewString(), "U1", []string{"hi"}); res.Verdict != line.Delivered {
		t.Fatalf("Push = %+v, want Delivered", res)
	}
	// The bucket is empty: the next call must wait 1s, and ctx ends first.
	slept.err = context.Canceled
	res := c.Push(ctx, ch, uuid.NewString(), "U2", []string{"hi"})
	if res.Verdict != line.Retry || !strings.Contains(res.Detail, "rate limit") {
		t.Errorf("Push with ctx ending = %+v, want Retry while waiting on the rate limit", res)
	}
	if n := srv.Requests(); n != 1 {
		t.Errorf("fake saw %d requests, want 1", n)
	}
	// The abandoned token went back: the next wait is 1s again, not 2s.
	slept.err = nil
	if res := c.Push(ctx, ch, uuid.NewString(), "U3", []string{"hi"}); res.Verdict != line.Delivered {
		t.Fatalf("Push = %+v, want Delivered", res)
	}
	want := []time.Duration{time.Second, time.Second}
	if d := slept.all(); !reflect.DeepEqual(d, want) {
		t.Errorf("waits = %v, want %v", d, want)
	}
}

func TestBackoffEndsWithContext(t *testing.T) {
	srv := linetest.Start(t, token)
	srv.FailNext(1, 500)
	ctx, cancel := context.WithCancel(context.Background())
	c := line.NewClient(line.Options{Sleep: func(context.Context, time.Duration) error {
		cancel()
		return ctx.Err()
	}})
	res := c.Push(ctx, channel(srv), uuid.NewString(), "U1", []string{"hi"})
	if res.Verdict != line.Retry || res.Code != 500 || !strings.Contains(res.Detail, "context canceled") {
		t.Errorf("Push = %+v, want Retry 500 ended by the context", res)
	}
	if n := srv.Requests(); n != 1 {
		t.Errorf("fake saw %d requests, want 1", n)
	}
}

func TestNetworkErrorIsRetried(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	c, slept := newClient(line.Options{MaxAttempts: 2})
	ch := line.Channel{ID: "ch1", BaseURL: closed.URL, AccessToken: token}
	res := c.Push(context.Background(), ch, uuid.NewString(), "U1", []string{"hi"})
	if res.Verdict != line.Retry || res.Code != 0 || !strings.Contains(res.Detail, "after 2 attempts") {
		t.Errorf("Push to a closed port = %+v, want Retry with no status after 2 attempts", res)
	}
	if d := slept.all(); len(d) != 1 {
		t.Errorf("slept %v, want one backoff", d)
	}
}

func BenchmarkMulticast(b *testing.B) {
	srv := linetest.New(token)
	defer srv.Close()
	// A rate high enough not to bind: this measures the client and the
	// fake. At the default MulticastRate the bucket caps a channel at
	// 100 calls/s, 50,000 recipients/s.
	c := line.NewClient(line.Options{MulticastRate: 1e9})
	ch := channel(srv)
	to := users(line.MaxMulticastRecipients)
	texts := []string{"Spring sale: 20% off everything this weekend"}
	ctx := context.Background()
	for b.Loop() {
		if res := c.Multicast(ctx, ch, uuid.NewString(), to, texts); res.Verdict != line.Delivered {
			b.Fatalf("Multicast = %+v", res)
		}
	}
	b.ReportMetric(float64(b.N*len(to))/b.Elapsed().Seconds(), "recipients/s")
}
