package outbox

import (
	"context"
	"errors"
	"sync"
)

// Defaults of Stream.
const (
	DefaultBatch        = 1000
	DefaultRoundBatches = 16
)

// Stream is an outbox whose rows carry increasing sequence numbers, as Drain
// reads, publishes and deletes them.
type Stream[M any] struct {
	// Read returns up to limit pending messages whose sequence number is
	// above after, in sequence order.
	Read func(ctx context.Context, after int64, limit int) ([]M, error)
	// Seq is a message's sequence number.
	Seq func(M) int64
	// Publish publishes msgs in order and returns how many of them, from
	// the start, the bus acknowledged; on an error the rest stay pending.
	Publish func(ctx context.Context, msgs []M) (int, error)
	// Delete forgets published messages by sequence number.
	Delete func(ctx context.Context, seqs []int64) error
	// Batch is how many messages one Read and Publish take;
	// DefaultBatch when zero.
	Batch int
	// RoundBatches is how many batches Drain reads by cursor before it
	// reads from the start again; DefaultRoundBatches when zero.
	RoundBatches int
}

// Drain publishes the stream until it is empty or a publish fails, and
// deletes what was published. It keeps the guarantees of the plain loop
// (read, publish, delete, repeat) — messages go out in sequence order, and
// a message is deleted only after the bus acknowledged it — without its
// waits: the next batch is read while the current one is published, and
// published batches are deleted by a goroutine of their own, several per
// statement, so the publisher never waits for the database's write lock
// (on SQLite it queues behind every ingest transaction).
//
// It reads by cursor (sequence numbers above the last read), and starts
// again from the lowest pending row every RoundBatches batches once the
// round's deletes are done: on PostgreSQL sequence numbers can commit out
// of order, so a row below the cursor may appear late, and a new round
// picks it up.
func Drain[M any](ctx context.Context, s Stream[M]) error {
	if s.Batch <= 0 {
		s.Batch = DefaultBatch
	}
	if s.RoundBatches <= 0 {
		s.RoundBatches = DefaultRoundBatches
	}
	for {
		n, err := drainRound(ctx, s)
		if err != nil || n == 0 {
			return err
		}
	}
}

// read is one batch the reader read ahead.
type read[M any] struct {
	msgs []M
	err  error
}

// drainRound publishes up to RoundBatches batches from the lowest pending
// sequence number, and returns how many messages it read once every
// acknowledged one is deleted.
func drainRound[M any](ctx context.Context, s Stream[M]) (int, error) {
	// Deletes run on ctx: what was acknowledged is deleted even after the
	// publisher stopped.
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	pubCtx, stopPublishing := context.WithCancel(ctx)
	defer stopPublishing()

	// The reader reads a batch ahead of the publisher.
	batches := make(chan read[M])
	go func() {
		defer close(batches)
		var after int64
		for range s.RoundBatches {
			msgs, err := s.Read(readCtx, after, s.Batch)
			if len(msgs) == 0 && err == nil {
				return
			}
			select {
			case batches <- read[M]{msgs: msgs, err: err}:
			case <-readCtx.Done():
				return
			}
			if err != nil || len(msgs) < s.Batch {
				return
			}
			after = s.Seq(msgs[len(msgs)-1])
		}
	}()

	// The deleter deletes what is published, everything queued meanwhile
	// in one call; the buffer holds a whole round, so the publisher never
	// waits for it.
	published := make(chan []int64, s.RoundBatches)
	var delErr error
	var deleting sync.WaitGroup
	deleting.Go(func() {
		for seqs := range published {
			for more := true; more; {
				select {
				case next, ok := <-published:
					seqs = append(seqs, next...)
					more = ok
				default:
					more = false
				}
			}
			if delErr != nil {
				continue // drain the channel; what stays is published again later
			}
			if err := s.Delete(ctx, seqs); err != nil {
				delErr = err
				// Stop publishing what could not be forgotten.
				stopReading()
				stopPublishing()
			}
		}
	})

	var n int
	var pubErr error
	for b := range batches {
		if b.err == nil {
			b.err = pubCtx.Err() // a delete failed
		}
		if b.err != nil {
			pubErr = b.err
			break
		}
		n += len(b.msgs)
		acked, err := s.Publish(pubCtx, b.msgs)
		if acked > 0 {
			seqs := make([]int64, acked)
			for i, m := range b.msgs[:acked] {
				seqs[i] = s.Seq(m)
			}
			published <- seqs
		}
		if err != nil {
			pubErr = err
			break
		}
	}
	stopReading() // if the publisher stopped early
	for range batches {
	}
	close(published)
	deleting.Wait()
	if delErr != nil && pubErr != nil && errors.Is(pubErr, context.Canceled) {
		pubErr = nil // the publish stopped because the delete failed
	}
	return n, errors.Join(pubErr, delErr)
}
