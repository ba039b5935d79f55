package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestSend(t *testing.T) {
	tests := []struct {
		name   string
		status int
		want   Verdict
	}{
		{name: "200", status: 200, want: Delivered},
		{name: "204", status: 204, want: Delivered},
		{name: "400", status: 400, want: Rejected},
		{name: "404", status: 404, want: Rejected},
		{name: "408", status: 408, want: Retry},
		{name: "429", status: 429, want: Retry},
		{name: "500", status: 500, want: Retry},
		{name: "503", status: 503, want: Retry},
		{name: "redirect is not followed", status: 302, want: Rejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got struct {
				method, contentType, key, agent string
				body                            Payload
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got.method = r.Method
				got.contentType = r.Header.Get("Content-Type")
				got.key = r.Header.Get("Idempotency-Key")
				got.agent = r.Header.Get("User-Agent")
				b, _ := io.ReadAll(r.Body)
				if err := json.Unmarshal(b, &got.body); err != nil {
					t.Errorf("body %q: %v", b, err)
				}
				if tt.status == 302 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			p := Payload{SendID: "snd_1", JourneyID: "jny_1", StepID: "s1", CustomerID: "cus_1", WorkspaceID: "ws_1", Message: "Hi"}
			res := NewSender(srv.Client()).Send(context.Background(), srv.URL, p, "")
			if res.Verdict != tt.want || res.Code != tt.status {
				t.Errorf("Send = %+v, want verdict %v code %d", res, tt.want, tt.status)
			}
			if got.method != http.MethodPost || got.contentType != "application/json" || got.key != "snd_1" || got.agent != UserAgent || got.body != p {
				t.Errorf("request = %+v", got)
			}
		})
	}
}

func TestSendNetworkErrors(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(time.Second):
		}
	}))
	defer slow.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	tests := []struct {
		name   string
		client *http.Client
		url    string
	}{
		{name: "connection refused", url: closedURL},
		{name: "timeout", client: &http.Client{Timeout: 50 * time.Millisecond}, url: slow.URL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := NewSender(tt.client).Send(context.Background(), tt.url, Payload{SendID: "snd_1"}, "")
			if res.Verdict != Retry || res.Code != 0 || res.Detail == "" {
				t.Errorf("Send = %+v, want Retry with detail and no code", res)
			}
		})
	}
}

func TestSenderTimeout(t *testing.T) {
	custom := &http.Client{Timeout: 3 * time.Second}
	tests := []struct {
		name   string
		client *http.Client
		want   time.Duration
	}{
		{name: "nil client", want: DefaultTimeout},
		{name: "client without timeout", client: &http.Client{}, want: DefaultTimeout},
		{name: "client timeout kept", client: custom, want: 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NewSender(tt.client).Timeout(); got != tt.want {
				t.Errorf("Timeout() = %v, want %v", got, tt.want)
			}
		})
	}
	noTimeout := &http.Client{}
	NewSender(noTimeout)
	if noTimeout.Timeout != 0 || noTimeout.CheckRedirect != nil {
		t.Errorf("NewSender changed the caller's client: %+v", noTimeout)
	}
}
