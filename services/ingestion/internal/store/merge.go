package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/consent"
	"github.com/kizuna/kizuna/services/ingestion/internal/customer"
	"github.com/kizuna/kizuna/services/ingestion/internal/identity"
	"github.com/kizuna/kizuna/services/ingestion/internal/tracking"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// redirect is a customer row's merged_into before a merge changed it.
type redirect struct {
	ID         string `json:"id"`
	MergedInto string `json:"merged_into"`
}

// Merge folds m.MergedIDs into m.SurvivorID: their identities and events
// move to the survivor, they stay behind as redirects, and the survivor
// takes the most recently received value of every trait, their counters
// added up, and its own user id (else a merged customer's). What moved is
// recorded so that Undo can put it back. All customers must exist and be
// live (not merged away).
func (t *Tx) Merge(ctx context.Context, ws string, m customer.Merge) (customer.Merge, error) {
	// A merge reads and moves events, identities and counters in SQL.
	if err := t.flush(ctx); err != nil {
		return customer.Merge{}, err
	}
	t.w.forgetCustomers()
	for _, id := range m.MergedIDs {
		delete(t.w.locked, wsKey(ws, id))
	}
	for k, owner := range t.w.events {
		if strings.HasPrefix(k, ws+"\x00") && slices.Contains(m.MergedIDs, owner) {
			t.w.events[k] = m.SurvivorID
		}
	}
	if err := t.LockCustomers(ctx, ws, append([]string{m.SurvivorID}, m.MergedIDs...)); err != nil {
		return customer.Merge{}, err
	}
	survivor, err := t.liveCustomer(ctx, ws, m.SurvivorID)
	if err != nil {
		return customer.Merge{}, err
	}
	profile, err := survivor.profile()
	if err != nil {
		return customer.Merge{}, err
	}
	var redirects []redirect
	for _, id := range m.MergedIDs {
		if err := customer.CheckMergeInto(m.SurvivorID, id); err != nil {
			return customer.Merge{}, err
		}
		merged, err := t.liveCustomer(ctx, ws, id)
		if err != nil {
			return customer.Merge{}, err
		}
		mp, err := merged.profile()
		if err != nil {
			return customer.Merge{}, err
		}
		profile.Absorb(mp)
		rows, err := t.tx.QueryContext(ctx, `SELECT customer_id, merged_into FROM customers WHERE workspace_id = $1 AND (customer_id = $2 OR merged_into = $2)
			ORDER BY customer_id`, ws, id) // the record is the same however the rows are found
		if err != nil {
			return customer.Merge{}, fmt.Errorf("read redirects to %s: %w", id, err)
		}
		for rows.Next() {
			var r redirect
			if err := rows.Scan(&r.ID, &r.MergedInto); err != nil {
				rows.Close()
				return customer.Merge{}, fmt.Errorf("scan redirect: %w", err)
			}
			redirects = append(redirects, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return customer.Merge{}, fmt.Errorf("read redirects to %s: %w", id, err)
		}
		if _, err := t.tx.ExecContext(ctx, `INSERT INTO merge_identities (workspace_id, merge_id, kind, value, customer_id)
			SELECT workspace_id, $2, kind, value, customer_id FROM identities WHERE workspace_id = $1 AND customer_id = $3`, ws, m.ID, id); err != nil {
			return customer.Merge{}, fmt.Errorf("record identities of %s: %w", id, err)
		}
		res, err := t.tx.ExecContext(ctx, `INSERT INTO merge_events (workspace_id, merge_id, event_id, customer_id)
			SELECT workspace_id, $2, event_id, customer_id FROM events WHERE workspace_id = $1 AND customer_id = $3`, ws, m.ID, id)
		if err != nil {
			return customer.Merge{}, fmt.Errorf("record events of %s: %w", id, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return customer.Merge{}, fmt.Errorf("record events of %s: %w", id, err)
		}
		m.MovedEvents += n
		for _, q := range []string{
			`UPDATE identities SET customer_id = $3 WHERE workspace_id = $1 AND customer_id = $2`,
			`UPDATE events SET customer_id = $3 WHERE workspace_id = $1 AND customer_id = $2`,
			`UPDATE customers SET merged_into = $3 WHERE workspace_id = $1 AND (customer_id = $2 OR merged_into = $2)`,
		} {
			if _, err := t.tx.ExecContext(ctx, q, ws, id, m.SurvivorID); err != nil {
				return customer.Merge{}, fmt.Errorf("merge %s into %s: %w", id, m.SurvivorID, err)
			}
		}
	}
	if err := t.writeProfile(ctx, ws, m.SurvivorID, profile, m.Time); err != nil {
		return customer.Merge{}, err
	}
	ids, err := json.Marshal(m.MergedIDs)
	if err != nil {
		return customer.Merge{}, fmt.Errorf("encode merged ids: %w", err)
	}
	rj, err := json.Marshal(redirects)
	if err != nil {
		return customer.Merge{}, fmt.Errorf("encode redirects: %w", err)
	}
	m.State = customer.MergeApplied
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO merges (workspace_id, merge_id, survivor_id, merged_ids, merge_time, source, state, suggestion_id, redirects, moved_events)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		ws, m.ID, m.SurvivorID, string(ids), micros(m.Time), string(m.Source), m.State, m.SuggestionID, string(rj), m.MovedEvents); err != nil {
		return customer.Merge{}, fmt.Errorf("record merge: %w", err)
	}
	return m, nil
}

// Undo reverses an applied merge: the merged customers get back their
// redirects, and events and identities go where customer.Reassign decides
// (what the merge moved, and events that reached the survivor since, by
// their identities). Traits and counters of every customer involved are
// then recomputed from their events. customer.CheckUndo and
// customer.CheckSurvivorLive say which merges can be undone.
func (t *Tx) Undo(ctx context.Context, ws, mergeID string, now time.Time) (customer.Undone, error) {
	if err := t.flush(ctx); err != nil {
		return customer.Undone{}, err
	}
	t.w.forgetCustomers()
	clear(t.w.locked)
	clear(t.w.events)
	m, redirects, err := t.merge(ctx, ws, mergeID)
	if err != nil {
		return customer.Undone{}, err
	}
	if err := customer.CheckUndo(m, len(redirects) > 0); err != nil {
		return customer.Undone{}, err
	}
	if err := t.LockCustomers(ctx, ws, append([]string{m.SurvivorID}, m.MergedIDs...)); err != nil {
		return customer.Undone{}, err
	}
	survivor, err := t.customer(ctx, ws, m.SurvivorID)
	if err != nil {
		return customer.Undone{}, err
	}
	if err := customer.CheckSurvivorLive(m.SurvivorID, survivor.mergedInto); err != nil {
		return customer.Undone{}, err
	}
	st, err := t.undoState(ctx, ws, m)
	if err != nil {
		return customer.Undone{}, err
	}
	plan := customer.Reassign(st)

	for _, r := range redirects {
		if _, err := t.tx.ExecContext(ctx, `UPDATE customers SET merged_into = $3 WHERE workspace_id = $1 AND customer_id = $2 AND merged_into = $4`,
			ws, r.ID, r.MergedInto, m.SurvivorID); err != nil {
			return customer.Undone{}, fmt.Errorf("restore redirect of %s: %w", r.ID, err)
		}
	}
	for owner, ids := range plan.Events {
		if err := t.moveEvents(ctx, ws, ids, owner); err != nil {
			return customer.Undone{}, err
		}
	}
	for owner, keys := range plan.Identities {
		if err := t.moveIdentities(ctx, ws, keys, owner); err != nil {
			return customer.Undone{}, err
		}
	}
	out := customer.Undone{Merge: m}
	for _, id := range append([]string{m.SurvivorID}, m.MergedIDs...) {
		snap, err := t.refresh(ctx, ws, id, now)
		if err != nil {
			return customer.Undone{}, err
		}
		snap.EventIDs = plan.Events[id]
		if id == m.SurvivorID {
			out.Survivor = snap
		} else {
			out.Restored = append(out.Restored, snap)
		}
	}
	if err := t.recordUndo(ctx, ws, m, now); err != nil {
		return customer.Undone{}, err
	}
	out.Merge.State, out.Merge.UndoTime = customer.MergeUndone, now
	return out, nil
}

// undoState reads what customer.Reassign decides an undo of m from.
func (t *Tx) undoState(ctx context.Context, ws string, m customer.Merge) (customer.UndoState, error) {
	st := customer.UndoState{Merge: m, MovedIdentities: map[identity.Key]string{}}
	// What the merge moved and is still with the survivor goes back.
	moved, err := t.pairs(ctx, `SELECT me.event_id, me.customer_id FROM merge_events me
		JOIN events e ON e.workspace_id = me.workspace_id AND e.event_id = me.event_id
		WHERE me.workspace_id = $1 AND me.merge_id = $2 AND e.customer_id = $3`, ws, m.ID, m.SurvivorID)
	if err != nil {
		return st, fmt.Errorf("read moved events: %w", err)
	}
	for _, p := range moved {
		st.MovedEvents = append(st.MovedEvents, customer.EventMove{EventID: p[0], CustomerID: p[1]})
	}
	rows, err := t.tx.QueryContext(ctx, `SELECT mi.kind, mi.value, mi.customer_id FROM merge_identities mi
		JOIN identities i ON i.workspace_id = mi.workspace_id AND i.kind = mi.kind AND i.value = mi.value
		WHERE mi.workspace_id = $1 AND mi.merge_id = $2 AND i.customer_id = $3`, ws, m.ID, m.SurvivorID)
	if err != nil {
		return st, fmt.Errorf("read moved identities: %w", err)
	}
	for rows.Next() {
		var k identity.Key
		var owner string
		if err := rows.Scan(&k.Kind, &k.Value, &owner); err != nil {
			rows.Close()
			return st, fmt.Errorf("scan moved identity: %w", err)
		}
		st.MovedIdentities[k] = owner
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, fmt.Errorf("read moved identities: %w", err)
	}
	if st.SurvivorIdentities, err = t.survivorIdentities(ctx, ws, m.SurvivorID); err != nil {
		return st, err
	}
	if st.Later, err = t.eventsSince(ctx, ws, m.SurvivorID, m.Time); err != nil {
		return st, err
	}
	if st.Region, err = t.PhoneRegion(ctx, ws); err != nil {
		return st, err
	}
	return st, nil
}

// recordUndo marks m undone. Undoing a merge says the customers are
// different people: later scans must neither suggest nor merge the pairs
// again.
func (t *Tx) recordUndo(ctx context.Context, ws string, m customer.Merge, now time.Time) error {
	if _, err := t.tx.ExecContext(ctx, `UPDATE merges SET state = $3, undo_time = $4 WHERE workspace_id = $1 AND merge_id = $2`,
		ws, m.ID, customer.MergeUndone, micros(now)); err != nil {
		return fmt.Errorf("record undo: %w", err)
	}
	if m.SuggestionID != "" {
		if _, err := t.tx.ExecContext(ctx, `UPDATE merge_suggestions SET state = $3, decide_time = $4 WHERE workspace_id = $1 AND suggestion_id = $2`,
			ws, m.SuggestionID, customer.SuggestionRejected, micros(now)); err != nil {
			return fmt.Errorf("reject suggestion %s: %w", m.SuggestionID, err)
		}
	}
	for i, id := range m.MergedIDs {
		if err := t.rejectPair(ctx, ws, fmt.Sprintf("sug_%s_%d", m.ID, i), m.SurvivorID, id, now); err != nil {
			return err
		}
	}
	return nil
}

// maxInList bounds the ids bound into one IN (...) list.
const maxInList = 500

func (t *Tx) moveEvents(ctx context.Context, ws string, ids []string, owner string) error {
	for len(ids) > 0 {
		n := min(len(ids), maxInList)
		args := []any{ws, owner}
		for _, id := range ids[:n] {
			args = append(args, id)
		}
		if _, err := t.tx.ExecContext(ctx, `UPDATE events SET customer_id = $2 WHERE workspace_id = $1 AND event_id IN (`+sqldb.Placeholders(3, n)+`)`, args...); err != nil {
			return fmt.Errorf("move events to %s: %w", owner, err)
		}
		ids = ids[n:]
	}
	return nil
}

func (t *Tx) moveIdentities(ctx context.Context, ws string, keys []identity.Key, owner string) error {
	for len(keys) > 0 {
		n := min(len(keys), maxInList)
		args := []any{ws, owner}
		var pairs strings.Builder
		for i, k := range keys[:n] {
			if i > 0 {
				pairs.WriteString(", ")
			}
			fmt.Fprintf(&pairs, "($%d, $%d)", len(args)+1, len(args)+2)
			args = append(args, k.Kind, k.Value)
		}
		if _, err := t.tx.ExecContext(ctx, `UPDATE identities SET customer_id = $2 WHERE workspace_id = $1 AND (kind, value) IN (`+pairs.String()+`)`, args...); err != nil {
			return fmt.Errorf("move identities to %s: %w", owner, err)
		}
		keys = keys[n:]
	}
	return nil
}

// survivorIdentities returns the identities a customer holds with the time
// each was attached.
func (t *Tx) survivorIdentities(ctx context.Context, ws, customerID string) (map[identity.Key]time.Time, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT kind, value, create_time FROM identities WHERE workspace_id = $1 AND customer_id = $2`, ws, customerID)
	if err != nil {
		return nil, fmt.Errorf("read identities of %s: %w", customerID, err)
	}
	defer rows.Close()
	since := map[identity.Key]time.Time{}
	for rows.Next() {
		var k identity.Key
		var at int64
		if err := rows.Scan(&k.Kind, &k.Value, &at); err != nil {
			return nil, fmt.Errorf("scan identity: %w", err)
		}
		since[k] = fromMicros(at)
	}
	return since, rows.Err()
}

// eventsSince returns a customer's events received at or after from, in the
// order they arrived.
func (t *Tx) eventsSince(ctx context.Context, ws, customerID string, from time.Time) ([]customer.Event, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT event_id, type, user_id, anonymous_id, traits, context FROM events
		WHERE workspace_id = $1 AND customer_id = $2 AND receive_time >= $3 ORDER BY receive_time, event_id`,
		ws, customerID, micros(from))
	if err != nil {
		return nil, fmt.Errorf("read events since merge: %w", err)
	}
	defer rows.Close()
	var out []customer.Event
	for rows.Next() {
		var e customer.Event
		var traits, ctxJSON string
		if err := rows.Scan(&e.EventID, &e.Type, &e.UserID, &e.AnonymousID, &traits, &ctxJSON); err != nil {
			return nil, fmt.Errorf("scan event: %w", err)
		}
		if e.Traits, err = decodeTraits(traits); err != nil {
			return nil, err
		}
		if e.Context, err = decodeTraits(ctxJSON); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (t *Tx) pairs(ctx context.Context, q string, args ...any) ([][2]string, error) {
	rows, err := t.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var p [2]string
		if err := rows.Scan(&p[0], &p[1]); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// refresh recomputes, after an undo, what a customer's profile derives from
// its events and identities: counters; traits by folding its identify calls
// in the order they were received; identity traits; and the user id, which
// stays while the customer still holds it and is otherwise the earliest
// attached.
func (t *Tx) refresh(ctx context.Context, ws, id string, now time.Time) (customer.Snapshot, error) {
	row, err := t.customer(ctx, ws, id)
	if err != nil {
		return customer.Snapshot{}, err
	}
	var first, last int64
	if err := t.tx.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MIN(event_time), 0), COALESCE(MAX(event_time), 0) FROM events
		WHERE workspace_id = $1 AND customer_id = $2`, ws, id).Scan(&row.eventCount, &first, &last); err != nil {
		return customer.Snapshot{}, fmt.Errorf("count events of %s: %w", id, err)
	}
	if row.eventCount > 0 {
		row.firstSeen, row.lastSeen = first, last
	}
	p := customer.Profile{EventCount: row.eventCount, FirstSeen: fromMicros(row.firstSeen), LastSeen: fromMicros(row.lastSeen), Traits: customer.NewTraits()}
	rows, err := t.tx.QueryContext(ctx, `SELECT traits, receive_time FROM events WHERE workspace_id = $1 AND customer_id = $2 AND type = $3
		ORDER BY receive_time, event_id`, ws, id, string(tracking.Identify))
	if err != nil {
		return customer.Snapshot{}, fmt.Errorf("read identify calls of %s: %w", id, err)
	}
	for rows.Next() {
		var s string
		var at int64
		if err := rows.Scan(&s, &at); err != nil {
			rows.Close()
			return customer.Snapshot{}, fmt.Errorf("scan traits: %w", err)
		}
		m, err := decodeTraits(s)
		if err != nil {
			rows.Close()
			return customer.Snapshot{}, err
		}
		p.Traits.Set(m, at)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return customer.Snapshot{}, fmt.Errorf("read identify calls of %s: %w", id, err)
	}
	if p.Consents, err = t.foldConsents(ctx, ws, id); err != nil {
		return customer.Snapshot{}, err
	}
	held, err := sqldb.Strings(t.tx.QueryContext(ctx, `SELECT value FROM identities WHERE workspace_id = $1 AND customer_id = $2 AND kind = $3
		ORDER BY create_time, value`, ws, id, identity.UserID))
	if err != nil {
		return customer.Snapshot{}, fmt.Errorf("read user ids of %s: %w", id, err)
	}
	p.UserID = customer.UserIDAfterUndo(row.userID, held)
	if err := t.writeProfile(ctx, ws, id, p, now); err != nil {
		return customer.Snapshot{}, err
	}
	return customer.Snapshot{ID: id, Traits: p.Traits.Values, FirstSeen: p.FirstSeen}, nil
}

// LockCustomers locks customer rows until the transaction ends, in id order
// so that two transactions cannot deadlock. On PostgreSQL this orders
// merges, undos and ingestion touching the same customers; SQLite already
// runs one writer at a time.
func (t *Tx) LockCustomers(ctx context.Context, ws string, ids []string) error {
	if err := t.syncRows(ctx); err != nil {
		return err
	}
	_, err := t.lockCustomers(ctx, ws, ids)
	return err
}

// lockCustomers locks on PostgreSQL and returns each locked customer's
// merged_into as it is once the locks are held.
func (t *Tx) lockCustomers(ctx context.Context, ws string, ids []string) (map[string]string, error) {
	if t.tx.Dialect != sqldb.Postgres || len(ids) == 0 {
		return nil, nil
	}
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	args := []any{ws}
	for _, id := range slices.Compact(sorted) {
		args = append(args, id)
	}
	rows, err := t.tx.QueryContext(ctx, `SELECT customer_id, merged_into FROM customers WHERE workspace_id = $1 AND customer_id IN (`+
		sqldb.Placeholders(2, len(args)-1)+`) ORDER BY `+t.tx.Dialect.ByteOrder("customer_id")+` FOR UPDATE`, args...)
	if err != nil {
		return nil, fmt.Errorf("lock customers: %w", err)
	}
	defer rows.Close()
	mergedInto := map[string]string{}
	for rows.Next() {
		var id, into string
		if err := rows.Scan(&id, &into); err != nil {
			return nil, fmt.Errorf("lock customers: %w", err)
		}
		mergedInto[id] = into
	}
	return mergedInto, rows.Err()
}

// LockLive locks customers and checks none was merged away meanwhile
// (ErrStale if one was).
func (t *Tx) LockLive(ctx context.Context, ws string, ids []string) error {
	if t.tx.Dialect != sqldb.Postgres {
		// One writer at a time: what this transaction read is current.
		return nil
	}
	// A customer this transaction already locked cannot have been merged
	// away since, but by this transaction, which forgets it then.
	ids = slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return t.w.locked[wsKey(ws, id)] })
	if len(ids) == 0 {
		return nil
	}
	mergedInto, err := t.lockCustomers(ctx, ws, ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		into, ok := mergedInto[id]
		if !ok {
			return fmt.Errorf("customer %q: %w", id, customer.ErrNotFound)
		}
		if into != "" {
			return fmt.Errorf("customer %s: %w", id, customer.ErrStale)
		}
		t.w.locked[wsKey(ws, id)] = true
	}
	return nil
}

// liveCustomer loads a customer that has not been merged away.
func (t *Tx) liveCustomer(ctx context.Context, ws, id string) (customerRow, error) {
	row, err := t.customer(ctx, ws, id)
	if err != nil {
		return row, err
	}
	return row, customer.CheckLive(id, row.mergedInto)
}

// LiveInfo follows merges from a customer id to the live customer it is
// now.
func (t *Tx) LiveInfo(ctx context.Context, ws, id string) (customer.LiveInfo, error) {
	if err := t.syncRows(ctx); err != nil {
		return customer.LiveInfo{}, err
	}
	return liveInfo(ctx, t.tx, ws, id)
}

// liveInfo follows merged_into from id to the live customer, reading only
// what it needs.
func liveInfo(ctx context.Context, q querier, ws, id string) (customer.LiveInfo, error) {
	for hop := 0; hop < maxRedirects; hop++ {
		var into, userID string
		var created int64
		err := q.QueryRowPrepared(ctx, `SELECT merged_into, user_id, create_time FROM customers WHERE workspace_id = $1 AND customer_id = $2`,
			ws, id).Scan(&into, &userID, &created)
		if errors.Is(err, sql.ErrNoRows) {
			return customer.LiveInfo{}, fmt.Errorf("customer %q: %w", id, customer.ErrNotFound)
		}
		if err != nil {
			return customer.LiveInfo{}, fmt.Errorf("load customer %q: %w", id, err)
		}
		if into == "" {
			return customer.LiveInfo{ID: id, UserID: userID, CreateTime: fromMicros(created)}, nil
		}
		id = into
	}
	return customer.LiveInfo{}, fmt.Errorf("customer %s: merge chain longer than %d", id, maxRedirects)
}

const mergeColumns = `merge_id, survivor_id, merged_ids, merge_time, source, state, suggestion_id, moved_events, undo_time, redirects`

func scanMerge(sc interface{ Scan(...any) error }) (customer.Merge, []redirect, error) {
	var m customer.Merge
	var ids, rj string
	var at, undo int64
	if err := sc.Scan(&m.ID, &m.SurvivorID, &ids, &at, &m.Source, &m.State, &m.SuggestionID, &m.MovedEvents, &undo, &rj); err != nil {
		return customer.Merge{}, nil, err
	}
	m.Time = fromMicros(at)
	if undo != 0 {
		m.UndoTime = fromMicros(undo)
	}
	if err := json.Unmarshal([]byte(ids), &m.MergedIDs); err != nil {
		return customer.Merge{}, nil, fmt.Errorf("decode merged ids of %s: %w", m.ID, err)
	}
	var rs []redirect
	if err := json.Unmarshal([]byte(rj), &rs); err != nil {
		return customer.Merge{}, nil, fmt.Errorf("decode redirects of %s: %w", m.ID, err)
	}
	return m, rs, nil
}

func (t *Tx) merge(ctx context.Context, ws, id string) (customer.Merge, []redirect, error) {
	return loadMerge(ctx, t.tx, ws, id)
}

func loadMerge(ctx context.Context, q querier, ws, id string) (customer.Merge, []redirect, error) {
	m, rs, err := scanMerge(q.QueryRowPrepared(ctx, `SELECT `+mergeColumns+` FROM merges WHERE workspace_id = $1 AND merge_id = $2`, ws, id))
	if errors.Is(err, sql.ErrNoRows) {
		return customer.Merge{}, nil, fmt.Errorf("merge %q: %w", id, customer.ErrNotFound)
	}
	if err != nil {
		return customer.Merge{}, nil, fmt.Errorf("load merge %q: %w", id, err)
	}
	return m, rs, nil
}

// Merge returns one merge.
func (s *Store) Merge(ctx context.Context, ws, id string) (customer.Merge, error) {
	m, _, err := loadMerge(ctx, s.db, ws, id)
	return m, err
}

// Merges lists merges newest first, optionally only those involving
// customerID.
func (s *Store) Merges(ctx context.Context, ws, customerID string, pageSize int, token string) (*customer.MergePage, error) {
	q := `SELECT ` + mergeColumns + ` FROM merges WHERE workspace_id = $1`
	args := []any{ws}
	if customerID != "" {
		q += ` AND (survivor_id = $2 OR merged_ids LIKE $3 ESCAPE '\')`
		args = append(args, customerID, `%`+likeEscape(`"`+customerID+`"`)+`%`)
	}
	if token != "" {
		at, id, err := decodeTimeToken(token)
		if err != nil {
			return nil, err
		}
		q += fmt.Sprintf(` AND (merge_time < $%d OR (merge_time = $%d AND merge_id < $%d))`, len(args)+1, len(args)+1, len(args)+2)
		args = append(args, at, id)
	}
	q += fmt.Sprintf(` ORDER BY merge_time DESC, merge_id DESC LIMIT %d`, pageSize+1)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list merges: %w", err)
	}
	defer rows.Close()
	page := &customer.MergePage{}
	for rows.Next() {
		m, _, err := scanMerge(rows)
		if err != nil {
			return nil, fmt.Errorf("scan merge: %w", err)
		}
		// LIKE only narrows the rows (SQLite's ignores case); ids match
		// exactly.
		if customerID == "" || m.SurvivorID == customerID || slices.Contains(m.MergedIDs, customerID) {
			page.Merges = append(page.Merges, m)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list merges: %w", err)
	}
	page.Merges, page.NextToken = trimPage(page.Merges, pageSize, func(m customer.Merge) string { return timeToken(m.Time, m.ID) })
	return page, nil
}

func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// foldConsents recomputes a customer's consents from the statements of its
// events, in the order they were received.
func (t *Tx) foldConsents(ctx context.Context, ws, id string) (consent.State, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT type, name, traits, properties, context, event_time FROM events
		WHERE workspace_id = $1 AND customer_id = $2 AND (type = $3 OR (type = $4 AND name IN ($5, $6, $7, $8, $9)))
		ORDER BY receive_time, event_id`, ws, id, string(tracking.Identify), string(tracking.Track),
		consent.EventConsentUpdated, consent.EventSegmentConsent, consent.EventUnsubscribed, consent.EventLineFollowed, consent.EventLineUnfollowed)
	if err != nil {
		return nil, fmt.Errorf("read consent events of %s: %w", id, err)
	}
	defer rows.Close()
	st := consent.State{}
	for rows.Next() {
		var kind, name, traits, props, ctxJSON string
		var at int64
		if err := rows.Scan(&kind, &name, &traits, &props, &ctxJSON, &at); err != nil {
			return nil, fmt.Errorf("scan consent event: %w", err)
		}
		tr, pr, cx, err := decode3(traits, props, ctxJSON)
		if err != nil {
			return nil, err
		}
		st.Apply(consent.FromMessage(kind, name, tr, pr, cx, fromMicros(at)))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read consent events of %s: %w", id, err)
	}
	return st, nil
}

func decode3(a, b, c string) (map[string]any, map[string]any, map[string]any, error) {
	var out [3]map[string]any
	for i, s := range []string{a, b, c} {
		m, err := decodeTraits(s)
		if err != nil {
			return nil, nil, nil, err
		}
		out[i] = m
	}
	return out[0], out[1], out[2], nil
}
