package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/kizuna/kizuna/services/ingestion/internal/customer"
	"github.com/kizuna/kizuna/services/ingestion/internal/identity"
	"github.com/kizuna/kizuna/services/platform/bus"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// writeSet makes one transaction that stores many messages work on sets:
// what the messages look up is read in one query per kind up front and
// kept current in memory as the transaction writes, and the rows every
// message adds (events, outbox rows, customer counters) are buffered and
// written with multi-row statements when the transaction ends, or before
// anything reads them back (a merge or an undo).
//
// Keys of the maps are a workspace id, a NUL and the id within it.
type writeSet struct {
	// events holds the customer of every event id looked up or written;
	// "" means the event was looked up and does not exist.
	events map[string]string
	// idents holds the customer holding every identity looked up or
	// attached ("" for none); customers what resolution needs of each.
	idents    map[string]string
	customers map[string]identity.Customer
	// locked are the customers this transaction holds a row lock on
	// (PostgreSQL).
	locked map[string]bool
	// regions caches each workspace's phone region.
	regions map[string]string

	// rows are customers held in memory (customers_buffer.go), dirty
	// those of them to write at the next flush, newIdents identities
	// attached and not yet written.
	rows      map[string]*bufferedCustomer
	dirty     []*bufferedCustomer
	newIdents []identityRow

	newEvents []customer.Event
	outbox    []outboxRow
	touches   map[string]*touch

	// inserted counts the events, customers and identities written.
	inserted int
}

type outboxRow struct {
	ws, kind, msgID string
	payload         []byte
	at              int64
	trace           string
}

// touch is what events not yet written add to a customer's counters.
type touch struct {
	ws, id                   string
	n, first, last, updateAt int64
}

func newWriteSet() *writeSet {
	return &writeSet{
		events: map[string]string{}, idents: map[string]string{}, customers: map[string]identity.Customer{},
		locked: map[string]bool{}, regions: map[string]string{}, touches: map[string]*touch{},
		rows: map[string]*bufferedCustomer{},
	}
}

// exec runs a statement prepared once per transaction
// (sqldb.Tx.ExecPrepared): a large group repeats its statements chunk
// after chunk.
func (t *Tx) exec(ctx context.Context, query string, args ...any) error {
	_, err := t.tx.ExecPrepared(ctx, query, args...)
	return err
}

func wsKey(ws, id string) string { return ws + "\x00" + id }

func identKey(ws string, k identity.Key) string { return ws + "\x00" + k.Kind + "\x00" + k.Value }

// forgetCustomers drops what the caches know about customers and
// identities, after a merge or an undo moved them in ways only the
// database tracks; later look-ups read it again. The caller flushed first.
func (w *writeSet) forgetCustomers() {
	clear(w.idents)
	clear(w.customers)
	clear(w.rows)
	w.dirty = w.dirty[:0]
}

// Prefetch reads, in one query per chunk, whether each of eventIDs is
// stored and which customers hold keys, so that the per-message look-ups
// of a batch are answered from memory.
func (t *Tx) Prefetch(ctx context.Context, ws string, eventIDs []string, keys []identity.Key) error {
	var missing []string
	for _, id := range eventIDs {
		if _, ok := t.w.events[wsKey(ws, id)]; !ok {
			missing = append(missing, id)
		}
	}
	slices.Sort(missing)
	missing = slices.Compact(missing)
	for len(missing) > 0 {
		n := min(len(missing), sqldb.MaxRowsPerStatement)
		in, args := t.tx.Dialect.InList(2, sqldb.PadIn(missing[:n]))
		rows, err := t.tx.QueryPrepared(ctx, `SELECT event_id, customer_id FROM events WHERE workspace_id = $1 AND event_id IN (`+in+`)`,
			append([]any{ws}, args...)...)
		if err != nil {
			return fmt.Errorf("look up events: %w", err)
		}
		for _, id := range missing[:n] {
			t.w.events[wsKey(ws, id)] = ""
		}
		for rows.Next() {
			var id, customer string
			if err := rows.Scan(&id, &customer); err != nil {
				rows.Close()
				return fmt.Errorf("scan event: %w", err)
			}
			t.w.events[wsKey(ws, id)] = customer
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("look up events: %w", err)
		}
		missing = missing[n:]
	}
	matches, err := t.FindIdentities(ctx, ws, keys)
	if err != nil {
		return err
	}
	return t.lockMatched(ctx, ws, matches)
}

// lockMatched locks, on PostgreSQL, the live customers the identities of a
// batch resolved to, in one statement per chunk instead of one LockLive
// round trip per message. A customer merged away meanwhile is left
// unlocked: the message that resolves to it finds it stale in LockLive.
func (t *Tx) lockMatched(ctx context.Context, ws string, matches []identity.Match) error {
	if t.tx.Dialect != sqldb.Postgres {
		return nil
	}
	var ids []string
	for _, m := range matches {
		if !t.w.locked[wsKey(ws, m.Customer.ID)] {
			ids = append(ids, m.Customer.ID)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	for len(ids) > 0 {
		n := min(len(ids), sqldb.MaxRowsPerStatement)
		mergedInto, err := t.lockCustomers(ctx, ws, ids[:n])
		if err != nil {
			return err
		}
		for id, into := range mergedInto {
			if into == "" {
				t.w.locked[wsKey(ws, id)] = true
			}
		}
		ids = ids[n:]
	}
	return nil
}

// lookUpIdentities reads which customers hold keys (none cached), by kind
// with one IN list each, and caches the answer, absent keys included.
func (t *Tx) lookUpIdentities(ctx context.Context, ws string, keys []identity.Key) error {
	if err := t.syncRows(ctx); err != nil {
		return err
	}
	byKind := map[string][]string{}
	for _, k := range keys {
		byKind[k.Kind] = append(byKind[k.Kind], k.Value)
	}
	kinds := make([]string, 0, len(byKind))
	for kind := range byKind {
		kinds = append(kinds, kind)
	}
	slices.Sort(kinds)
	for _, kind := range kinds {
		values := byKind[kind]
		slices.Sort(values)
		values = slices.Compact(values)
		for len(values) > 0 {
			n := min(len(values), sqldb.MaxRowsPerStatement)
			in, args := t.tx.Dialect.InList(3, sqldb.PadIn(values[:n]))
			rows, err := t.tx.QueryPrepared(ctx, `SELECT i.value, c.customer_id, c.user_id, c.create_time
				FROM identities i JOIN customers c ON c.workspace_id = i.workspace_id AND c.customer_id = i.customer_id
				WHERE i.workspace_id = $1 AND i.kind = $2 AND i.value IN (`+in+`)`, append([]any{ws, kind}, args...)...)
			if err != nil {
				return fmt.Errorf("find identities: %w", err)
			}
			for _, v := range values[:n] {
				t.w.idents[identKey(ws, identity.Key{Kind: kind, Value: v})] = ""
			}
			for rows.Next() {
				var v string
				var c identity.Customer
				var created int64
				if err := rows.Scan(&v, &c.ID, &c.UserID, &created); err != nil {
					rows.Close()
					return fmt.Errorf("scan identity: %w", err)
				}
				c.CreateTime = fromMicros(created)
				t.w.idents[identKey(ws, identity.Key{Kind: kind, Value: v})] = c.ID
				t.w.customers[wsKey(ws, c.ID)] = c
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("find identities: %w", err)
			}
			values = values[n:]
		}
	}
	return nil
}

// flush writes what the write set buffered: customers, identities, events,
// counters, then the outbox in the order it was appended.
func (t *Tx) flush(ctx context.Context) error {
	if err := t.syncRows(ctx); err != nil {
		return err
	}
	if err := t.flushEvents(ctx); err != nil {
		return err
	}
	if err := t.flushTouches(ctx); err != nil {
		return err
	}
	return t.flushOutbox(ctx)
}

func (t *Tx) flushEvents(ctx context.Context) error {
	evs := t.w.newEvents
	err := t.tx.InsertRows(ctx, `INSERT INTO events (workspace_id, event_id, customer_id, type, name, user_id, anonymous_id,
		event_time, receive_time, properties, traits, context, group_id, previous_id, order_id, revenue, currency)`, "", 17, len(evs),
		func(args []any, i int) ([]any, error) {
			e := evs[i]
			props, traits, ctxJSON, err := encode3(e.Properties, e.Traits, e.Context)
			if err != nil {
				return nil, err
			}
			return append(args, e.WorkspaceID, e.EventID, e.CustomerID, e.Type, e.Name, e.UserID, e.AnonymousID, micros(e.Time), micros(e.ReceiveTime),
				props, traits, ctxJSON, e.GroupID, e.PreviousID, e.OrderID, e.Revenue, e.Currency), nil
		})
	if err != nil {
		return fmt.Errorf("insert %d events: %w", len(evs), err)
	}
	t.w.inserted += len(evs)
	t.w.newEvents = evs[:0]
	return nil
}

func (t *Tx) flushOutbox(ctx context.Context) error {
	rows := t.w.outbox
	err := t.tx.InsertRows(ctx, `INSERT INTO outbox (workspace_id, kind, msg_id, payload, create_time, trace_context)`, "", 6, len(rows),
		func(args []any, i int) ([]any, error) {
			r := rows[i]
			return append(args, r.ws, r.kind, r.msgID, r.payload, r.at, r.trace), nil
		})
	if err != nil {
		return fmt.Errorf("append %d outbox rows: %w", len(rows), err)
	}
	t.w.outbox = rows[:0]
	return nil
}

// flushTouches adds the buffered counters to their customers, in one
// UPDATE … FROM a VALUES list per chunk (customer id order, so that two
// writers lock rows in one order).
func (t *Tx) flushTouches(ctx context.Context) error {
	if len(t.w.touches) == 0 {
		return nil
	}
	all := make([]*touch, 0, len(t.w.touches))
	for _, tc := range t.w.touches {
		all = append(all, tc)
	}
	slices.SortFunc(all, func(a, b *touch) int { return cmpStrings(a.ws, a.id, b.ws, b.id) })
	err := t.updateFromValues(ctx, touchesUpdate(t.tx.Dialect), touchesTypes, len(all),
		func(args []any, i int) []any {
			tc := all[i]
			return append(args, tc.ws, tc.id, tc.n, tc.first, tc.last, tc.updateAt)
		})
	if err != nil {
		return fmt.Errorf("count events of %d customers: %w", len(all), err)
	}
	clear(t.w.touches)
	return nil
}

// touchesUpdate adds counters (touchesTypes) to customers, with the VALUES
// list at %s.
func touchesUpdate(d sqldb.Dialect) string {
	return `WITH v (ws, id, n, first_at, last_at, update_at) AS (VALUES %s)
			UPDATE` + d.OrFail() + ` customers SET event_count = event_count + v.n, update_time = v.update_at,
				first_seen = CASE WHEN first_seen <= v.first_at THEN first_seen ELSE v.first_at END,
				last_seen = CASE WHEN last_seen >= v.last_at THEN last_seen ELSE v.last_at END
			FROM v WHERE customers.workspace_id = v.ws AND customers.customer_id = v.id` + customersOfV(d)
}

var touchesTypes = []string{"TEXT", "TEXT", "BIGINT", "BIGINT", "BIGINT", "BIGINT"}

// customersOfV returns, on SQLite, a condition that makes an UPDATE
// customers … FROM v look its customers up by key: without it SQLite's
// planner, from 256 rows of v on (it has no statistics), scanned the whole
// customers table once per statement and probed v, which made an import's
// customer counters cost a scan of every customer per 256 orders (58 % of
// an orders import's CPU at 50,000 customers). PostgreSQL plans the join
// on its own.
func customersOfV(d sqldb.Dialect) string {
	if d != sqldb.SQLite {
		return ""
	}
	return ` AND (customers.workspace_id, customers.customer_id) IN (SELECT ws, id FROM v)`
}

// updateFromValues runs query — an UPDATE … FROM a VALUES list whose place
// is %s — for n rows, in chunks of at most sqldb.MaxRowsPerStatement rows; types are
// the SQL types of a row's values, which row appends to args.
// Callers write the UPDATE with the dialect's OrFail, which spares SQLite
// the statement journal of a multi-row write (see sqldb.Dialect.OrFail).
func (t *Tx) updateFromValues(ctx context.Context, query string, types []string, n int, row func(args []any, i int) []any) error {
	done := 0
	for _, k := range sqldb.ChunkRows(n, sqldb.MaxRowsPerStatement) {
		args := make([]any, 0, k*len(types))
		for i := done; i < done+k; i++ {
			args = row(args, i)
		}
		if err := t.exec(ctx, valuesQuery(t.tx.Dialect, query, types, k), args...); err != nil {
			return err
		}
		done += k
	}
	return nil
}

// valuesQuery returns query with its %s replaced by a VALUES list of k rows
// of parameters of types.
func valuesQuery(d sqldb.Dialect, query string, types []string, k int) string {
	var b strings.Builder
	for i := range k {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j, typ := range types {
			if j > 0 {
				b.WriteString(", ")
			}
			// Typed parameters: PostgreSQL cannot infer the types of a
			// bare VALUES list. In the dialect's form: SQLite binds
			// thousands of "$N" in quadratic time.
			fmt.Fprintf(&b, "CAST(%s AS %s)", d.Placeholders(i*len(types)+j+1, 1), typ)
		}
		b.WriteByte(')')
	}
	return fmt.Sprintf(query, b.String())
}

// addTouch buffers one event's effect on a customer's counters.
func (w *writeSet) addTouch(ws, id string, at, now int64) {
	k := wsKey(ws, id)
	if c, ok := w.rows[k]; ok {
		c.count(1, at, at, now)
		return
	}
	tc, ok := w.touches[k]
	if !ok {
		w.touches[k] = &touch{ws: ws, id: id, n: 1, first: at, last: at, updateAt: now}
		return
	}
	tc.n++
	tc.first, tc.last, tc.updateAt = min(tc.first, at), max(tc.last, at), max(tc.updateAt, now)
}

// takeTouch removes and returns a customer's buffered counters.
func (w *writeSet) takeTouch(ws, id string) (touch, bool) {
	k := wsKey(ws, id)
	tc, ok := w.touches[k]
	if !ok {
		return touch{}, false
	}
	delete(w.touches, k)
	return *tc, true
}

func (t *Tx) bufferOutbox(ctx context.Context, ws, kind, msgID string, payload []byte, at int64) {
	t.w.outbox = append(t.w.outbox, outboxRow{ws: ws, kind: kind, msgID: msgID, payload: payload, at: at, trace: bus.EncodeTrace(ctx)})
}
