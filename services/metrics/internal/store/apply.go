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
// time) and its order, if any and not already stored under the same key.
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
// differential test checks. An event id seen before, or earlier in the
// batch, changes nothing; one of a customer erased is recorded as applied
// and dropped (withoutErased).
func (s *Store) ApplyEvents(ctx context.Context, events []ledger.Event) ([]bool, error) {
	applied := make([]bool, len(events))
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		clear(applied) // InTx may retry
		if err := s.markEventsApplied(ctx, tx, events, applied); err != nil {
			return err
		}
		var fresh []ledger.Event
		for i, e := range events {
			if applied[i] {
				fresh = append(fresh, e)
			}
		}
		fresh, err := withoutErased(ctx, tx, fresh)
		if err != nil || len(fresh) == 0 {
			return err
		}
		b, err := newLedgerBatch(ctx, tx, fresh)
		if err != nil {
			return err
		}
		return b.write(ctx, tx)
	})
	if err != nil {
		return nil, err
	}
	return applied, nil
}

// wsID keys a map by workspace and an id within it.
type wsID struct{ ws, id string }

func compareWSID(a, b wsID) int { return cmp.Or(cmp.Compare(a.ws, b.ws), cmp.Compare(a.id, b.id)) }

// markEventsApplied records the ids of events and sets applied[i] for
// those new: not applied before, and not an id an earlier event of the
// batch carries.
func (s *Store) markEventsApplied(ctx context.Context, tx *sqldb.Tx, events []ledger.Event, applied []bool) error {
	keys := make([]sqldb.WorkspaceKey, len(events))
	for i, e := range events {
		keys[i] = sqldb.WorkspaceKey{Workspace: e.WorkspaceID, ID: e.EventID}
	}
	fresh, err := tx.InsertNew(ctx, `INSERT INTO applied_messages (workspace_id, message_id, kind, applied_at)`,
		`ON CONFLICT DO NOTHING RETURNING workspace_id, message_id`, keys, kindEvent, s.now().UnixMicro())
	if err != nil {
		return fmt.Errorf("record %d events applied: %w", len(keys), err)
	}
	copy(applied, fresh)
	return nil
}

// ledgerBatch is what a batch of new events writes, worked out in memory
// from the customers it read: applying an event lowers (or sets) its
// customer's first-seen time and takes the workspace's next seq when it
// does, and an order takes the next seq whether or not its key is new.
type ledgerBatch struct {
	events []ledger.Event
	// customer is the live customer of each event.
	customer []string
	// firstSeen holds the customers' first-seen times (present: the row
	// exists or the batch creates it); changed those the batch writes,
	// with the seq (an index into the workspace's seqs) of their last
	// change.
	firstSeen map[wsID]int64
	changed   map[wsID]int64
	// orderSeq is the seq index of each event's order (0: none, or its
	// key came earlier in the batch); seqs counts the seqs each workspace
	// takes, base the value before the first.
	orderSeq []int64
	seqs     map[string]int64
	base     map[string]int64
}

// newLedgerBatch resolves the events' customers through the merge aliases
// and reads their first-seen times, then applies the events in order in
// memory. The caller has locked each workspace's ledger row
// (withoutErased), so what the batch works out holds at commit.
func newLedgerBatch(ctx context.Context, tx *sqldb.Tx, events []ledger.Event) (*ledgerBatch, error) {
	b := &ledgerBatch{
		events: events, customer: make([]string, len(events)), orderSeq: make([]int64, len(events)),
		firstSeen: map[wsID]int64{}, changed: map[wsID]int64{}, seqs: map[string]int64{}, base: map[string]int64{},
	}
	byWorkspace := map[string][]string{}
	for _, e := range events {
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
		live := make([]string, 0, len(ids))
		for _, id := range ids {
			if s, ok := survivors[wsID{ws, id}]; ok {
				id = s
			}
			live = append(live, id)
		}
		live = slices.Compact(slices.Sorted(slices.Values(live)))
		err = tx.QueryIn(ctx, `SELECT customer_id, first_seen FROM customers WHERE workspace_id = $1 AND customer_id IN (%s)`,
			[]any{ws}, live, func(row sqldb.RowScanner) error {
				var id string
				var at int64
				err := row.Scan(&id, &at)
				b.firstSeen[wsID{ws, id}] = at
				return err
			})
		if err != nil {
			return nil, fmt.Errorf("read %d customers: %w", len(live), err)
		}
	}
	orders := map[wsID]bool{}
	for i, e := range events {
		id := e.CustomerID
		if s, ok := survivors[wsID{e.WorkspaceID, id}]; ok {
			id = s
		}
		b.customer[i] = id
		k, at := wsID{e.WorkspaceID, id}, e.Time.UnixMicro()
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
	return b, nil
}

// write takes the seqs, then writes customers, orders, named events and
// survey answers.
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
	var orders, named, answers []int
	for i, e := range b.events {
		if b.orderSeq[i] > 0 {
			orders = append(orders, i)
		}
		if e.Name != "" {
			named = append(named, i)
			if e.Survey != nil {
				answers = append(answers, i)
			}
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
	// Funnels read named events; survey answers are named events too.
	err = tx.InsertRows(ctx, `INSERT INTO events (workspace_id, event_id, customer_id, name, event_time, properties)`,
		`ON CONFLICT (workspace_id, event_id) DO NOTHING`, 6, len(named), func(args []any, j int) ([]any, error) {
			i := named[j]
			e := b.events[i]
			return append(args, e.WorkspaceID, e.EventID, b.customer[i], e.Name, e.Time.UnixMicro(), e.Properties), nil
		})
	if err != nil {
		return fmt.Errorf("insert %d events: %w", len(named), err)
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
