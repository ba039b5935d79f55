package dispatch

import (
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/campaign/internal/campaign"
	"github.com/kizuna/kizuna/services/campaign/internal/webhook"
)

func TestOutcome(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	d := New(Config{Now: func() time.Time { return now }, RetryBackoff: time.Second})
	tests := []struct {
		name       string
		priorTries int
		res        webhook.Result
		want       campaign.DeliveryStatus
		wantErr    bool
	}{
		{name: "2xx is sent", res: webhook.Result{Verdict: webhook.Delivered, Code: 200}, want: campaign.DeliverySent},
		{name: "rejected fails at once", res: webhook.Result{Verdict: webhook.Rejected, Code: 400, Detail: "HTTP 400"}, want: campaign.DeliveryFailed, wantErr: true},
		{name: "retryable is retried", res: webhook.Result{Verdict: webhook.Retry, Code: 500, Detail: "HTTP 500"}, want: campaign.DeliveryPending, wantErr: true},
		{name: "fourth retryable still retried", priorTries: 3, res: webhook.Result{Verdict: webhook.Retry, Detail: "post: refused"}, want: campaign.DeliveryPending, wantErr: true},
		{name: "fifth retryable fails", priorTries: 4, res: webhook.Result{Verdict: webhook.Retry, Code: 503, Detail: "HTTP 503"}, want: campaign.DeliveryFailed, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Claim{Delivery: campaign.Delivery{Attempts: tt.priorTries}}
			o := d.outcome(c, tt.res)
			if o.Status != tt.want || o.ResponseCode != tt.res.Code || (o.LastError != "") != tt.wantErr {
				t.Errorf("outcome = %+v, want status %s code %d error set %v", o, tt.want, tt.res.Code, tt.wantErr)
			}
			if (o.Status == campaign.DeliverySent) != !o.SendTime.IsZero() {
				t.Errorf("send time %v with status %s", o.SendTime, o.Status)
			}
			if (o.Status == campaign.DeliveryPending) != o.RetryAt.After(now) {
				t.Errorf("retry at %v with status %s", o.RetryAt, o.Status)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	d := New(Config{RetryBackoff: time.Second, MaxBackoff: time.Minute})
	tests := []struct {
		attempt int
		base    time.Duration
	}{
		{attempt: 1, base: time.Second},
		{attempt: 2, base: 2 * time.Second},
		{attempt: 4, base: 8 * time.Second},
		{attempt: 7, base: time.Minute}, // 64s capped
		{attempt: 1000, base: time.Minute},
	}
	for _, tt := range tests {
		for range 50 {
			got := d.backoff(tt.attempt)
			if lo, hi := tt.base*8/10, tt.base*12/10; got < lo || got > hi {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", tt.attempt, got, lo, hi)
			}
		}
	}
}
