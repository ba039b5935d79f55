// Package prune deletes rows that have outlived their use — raw events past
// a workspace's retention, ids of applied bus messages past the window in
// which the bus can still deliver them again — on a schedule, on one replica
// at a time (a lease in the service's database), in small batches so that a
// large backlog never holds a long transaction.
//
// How long applied message ids are kept: DedupeWindow, the bus streams'
// MaxAge (7 days) plus a day. A consumer can only be handed a message the
// stream still holds — a redelivery, or a replay after its durable consumer
// was reset — so an id older than the stream's retention can never come
// back; the extra day covers clock skew between replicas and a prune job
// that was down for a while. Segment keeps 24 hours of message ids for its
// dedupe; Kizuna keeps the ids for 8 days because its own bus retains and
// may redeliver messages for 7.
package prune

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/lease"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// DedupeWindow is how long ids of applied bus messages are kept.
const DedupeWindow = bus.MaxAge + 24*time.Hour

// DefaultInterval is how often a Job runs.
const DefaultInterval = time.Hour

// batchRows bounds the rows one DELETE removes.
const batchRows = 5000

// Task is one pruning step: it deletes what is due at now and returns how
// many rows it deleted.
type Task struct {
	Name string
	Run  func(ctx context.Context, now time.Time) (int64, error)
}

// Options configure a Job.
type Options struct {
	// Interval between runs; DefaultInterval when zero.
	Interval time.Duration
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger receives one line per run that deleted rows, and errors.
	Logger *slog.Logger
}

// Job runs tasks every interval on the replica holding its lease.
type Job struct {
	lease *lease.Lease
	tasks []Task
	opts  Options
}

// New returns a job named name (the lease "prune:<name>" in db) running
// tasks in order.
func New(db *sqldb.DB, name string, opts Options, tasks ...Task) *Job {
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	// The lease outlives a run and the gap to the next: the holder keeps
	// it, and another replica takes over 3 intervals after it died.
	l := lease.New(db, "prune:"+name, lease.Options{TTL: 3 * opts.Interval, Now: opts.Now})
	return &Job{lease: l, tasks: tasks, opts: opts}
}

// Run runs the job every interval until ctx ends (on this replica only
// while it holds the lease), and releases the lease then.
func (j *Job) Run(ctx context.Context) {
	lease.Every(ctx, j.lease, j.opts.Interval, func(ctx context.Context) error {
		_, err := j.run(ctx)
		return err
	}, func(err error) {
		j.opts.Logger.ErrorContext(ctx, "prune failed", slog.Any("error", err))
	})
}

// RunOnce runs every task now if this replica holds (or can take) the
// lease. It reports whether it ran and the rows each task deleted.
func (j *Job) RunOnce(ctx context.Context) (bool, map[string]int64, error) {
	held, err := j.lease.Hold(ctx)
	if err != nil || !held {
		return false, nil, err
	}
	n, err := j.run(ctx)
	return true, n, err
}

// run runs the tasks; a failing task does not stop the others.
func (j *Job) run(ctx context.Context) (map[string]int64, error) {
	now := j.opts.Now()
	out := make(map[string]int64, len(j.tasks))
	var errs []string
	for _, t := range j.tasks {
		n, err := t.Run(ctx, now)
		out[t.Name] = n
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", t.Name, err))
			continue
		}
		if n > 0 {
			j.opts.Logger.InfoContext(ctx, "pruned", slog.String("task", t.Name), slog.Int64("rows", n))
		}
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("prune: %s", strings.Join(errs, "; "))
	}
	return out, nil
}

// Delete deletes the rows of table that match where (a condition with
// placeholders $1 … for args), batchRows at a time by their key columns,
// each batch in a transaction of its own (sqldb.DB.ExecWrite: on SQLite it
// takes its turn with the service's writers), until none is left or ctx
// ends. It returns the rows deleted.
func Delete(ctx context.Context, db *sqldb.DB, table string, key []string, where string, args ...any) (int64, error) {
	cols := strings.Join(key, ", ")
	q := fmt.Sprintf(`DELETE FROM %s WHERE (%s) IN (SELECT %s FROM %s WHERE %s LIMIT %d)`, table, cols, cols, table, where, batchRows)
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		res, err := db.ExecWrite(ctx, q, args...)
		if err != nil {
			return total, fmt.Errorf("prune %s: %w", table, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("prune %s: %w", table, err)
		}
		total += n
		if n < batchRows {
			return total, nil
		}
	}
}

// AppliedMessages is a task deleting the ids of applied bus messages older
// than DedupeWindow from table, whose column timeColumn holds when each was
// applied in Unix microseconds. where, when not empty, further restricts
// the rows (a condition without placeholders).
func AppliedMessages(db *sqldb.DB, table, timeColumn string, key []string, where string) Task {
	cond := timeColumn + ` < $1`
	if where != "" {
		cond += ` AND (` + where + `)`
	}
	return Task{Name: table, Run: func(ctx context.Context, now time.Time) (int64, error) {
		return Delete(ctx, db, table, key, cond, now.Add(-DedupeWindow).UnixMicro())
	}}
}
