package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

const entryColumns = `e.workspace_id, e.entry_id, e.journey_id, e.customer_id, e.entry_number, e.state, e.step_id, e.waiting,
	e.due_time, e.event, e.enter_time, e.end_time, e.exit_reason, e.error, e.lease_token, e.variant`

func scanEntry(row scanner, extra ...any) (Entry, error) {
	var (
		e                 Entry
		number            int64
		due, enter, endUS int64
	)
	dest := append([]any{&e.WorkspaceID, &e.ID, &e.JourneyID, &e.CustomerID, &number, &e.State, &e.StepID, &e.Waiting,
		&due, &e.Event, &enter, &endUS, &e.ExitReason, &e.Error, &e.LeaseToken, &e.Variant}, extra...)
	if err := row.Scan(dest...); err != nil {
		return Entry{}, err
	}
	e.Number = int(number)
	e.DueTime, e.EnterTime, e.EndTime = fromMicros(due), fromMicros(enter), fromMicros(endUS)
	return e, nil
}

func scanEntryOnly(row scanner) (Entry, error) { return scanEntry(row) }

// Tx is a transaction of the journey runner: the effects of one event or
// membership change are applied together, or not at all.
type Tx struct {
	tx  *sqldb.Tx
	now time.Time
}

// InTx runs fn in a transaction whose writes are stamped with now.
func (s *Store) InTx(ctx context.Context, now time.Time, fn func(t *Tx) error) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error { return fn(&Tx{tx: tx, now: now}) })
}

// FirstApply records a bus message as applied and reports whether it was
// new; a false answer means a redelivery whose effects are already stored.
func (t *Tx) FirstApply(ctx context.Context, workspaceID, messageID string) (bool, error) {
	res, err := t.tx.ExecPrepared(ctx, `INSERT INTO applied_messages (workspace_id, message_id, apply_time) VALUES ($1, $2, $3)
		ON CONFLICT DO NOTHING`, workspaceID, messageID, micros(t.now))
	if err != nil {
		return false, fmt.Errorf("record message %q applied: %w", messageID, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// LiveEntries returns the customer's entries in progress in id order, the
// order they are written in and LiveEntriesOf locks them in.
func (t *Tx) LiveEntries(ctx context.Context, workspaceID, customerID string) ([]Entry, error) {
	rows, err := t.tx.QueryPrepared(ctx, `SELECT `+entryColumns+` FROM entries e
		WHERE e.workspace_id = $1 AND e.customer_id = $2 AND e.state = 'in_progress'
		ORDER BY e.entry_id`, workspaceID, customerID)
	if err != nil {
		return nil, fmt.Errorf("select live entries: %w", err)
	}
	es, err := collect(rows, scanEntryOnly)
	if err != nil {
		return nil, fmt.Errorf("select live entries: %w", err)
	}
	return es, nil
}

// LastEntry returns the customer's latest entry into the journey (ok false
// when none).
func (t *Tx) LastEntry(ctx context.Context, workspaceID, journeyID, customerID string) (Entry, bool, error) {
	e, err := scanEntry(t.tx.QueryRowPrepared(ctx, `SELECT `+entryColumns+` FROM entries e
		WHERE e.workspace_id = $1 AND e.journey_id = $2 AND e.customer_id = $3
		ORDER BY e.entry_number DESC LIMIT 1`, workspaceID, journeyID, customerID))
	if errors.Is(err, sql.ErrNoRows) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("select last entry: %w", err)
	}
	return e, true, nil
}

// InsertEntry adds e unless the customer already has an entry in progress
// or one with the same number, and reports whether it did.
func (t *Tx) InsertEntry(ctx context.Context, e Entry) (bool, error) {
	res, err := t.tx.ExecPrepared(ctx, `INSERT INTO entries
		(workspace_id, entry_id, journey_id, customer_id, entry_number, state, step_id, due_time, event, enter_time)
		VALUES ($1, $2, $3, $4, $5, 'in_progress', $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
		e.WorkspaceID, e.ID, e.JourneyID, e.CustomerID, e.Number, e.StepID, micros(e.DueTime), e.Event, micros(e.EnterTime))
	if err != nil {
		return false, fmt.Errorf("insert entry: %w", err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// EndEntry completes (reason "") or exits an entry in progress and skips
// its queued sends.
func (t *Tx) EndEntry(ctx context.Context, e Entry, reason, errText string) error {
	state := EntryCompleted
	if reason != "" {
		state = EntryExited
	}
	if _, err := t.tx.ExecPrepared(ctx, `UPDATE entries SET state = $3, exit_reason = $4, error = $5, end_time = $6,
		due_time = 0, waiting = FALSE, lease_token = ''
		WHERE workspace_id = $1 AND entry_id = $2 AND state = 'in_progress'`,
		e.WorkspaceID, e.ID, state, reason, storable(errText), micros(t.now)); err != nil {
		return fmt.Errorf("end entry %q: %w", e.ID, err)
	}
	if _, err := t.tx.ExecPrepared(ctx, `UPDATE sends SET status = 'skipped', reason = 'ENTRY_ENDED', lease_token = ''
		WHERE workspace_id = $1 AND entry_id = $2 AND status IN ('pending', 'deferred')`, e.WorkspaceID, e.ID); err != nil {
		return fmt.Errorf("skip sends of entry %q: %w", e.ID, err)
	}
	return nil
}

// MoveEntry sets an entry in progress to run stepID now (a waitFor whose
// condition was met). Its lease is cleared so the runner claims it at once.
func (t *Tx) MoveEntry(ctx context.Context, e Entry, stepID string) error {
	if _, err := t.tx.ExecPrepared(ctx, `UPDATE entries SET step_id = $3, waiting = FALSE, due_time = $4, lease_until = 0, lease_token = ''
		WHERE workspace_id = $1 AND entry_id = $2 AND state = 'in_progress'`, e.WorkspaceID, e.ID, stepID, micros(t.now)); err != nil {
		return fmt.Errorf("move entry %q: %w", e.ID, err)
	}
	return nil
}

// EnrollRuns enters customers into a broadcast (entry number 1) where
// they stand after their first run, skipping those already in it, and
// queues the sends of those who entered. A run with neither End nor
// Waiting and a due time is an entry the runner has still to run. It
// returns how many entered.
//
// Enrolling the result of the first run, instead of a due entry the
// runner claims and saves, spares a broadcast two writes per customer.
//
// The entries go in key order (workspace, customer, journey), as
// InsertEntries writes them, not the caller's: two replicas enrolling the
// same customers would otherwise wait on each other's uncommitted entries,
// a deadlock on PostgreSQL.
func (s *Store) EnrollRuns(ctx context.Context, now time.Time, runs []Run) (int, error) {
	runs = slices.SortedStableFunc(slices.Values(runs), func(a, b Run) int {
		return cmp.Or(strings.Compare(a.Entry.WorkspaceID, b.Entry.WorkspaceID), strings.Compare(a.Entry.CustomerID, b.Entry.CustomerID),
			strings.Compare(a.Entry.JourneyID, b.Entry.JourneyID))
	})
	total := 0
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		total = 0
		for start := 0; start < len(runs); start += insertBatch {
			batch := runs[start:min(start+insertBatch, len(runs))]
			const cols = 15
			args := make([]any, 0, len(batch)*cols)
			for _, r := range batch {
				e, state, end, due := r.Entry, EntryInProgress, int64(0), r.DueTime
				if r.End != "" {
					state, end, due = r.End, micros(now), time.Time{}
				}
				args = append(args, e.WorkspaceID, e.ID, e.JourneyID, e.CustomerID, 1, state, r.StepID, r.Waiting,
					micros(due), e.Event, micros(e.EnterTime), end, r.ExitReason, storable(r.Error), r.Variant)
			}
			rows, err := tx.QueryContext(ctx, `INSERT INTO entries (workspace_id, entry_id, journey_id, customer_id, entry_number, state,
				step_id, waiting, due_time, event, enter_time, end_time, exit_reason, error, variant)
				VALUES `+tx.Dialect.Rows(len(batch), cols)+` ON CONFLICT DO NOTHING RETURNING entry_id`, args...)
			if err != nil {
				return fmt.Errorf("insert broadcast entries: %w", err)
			}
			entered, err := collect(rows, func(r scanner) (string, error) {
				var id string
				err := r.Scan(&id)
				return id, err
			})
			if err != nil {
				return fmt.Errorf("insert broadcast entries: %w", err)
			}
			total += len(entered)
			in := make(map[string]bool, len(entered))
			for _, id := range entered {
				in[id] = true
			}
			var sends []Send
			var assigned []Assignment
			for _, r := range batch {
				if in[r.Entry.ID] {
					sends = append(sends, r.Sends...)
					assigned = append(assigned, r.Assignments...)
				}
			}
			if err := insertAssignments(ctx, tx, now, assigned); err != nil {
				return err
			}
			if err := insertSends(ctx, tx, sends); err != nil {
				return err
			}
		}
		return nil
	})
	return total, err
}

// ClaimDueEntries leases up to limit entries in progress of active
// journeys whose current step is due.
func (s *Store) ClaimDueEntries(ctx context.Context, now, leaseUntil time.Time, token string, limit int) ([]Entry, error) {
	// Same shape as ClaimDue of deliveries: see there for why the outer
	// WHERE repeats the condition and what SKIP LOCKED does.
	skipLocked := ""
	if s.db.Dialect == sqldb.Postgres {
		skipLocked = " FOR UPDATE OF e SKIP LOCKED"
	}
	// In a transaction, like every write here, so on SQLite it waits for
	// the writer lock in Go rather than in SQLite's sleeping busy handler.
	var es []Entry
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE entries SET lease_until = $2, lease_token = $3
	WHERE state = 'in_progress' AND due_time <= $1 AND lease_until <= $1
	AND (workspace_id, entry_id) IN (
		SELECT e.workspace_id, e.entry_id FROM entries e
		JOIN journeys j ON j.workspace_id = e.workspace_id AND j.journey_id = e.journey_id
		WHERE e.state = 'in_progress' AND e.due_time <= $1 AND e.due_time > 0 AND e.lease_until <= $1 AND j.state = 'active'
		ORDER BY e.due_time LIMIT $4`+skipLocked+`)
	RETURNING `+strings.ReplaceAll(entryColumns, "e.", ""),
			micros(now), micros(leaseUntil), token, limit)
		if err != nil {
			return err
		}
		es, err = collect(rows, scanEntryOnly)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim entries: %w", err)
	}
	return es, nil
}

// Run is what running an entry's steps produced: where it now stands and
// the sends it queued.
type Run struct {
	Entry Entry // as claimed (its LeaseToken guards the write)
	// StepID, Waiting and DueTime: where the entry stands, when still in
	// progress.
	StepID  string
	Waiting bool
	DueTime time.Time
	// End: "" keeps it in progress; EntryCompleted or EntryExited end it.
	End        string
	ExitReason string
	Error      string
	Sends      []Send
	// Variant, when set, is recorded on an entry that has none yet.
	Variant string
	// Assignments made by this run, recorded unless already there.
	Assignments []Assignment
}

// SaveRuns stores runs in one transaction. A run whose lease was lost (the
// entry was moved by an event or claimed again) is dropped with its sends;
// the entry's new owner runs it. It returns how many runs were stored.
func (s *Store) SaveRuns(ctx context.Context, now time.Time, runs []Run) (int, error) {
	saved := 0
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		saved = 0
		// Prepared once per batch: parsing the statement per run costs more
		// than running it.
		move, err := tx.PrepareContext(ctx, `UPDATE entries SET step_id = $4, waiting = $5, due_time = $6, lease_until = 0, lease_token = '',
			variant = CASE WHEN variant = '' THEN $7 ELSE variant END
			WHERE workspace_id = $1 AND entry_id = $2 AND lease_token = $3 AND state = 'in_progress'`)
		if err != nil {
			return fmt.Errorf("prepare entry update: %w", err)
		}
		defer move.Close()
		end, err := tx.PrepareContext(ctx, `UPDATE entries SET state = $4, step_id = $5, exit_reason = $6, error = $7, end_time = $8,
			waiting = FALSE, due_time = 0, lease_until = 0, lease_token = '',
			variant = CASE WHEN variant = '' THEN $9 ELSE variant END
			WHERE workspace_id = $1 AND entry_id = $2 AND lease_token = $3 AND state = 'in_progress'`)
		if err != nil {
			return fmt.Errorf("prepare entry end: %w", err)
		}
		defer end.Close()
		var sends []Send
		var assigned []Assignment
		for _, r := range runs {
			e := r.Entry
			var res sql.Result
			if r.End == "" {
				res, err = move.ExecContext(ctx, e.WorkspaceID, e.ID, e.LeaseToken, r.StepID, r.Waiting, micros(r.DueTime), r.Variant)
			} else {
				res, err = end.ExecContext(ctx, e.WorkspaceID, e.ID, e.LeaseToken, r.End, r.StepID, r.ExitReason, storable(r.Error), micros(now), r.Variant)
			}
			if err != nil {
				return fmt.Errorf("save entry %q: %w", e.ID, err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				saved++
				sends = append(sends, r.Sends...)
				assigned = append(assigned, r.Assignments...)
			}
		}
		if err := insertAssignments(ctx, tx, now, assigned); err != nil {
			return err
		}
		return insertSends(ctx, tx, sends)
	})
	return saved, err
}

func insertSends(ctx context.Context, tx *sqldb.Tx, sends []Send) error {
	const cols = 16
	for start := 0; start < len(sends); start += insertBatch {
		batch := sends[start:min(start+insertBatch, len(sends))]
		args := make([]any, 0, len(batch)*cols)
		for _, sd := range batch {
			status := sd.Status
			if status == "" {
				status = SendPending
			}
			args = append(args, sd.WorkspaceID, sd.ID, sd.JourneyID, sd.EntryID, sd.CustomerID, sd.EntryNumber, sd.StepID,
				sd.ChannelID, sd.ChannelType, sd.Transactional, status, micros(sd.CreateTime), micros(sd.PlannedTime), sd.Late,
				sd.Reason, sd.Variant)
		}
		q := `INSERT INTO sends (workspace_id, send_id, journey_id, entry_id, customer_id, entry_number, step_id,
			channel_id, channel_type, transactional, status, create_time, planned_time, late, reason, variant)
			VALUES ` + tx.Dialect.Rows(len(batch), cols) + ` ON CONFLICT DO NOTHING`
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("insert sends: %w", err)
		}
	}
	return nil
}

// ListCustomerEntries returns up to limit entries of the customer, newest
// first, after the entry id after, with their journey's name.
func (s *Store) ListCustomerEntries(ctx context.Context, workspaceID, customerID, after string, limit int) ([]Entry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+entryColumns+`, COALESCE(j.display_name, '') FROM entries e
		LEFT JOIN journeys j ON j.workspace_id = e.workspace_id AND j.journey_id = e.journey_id
		WHERE e.workspace_id = $1 AND e.customer_id = $2 AND ($3 = '' OR e.entry_id < $3)
		ORDER BY e.entry_id DESC LIMIT $4`, workspaceID, customerID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("select customer entries: %w", err)
	}
	es, err := collect(rows, func(r scanner) (Entry, error) {
		var name string
		e, err := scanEntry(r, &name)
		e.JourneyName = name
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("select customer entries: %w", err)
	}
	return es, nil
}

// JourneyStats counts a journey's entries and sends.
type JourneyStats struct {
	Entered, Active, Completed, Exited int64
	ActiveByStep                       map[string]int64
	ExitedByReason                     map[string]int64
	// Sends counts by channel type, status and reason.
	Sends []SendCount
}

// SendCount is one group of JourneyStats.Sends.
type SendCount struct {
	ChannelType, Status, Reason string
	Count                       int64
}

// Stats counts a journey's entries by state, step and exit reason, and its
// sends by channel type, status and reason.
func (s *Store) Stats(ctx context.Context, workspaceID, journeyID string) (JourneyStats, error) {
	st := JourneyStats{ActiveByStep: map[string]int64{}, ExitedByReason: map[string]int64{}}
	rows, err := s.db.QueryContext(ctx, `SELECT state, step_id, exit_reason, COUNT(*) FROM entries
		WHERE workspace_id = $1 AND journey_id = $2 GROUP BY state, step_id, exit_reason`, workspaceID, journeyID)
	if err != nil {
		return st, fmt.Errorf("count entries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var state, step, reason string
		var n int64
		if err := rows.Scan(&state, &step, &reason, &n); err != nil {
			return st, fmt.Errorf("count entries: %w", err)
		}
		st.Entered += n
		switch state {
		case EntryInProgress:
			st.Active += n
			st.ActiveByStep[step] += n
		case EntryCompleted:
			st.Completed += n
		case EntryExited:
			st.Exited += n
			st.ExitedByReason[reason] += n
		}
	}
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("count entries: %w", err)
	}
	srows, err := s.db.QueryContext(ctx, `SELECT channel_type, status, reason, COUNT(*) FROM sends
		WHERE workspace_id = $1 AND journey_id = $2 GROUP BY channel_type, status, reason ORDER BY channel_type, status, reason`, workspaceID, journeyID)
	if err != nil {
		return st, fmt.Errorf("count sends: %w", err)
	}
	st.Sends, err = collect(srows, func(r scanner) (SendCount, error) {
		var c SendCount
		err := r.Scan(&c.ChannelType, &c.Status, &c.Reason, &c.Count)
		return c, err
	})
	if err != nil {
		return st, fmt.Errorf("count sends: %w", err)
	}
	return st, nil
}

// MoveEntries gives the survivor of a merge the journey entries of the
// customers merged into it, with their sends, so the survivor continues
// their journeys, re-entry rules see their history and frequency caps
// count their messages. Moved entries are numbered after the survivor's
// own in each journey. An entry in progress in a journey the survivor is
// also in progress in is ended (PROFILE_GONE) before it moves: one
// customer runs a journey once at a time. It returns how many entries
// moved.
func (t *Tx) MoveEntries(ctx context.Context, workspaceID, survivor string, merged []string) (int, error) {
	if len(merged) == 0 {
		return 0, nil
	}
	in, args := t.tx.Dialect.InList(2, merged)
	rows, err := t.tx.QueryContext(ctx, `SELECT `+entryColumns+` FROM entries e
		WHERE e.workspace_id = $1 AND e.customer_id IN (`+in+`) ORDER BY e.enter_time, e.entry_id`,
		append([]any{workspaceID}, args...)...)
	if err != nil {
		return 0, fmt.Errorf("select entries of merged customers: %w", err)
	}
	es, err := collect(rows, scanEntryOnly)
	if err != nil {
		return 0, fmt.Errorf("select entries of merged customers: %w", err)
	}
	next := map[string]int{}  // journey → the survivor's next entry number
	live := map[string]bool{} // journey → the survivor has an entry in progress
	for _, e := range es {
		if _, seen := next[e.JourneyID]; !seen {
			var n int64
			var inProgress bool
			if err := t.tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(entry_number), 0),
				COALESCE(MAX(CASE WHEN state = 'in_progress' THEN 1 ELSE 0 END), 0) = 1
				FROM entries WHERE workspace_id = $1 AND journey_id = $2 AND customer_id = $3`,
				workspaceID, e.JourneyID, survivor).Scan(&n, &inProgress); err != nil {
				return 0, fmt.Errorf("number survivor's entries: %w", err)
			}
			next[e.JourneyID], live[e.JourneyID] = int(n)+1, inProgress
		}
		if e.State == EntryInProgress {
			if live[e.JourneyID] {
				if err := t.EndEntry(ctx, e, campaignv1.ExitReason_PROFILE_GONE.String(), "merged into "+survivor); err != nil {
					return 0, err
				}
			} else {
				live[e.JourneyID] = true
			}
		}
		n := next[e.JourneyID]
		next[e.JourneyID]++
		if _, err := t.tx.ExecContext(ctx, `UPDATE entries SET customer_id = $3, entry_number = $4
			WHERE workspace_id = $1 AND entry_id = $2`, workspaceID, e.ID, survivor, n); err != nil {
			return 0, fmt.Errorf("move entry %q: %w", e.ID, err)
		}
		if _, err := t.tx.ExecContext(ctx, `UPDATE sends SET customer_id = $3, entry_number = $4
			WHERE workspace_id = $1 AND entry_id = $2`, workspaceID, e.ID, survivor, n); err != nil {
			return 0, fmt.Errorf("move sends of entry %q: %w", e.ID, err)
		}
	}
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO assignments (workspace_id, journey_id, customer_id, unit, variant, assign_time)
		SELECT workspace_id, journey_id, $2, unit, variant, assign_time FROM assignments
		WHERE workspace_id = $1 AND customer_id IN (`+t.tx.Dialect.Placeholders(3, len(merged))+`)
		ORDER BY assign_time
		ON CONFLICT DO NOTHING`, append([]any{workspaceID, survivor}, args...)...); err != nil {
		return 0, fmt.Errorf("move assignments to %q: %w", survivor, err)
	}
	return len(es), nil
}

// AppliedKey names a bus message for FirstApplyMany.
type AppliedKey struct{ WorkspaceID, MessageID string }

// FirstApplyMany is FirstApply for many messages in a few multi-row
// statements; it returns the keys that were new. The keys are inserted in
// key order, not the batch's: two batches holding the same messages (a
// redelivery while the first is in flight) would otherwise wait on each
// other's uncommitted keys, a deadlock.
func (t *Tx) FirstApplyMany(ctx context.Context, keys []AppliedKey) (map[AppliedKey]bool, error) {
	keys = slices.SortedFunc(slices.Values(keys), func(a, b AppliedKey) int {
		return cmp.Or(strings.Compare(a.WorkspaceID, b.WorkspaceID), strings.Compare(a.MessageID, b.MessageID))
	})
	out := make(map[AppliedKey]bool, len(keys))
	err := t.tx.QueryRows(ctx, `INSERT INTO applied_messages (workspace_id, message_id, apply_time)`,
		`ON CONFLICT DO NOTHING RETURNING workspace_id, message_id`, 3, len(keys),
		func(args []any, i int) ([]any, error) {
			return append(args, keys[i].WorkspaceID, keys[i].MessageID, micros(t.now)), nil
		},
		func(row sqldb.RowScanner) error {
			var k AppliedKey
			err := row.Scan(&k.WorkspaceID, &k.MessageID)
			out[k] = true
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("record %d messages applied: %w", len(keys), err)
	}
	return out, nil
}

// LiveEntriesOf returns the entries in progress of customers, sorted, and
// on PostgreSQL locks them in that order (customer, then entry id): a
// batch of messages then ends or moves them in message order without
// deadlocking with a batch of the other consumer, which locked them in
// the same order. SQLite's writers are serial anyway.
func (t *Tx) LiveEntriesOf(ctx context.Context, workspaceID string, customers []string) ([]Entry, error) {
	customers = slices.Sorted(slices.Values(customers))
	lock := ""
	if t.tx.Dialect == sqldb.Postgres {
		lock = " FOR UPDATE"
	}
	var out []Entry
	err := t.tx.QueryIn(ctx, `SELECT `+entryColumns+` FROM entries e
		WHERE e.workspace_id = $1 AND e.state = 'in_progress' AND e.customer_id IN (%s)
		ORDER BY `+t.tx.Dialect.ByteOrder("e.customer_id", "e.entry_id")+lock, []any{workspaceID}, customers,
		func(row sqldb.RowScanner) error {
			e, err := scanEntryOnly(row)
			out = append(out, e)
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("select live entries: %w", err)
	}
	return out, nil
}

// JourneyCustomer keys LastEntries.
type JourneyCustomer struct{ JourneyID, CustomerID string }

// LastEntries returns the latest entry of each of customers into each of
// journeys that has one.
func (t *Tx) LastEntries(ctx context.Context, workspaceID string, journeys, customers []string) (map[JourneyCustomer]Entry, error) {
	out := map[JourneyCustomer]Entry{}
	if len(journeys) == 0 {
		return out, nil
	}
	for start := 0; start < len(customers); start += 500 {
		batch := customers[start:min(start+500, len(customers))]
		js := t.tx.Dialect.Placeholders(2, len(journeys))
		cs := t.tx.Dialect.Placeholders(2+len(journeys), len(batch))
		args := []any{workspaceID}
		for _, j := range journeys {
			args = append(args, j)
		}
		for _, c := range batch {
			args = append(args, c)
		}
		rows, err := t.tx.QueryContext(ctx, `SELECT `+entryColumns+` FROM entries e
			WHERE e.workspace_id = $1 AND e.journey_id IN (`+js+`) AND e.customer_id IN (`+cs+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("select last entries: %w", err)
		}
		es, err := collect(rows, scanEntryOnly)
		if err != nil {
			return nil, fmt.Errorf("select last entries: %w", err)
		}
		for _, e := range es {
			k := JourneyCustomer{e.JourneyID, e.CustomerID}
			if last, ok := out[k]; !ok || e.Number > last.Number {
				out[k] = e
			}
		}
	}
	return out, nil
}

// InsertEntries is InsertEntry for many entries in one statement; it
// returns how many were inserted. The rows go in key order (workspace,
// customer, journey, number), not the caller's: two batches entering the
// same customers into a journey would otherwise wait on each other's
// uncommitted entries (one entry in progress per customer and journey), a
// deadlock on PostgreSQL.
func (t *Tx) InsertEntries(ctx context.Context, es []Entry) (int, error) {
	es = slices.SortedStableFunc(slices.Values(es), func(a, b Entry) int {
		return cmp.Or(strings.Compare(a.WorkspaceID, b.WorkspaceID), strings.Compare(a.CustomerID, b.CustomerID),
			strings.Compare(a.JourneyID, b.JourneyID), cmp.Compare(a.Number, b.Number))
	})
	total := 0
	const cols = 10
	for start := 0; start < len(es); start += insertBatch {
		batch := es[start:min(start+insertBatch, len(es))]
		args := make([]any, 0, len(batch)*cols)
		for _, e := range batch {
			args = append(args, e.WorkspaceID, e.ID, e.JourneyID, e.CustomerID, e.Number, EntryInProgress, e.StepID,
				micros(e.DueTime), e.Event, micros(e.EnterTime))
		}
		res, err := t.tx.ExecContext(ctx, `INSERT INTO entries (workspace_id, entry_id, journey_id, customer_id, entry_number, state,
			step_id, due_time, event, enter_time) VALUES `+t.tx.Dialect.Rows(len(batch), cols)+` ON CONFLICT DO NOTHING`, args...)
		if err != nil {
			return total, fmt.Errorf("insert entries: %w", err)
		}
		n, _ := res.RowsAffected()
		total += int(n)
	}
	return total, nil
}
