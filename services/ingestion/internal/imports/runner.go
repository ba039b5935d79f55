package imports

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/kizuna/kizuna/services/ingestion/internal/tracking"
)

// IngestFunc stores messages as a live batch is stored (suppression,
// identity resolution, dedupe) and says how many were new and how many
// were stored before.
type IngestFunc func(ctx context.Context, ws string, msgs []tracking.Message) (accepted, duplicates int, err error)

// Options tune a Runner; zero values take the defaults.
type Options struct {
	// Batch is the rows stored per transaction (default 2000).
	Batch int
	// Lease is how long a claim on a job holds without a progress save
	// (default 60 s): a replica that stops lets its job go after it.
	Lease time.Duration
	// Poll is how often an idle runner looks for jobs (default 2 s).
	Poll time.Duration
}

// Runner runs import jobs, one at a time, on this replica.
type Runner struct {
	store  Store
	ingest IngestFunc
	now    func() time.Time
	log    *slog.Logger
	opts   Options
	// owner names this replica in leases.
	owner string
	wake  chan struct{}
}

// NewRunner returns a runner.
func NewRunner(st Store, ingest IngestFunc, now func() time.Time, log *slog.Logger, opts Options) *Runner {
	if opts.Batch <= 0 {
		opts.Batch = 2000
	}
	if opts.Lease <= 0 {
		opts.Lease = 60 * time.Second
	}
	if opts.Poll <= 0 {
		opts.Poll = 2 * time.Second
	}
	return &Runner{store: st, ingest: ingest, now: now, log: log, opts: opts, owner: uuid.NewString(), wake: make(chan struct{}, 1)}
}

// Wake tells the runner a job was started.
func (r *Runner) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run claims and runs jobs until ctx ends. A job cut off by the end of ctx
// is released, so that a restarted process resumes it at once.
func (r *Runner) Run(ctx context.Context) error {
	t := time.NewTicker(r.opts.Poll)
	defer t.Stop()
	for {
		for ctx.Err() == nil {
			ran, err := r.RunOne(ctx)
			if err != nil && ctx.Err() == nil {
				r.log.Error("import runner", slog.Any("error", err))
			}
			if !ran || err != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-t.C:
		}
	}
}

// RunOne claims one job and runs it to its end (or to the end of ctx); ran
// is false when there was none to claim.
func (r *Runner) RunOne(ctx context.Context) (ran bool, err error) {
	now := r.now()
	im, ok, err := r.store.ClaimImport(ctx, r.owner, now, now.Add(r.opts.Lease))
	if err != nil || !ok {
		return false, err
	}
	log := r.log.With(slog.String("workspace_id", im.WorkspaceID), slog.String("import_id", im.ID))
	if im.Progress.RowsRead > 0 {
		log.Info("import resumed", slog.Int64("rows_done", im.Progress.RowsRead))
	} else {
		log.Info("import started", slog.String("kind", im.Kind), slog.Int64("bytes", im.BytesTotal))
	}
	j := &job{r: r, im: im, p: im.Progress, last: r.now()}
	err = j.run(ctx)
	final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	switch {
	case errors.Is(err, ErrLeaseLost):
		log.Warn("import taken over by another replica")
		return true, nil
	case ctx.Err() != nil:
		// Stopping: let the job go for the next process to resume.
		if rerr := r.store.ReleaseImport(final, im.WorkspaceID, im.ID, r.owner); rerr != nil {
			log.Error("release import", slog.Any("error", rerr))
		}
		return true, nil
	case err != nil:
		log.Error("import failed", slog.Any("error", err))
		return true, r.store.FinishImport(final, im.WorkspaceID, im.ID, r.owner, ImportFailed, err.Error(), r.now())
	}
	log.Info("import done", slog.Int64("rows_read", j.p.RowsRead), slog.Int64("rows_imported", j.p.RowsImported),
		slog.Int64("rows_rejected", j.p.RowsRejected), slog.Duration("run", j.p.Run))
	return true, r.store.FinishImport(final, im.WorkspaceID, im.ID, r.owner, ImportSucceeded, "", r.now())
}

// job is one run of an import.
type job struct {
	r    *Runner
	im   Import
	p    ImportProgress
	last time.Time // of the last progress save
}

// batch is rows converted and ready to store.
type batch struct {
	msgs     []tracking.Message
	rejected []Rejection
	rows     int64
	bytes    int64 // of the file read once the batch was complete
}

func (j *job) run(ctx context.Context) error {
	var m Mapping
	if err := json.Unmarshal([]byte(j.im.Mapping), &m); err != nil {
		return fmt.Errorf("decode mapping: %w", err)
	}
	tz := m.Timezone
	if tz == "" {
		ws, err := j.r.store.Workspace(ctx, j.im.WorkspaceID)
		if err != nil {
			return err
		}
		tz = ws.Timezone
	}
	loc, err := time.LoadLocation(tz)
	if err != nil {
		return fmt.Errorf("time zone %q: %w", tz, err)
	}
	file := &chunkReader{ctx: ctx, st: j.r.store, ws: j.im.WorkspaceID, id: j.im.ID, chunks: j.im.Chunks}
	text := decode(j.im.Encoding, file)
	var src source
	var header []string
	if j.im.Kind == Events {
		src = newLineSource(text)
	} else {
		cs, err := newCSVSource(text)
		if err != nil {
			return err
		}
		src, header = cs, cs.header
	}
	conv, err := newConverter(j.im.Kind, header, m, loc)
	if err != nil {
		return err
	}

	// Rows are read and converted while the previous batch is stored.
	batches := make(chan batch, 1)
	readErr := make(chan error, 1)
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(batches)
		readErr <- j.read(rctx, src, conv, file, batches)
	}()
	for b := range batches {
		if err := j.store(ctx, b); err != nil {
			cancel()
			// Drain, so that the reader ends.
			for range batches {
			}
			return err
		}
	}
	if err := <-readErr; err != nil {
		return err
	}
	return ctx.Err()
}

// read converts the rows after those already done into batches.
func (j *job) read(ctx context.Context, src source, conv *converter, file *chunkReader, out chan<- batch) error {
	skip := j.p.RowsRead
	var b batch
	send := func() bool {
		b.bytes = file.read
		select {
		case out <- b:
			b = batch{}
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		rec, err := src.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read the file: %w", err)
		}
		if skip > 0 {
			skip--
			continue
		}
		b.rows++
		m, err := conv.message(rec, j.r.now())
		if err != nil {
			b.rejected = append(b.rejected, Rejection{Line: rec.line, Reason: reason(err), Row: rec.rowText()})
		} else {
			b.msgs = append(b.msgs, m)
		}
		if b.rows >= int64(j.r.opts.Batch) && !send() {
			return ctx.Err()
		}
	}
	if b.rows > 0 && !send() {
		return ctx.Err()
	}
	return nil
}

// maxStoreAttempts bounds the tries of one batch: a failure past them
// (a database that stays down) fails the job, which keeps its progress.
const maxStoreAttempts = 5

// store writes a batch and then its progress.
func (j *job) store(ctx context.Context, b batch) error {
	msgs, dups := uniqueMessages(b.msgs)
	var accepted, duplicates int
	var err error
	for attempt := 1; ; attempt++ {
		accepted, duplicates, err = j.r.ingest(ctx, j.im.WorkspaceID, msgs)
		if err == nil || attempt == maxStoreAttempts || ctx.Err() != nil {
			break
		}
		j.r.log.Warn("import batch failed, retrying", slog.String("import_id", j.im.ID), slog.Any("error", err))
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(attempt) * time.Second):
		}
	}
	if err != nil {
		return fmt.Errorf("store rows %d to %d: %w", j.p.RowsRead+1, j.p.RowsRead+b.rows, err)
	}
	now := j.r.now()
	j.p.Run += now.Sub(j.last)
	j.last = now
	j.p.BytesRead = min(b.bytes, j.im.BytesTotal)
	j.p.RowsRead += b.rows
	j.p.RowsImported += int64(accepted + duplicates + dups)
	j.p.RowsDuplicate += int64(duplicates + dups)
	j.p.RowsRejected += int64(len(b.rejected))
	// The progress must be saved even when ctx ends now: the rows are
	// stored.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return j.r.store.SaveImportProgress(sctx, j.im.WorkspaceID, j.im.ID, j.r.owner, j.p, b.rejected, now, now.Add(j.r.opts.Lease))
}

// uniqueMessages drops repeats of a message id within a batch (a row
// repeated in the file), returning how many it dropped.
func uniqueMessages(msgs []tracking.Message) ([]tracking.Message, int) {
	seen := make(map[string]bool, len(msgs))
	out := msgs[:0:0]
	for _, m := range msgs {
		if seen[m.MessageID] {
			continue
		}
		seen[m.MessageID] = true
		out = append(out, m)
	}
	return out, len(msgs) - len(out)
}

// chunkReader reads a job's stored file chunk by chunk and counts the
// bytes read.
type chunkReader struct {
	ctx    context.Context
	st     Store
	ws, id string
	chunks int64
	seq    int64
	buf    []byte
	read   int64
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.buf) == 0 {
		if c.seq >= c.chunks {
			return 0, io.EOF
		}
		data, err := c.st.ImportChunk(c.ctx, c.ws, c.id, c.seq)
		if err != nil {
			return 0, err
		}
		c.buf = data
		c.seq++
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	c.read += int64(n)
	return n, nil
}
