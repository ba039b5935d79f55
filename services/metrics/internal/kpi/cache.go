package kpi

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// OrderLog is the order ledger as the cache reads it.
type OrderLog interface {
	// LedgerVersion: structure changes with every merge or undone merge,
	// seq with every order stored (orders carry the seq they were stored
	// under, handed out in commit order).
	LedgerVersion(ctx context.Context, ws string) (structure, seq int64, err error)
	// ScanOrdersUpTo calls fn for the orders with afterSeq < seq <= upToSeq.
	ScanOrdersUpTo(ctx context.Context, ws string, afterSeq, upToSeq int64, fn func(customerID string, at time.Time, revenue float64, currency string)) error
	// ScanCustomersUpTo calls fn for the customers written with
	// afterSeq < seq <= upToSeq.
	ScanCustomersUpTo(ctx context.Context, ws string, afterSeq, upToSeq int64, fn func(customerID string, firstSeen time.Time)) error
}

// Limits of the order cache: orders per workspace (about 32 bytes each, so
// ~320 MB at the limit) and over all workspaces.
const (
	MaxWorkspaceOrders = 10_000_000
	maxCachedOrders    = 20_000_000
)

// order is one cached order.
type order struct {
	customer int32
	currency int32
	at       int64
	revenue  float64
}

// orderSet is one workspace's orders held in memory, sorted by time, with
// each customer's first and second order times and first-seen time.
// Readers hold mu.RLock while computing; refresh holds mu.Lock.
type orderSet struct {
	mu             sync.RWMutex
	loaded         bool
	structure, seq int64
	lastUsed       time.Time
	names          []string
	ids            map[string]int32
	currencies     []string
	currencyIDs    map[string]int32
	orders         []order
	first, second  []int64
	// seen is each customer's first-seen time, math.MaxInt64 for ids
	// known only from orders.
	seen []int64
}

// orderCache keeps each queried workspace's orders in memory and brings
// them up to date on every use by reading only the orders stored since;
// a merge or undone merge (which move orders between customers) makes it
// read the workspace again. This keeps a dashboard query from reading
// millions of rows per call.
type orderCache struct {
	mu      sync.Mutex
	entries map[string]*orderSet
}

func newOrderCache() *orderCache { return &orderCache{entries: map[string]*orderSet{}} }

// get returns ws's orders brought up to date, read-locked: the caller
// must RUnlock it.
func (c *orderCache) get(ctx context.Context, log OrderLog, ws string) (*orderSet, error) {
	c.mu.Lock()
	e := c.entries[ws]
	if e == nil {
		e = &orderSet{}
		c.entries[ws] = e
	}
	c.mu.Unlock()
	structure, seq, err := log.LedgerVersion(ctx, ws)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	if err := e.refresh(ctx, log, ws, structure, seq); err != nil {
		e.loaded = false
		e.mu.Unlock()
		return nil, err
	}
	e.lastUsed = time.Now()
	e.mu.Unlock()
	c.evict(ws)
	e.mu.RLock()
	return e, nil
}

func (e *orderSet) refresh(ctx context.Context, log OrderLog, ws string, structure, seq int64) error {
	// Versions only grow: one older than the held one was read before
	// another call brought the set further, and reading "after e.seq up to
	// seq" would then record seq and fetch orders twice later.
	if e.loaded && (structure < e.structure || (structure == e.structure && seq <= e.seq)) {
		return nil
	}
	after := e.seq
	if !e.loaded || e.structure != structure {
		// Field by field: e.mu is held.
		e.names, e.ids = nil, map[string]int32{}
		e.currencies, e.currencyIDs = nil, map[string]int32{}
		e.orders, e.first, e.second, e.seen = nil, nil, nil, nil
		after = -1
	}
	n := len(e.orders)
	var tooMany bool
	err := log.ScanOrdersUpTo(ctx, ws, after, seq, func(cust string, at time.Time, revenue float64, currency string) {
		if len(e.orders) >= MaxWorkspaceOrders {
			tooMany = true
			return
		}
		o := order{customer: e.customer(cust), currency: e.currency(currency), at: at.UnixMicro(), revenue: revenue}
		e.orders = append(e.orders, o)
		switch c := o.customer; {
		case o.at < e.first[c]:
			e.first[c], e.second[c] = o.at, e.first[c]
		case o.at < e.second[c]:
			e.second[c] = o.at
		}
	})
	if err != nil {
		return err
	}
	err = log.ScanCustomersUpTo(ctx, ws, after, seq, func(cust string, firstSeen time.Time) {
		e.seen[e.customer(cust)] = firstSeen.UnixMicro()
	})
	if err != nil {
		return err
	}
	if tooMany {
		return fmt.Errorf("%w: more than %d orders", ErrTooManyOrders, MaxWorkspaceOrders)
	}
	added := e.orders[n:]
	if n > 0 && len(added) > 0 {
		// Late events arrive out of time order: only then is a sort needed.
		last := e.orders[n-1].at
		for _, o := range added {
			if o.at < last {
				n = 0
				break
			}
		}
	}
	if n == 0 {
		slices.SortFunc(e.orders, func(a, b order) int { return compareInt(a.at, b.at) })
	} else {
		slices.SortFunc(added, func(a, b order) int { return compareInt(a.at, b.at) })
	}
	e.loaded, e.structure, e.seq = true, structure, seq
	return nil
}

func (e *orderSet) customer(name string) int32 {
	if i, ok := e.ids[name]; ok {
		return i
	}
	i := int32(len(e.names))
	e.ids[name] = i
	e.names = append(e.names, name)
	e.first = append(e.first, math.MaxInt64)
	e.second = append(e.second, math.MaxInt64)
	e.seen = append(e.seen, math.MaxInt64)
	return i
}

func (e *orderSet) currency(code string) int32 {
	if i, ok := e.currencyIDs[code]; ok {
		return i
	}
	i := int32(len(e.currencies))
	e.currencyIDs[code] = i
	e.currencies = append(e.currencies, code)
	return i
}

// evict drops the least recently used workspaces (never keep) while the
// cache holds more than maxCachedOrders.
func (c *orderCache) evict(keep string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		total := 0
		var oldest string
		var oldestTime time.Time
		for ws, e := range c.entries {
			if !e.mu.TryRLock() {
				continue
			}
			total += len(e.orders)
			if ws != keep && (oldest == "" || e.lastUsed.Before(oldestTime)) {
				oldest, oldestTime = ws, e.lastUsed
			}
			e.mu.RUnlock()
		}
		if total <= maxCachedOrders || oldest == "" {
			return
		}
		delete(c.entries, oldest)
	}
}
