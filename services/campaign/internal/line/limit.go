package line

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

type bucketKey struct {
	channel  string
	endpoint endpoint
}

// bucket paces the calls on one channel and endpoint.
type bucket struct {
	limiter *rate.Limiter

	mu sync.Mutex
	// hold is when the last 429 on this channel and endpoint allows calls
	// again.
	hold time.Time
}

func (b *bucket) holdUntil(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.After(b.hold) {
		b.hold = t
	}
}

func (b *bucket) holdLeft(now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hold.Sub(now)
}

// bucket returns the bucket of a channel and endpoint, creating it on first
// use. Buckets are never dropped: there is one per channel a process sends
// on, a small number.
func (c *Client) bucket(channelID string, ep endpoint) *bucket {
	key := bucketKey{channelID, ep}
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.buckets[key]
	if !ok {
		r := c.rates[ep]
		// A tenth of a second's worth of burst: a full second's would let
		// up to twice the rate through in one second (the burst, then
		// the refill), which at the defaults is LINE's limit itself.
		burst := 1
		if r >= 10 && !math.IsInf(r, 1) {
			burst = int(min(r/10, math.MaxInt32))
		}
		b = &bucket{limiter: rate.NewLimiter(rate.Limit(r), burst)}
		c.buckets[key] = b
	}
	return b
}

// wait sleeps out any 429 hold on b, then takes a token from its bucket,
// sleeping until the token is due. If ctx ends first, the token is given
// back so that the calls after this one are not delayed for nothing.
func (c *Client) wait(ctx context.Context, b *bucket) error {
	if d := b.holdLeft(c.now()); d > 0 {
		if err := c.sleep(ctx, d); err != nil {
			return fmt.Errorf("channel held after a 429: %w", err)
		}
	}
	now := c.now()
	r := b.limiter.ReserveN(now, 1)
	if !r.OK() {
		// Cannot happen: the burst is at least 1.
		return fmt.Errorf("rate limit admits no request")
	}
	if d := r.DelayFrom(now); d > 0 {
		if err := c.sleep(ctx, d); err != nil {
			r.CancelAt(c.now())
			return fmt.Errorf("rate limit: %w", err)
		}
	}
	return nil
}
