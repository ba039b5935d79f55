package outbox

import (
	"context"
	"errors"
	"slices"
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
// statement, so neither reading nor publishing waits for the database's
// write lock (on SQLite it queues behind every ingest transaction).
//
// It reads by cursor (sequence numbers above the last read), and goes
// back to the lowest pending row after RoundBatches batches and whenever
// a read by cursor finds nothing: on PostgreSQL sequence numbers can
// commit out of order, so a row below the cursor may appear late, and
// reading from the start picks it up. Rows published but not yet deleted
// are skipped. Drain returns once a read from the start found nothing new
// and every delete is done.
func Drain[M any](ctx context.Context, s Stream[M]) error {
	if s.Batch <= 0 {
		s.Batch = DefaultBatch
	}
	if s.RoundBatches <= 0 {
		s.RoundBatches = DefaultRoundBatches
	}
	// Publishing stops when a delete fails: what cannot be forgotten
	// would only be published again.
	pubCtx, stopPublishing := context.WithCancel(ctx)
	defer stopPublishing()
	// Deletes run on ctx: what was acknowledged is deleted even after the
	// publisher stopped.
	d := startDeleter(ctx, s.Delete, stopPublishing)
	err := publish(pubCtx, s, d)
	delErr := d.close()
	if delErr != nil && err != nil && errors.Is(err, context.Canceled) && ctx.Err() == nil {
		err = nil // the publish stopped because a delete failed
	}
	return errors.Join(err, delErr)
}

// read is one batch the reader read ahead.
type read[M any] struct {
	msgs []M
	err  error
}

// publish publishes what read finds, in order, and hands what the bus
// acknowledged to the deleter.
func publish[M any](ctx context.Context, s Stream[M], d *deleter) error {
	readCtx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	batches := make(chan read[M]) // the reader reads a batch ahead
	go func() {
		defer close(batches)
		readNew(readCtx, s, d, batches)
	}()
	var pubErr error
	for b := range batches {
		if b.err == nil {
			b.err = ctx.Err() // a delete failed, or Drain's ctx ended
		}
		if b.err != nil {
			pubErr = b.err
			break
		}
		acked, err := s.Publish(ctx, b.msgs)
		if acked > 0 {
			seqs := make([]int64, acked)
			for i, m := range b.msgs[:acked] {
				seqs[i] = s.Seq(m)
			}
			d.add(seqs)
		}
		if err != nil {
			pubErr = err
			break
		}
	}
	stopReading() // if the publisher stopped early
	for range batches {
	}
	return pubErr
}

// readNew sends the batches of rows not yet published to out, until a
// read from the start finds none.
func readNew[M any](ctx context.Context, s Stream[M], d *deleter, out chan<- read[M]) {
	var after int64
	fromStart, sent, found := true, 0, false // found: a batch sent since the reads went back to the start
	for {
		// Reads stay at most a round ahead of the deletes: when deletes
		// fail, publishing stops soon.
		if err := d.room(ctx, s.RoundBatches*s.Batch); err != nil {
			return
		}
		// Taken before the read: a row deleted after it may still be in
		// what the read sees, and must then be known claimed.
		claimed := d.claimed()
		msgs, err := s.Read(ctx, after, s.Batch)
		full := len(msgs) == s.Batch
		if len(msgs) > 0 {
			after = s.Seq(msgs[len(msgs)-1])
		}
		msgs = slices.DeleteFunc(msgs, func(m M) bool {
			_, ok := slices.BinarySearch(claimed, s.Seq(m))
			return ok
		})
		if len(msgs) > 0 || err != nil {
			seqs := make([]int64, len(msgs))
			for i, m := range msgs {
				seqs[i] = s.Seq(m)
			}
			d.claim(seqs)
			select {
			case out <- read[M]{msgs: msgs, err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
			sent++
			found = true
		}
		switch {
		case full && sent < s.RoundBatches:
			// Read on by cursor.
		case !full && fromStart && !found:
			return // nothing new from the start to the end
		case !full && len(msgs) > 0:
			// Caught up: look by cursor for what came meanwhile.
			fromStart = false
		default:
			// Back to the start, for late rows (and, finding nothing, to
			// end).
			after, fromStart, sent, found = 0, true, 0, false
		}
	}
}

// deleter deletes what was published in the background, everything
// queued meanwhile in one call, and knows which rows were claimed (read
// to be published) and not yet deleted.
type deleter struct {
	del  func(ctx context.Context, seqs []int64) error
	wake chan struct{}
	done chan struct{}

	mu sync.Mutex
	// pending are the rows claimed and not yet deleted, sorted; queued
	// those published and not yet handed to del.
	pending, queued []int64
	closed          bool
	err             error
	// progress is closed, and replaced, after each delete.
	progress chan struct{}
}

func startDeleter(ctx context.Context, del func(context.Context, []int64) error, failed func()) *deleter {
	d := &deleter{del: del, wake: make(chan struct{}, 1), done: make(chan struct{}), progress: make(chan struct{})}
	go func() {
		defer close(d.done)
		for range d.wake {
			d.mu.Lock()
			seqs, closed := d.queued, d.closed
			d.queued = nil
			d.mu.Unlock()
			if len(seqs) > 0 && d.err == nil {
				err := d.del(ctx, seqs)
				if err != nil {
					failed()
				}
				slices.Sort(seqs) // a late row may follow higher ones
				d.mu.Lock()
				if d.err = err; err == nil {
					d.pending = slices.DeleteFunc(d.pending, func(seq int64) bool {
						_, found := slices.BinarySearch(seqs, seq)
						return found
					})
				}
				close(d.progress)
				d.progress = make(chan struct{})
				d.mu.Unlock()
			}
			if closed {
				return
			}
		}
	}()
	return d
}

// claim marks rows, in sequence order, as read to be published.
func (d *deleter) claim(seqs []int64) {
	if len(seqs) == 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	n := len(d.pending)
	d.pending = append(d.pending, seqs...)
	if n > 0 && d.pending[n-1] > seqs[0] {
		slices.Sort(d.pending) // a late row
	}
}

// room waits until fewer than max rows are claimed and not yet deleted.
func (d *deleter) room(ctx context.Context, max int) error {
	for {
		d.mu.Lock()
		n, progress := len(d.pending), d.progress
		d.mu.Unlock()
		if n < max {
			return nil
		}
		select {
		case <-progress:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// claimed returns the rows claimed and not yet deleted, sorted.
func (d *deleter) claimed() []int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.pending)
}

// add queues published rows for deletion.
func (d *deleter) add(seqs []int64) {
	d.mu.Lock()
	d.queued = append(d.queued, seqs...)
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// close waits until everything queued is deleted, or a delete failed.
func (d *deleter) close() error {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
	<-d.done
	return d.err
}
