package prune_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/platform/prune"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// clock is a fake clock tests move by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func count(t *testing.T, db *sqldb.DB, where string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), `SELECT count(*) FROM applied WHERE `+where).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestAppliedMessages fills an applied-messages table with ids older and
// younger than the dedupe window, more than one delete batch of them, and
// runs the job from two replicas with a fake clock: the holder of the lease
// deletes exactly the old ids of the kinds it may; the other replica runs
// nothing until the lease expired.
func TestAppliedMessages(t *testing.T) {
	sqldbtest.ForEachBackend(t, func(t *testing.T, db *sqldb.DB) {
		ctx := context.Background()
		if _, err := db.ExecContext(ctx, `CREATE TABLE applied (workspace_id TEXT NOT NULL, kind TEXT NOT NULL, message_id TEXT NOT NULL,
			applied_at BIGINT NOT NULL, PRIMARY KEY (workspace_id, kind, message_id))`); err != nil {
			t.Fatal(err)
		}
		c := &clock{now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}
		old := c.now.Add(-prune.DedupeWindow - time.Minute).UnixMicro()
		young := c.now.Add(-prune.DedupeWindow + time.Minute).UnixMicro()
		// 12,000 old ids (three delete batches), 100 young ones, and 50
		// old ones of a kind the task must keep.
		err := db.InTx(ctx, func(tx *sqldb.Tx) error {
			var rows []string
			var args []any
			flush := func() error {
				if len(rows) == 0 {
					return nil
				}
				_, err := tx.ExecContext(ctx, `INSERT INTO applied VALUES `+strings.Join(rows, ", "), args...)
				rows, args = rows[:0], args[:0]
				return err
			}
			add := func(kind, id string, at int64) error {
				p := len(args)
				rows = append(rows, fmt.Sprintf("($%d, $%d, $%d, $%d)", p+1, p+2, p+3, p+4))
				args = append(args, "ws", kind, id, at)
				if len(rows) == 500 {
					return flush()
				}
				return nil
			}
			for i := range 12000 {
				if err := add("event", fmt.Sprintf("old-%d", i), old); err != nil {
					return err
				}
			}
			for i := range 100 {
				if err := add("event", fmt.Sprintf("young-%d", i), young); err != nil {
					return err
				}
			}
			for i := range 50 {
				if err := add("merge", fmt.Sprintf("merge-%d", i), old); err != nil {
					return err
				}
			}
			return flush()
		})
		if err != nil {
			t.Fatal(err)
		}
		task := prune.AppliedMessages(db, "applied", "applied_at", []string{"workspace_id", "kind", "message_id"}, "kind <> 'merge'")
		a := prune.New(db, "test", prune.Options{Now: c.Now}, task)
		b := prune.New(db, "test", prune.Options{Now: c.Now}, task)

		ran, n, err := a.RunOnce(ctx)
		if err != nil || !ran || n["applied"] != 12000 {
			t.Fatalf("first replica: ran %t, deleted %v, %v; want 12000", ran, n, err)
		}
		if got := count(t, db, "kind = 'event'"); got != 100 {
			t.Errorf("%d event ids left, want the 100 younger than the window", got)
		}
		if got := count(t, db, "kind = 'merge'"); got != 50 {
			t.Errorf("%d merge ids left, want all 50", got)
		}
		if ran, _, err := b.RunOnce(ctx); ran || err != nil {
			t.Errorf("second replica ran (%v) while the first holds the lease", err)
		}
		// The young ids age past the window; the first replica is gone
		// and its lease expires after three intervals.
		c.Add(3*prune.DefaultInterval + time.Second)
		ran, n, err = b.RunOnce(ctx)
		if err != nil || !ran || n["applied"] != 100 {
			t.Errorf("second replica after the lease expired: ran %t, deleted %v, %v; want 100", ran, n, err)
		}
	})
}

// TestTaskErrors checks that a failing task is reported and the others
// still run.
func TestTaskErrors(t *testing.T) {
	db := sqldbtest.SQLite(t)
	var ran []string
	task := func(name string, err error) prune.Task {
		return prune.Task{Name: name, Run: func(context.Context, time.Time) (int64, error) {
			ran = append(ran, name)
			return 1, err
		}}
	}
	j := prune.New(db, "errors", prune.Options{}, task("a", errors.New("boom")), task("b", nil))
	_, n, err := j.RunOnce(context.Background())
	if err == nil || !strings.Contains(err.Error(), "a: boom") || len(ran) != 2 || n["b"] != 1 {
		t.Errorf("ran %v, deleted %v, err %v; want both run and a's error", ran, n, err)
	}
}
