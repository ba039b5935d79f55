// Package dedupe finds customers that are one person under different
// spellings and manages merges: duplicate scans run in the background with
// stored progress, their pairs become suggestions a marketer accepts or
// rejects one by one (or, when asked, are merged directly), and every merge
// can be undone.
package dedupe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/conflict"
	"github.com/kizuna/kizuna/services/ingestion/internal/customer"
	"github.com/kizuna/kizuna/services/ingestion/internal/ingest"
	"github.com/kizuna/kizuna/services/ingestion/internal/match"
	"github.com/kizuna/kizuna/services/ingestion/internal/profile"
)

// Limits.
const (
	// MaxScanCustomers bounds one scan: matching holds every customer's
	// keys in memory (about 1.4 GB per million, see docs/BENCHMARKS.md).
	MaxScanCustomers = 2_000_000
	// StaleAfter is how long a running scan may go without a progress
	// update before it is taken as cut off by a stopped process.
	StaleAfter = 2 * time.Minute
	// MaxMerged bounds the customers one manual merge folds in.
	MaxMerged = 100

	loadPage  = 5000
	saveBatch = 500
)

// Service runs duplicate scans and merges.
type Service struct {
	store  Store
	now    func() time.Time
	log    *slog.Logger
	queued func()
	match  match.Options

	// base outlives requests: scans run on after FindDuplicates returns,
	// until Close.
	base   context.Context
	cancel context.CancelFunc
	mu     sync.Mutex // guards closed and wg.Add against Close
	closed bool
	wg     sync.WaitGroup
}

// ErrClosed reports a scan requested while the service shuts down.
var ErrClosed = errors.New("shutting down: no new duplicate scans")

// ErrTooMany reports a workspace too large to scan.
var ErrTooMany = errors.New("too many customers to scan")

// New returns the service. queued is told after a commit that put bus
// messages in the outbox.
func New(st Store, now func() time.Time, log *slog.Logger, queued func()) *Service {
	base, cancel := context.WithCancel(context.Background())
	return &Service{store: st, now: now, log: log, queued: queued, match: match.DefaultOptions(), base: base, cancel: cancel}
}

// Close stops running scans (they are recorded as failed) and waits for
// them.
func (d *Service) Close() {
	d.mu.Lock()
	d.closed = true
	d.mu.Unlock()
	d.cancel()
	d.wg.Wait()
}

// StartScan starts a duplicate scan of a workspace, or returns the one
// already running.
func (d *Service) StartScan(ctx context.Context, ws string, autoMerge bool) (Scan, error) {
	total, err := d.store.CountLiveCustomers(ctx, ws)
	if err != nil {
		return Scan{}, err
	}
	if total > MaxScanCustomers {
		return Scan{}, fmt.Errorf("the workspace has %d customers, over the scan limit of %d: %w", total, MaxScanCustomers, ErrTooMany)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return Scan{}, ErrClosed
	}
	now := d.now().UTC()
	sc := Scan{
		WorkspaceID: ws, ID: ingest.NewID("scan"), State: ScanRunning, Phase: "loading",
		AutoMerge: autoMerge, CustomersTotal: total, CreateTime: now, UpdateTime: now,
	}
	sc, started, err := d.store.StartScan(ctx, sc, now.Add(-StaleAfter))
	if err != nil || !started {
		return sc, err
	}
	d.wg.Add(1)
	go d.run(sc)
	return sc, nil
}

// Scan returns a scan; a running scan whose process stopped shows as
// failed.
func (d *Service) Scan(ctx context.Context, ws, id string) (Scan, error) {
	sc, err := d.store.Scan(ctx, ws, id)
	if err == nil && sc.Stale(d.now().Add(-StaleAfter)) {
		sc.State, sc.Error = ScanFailed, ScanInterrupted
	}
	return sc, err
}

func (d *Service) run(sc Scan) {
	defer d.wg.Done()
	log := d.log.With(slog.String("workspace_id", sc.WorkspaceID), slog.String("scan_id", sc.ID))
	log.Info("duplicate scan started", slog.Bool("auto_merge", sc.AutoMerge))
	err := d.scan(d.base, &sc)
	sc.UpdateTime = d.now().UTC()
	sc.EndTime = sc.UpdateTime
	if err != nil {
		sc.State, sc.Error = ScanFailed, err.Error()
		if d.base.Err() != nil {
			sc.Error = ScanInterrupted
		}
		log.Error("duplicate scan failed", slog.Any("error", err))
	} else {
		sc.State, sc.Phase, sc.Progress = ScanSucceeded, "done", 100
		log.Info("duplicate scan done", slog.Int64("customers", sc.CustomersScanned), slog.Int64("pairs", sc.PairsCompared),
			slog.Int64("suggestions", sc.SuggestionsCreated), slog.Int64("merges", sc.MergesApplied))
	}
	// The final state must be written even when shutting down.
	final, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.store.UpdateScan(final, sc); err != nil {
		log.Error("record duplicate scan result", slog.Any("error", err))
	}
}

// progress stores the scan's progress: pct of the current phase's span
// [from, to).
func (d *Service) progress(ctx context.Context, sc *Scan, phase string, from, to int, done, total int64) error {
	sc.Phase = phase
	sc.Progress = from
	if total > 0 {
		sc.Progress = from + int(int64(to-from)*done/total)
	}
	sc.UpdateTime = d.now().UTC()
	return d.store.UpdateScan(ctx, *sc)
}

func (d *Service) scan(ctx context.Context, sc *Scan) error {
	total := sc.CustomersTotal // counted and checked by StartScan
	region, err := d.store.PhoneRegion(ctx, sc.WorkspaceID)
	if err != nil {
		return err
	}
	if err := d.progress(ctx, sc, "loading", 0, 40, 0, total); err != nil {
		return err
	}
	var records []match.Record
	var userIDs []string
	for after := ""; ; {
		page, err := d.store.LiveCustomers(ctx, sc.WorkspaceID, after, loadPage)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		for _, c := range page {
			r := profile.MatchRecord(c.ID, c.Traits, region)
			if !profile.Empty(r) {
				records = append(records, r)
				userIDs = append(userIDs, c.UserID)
			}
		}
		after = page[len(page)-1].ID
		sc.CustomersScanned += int64(len(page))
		if err := d.progress(ctx, sc, "loading", 0, 40, sc.CustomersScanned, max(total, sc.CustomersScanned)); err != nil {
			return err
		}
	}
	if err := d.progress(ctx, sc, "matching", 40, 70, 0, 1); err != nil {
		return err
	}
	res := match.Find(records, d.match)
	sc.PairsCompared = int64(res.Stats.Candidates)
	if err := ctx.Err(); err != nil {
		return err
	}
	for start := 0; start < len(res.Pairs); start += saveBatch {
		batch := res.Pairs[start:min(start+saveBatch, len(res.Pairs))]
		if err := d.save(ctx, sc, batch, userIDs); err != nil {
			return err
		}
		if err := d.progress(ctx, sc, "saving", 70, 100, int64(start+len(batch)), int64(len(res.Pairs))); err != nil {
			return err
		}
	}
	return nil
}

// save stores one batch of pairs in one transaction: merged when the scan
// auto-merges and the pair is certain, else suggested for review.
func (d *Service) save(ctx context.Context, sc *Scan, pairs []match.Pair, userIDs []string) error {
	var created, mergedN int64
	now := d.now().UTC()
	err := d.store.InTx(ctx, func(tx Tx) error {
		created, mergedN = 0, 0
		for _, p := range pairs {
			reasons := p.Reasons
			if userIDs[p.I] != "" && userIDs[p.J] != "" && userIDs[p.I] != userIDs[p.J] {
				reasons = append(append([]string(nil), reasons...), "user_id: differ")
			}
			if sc.AutoMerge && p.Decision == match.Merge {
				rejected, err := tx.PairRejected(ctx, sc.WorkspaceID, p.A, p.B)
				if err != nil {
					return err
				}
				if !rejected {
					_, outcome, err := mergePair(ctx, tx, sc.WorkspaceID, p.A, p.B, customer.Merge{Source: customer.SourceScan, Time: now}, false)
					switch {
					case errors.Is(err, conflict.ErrConflict):
						continue // merged away concurrently; the next scan sees the result
					case err != nil:
						return err
					case outcome == merged:
						mergedN++
						continue
					case outcome == alreadyOne:
						continue
					}
					// Two user ids: left to a person, as a suggestion.
					if !slices.Contains(reasons, "user_id: differ") {
						reasons = append(append([]string(nil), reasons...), "user_id: differ")
					}
				}
			}
			ok, err := tx.InsertSuggestion(ctx, sc.WorkspaceID, customer.Suggestion{
				ID: ingest.NewID("sug"), CustomerA: p.A, CustomerB: p.B, Score: p.Score, Reasons: reasons, ScanID: sc.ID, CreateTime: now,
			})
			if err != nil {
				return err
			}
			if ok {
				created++
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save pairs: %w", err)
	}
	sc.SuggestionsCreated += created
	sc.MergesApplied += mergedN
	if mergedN > 0 {
		d.queued()
	}
	return nil
}

// outcome is what mergePair did.
type outcome int

const (
	merged outcome = iota + 1
	alreadyOne
	// userConflict: the customers hold different user ids, which only a
	// person may merge.
	userConflict
)

// mergePair merges the live customers a and b now are, the older one
// surviving. Customers holding different user ids are merged only with
// allowUserConflict (a person decided).
func mergePair(ctx context.Context, tx Tx, ws, a, b string, m customer.Merge, allowUserConflict bool) (customer.Merge, outcome, error) {
	ca, err := tx.LiveInfo(ctx, ws, a)
	if err != nil {
		return m, 0, err
	}
	cb, err := tx.LiveInfo(ctx, ws, b)
	if err != nil {
		return m, 0, err
	}
	switch {
	case ca.ID == cb.ID:
		return m, alreadyOne, nil
	case !allowUserConflict && ca.UserID != "" && cb.UserID != "" && ca.UserID != cb.UserID:
		return m, userConflict, nil
	}
	// The older customer survives, so ids handed out earlier stay valid.
	if cb.CreateTime.Before(ca.CreateTime) || (cb.CreateTime.Equal(ca.CreateTime) && cb.ID < ca.ID) {
		ca, cb = cb, ca
	}
	m.ID, m.SurvivorID, m.MergedIDs = ingest.NewID("mrg"), ca.ID, []string{cb.ID}
	m, err = ingest.Merge(ctx, tx, ws, m)
	return m, merged, err
}

// Accept merges a pending suggestion's customers.
func (d *Service) Accept(ctx context.Context, ws, id string) (customer.Suggestion, customer.Merge, error) {
	var sg customer.Suggestion
	var mrg customer.Merge
	now := d.now().UTC()
	err := d.store.InTx(ctx, func(tx Tx) error {
		var err error
		if sg, err = pending(ctx, tx, ws, id); err != nil {
			return err
		}
		m := customer.Merge{Source: customer.SourceSuggestion, SuggestionID: id, Time: now}
		var did outcome
		if mrg, did, err = mergePair(ctx, tx, ws, sg.CustomerA, sg.CustomerB, m, true); err != nil {
			return err
		}
		if did == alreadyOne {
			return conflict.Errorf("ALREADY_ONE_CUSTOMER", "customers %s and %s are already one customer", sg.CustomerA, sg.CustomerB)
		}
		sg.State, sg.MergeID, sg.DecideTime = customer.SuggestionAccepted, mrg.ID, now
		return tx.DecideSuggestion(ctx, ws, id, sg.State, mrg.ID, now)
	})
	if err != nil {
		return customer.Suggestion{}, customer.Merge{}, err
	}
	d.queued()
	return sg, mrg, nil
}

// Reject records that a pending suggestion's customers are different
// people.
func (d *Service) Reject(ctx context.Context, ws, id string) (customer.Suggestion, error) {
	var sg customer.Suggestion
	now := d.now().UTC()
	err := d.store.InTx(ctx, func(tx Tx) error {
		var err error
		if sg, err = pending(ctx, tx, ws, id); err != nil {
			return err
		}
		sg.State, sg.DecideTime = customer.SuggestionRejected, now
		return tx.DecideSuggestion(ctx, ws, id, sg.State, "", now)
	})
	return sg, err
}

func pending(ctx context.Context, tx Tx, ws, id string) (customer.Suggestion, error) {
	sg, err := tx.Suggestion(ctx, ws, id)
	if err != nil {
		return sg, err
	}
	if sg.State != customer.SuggestionPending {
		return sg, conflict.Errorf("SUGGESTION_DECIDED", "suggestion %s is already %s", id, sg.State)
	}
	return sg, nil
}

// Merge merges customers by hand into survivor.
func (d *Service) Merge(ctx context.Context, ws, survivor string, mergedIDs []string) (customer.Merge, error) {
	var m customer.Merge
	err := d.store.InTx(ctx, func(tx Tx) error {
		var err error
		m, err = ingest.Merge(ctx, tx, ws, customer.Merge{
			ID: ingest.NewID("mrg"), SurvivorID: survivor, MergedIDs: mergedIDs, Source: customer.SourceManual, Time: d.now().UTC(),
		})
		return err
	})
	if err != nil {
		return customer.Merge{}, err
	}
	d.queued()
	return m, nil
}

// Undo undoes a merge.
func (d *Service) Undo(ctx context.Context, ws, mergeID string) (customer.Merge, error) {
	var m customer.Merge
	err := d.store.InTx(ctx, func(tx Tx) error {
		var err error
		m, err = ingest.Undo(ctx, tx, ws, mergeID, d.now().UTC())
		return err
	})
	if err != nil {
		return customer.Merge{}, err
	}
	d.queued()
	return m, nil
}
