package store

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
)

// ApplyEvent implements segment.Store.
func (s *Store) ApplyEvent(ctx context.Context, e segment.Event, now time.Time) (bool, error) {
	applied, err := s.ApplyEvents(ctx, []segment.Event{e}, now)
	if err != nil {
		return false, err
	}
	return applied[0], nil
}

// ApplyEvents implements segment.Store. A batch is written table by table
// with multi-row statements (sqldb.InsertRows), not event by event: the
// rows are what applying the events one at a time in order would leave,
// which the differential test checks. An event id seen before, or earlier
// in the batch, changes nothing. The events of customers merged away or
// erased go to their survivor or nowhere (retiredTargets); those
// redirected get the survivor's id in events, applied or not.
func (s *Store) ApplyEvents(ctx context.Context, events []segment.Event, now time.Time) ([]bool, error) {
	applied := make([]bool, len(events))
	var redirected map[wsID]string
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		clear(applied) // InTx may retry
		if err := markEventsApplied(ctx, tx, events, now, applied); err != nil {
			return err
		}
		var err error
		if redirected, err = retiredTargets(ctx, tx, events, applied); err != nil {
			return err
		}
		var fresh []segment.Event
		for i, e := range events {
			if applied[i] {
				fresh = append(fresh, e)
			}
		}
		fresh = redirect(fresh, redirected)
		if err := recordCustomerEvents(ctx, tx, fresh); err != nil {
			return err
		}
		if err := insertOrders(ctx, tx, fresh); err != nil {
			return err
		}
		// Last: the behaviour rows carry the version their workspace's
		// row gives them, taken after every other row lock.
		return insertBehaviours(ctx, tx, fresh)
	})
	if err != nil {
		return nil, err
	}
	n := 0
	for _, ok := range applied {
		if ok {
			n++
		}
	}
	s.analyzer.Wrote(n) // a row of applied_messages each, and of customers or behaviours
	for i, e := range events {
		if to, ok := redirected[wsID{e.WorkspaceID, e.CustomerID}]; ok && to != erased {
			events[i].CustomerID = to
		}
	}
	return applied, nil
}

// wsID keys a map by workspace and an id within it.
type wsID struct{ ws, id string }

func compareWSID(a, b wsID) int { return cmp.Or(cmp.Compare(a.ws, b.ws), cmp.Compare(a.id, b.id)) }

// markEventsApplied records the ids of events and sets applied[i] for
// those new: not applied before, and not an id an earlier event of the
// batch carries.
func markEventsApplied(ctx context.Context, tx *sqldb.Tx, events []segment.Event, now time.Time, applied []bool) error {
	keys := make([]sqldb.WorkspaceKey, len(events))
	for i, e := range events {
		keys[i] = sqldb.WorkspaceKey{Workspace: e.WorkspaceID, ID: e.EventID}
	}
	fresh, err := tx.InsertNew(ctx, `INSERT INTO applied_messages (workspace_id, message_id, kind, applied_at)`,
		`ON CONFLICT DO NOTHING RETURNING workspace_id, message_id`, keys, kindEvent, micros(now))
	if err != nil {
		return fmt.Errorf("record %d events applied: %w", len(keys), err)
	}
	copy(applied, fresh)
	return nil
}

// seen is what a batch's events add to a customer that sets no trait:
// counted, its seen times widened, by one upsert.
type seen struct {
	n, first, last int64
}

// recordCustomerEvents counts every event for its customer, widens the
// seen times and merges the traits it sets, creating customers as need
// be. Customers none of whose events set traits take one atomic upsert
// each, without reading, decoding and rewriting their traits; the others
// are read for update, folded in memory in event order and written back.
// The upsert also creates and locks the latter (counting nothing), so that
// every customer row of the batch is locked in one key order, as merges
// lock theirs: locking them in two runs could deadlock with a merge. (On
// PostgreSQL, retiredTargets has already created and locked them all.)
func recordCustomerEvents(ctx context.Context, tx *sqldb.Tx, events []segment.Event) error {
	withTraits := map[wsID]bool{}
	for _, e := range events {
		if len(e.TraitUpdates()) > 0 {
			withTraits[wsID{e.WorkspaceID, e.CustomerID}] = true
		}
	}
	counted := map[wsID]*seen{}
	for _, e := range events {
		k := wsID{e.WorkspaceID, e.CustomerID}
		at := micros(e.Time)
		if withTraits[k] {
			if _, ok := counted[k]; !ok {
				counted[k] = &seen{first: at, last: at} // created at its first event, as applying that alone would
			}
			continue
		}
		if c, ok := counted[k]; ok {
			c.n, c.first, c.last = c.n+1, min(c.first, at), max(c.last, at)
		} else {
			counted[k] = &seen{n: 1, first: at, last: at}
		}
	}
	keys := slices.SortedFunc(maps.Keys(counted), compareWSID) // row locks in one order
	err := tx.InsertRows(ctx, `INSERT INTO customers (workspace_id, customer_id, traits, trait_times, first_seen, last_seen, event_count)`,
		`ON CONFLICT (workspace_id, customer_id) DO UPDATE SET event_count = customers.event_count + excluded.event_count,
  first_seen = CASE WHEN excluded.first_seen < customers.first_seen THEN excluded.first_seen ELSE customers.first_seen END,
  last_seen = CASE WHEN excluded.last_seen > customers.last_seen THEN excluded.last_seen ELSE customers.last_seen END`,
		7, len(keys), func(args []any, i int) ([]any, error) {
			c := counted[keys[i]]
			return append(args, keys[i].ws, keys[i].id, "{}", "{}", c.first, c.last, c.n), nil
		})
	if err != nil {
		return fmt.Errorf("record events of %d customers: %w", len(keys), err)
	}
	if len(withTraits) == 0 {
		return nil
	}
	return recordTraitEvents(ctx, tx, events, withTraits)
}

// recordTraitEvents is recordCustomerEvents for the customers setting
// traits, whose rows recordCustomerEvents created and locked.
func recordTraitEvents(ctx context.Context, tx *sqldb.Tx, events []segment.Event, withTraits map[wsID]bool) error {
	keys := slices.SortedFunc(maps.Keys(withTraits), compareWSID)
	customers := map[wsID]*segment.Customer{}
	for ws, ids := range groupByWorkspace(keys) {
		locked, err := lockCustomers(ctx, tx, ws, ids)
		if err != nil {
			return err
		}
		for id, c := range locked {
			customers[wsID{ws, id}] = &c
		}
	}
	for _, k := range keys {
		if _, ok := customers[k]; !ok {
			return fmt.Errorf("customer %s of workspace %s: no row after the upsert locking it", k.id, k.ws)
		}
	}
	for _, e := range events {
		c, ok := customers[wsID{e.WorkspaceID, e.CustomerID}]
		if !ok {
			continue
		}
		at := micros(e.Time)
		segment.MergeTraits(c.Traits, c.TraitTimes, e.TraitUpdates(), at)
		// Compared in microseconds, as stored: the times an event
		// leaves are those applying it alone would.
		if at < micros(c.FirstSeen) {
			c.FirstSeen = fromMicros(at)
		}
		if at > micros(c.LastSeen) {
			c.LastSeen = fromMicros(at)
		}
		c.EventCount++
	}
	err := tx.InsertRows(ctx, `INSERT INTO customers (workspace_id, customer_id, traits, trait_times, first_seen, last_seen, event_count)`,
		`ON CONFLICT (workspace_id, customer_id) DO UPDATE SET traits = excluded.traits, trait_times = excluded.trait_times,
  first_seen = excluded.first_seen, last_seen = excluded.last_seen, event_count = excluded.event_count`,
		7, len(keys), func(args []any, i int) ([]any, error) {
			c := customers[keys[i]]
			traits, err := json.Marshal(c.Traits)
			if err != nil {
				return nil, fmt.Errorf("encode traits of %s: %w", c.ID, err)
			}
			times, err := json.Marshal(c.TraitTimes)
			if err != nil {
				return nil, fmt.Errorf("encode trait times of %s: %w", c.ID, err)
			}
			return append(args, c.WorkspaceID, c.ID, string(traits), string(times), micros(c.FirstSeen), micros(c.LastSeen), c.EventCount), nil
		})
	if err != nil {
		return fmt.Errorf("write %d customers: %w", len(keys), err)
	}
	return nil
}

// groupByWorkspace splits sorted keys into each workspace's ids.
func groupByWorkspace(keys []wsID) map[string][]string {
	out := map[string][]string{}
	for _, k := range keys {
		out[k.ws] = append(out[k.ws], k.id)
	}
	return out
}

// insertBehaviours adds the behaviour rows of events, each with its
// workspace's next behaviours version (taken in workspace order: no
// deadlock between two batches).
func insertBehaviours(ctx context.Context, tx *sqldb.Tx, events []segment.Event) error {
	var rows []segment.Event
	versions := map[string]int64{}
	for _, e := range events {
		if e.BehaviourName() != "" {
			rows = append(rows, e)
			versions[e.WorkspaceID] = 0
		}
	}
	for _, ws := range slices.Sorted(maps.Keys(versions)) {
		v, err := nextBehavioursVersion(ctx, tx, ws)
		if err != nil {
			return err
		}
		versions[ws] = v
	}
	err := tx.InsertRows(ctx, `INSERT INTO behaviours (workspace_id, event_id, customer_id, name, occurred_at, properties, seq)`,
		`ON CONFLICT DO NOTHING`, 7, len(rows), func(args []any, i int) ([]any, error) {
			e := rows[i]
			props := []byte("{}")
			if len(e.Properties) > 0 {
				var err error
				if props, err = json.Marshal(e.Properties); err != nil {
					return nil, fmt.Errorf("encode properties of event %s: %w", e.EventID, err)
				}
			}
			return append(args, e.WorkspaceID, e.EventID, e.CustomerID, e.BehaviourName(), micros(e.Time), string(props), versions[e.WorkspaceID]), nil
		})
	if err != nil {
		return fmt.Errorf("insert %d behaviours: %w", len(rows), err)
	}
	return nil
}

// insertOrders adds the orders of events, the first event of an order id
// being the one kept, and bumps each workspace's orders version once per
// order stored. The rows go in order id order: an order id can come with
// two events (resent, or bought by two ids of one person), and two
// batches inserting the same ids in different orders would wait on each
// other's uncommitted rows.
func insertOrders(ctx context.Context, tx *sqldb.Tx, events []segment.Event) error {
	var rows []segment.Event
	taken := map[wsID]bool{}
	for _, e := range events {
		if e.Order == nil || taken[wsID{e.WorkspaceID, e.Order.ID}] {
			continue
		}
		taken[wsID{e.WorkspaceID, e.Order.ID}] = true
		rows = append(rows, e)
	}
	slices.SortFunc(rows, func(a, b segment.Event) int {
		return compareWSID(wsID{a.WorkspaceID, a.Order.ID}, wsID{b.WorkspaceID, b.Order.ID})
	})
	stored := map[string]int64{}
	err := tx.QueryRows(ctx, `INSERT INTO orders (workspace_id, order_id, customer_id, revenue, occurred_at, event_id)`,
		`ON CONFLICT DO NOTHING RETURNING workspace_id`, 6, len(rows), func(args []any, i int) ([]any, error) {
			e := rows[i]
			return append(args, e.WorkspaceID, e.Order.ID, e.CustomerID, e.Order.Revenue, micros(e.Time), e.EventID), nil
		},
		func(row sqldb.RowScanner) error {
			var ws string
			err := row.Scan(&ws)
			stored[ws]++
			return err
		})
	if err != nil {
		return fmt.Errorf("insert %d orders: %w", len(rows), err)
	}
	for _, ws := range slices.Sorted(maps.Keys(stored)) {
		if err := bumpOrdersVersion(ctx, tx, ws, stored[ws]); err != nil {
			return err
		}
	}
	return nil
}
