package outbox_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/kizuna/kizuna/services/platform/outbox"
)

// fakeOutbox is an outbox table and a bus in memory. It fails the test when
// a row is deleted before the bus acknowledged it.
type fakeOutbox struct {
	t  *testing.T
	mu sync.Mutex
	// rows are the pending sequence numbers.
	rows map[int64]bool
	// acked are the acknowledged publishes, in order.
	acked []int64
	// failAt makes the publish of this sequence number fail once (0: never).
	failAt int64
	// deleteErr makes every Delete fail.
	deleteErr error
	// onRead runs before each Read with the cursor.
	onRead func(after int64)
}

func newFakeOutbox(t *testing.T, seqs ...int64) *fakeOutbox {
	f := &fakeOutbox{t: t, rows: map[int64]bool{}}
	f.add(seqs...)
	return f
}

func seqRange(from, to int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func (f *fakeOutbox) add(seqs ...int64) {
	for _, s := range seqs {
		f.rows[s] = true
	}
}

func (f *fakeOutbox) pending() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]int64, 0, len(f.rows))
	for s := range f.rows {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

func (f *fakeOutbox) stream(batch, round int) outbox.Stream[int64] {
	return outbox.Stream[int64]{
		Read: func(_ context.Context, after int64, limit int) ([]int64, error) {
			if f.onRead != nil {
				f.onRead(after)
			}
			var out []int64
			for _, s := range f.pending() {
				if s > after && len(out) < limit {
					out = append(out, s)
				}
			}
			return out, nil
		},
		Seq: func(s int64) int64 { return s },
		Publish: func(_ context.Context, msgs []int64) (int, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			for i, s := range msgs {
				if s == f.failAt {
					f.failAt = 0
					return i, errors.New("bus down")
				}
				f.acked = append(f.acked, s)
			}
			return len(msgs), nil
		},
		Delete: func(_ context.Context, seqs []int64) error {
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.deleteErr != nil {
				return f.deleteErr
			}
			for _, s := range seqs {
				if !slices.Contains(f.acked, s) {
					f.t.Errorf("seq %d deleted before it was acknowledged", s)
				}
				if !f.rows[s] {
					f.t.Errorf("seq %d deleted twice or never stored", s)
				}
				delete(f.rows, s)
			}
			return nil
		},
		Batch: batch, RoundBatches: round,
	}
}

// TestDrainPublishesInOrder: every row is published once, in sequence
// order, across batches and rounds, and deleted after its acknowledgement.
func TestDrainPublishesInOrder(t *testing.T) {
	for _, tc := range []struct {
		name         string
		rows         []int64
		batch, round int
	}{
		{"empty", nil, 10, 4},
		{"one partial batch", seqRange(1, 7), 10, 4},
		{"exact batches", seqRange(1, 40), 10, 4},
		{"many rounds", seqRange(1, 1234), 10, 4},
		{"gaps", append(seqRange(3, 50), seqRange(90, 200)...), 7, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeOutbox(t, tc.rows...)
			if err := outbox.Drain(context.Background(), f.stream(tc.batch, tc.round)); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(f.acked, tc.rows) {
				t.Errorf("published %v, want %v", f.acked, tc.rows)
			}
			if p := f.pending(); len(p) != 0 {
				t.Errorf("left %v", p)
			}
		})
	}
}

// TestDrainPublishFailure: a publish failing in the middle of the pipeline
// (batches read ahead, deletes still queued) leaves exactly the rows from
// the failed one on; the next drain publishes them, in order.
func TestDrainPublishFailure(t *testing.T) {
	f := newFakeOutbox(t, seqRange(1, 500)...)
	f.failAt = 237
	if err := outbox.Drain(context.Background(), f.stream(10, 8)); err == nil {
		t.Fatal("drain succeeded; want the publish error")
	}
	if want := seqRange(237, 500); !slices.Equal(f.pending(), want) {
		t.Fatalf("left %v, want %v", f.pending(), want)
	}
	if want := seqRange(1, 236); !slices.Equal(f.acked, want) {
		t.Fatalf("published %v, want %v", f.acked, want)
	}
	if err := outbox.Drain(context.Background(), f.stream(10, 8)); err != nil {
		t.Fatal(err)
	}
	if want := seqRange(1, 500); !slices.Equal(f.acked, want) {
		t.Errorf("published %v, want %v", f.acked, want)
	}
	if p := f.pending(); len(p) != 0 {
		t.Errorf("left %v", p)
	}
}

// TestDrainDeleteFailure: when deletes fail, Drain stops with the error
// and the published rows stay, to be published again (JetStream drops the
// duplicate by message id).
func TestDrainDeleteFailure(t *testing.T) {
	f := newFakeOutbox(t, seqRange(1, 100)...)
	f.deleteErr = errors.New("disk full")
	err := outbox.Drain(context.Background(), f.stream(10, 4))
	if !errors.Is(err, f.deleteErr) {
		t.Fatalf("drain = %v, want the delete error", err)
	}
	if p := f.pending(); !slices.Equal(p, seqRange(1, 100)) {
		t.Errorf("left %v, want every row", p)
	}
	if len(f.acked) == 0 || len(f.acked) == 100 || !slices.Equal(f.acked, seqRange(1, int64(len(f.acked)))) {
		t.Errorf("published %d rows (%v); want an ordered prefix, stopped early", len(f.acked), f.acked)
	}
}

// TestDrainLateCommit: on PostgreSQL a lower sequence number can commit
// after the cursor passed it. Under sustained writes (every read finds a
// new batch on top) a later round still publishes it soon, not only once
// the writes stop, and Drain does not return while it is pending.
func TestDrainLateCommit(t *testing.T) {
	f := newFakeOutbox(t, append(seqRange(1, 4), seqRange(6, 30)...)...)
	top := int64(30)
	f.onRead = func(after int64) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if after > 5 && !f.rows[5] && !slices.Contains(f.acked, 5) {
			f.add(5)
		}
		if top < 2000 {
			f.add(seqRange(top+1, top+10)...)
			top += 10
		}
	}
	if err := outbox.Drain(context.Background(), f.stream(10, 4)); err != nil {
		t.Fatal(err)
	}
	if p := f.pending(); len(p) != 0 {
		t.Errorf("left %v", p)
	}
	if i := slices.Index(f.acked, 5); i < 0 || i > 100 {
		t.Errorf("the late row was published as message %d, want within the next round", i)
	}
	if int64(len(f.acked)) != top {
		t.Errorf("published %d rows, want %d (each once)", len(f.acked), top)
	}
}
