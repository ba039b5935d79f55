package store

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/kizuna/kizuna/services/metrics/internal/ledger"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// ApplyEvent records the event's customer (keeping the earliest first-seen
// time), its order, if any and not already stored under the same key, and,
// if named, the event itself.
func (s *Store) ApplyEvent(ctx context.Context, e ledger.Event) (bool, error) {
	applied, err := s.ApplyEvents(ctx, []ledger.Event{e})
	if err != nil {
		return false, err
	}
	return applied[0], nil
}

// ApplyEvents is ApplyEvent for several events, in order, in one
// transaction: a consumer catching up commits once per batch, not once
// per event. The batch is written table by table with multi-row
// statements (sqldb.InsertRows); the rows, sequence numbers included, are
// those applying the events one at a time in order would leave, which the
// differential test checks.
//
// An event id seen before, or earlier in the batch, changes nothing. A
// named event (track, page, screen: most traffic) is stored in events
// under its id, and that row is what tells a repeat (insertNamed): its id
// is recorded nowhere else. The ids of other events go to
// applied_messages (markUnnamedApplied): such an event only lowers its
// customer's first-seen time, a minimum, but an undone merge may have
// raised the survivor's time since, and an order takes a seq even when its
// key is known, so applying one again is not harmless. An event of an
// erased customer is dropped (erasedAmong); an unnamed one is still
// recorded as applied. applied[i] is false for an event known to repeat
// one seen before.
func (s *Store) ApplyEvents(ctx context.Context, events []ledger.Event) ([]bool, error) {
	applied := make([]bool, len(events))
	var customers int // rows of customers written
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		clear(applied) // InTx may retry
		customers = 0
		if err := s.markUnnamedApplied(ctx, tx, events, applied); err != nil {
			return err
		}
		markFirstNamed(events, applied)
		var at []int // positions of the events still to apply
		var candidates []ledger.Event
		for i, e := range events {
			if applied[i] {
				at = append(at, i)
				candidates = append(candidates, e)
			}
		}
		erased, err := erasedAmong(ctx, tx, candidates)
		if err != nil {
			return err
		}
		at = slices.DeleteFunc(at, func(i int) bool { return erased[wsID{events[i].WorkspaceID, events[i].CustomerID}] })
		if len(at) == 0 {
			return nil
		}
		b, err := newLedgerBatch(ctx, tx, events, at)
		if err != nil {
			return err
		}
		if err := b.insertNamed(ctx, tx, applied); err != nil {
			return err
		}
		if err := b.plan(ctx, tx); err != nil {
			return err
		}
		customers = len(b.changed)
		return b.write(ctx, tx)
	})
	if err != nil {
		return nil, err
	}
	s.analyzer.Wrote(customers)
	return applied, nil
}

// wsID keys a map by workspace and an id within it.
type wsID struct{ ws, id string }

func compareWSID(a, b wsID) int { return cmp.Or(cmp.Compare(a.ws, b.ws), cmp.Compare(a.id, b.id)) }

// markUnnamedApplied records the ids of the events without a name and sets
// applied[i] for those new: not applied before, and not an id an earlier
// unnamed event of the batch carries.
func (s *Store) markUnnamedApplied(ctx context.Context, tx *sqldb.Tx, events []ledger.Event, applied []bool) error {
	var keys []sqldb.WorkspaceKey
	var at []int
	for i, e := range events {
		if e.Name == "" {
			keys = append(keys, sqldb.WorkspaceKey{Workspace: e.WorkspaceID, ID: e.EventID})
			at = append(at, i)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	fresh, err := tx.InsertNew(ctx, `INSERT INTO applied_messages (workspace_id, message_id, kind, applied_at)`,
		`ON CONFLICT DO NOTHING RETURNING workspace_id, message_id`, keys, kindEvent, s.now().UnixMicro())
	if err != nil {
		return fmt.Errorf("record %d events applied: %w", len(keys), err)
	}
	for j, i := range at {
		applied[i] = fresh[j]
	}
	return nil
}

// markFirstNamed sets applied[i] for the named events whose id no earlier
// named event of the batch carries; insertNamed clears it again for those
// stored before.
func markFirstNamed(events []ledger.Event, applied []bool) {
	seen := map[wsID]bool{}
	for i, e := range events {
		if k := (wsID{e.WorkspaceID, e.EventID}); e.Name != "" && !seen[k] {
			seen[k] = true
			applied[i] = true
		}
	}
}

// ledgerBatch is what a batch of new events writes, worked out in memory
// from the customers it read: applying an event lowers (or sets) its
// customer's first-seen time and takes the workspace's next seq when it
// does, and an order takes the next seq whether or not its key is new.
type ledgerBatch struct {
	// events is the batch ApplyEvents was given, at the positions of the
	// events that apply, in order.
	events []ledger.Event
	at     []int
	// customer is the live customer of each event (by position).
	customer []string
	// firstSeen holds the customers' first-seen times (present: the row
	// exists or the batch creates it); changed those the batch writes,
	// with the seq (an index into the workspace's seqs) of their last
	// change.
	firstSeen map[wsID]int64
	changed   map[wsID]int64
	// orderSeq is the seq index of each event's order, by position (0:
	// none, or its key came earlier in the batch); seqs counts the seqs
	// each workspace takes, base the value before the first.
	orderSeq []int64
	seqs     map[string]int64
	base     map[string]int64
}

// newLedgerBatch resolves the customers of the events at through the
// merge aliases. The caller has locked each workspace's ledger row
// (erasedAmong), so what the batch works out holds at commit.
func newLedgerBatch(ctx context.Context, tx *sqldb.Tx, events []ledger.Event, at []int) (*ledgerBatch, error) {
	b := &ledgerBatch{
		events: events, at: at, customer: make([]string, len(events)), orderSeq: make([]int64, len(events)),
		firstSeen: map[wsID]int64{}, changed: map[wsID]int64{}, seqs: map[string]int64{}, base: map[string]int64{},
	}
	byWorkspace := map[string][]string{}
	for _, i := range at {
		e := events[i]
		byWorkspace[e.WorkspaceID] = append(byWorkspace[e.WorkspaceID], e.CustomerID)
	}
	survivors := map[wsID]string{}
	for _, ws := range slices.Sorted(maps.Keys(byWorkspace)) {
		ids := slices.Compact(slices.Sorted(slices.Values(byWorkspace[ws])))
		err := tx.QueryIn(ctx, `SELECT merged_customer_id, survivor_customer_id FROM customer_aliases
WHERE workspace_id = $1 AND merged_customer_id IN (%s)`, []any{ws}, ids, func(row sqldb.RowScanner) error {
			var merged, survivor string
			err := row.Scan(&merged, &survivor)
			survivors[wsID{ws, merged}] = survivor
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("resolve %d customers: %w", len(ids), err)
		}
	}
	for _, i := range at {
		e := events[i]
		b.customer[i] = e.CustomerID
		if s, ok := survivors[wsID{e.WorkspaceID, e.CustomerID}]; ok {
			b.customer[i] = s
		}
	}
	return b, nil
}

// insertNamed stores the named events, for funnels (survey answers are
// named events too), and drops from the batch those whose row was there
// already: repeats, reported not applied. Their rows go in key order, as
// sqldb.InsertNew's do; they go before the seqs are taken, which changes
// no lock order on PostgreSQL, as the ledger rows are locked already.
func (b *ledgerBatch) insertNamed(ctx context.Context, tx *sqldb.Tx, applied []bool) error {
	var named []int
	for _, i := range b.at {
		if b.events[i].Name != "" {
			named = append(named, i)
		}
	}
	if len(named) == 0 {
		return nil
	}
	key := func(i int) wsID { return wsID{b.events[i].WorkspaceID, b.events[i].EventID} }
	slices.SortFunc(named, func(i, j int) int { return compareWSID(key(i), key(j)) })
	stored := make(map[wsID]bool, len(named))
	err := tx.QueryRows(ctx, `INSERT INTO events (workspace_id, event_id, customer_id, name, event_time, properties)`,
		`ON CONFLICT (workspace_id, event_id) DO NOTHING RETURNING workspace_id, event_id`, 6, len(named),
		func(args []any, j int) ([]any, error) {
			i := named[j]
			e := b.events[i]
			return append(args, e.WorkspaceID, e.EventID, b.customer[i], e.Name, e.Time.UnixMicro(), e.Properties), nil
		},
		func(row sqldb.RowScanner) error {
			var k wsID
			err := row.Scan(&k.ws, &k.id)
			stored[k] = true
			return err
		})
	if err != nil {
		return fmt.Errorf("insert %d events: %w", len(named), err)
	}
	b.at = slices.DeleteFunc(b.at, func(i int) bool {
		if b.events[i].Name == "" || stored[key(i)] {
			return false
		}
		applied[i] = false
		return true
	})
	return nil
}

// plan reads the first-seen times of the events' customers, then applies
// the events in order in memory.
func (b *ledgerBatch) plan(ctx context.Context, tx *sqldb.Tx) error {
	byWorkspace := map[string][]string{}
	for _, i := range b.at {
		ws := b.events[i].WorkspaceID
		byWorkspace[ws] = append(byWorkspace[ws], b.customer[i])
	}
	for _, ws := range slices.Sorted(maps.Keys(byWorkspace)) {
		live := slices.Compact(slices.Sorted(slices.Values(byWorkspace[ws])))
		err := tx.QueryIn(ctx, `SELECT customer_id, first_seen FROM customers WHERE workspace_id = $1 AND customer_id IN (%s)`,
			[]any{ws}, live, func(row sqldb.RowScanner) error {
				var id string
				var at int64
				err := row.Scan(&id, &at)
				b.firstSeen[wsID{ws, id}] = at
				return err
			})
		if err != nil {
			return fmt.Errorf("read %d customers: %w", len(live), err)
		}
	}
	orders := map[wsID]bool{}
	for _, i := range b.at {
		e := b.events[i]
		k, at := wsID{e.WorkspaceID, b.customer[i]}, e.Time.UnixMicro()
		if first, ok := b.firstSeen[k]; !ok || at < first {
			b.firstSeen[k] = at
			b.seqs[e.WorkspaceID]++
			b.changed[k] = b.seqs[e.WorkspaceID]
		}
		if o := e.Order; o != nil {
			b.seqs[e.WorkspaceID]++
			if key := (wsID{e.WorkspaceID, o.Key}); !orders[key] {
				orders[key] = true
				b.orderSeq[i] = b.seqs[e.WorkspaceID]
			}
		}
	}
	return nil
}

// write takes the seqs, then writes customers, orders and survey answers
// (insertNamed wrote the named events).
func (b *ledgerBatch) write(ctx context.Context, tx *sqldb.Tx) error {
	// Seqs first and in workspace order, as a merge takes its version
	// before it touches customers: the row stays locked until commit, so
	// seqs are handed out in commit order.
	for _, ws := range slices.Sorted(maps.Keys(b.seqs)) {
		v, err := bumpSeq(ctx, tx, ws, b.seqs[ws])
		if err != nil {
			return err
		}
		b.base[ws] = v - b.seqs[ws]
	}
	keys := slices.SortedFunc(maps.Keys(b.changed), compareWSID)
	// The conflict update's WHERE keeps an earlier time a concurrent
	// transaction stored since the read (PostgreSQL).
	err := tx.InsertRows(ctx, `INSERT INTO customers (workspace_id, customer_id, first_seen, seq)`,
		`ON CONFLICT (workspace_id, customer_id) DO UPDATE SET first_seen = excluded.first_seen, seq = excluded.seq
WHERE excluded.first_seen < customers.first_seen`, 4, len(keys), func(args []any, i int) ([]any, error) {
			k := keys[i]
			return append(args, k.ws, k.id, b.firstSeen[k], b.base[k.ws]+b.changed[k]), nil
		})
	if err != nil {
		return fmt.Errorf("upsert %d customers: %w", len(keys), err)
	}
	var orders, answers []int
	for _, i := range b.at {
		if b.orderSeq[i] > 0 {
			orders = append(orders, i)
		}
		if e := b.events[i]; e.Name != "" && e.Survey != nil {
			answers = append(answers, i)
		}
	}
	err = tx.InsertRows(ctx, `INSERT INTO orders (workspace_id, order_key, customer_id, order_time, revenue, currency, event_id, seq)`,
		`ON CONFLICT (workspace_id, order_key) DO NOTHING`, 8, len(orders), func(args []any, j int) ([]any, error) {
			i := orders[j]
			e, o := b.events[i], b.events[i].Order
			return append(args, e.WorkspaceID, o.Key, b.customer[i], e.Time.UnixMicro(), o.Revenue, o.Currency, e.EventID,
				b.base[e.WorkspaceID]+b.orderSeq[i]), nil
		})
	if err != nil {
		return fmt.Errorf("insert %d orders: %w", len(orders), err)
	}
	err = tx.InsertRows(ctx, `INSERT INTO survey_answers (workspace_id, event_id, customer_id, survey, kind, score, comment, answer_time)`,
		`ON CONFLICT (workspace_id, event_id) DO NOTHING`, 8, len(answers), func(args []any, j int) ([]any, error) {
			i := answers[j]
			e, a := b.events[i], b.events[i].Survey
			return append(args, e.WorkspaceID, e.EventID, b.customer[i], a.Survey, a.Kind, a.Score, a.Comment, e.Time.UnixMicro()), nil
		})
	if err != nil {
		return fmt.Errorf("insert %d survey answers: %w", len(answers), err)
	}
	return nil
}
