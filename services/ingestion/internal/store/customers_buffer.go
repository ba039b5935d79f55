package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/kizuna/kizuna/services/ingestion/internal/consent"
	"github.com/kizuna/kizuna/services/ingestion/internal/customer"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// A batch that creates customers or changes their traits would otherwise
// cost several statements per message (insert the customer, insert each
// identity, read and rewrite the traits). The write set keeps those rows
// in memory instead, as the transaction sees them, and writes them with
// multi-row statements when it flushes — before anything reads customers
// or identities back from the database (pendingRows).

// bufferedCustomer is a customer row the transaction holds in memory.
type bufferedCustomer struct {
	w   *writeSet
	ws  string
	row customerRow
	// traits is row's traits decoded, once something set one; the three
	// trait columns are encoded from it at flush.
	traits *customer.Traits
	// inserted: the row is not in the database yet. dirty: it differs
	// from the database (and is in w.dirty).
	inserted, dirty bool
}

// markDirty records that the row must be written at the next flush.
func (c *bufferedCustomer) markDirty() {
	if !c.dirty {
		c.dirty = true
		c.w.dirty = append(c.w.dirty, c)
	}
}

type identityRow struct {
	ws, kind, value, customerID string
	at                          int64
}

// pendingRows reports whether customers or identities wait to be written.
func (w *writeSet) pendingRows() bool {
	return len(w.newIdents) > 0 || len(w.dirty) > 0
}

// syncRows writes buffered customers and identities, for a statement about
// to read those tables.
func (t *Tx) syncRows(ctx context.Context) error {
	if !t.w.pendingRows() {
		return nil
	}
	if err := t.flushCustomers(ctx); err != nil {
		return err
	}
	return t.flushIdentities(ctx)
}

// bufferNewCustomer holds a new, empty customer, as inserting it would.
func (w *writeSet) bufferNewCustomer(ws, id string, seen, now int64) {
	k := wsKey(ws, id)
	c := &bufferedCustomer{w: w, ws: ws, inserted: true, row: customerRow{
		id: id, traits: "{}", identityTraits: "[]", traitTimes: "{}", consents: "{}",
		createTime: now, updateTime: now, firstSeen: seen, lastSeen: seen,
	}}
	c.markDirty()
	w.rows[k] = c
	// Nobody else can see it before the commit: it is as good as locked.
	w.locked[k] = true
}

// loadCustomer returns the buffered row of a customer, reading it from the
// database first when it is not held yet; counters buffered for it move
// into the row.
func (t *Tx) loadCustomer(ctx context.Context, ws, id string) (*bufferedCustomer, error) {
	k := wsKey(ws, id)
	if c, ok := t.w.rows[k]; ok {
		return c, nil
	}
	row, err := scanCustomer(t.tx.QueryRowPrepared(ctx, `SELECT `+customerColumns+` FROM customers WHERE workspace_id = $1 AND customer_id = $2`, ws, id))
	if err != nil {
		return nil, fmt.Errorf("load customer %s: %w", id, err)
	}
	c := &bufferedCustomer{w: t.w, ws: ws, row: row}
	if tc, ok := t.w.takeTouch(ws, id); ok {
		c.count(tc.n, tc.first, tc.last, tc.updateAt)
	}
	t.w.rows[k] = c
	return c, nil
}

// count adds n events seen between first and last to the row, updated at
// now (the latest write sets the time, as an UPDATE would).
func (c *bufferedCustomer) count(n, first, last, now int64) {
	c.row.eventCount += n
	c.row.firstSeen = min(c.row.firstSeen, first)
	c.row.lastSeen = max(c.row.lastSeen, last)
	c.row.updateTime = now
	c.markDirty()
}

// setTraits records traits received at now.
func (c *bufferedCustomer) setTraits(traits map[string]any, now int64) error {
	if c.traits == nil {
		st, err := c.row.traitState()
		if err != nil {
			return err
		}
		c.traits = &st
	}
	c.traits.Set(traits, now)
	c.markDirty()
	return nil
}

// applyConsents records consent statements.
func (c *bufferedCustomer) applyConsents(sts []consent.Statement) error {
	cs, err := consent.Decode(c.row.consents)
	if err != nil {
		return err
	}
	if !cs.Apply(sts) {
		return nil
	}
	enc, err := cs.Encode()
	if err != nil {
		return err
	}
	c.row.consents = enc
	c.markDirty()
	return nil
}

// flushCustomers inserts new customers and rewrites changed ones, in
// customer id order (so two writers lock rows in one order).
func (t *Tx) flushCustomers(ctx context.Context) error {
	var inserts, updates []*bufferedCustomer
	for _, c := range t.w.dirty {
		if c.traits != nil {
			cols, err := t.traitColumns(ctx, c.ws, *c.traits)
			if err != nil {
				return err
			}
			c.row.traits, c.row.traitTimes, c.row.identityTraits = cols[0], cols[1], cols[2]
			c.traits = nil
		}
		if c.inserted {
			inserts = append(inserts, c)
		} else {
			updates = append(updates, c)
		}
	}
	byID := func(a, b *bufferedCustomer) int {
		return cmpStrings(a.ws, a.row.id, b.ws, b.row.id)
	}
	slices.SortFunc(inserts, byID)
	slices.SortFunc(updates, byID)
	err := t.tx.InsertRows(ctx, `INSERT INTO customers (workspace_id, customer_id, user_id, traits, trait_times, identity_traits, consents,
		create_time, update_time, first_seen, last_seen, event_count)`, "", 12, len(inserts),
		func(args []any, i int) ([]any, error) {
			r := inserts[i].row
			return append(args, inserts[i].ws, r.id, r.userID, r.traits, r.traitTimes, r.identityTraits, r.consents,
				r.createTime, r.updateTime, r.firstSeen, r.lastSeen, r.eventCount), nil
		})
	if err != nil {
		return fmt.Errorf("insert %d customers: %w", len(inserts), err)
	}
	t.w.inserted += len(inserts)
	if err := t.updateCustomers(ctx, updates); err != nil {
		return err
	}
	for _, c := range t.w.dirty {
		c.inserted, c.dirty = false, false
	}
	t.w.dirty = t.w.dirty[:0]
	return nil
}

// customersUpdate rewrites customers (customersTypes), with the VALUES
// list at %s.
func customersUpdate(d sqldb.Dialect) string {
	return `WITH v (ws, id, user_id, traits, trait_times, identity_traits, consents, update_at, first_at, last_at, n) AS (VALUES %s)
			UPDATE` + d.OrFail() + ` customers SET user_id = v.user_id, traits = v.traits, trait_times = v.trait_times, identity_traits = v.identity_traits,
				consents = v.consents, update_time = v.update_at, first_seen = v.first_at, last_seen = v.last_at, event_count = v.n
			FROM v WHERE customers.workspace_id = v.ws AND customers.customer_id = v.id` + customersOfV(d)
}

var customersTypes = []string{"TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "BIGINT", "BIGINT", "BIGINT", "BIGINT"}

// updateCustomers writes the rows' state with one UPDATE … FROM a VALUES
// list per chunk.
func (t *Tx) updateCustomers(ctx context.Context, all []*bufferedCustomer) error {
	err := t.updateFromValues(ctx, customersUpdate(t.tx.Dialect), customersTypes, len(all),
		func(args []any, i int) []any {
			c, r := all[i], all[i].row
			return append(args, c.ws, r.id, r.userID, r.traits, r.traitTimes, r.identityTraits, r.consents,
				r.updateTime, r.firstSeen, r.lastSeen, r.eventCount)
		})
	if err != nil {
		return fmt.Errorf("update %d customers: %w", len(all), err)
	}
	return nil
}

// flushIdentities inserts the identities attached since the last flush.
func (t *Tx) flushIdentities(ctx context.Context) error {
	rows := t.w.newIdents
	err := t.tx.InsertRows(ctx, `INSERT INTO identities (workspace_id, kind, value, customer_id, create_time)`, "", 5, len(rows),
		func(args []any, i int) ([]any, error) {
			r := rows[i]
			return append(args, r.ws, r.kind, r.value, r.customerID, r.at), nil
		})
	if err != nil {
		return fmt.Errorf("attach %d identities: %w", len(rows), err)
	}
	t.w.inserted += len(rows)
	t.w.newIdents = rows[:0]
	return nil
}

func cmpStrings(ws1, id1, ws2, id2 string) int {
	if c := strings.Compare(ws1, ws2); c != 0 {
		return c
	}
	return strings.Compare(id1, id2)
}
