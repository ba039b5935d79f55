package bus

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// TestFill: a batch takes what is queued, then what keeps arriving; a
// pause longer than the gap ends it, and so does the linger, however
// steadily deliveries come. The waits that must not happen are an hour
// long, so a fill that waited for them would hang the test.
func TestFill(t *testing.T) {
	const hour = time.Hour
	tests := []struct {
		name        string
		queued      int
		max         int
		linger, gap time.Duration
		// every is how often a sender adds a delivery while fill runs
		// (0: no sender).
		every time.Duration
		// want is the batch size wanted, or with atMost the bound.
		want   int
		atMost bool
	}{
		{name: "a pause longer than the gap ends the batch", queued: 2, max: 10, linger: hour, gap: 10 * time.Millisecond, want: 3},
		{name: "deliveries within the gap of each other join it, up to max", max: 5, linger: hour, gap: hour, every: 5 * time.Millisecond, want: 5},
		{name: "the linger ends a stream that never pauses", max: 1 << 20, linger: 50 * time.Millisecond, gap: hour, every: time.Millisecond, want: 1<<20 - 1, atMost: true},
		{name: "no linger takes only what is queued", queued: 2, max: 10, linger: -1, gap: hour, want: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := make(chan jetstream.Msg, tt.queued)
			for range tt.queued {
				in <- nil
			}
			stop := make(chan struct{})
			sent := make(chan struct{})
			go func() {
				defer close(sent)
				if tt.every == 0 {
					return
				}
				for {
					select {
					case <-stop:
						return
					case <-time.After(tt.every):
					}
					select {
					case <-stop:
						return
					case in <- nil:
					}
				}
			}()
			got := len(fill(context.Background(), in, []jetstream.Msg{nil}, tt.max, tt.linger, tt.gap))
			close(stop)
			<-sent
			if tt.atMost && got > tt.want || !tt.atMost && got != tt.want {
				t.Errorf("batch of %d, want %d (at most: %v)", got, tt.want, tt.atMost)
			}
		})
	}
}
