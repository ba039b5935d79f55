package linetest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

const token = "tok"

type call struct {
	path   string
	header map[string]string
	body   string
}

func (c call) do(t *testing.T, s *Server) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+c.path, strings.NewReader(c.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range c.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("response body %q is not a JSON object: %v", raw, err)
	}
	return resp, body
}

func headers(key string) map[string]string {
	return map[string]string{
		"Authorization":    "Bearer " + token,
		"Content-Type":     "application/json",
		"X-Line-Retry-Key": key,
	}
}

func push(key, body string) call {
	return call{path: "/v2/bot/message/push", header: headers(key), body: body}
}

func multicast(key, body string) call {
	return call{path: "/v2/bot/message/multicast", header: headers(key), body: body}
}

func recipientsJSON(n int) string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("U%d", i)
	}
	b, _ := json.Marshal(ids)
	return string(b)
}

func TestChecksRequests(t *testing.T) {
	const hi = `[{"type":"text","text":"hi"}]`
	okPush := `{"to":"U1","messages":` + hi + `}`
	tests := []struct {
		name    string
		call    call
		code    int
		message string // a part of the error message
	}{
		{"no token", call{"/v2/bot/message/push", map[string]string{"Content-Type": "application/json", "X-Line-Retry-Key": uuid.NewString()}, okPush}, 401, "Authentication failed"},
		{"wrong token", call{"/v2/bot/message/push", map[string]string{"Authorization": "Bearer nope", "Content-Type": "application/json", "X-Line-Retry-Key": uuid.NewString()}, okPush}, 401, "Authentication failed"},
		{"no content type", call{"/v2/bot/message/push", map[string]string{"Authorization": "Bearer " + token, "X-Line-Retry-Key": uuid.NewString()}, okPush}, 400, "Content-Type"},
		{"no retry key", push("", okPush), 400, "X-Line-Retry-Key"},
		{"retry key not a UUID", push("dlv_1", okPush), 400, "X-Line-Retry-Key"},
		{"not JSON", push(uuid.NewString(), `{"to":`), 400, "JSON"},
		{"push to an array", push(uuid.NewString(), `{"to":["U1"],"messages":`+hi+`}`), 400, "error(s)"},
		{"push to nobody", push(uuid.NewString(), `{"to":"","messages":`+hi+`}`), 400, "error(s)"},
		{"multicast to a string", multicast(uuid.NewString(), `{"to":"U1","messages":`+hi+`}`), 400, "error(s)"},
		{"multicast to nobody", multicast(uuid.NewString(), `{"to":[],"messages":`+hi+`}`), 400, "error(s)"},
		{"multicast to 501", multicast(uuid.NewString(), `{"to":`+recipientsJSON(501)+`,"messages":`+hi+`}`), 400, "error(s)"},
		{"no messages", push(uuid.NewString(), `{"to":"U1","messages":[]}`), 400, "error(s)"},
		{"six messages", push(uuid.NewString(), `{"to":"U1","messages":[`+strings.Repeat(`{"type":"text","text":"a"},`, 5)+`{"type":"text","text":"a"}]}`), 400, "error(s)"},
		{"empty text", push(uuid.NewString(), `{"to":"U1","messages":[{"type":"text","text":""}]}`), 400, "error(s)"},
		{"not text", push(uuid.NewString(), `{"to":"U1","messages":[{"type":"sticker","packageId":"1","stickerId":"1"}]}`), 400, "error(s)"},
		{"text too long", push(uuid.NewString(), `{"to":"U1","messages":[{"type":"text","text":"`+strings.Repeat("🍎", 2501)+`"}]}`), 400, "error(s)"},
		{"unknown endpoint", call{"/v2/bot/message/broadcast", headers(uuid.NewString()), okPush}, 404, "Not found"},
	}
	s := Start(t, token)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := tt.call.do(t, s)
			if resp.StatusCode != tt.code {
				t.Errorf("status = %d, want %d (body %v)", resp.StatusCode, tt.code, body)
			}
			if msg, _ := body["message"].(string); !strings.Contains(msg, tt.message) {
				t.Errorf("message = %q, want it to contain %q", msg, tt.message)
			}
		})
	}
	if got := s.Accepted(); len(got) != 0 {
		t.Errorf("accepted %v, want nothing", got)
	}
	if n := s.Requests(); n != len(tests) {
		t.Errorf("Requests = %d, want %d", n, len(tests))
	}
}

func TestAcceptsOncePerRetryKey(t *testing.T) {
	s := Start(t, token)
	key := uuid.NewString()
	body := `{"to":"U1","messages":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}`
	resp, got := push(key, body).do(t, s)
	first := resp.Header.Get("X-Line-Request-Id")
	if resp.StatusCode != 200 || first == "" {
		t.Fatalf("push = %d with request id %q, want 200 with one", resp.StatusCode, first)
	}
	if sent, _ := got["sentMessages"].([]any); len(sent) != 2 {
		t.Errorf("sentMessages = %v, want 2", got["sentMessages"])
	}
	resp, _ = push(key, body).do(t, s)
	if resp.StatusCode != 409 || resp.Header.Get("X-Line-Accepted-Request-Id") != first {
		t.Errorf("repeat = %d accepted id %q, want 409 accepted id %q", resp.StatusCode, resp.Header.Get("X-Line-Accepted-Request-Id"), first)
	}
	resp, got = multicast(uuid.NewString(), `{"to":["U1","U2"],"messages":[{"type":"text","text":"c"}]}`).do(t, s)
	if resp.StatusCode != 200 || len(got) != 0 {
		t.Errorf("multicast = %d %v, want 200 {}", resp.StatusCode, got)
	}
	want := map[string][]string{"U1": {"a", "b", "c"}, "U2": {"c"}}
	if got := s.WaitForUsers(t, 2, time.Second); !reflect.DeepEqual(got, want) {
		t.Errorf("accepted %v, want %v", got, want)
	}
	if n := s.Requests(); n != 3 {
		t.Errorf("Requests = %d, want 3", n)
	}
}

func TestFailNext(t *testing.T) {
	s := Start(t, token)
	key := uuid.NewString()
	body := `{"to":"U1","messages":[{"type":"text","text":"a"}]}`
	s.FailNext(2, 429)
	for i := range 2 {
		resp, _ := push(key, body).do(t, s)
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "0" {
			t.Errorf("call %d = %d Retry-After %q, want 429 Retry-After 0", i, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	s.FailNext(1, 500)
	if resp, _ := push(key, body).do(t, s); resp.StatusCode != 500 {
		t.Errorf("call 3 = %d, want 500", resp.StatusCode)
	}
	if resp, _ := push(key, body).do(t, s); resp.StatusCode != 200 {
		t.Errorf("call 4 = %d, want 200", resp.StatusCode)
	}
	if keys := s.RetryKeys(); !reflect.DeepEqual(keys, []string{key}) {
		t.Errorf("RetryKeys = %v, want [%s]", keys, key)
	}
	if n := s.Requests(); n != 4 {
		t.Errorf("Requests = %d, want 4", n)
	}
	if got := s.Accepted(); !reflect.DeepEqual(got, map[string][]string{"U1": {"a"}}) {
		t.Errorf("accepted %v, want one message", got)
	}
}

func TestWaitForUsersTimesOut(t *testing.T) {
	s := Start(t, token)
	ft := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.WaitForUsers(ft, 1, 10*time.Millisecond)
	}()
	<-done
	if !ft.failed {
		t.Error("WaitForUsers returned without failing, want a failure after the timeout")
	}
}

// fatalRecorder records Fatalf instead of failing the test, so the
// failure path can be checked.
type fatalRecorder struct {
	testing.TB
	failed bool
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(string, ...any) {
	f.failed = true
	runtime.Goexit()
}

func TestWebhookBody(t *testing.T) {
	body := WebhookBody("Ubot", FollowEvent("U1", "01A"), UnfollowEvent("U2", "01B"))
	var got struct {
		Destination string           `json:"destination"`
		Events      []map[string]any `json:"events"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Destination != "Ubot" || len(got.Events) != 2 {
		t.Fatalf("body = %s", body)
	}
	follow, unfollow := got.Events[0], got.Events[1]
	if follow["type"] != "follow" || follow["webhookEventId"] != "01A" || follow["replyToken"] == nil ||
		follow["source"].(map[string]any)["userId"] != "U1" ||
		follow["deliveryContext"].(map[string]any)["isRedelivery"] != false {
		t.Errorf("follow event = %v", follow)
	}
	if unfollow["type"] != "unfollow" || unfollow["replyToken"] != nil || unfollow["source"].(map[string]any)["userId"] != "U2" {
		t.Errorf("unfollow event = %v", unfollow)
	}
	if string(WebhookBody("Ubot")) != `{"destination":"Ubot","events":[]}` {
		t.Errorf("empty body = %s", WebhookBody("Ubot"))
	}
}
