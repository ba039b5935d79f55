package sqldb

import (
	"context"
	"sync"
	"time"
)

// SQLite in WAL mode copies the log back into the database file at
// checkpoints. By default the writer whose commit takes the log past 1,000
// pages runs one at once, inside its commit: that transaction (a consumer's
// batch, a group of ingest calls) waits for the pages to be copied and the
// file synced, and with writes coming steadily a hot page is copied again at
// every checkpoint. A goroutine per database checkpoints instead
// (PASSIVE: it waits for no reader or writer, and writers go on appending
// meanwhile), every checkpointEvery; the writers' own checkpoints stay as a
// backstop at walAutocheckpointPages. At 5,000 events/s through the suite,
// turning the writers' checkpoints off took the membership latency p99
// from 193 to 103 ms and the process's CPU by a fifth (docs/BENCHMARKS.md).
const (
	checkpointEvery        = time.Second
	walAutocheckpointPages = 16384 // 64 MiB of 4 KiB pages
)

// startCheckpoints runs checkpointLoop until Close.
func (db *DB) startCheckpoints(every time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { db.checkpointLoop(ctx, every) })
	db.stopCheckpoints = func() { cancel(); wg.Wait() }
}

func (db *DB) checkpointLoop(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		// An error (the database closing, another checkpoint running)
		// leaves the log to the next round or to the writers' backstop.
		_, _, _ = db.checkpoint(ctx)
	}
}

// checkpoint copies what it can of the log into the database file and
// returns how many frames the log holds and how many of them are copied.
func (db *DB) checkpoint(ctx context.Context) (log, copied int, err error) {
	var busy int
	err = db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &copied)
	return log, copied, err
}
