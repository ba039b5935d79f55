package sqldb

import (
	"context"
	"math/rand/v2"
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
// meanwhile), every checkpointEvery, then copies what writers appended
// meanwhile with them held off, so that the log is copied whole and starts
// afresh (see checkpointLoop) once it holds restartFrames; the writers' own
// checkpoints stay as a backstop at walAutocheckpointPages. Measured in
// docs/BENCHMARKS.md (sessions of 2026-12-07 17:10 and 19:57 UTC).
const (
	checkpointEvery        = time.Second
	restartFrames          = 4096  // 16 MiB of 4 KiB pages
	walAutocheckpointPages = 16384 // 64 MiB
)

// startCheckpoints runs checkpointLoop until Close.
func (db *DB) startCheckpoints(every time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { db.checkpointLoop(ctx, every) })
	db.stopCheckpoints = func() { cancel(); wg.Wait() }
}

func (db *DB) checkpointLoop(ctx context.Context, every time.Duration) {
	// Databases opened together (a process's services) would otherwise
	// checkpoint in the same instant, and an event passing through two of
	// them meet both pauses.
	select {
	case <-ctx.Done():
		return
	case <-time.After(rand.N(every)):
	}
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
		if log, _, err := db.checkpoint(ctx); err != nil || log < restartFrames {
			continue
		}
		// Writers may have appended while the log was copied, and SQLite
		// starts the log afresh only when a write begins with it copied
		// whole: under steady writes it would grow to the backstop and
		// stay there. What is left is a moment's worth; copy it with the
		// writers held off. That pause (the copy and the file's sync) is
		// taken only once the log is long, not every round: every second
		// it was the slowest events' wait (docs/BENCHMARKS.md).
		db.writer.Lock()
		_, _, _ = db.checkpoint(ctx)
		db.writer.Unlock()
	}
}

// checkpoint copies what it can of the log into the database file and
// returns how many frames the log holds and how many of them are copied.
func (db *DB) checkpoint(ctx context.Context) (log, copied int, err error) {
	var busy int
	err = db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &copied)
	return log, copied, err
}
