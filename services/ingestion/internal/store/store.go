// Package store keeps ingestion's data: workspaces and API keys, customers
// and their identities, events, merges and the bus outbox. One portable SQL
// implementation serves SQLite and PostgreSQL (see docs/DESIGN.md). It is
// an adapter: the types and the rules are the domain packages' (customer,
// workspace, dedupe, imports, rights), and it satisfies the storage
// interfaces those packages declare.
package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/consent"
	"github.com/kizuna/kizuna/services/ingestion/internal/customer"
	"github.com/kizuna/kizuna/services/ingestion/internal/identity"
	"github.com/kizuna/kizuna/services/ingestion/internal/workspace"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store reads and writes ingestion's tables.
type Store struct {
	db *sqldb.DB
	// analyzer keeps PostgreSQL's statistics of the tables ingestion grows
	// current while they are young.
	analyzer *sqldb.Analyzer
	// keys caches VerifyKey's answers (see keyCacheTTL).
	keys *auth.CachingVerifier
}

// Open runs the migrations and returns the store.
func Open(ctx context.Context, db *sqldb.DB) (*Store, error) {
	sub, err := fsSub()
	if err != nil {
		return nil, err
	}
	if err := sqldb.Migrate(ctx, db, sub); err != nil {
		return nil, fmt.Errorf("migrate ingestion store: %w", err)
	}
	s := &Store{db: db, analyzer: sqldb.NewAnalyzer(db, "events", "customers", "identities")}
	s.keys = auth.NewCachingVerifier(keyTable{s}, keyCacheTTL, 0)
	return s, nil
}

// settingsColumns are the columns of a workspace's settings, in the order
// of settingsValues and scanWorkspace.
const settingsColumns = `display_name, phone_region, timezone, quiet_hours_start, quiet_hours_end,
	frequency_caps, allow_loopback_urls, allow_private_urls, require_consent, event_retention_days`

// settingsValues returns the values of settingsColumns; an empty Timezone
// is stored as DefaultTimezone.
func settingsValues(ws workspace.Workspace) ([]any, error) {
	caps := ws.FrequencyCaps
	if caps == nil {
		caps = []workspace.FrequencyCap{}
	}
	cj, err := json.Marshal(caps)
	if err != nil {
		return nil, fmt.Errorf("encode frequency caps: %w", err)
	}
	tz := ws.Timezone
	if tz == "" {
		tz = workspace.DefaultTimezone
	}
	return []any{ws.DisplayName, ws.PhoneRegion, tz, ws.QuietHours.Start, ws.QuietHours.End,
		string(cj), ws.AllowLoopbackURLs, ws.AllowPrivateURLs, ws.RequireConsent, ws.EventRetentionDays}, nil
}

// scanWorkspace reads create_time and settingsColumns.
func scanWorkspace(sc interface{ Scan(...any) error }, ws *workspace.Workspace) error {
	var created int64
	var caps string
	if err := sc.Scan(&created, &ws.DisplayName, &ws.PhoneRegion, &ws.Timezone, &ws.QuietHours.Start, &ws.QuietHours.End,
		&caps, &ws.AllowLoopbackURLs, &ws.AllowPrivateURLs, &ws.RequireConsent, &ws.EventRetentionDays); err != nil {
		return err
	}
	ws.CreateTime = fromMicros(created)
	if ws.Timezone == "" {
		ws.Timezone = workspace.DefaultTimezone
	}
	ws.FrequencyCaps = nil
	if err := json.Unmarshal([]byte(caps), &ws.FrequencyCaps); err != nil {
		return fmt.Errorf("decode frequency caps: %w", err)
	}
	return nil
}

// CreateWorkspace stores a workspace with its first key (key.WorkspaceID
// is set to the workspace's).
func (s *Store) CreateWorkspace(ctx context.Context, ws workspace.Workspace, key workspace.APIKey, keyHash string) error {
	vals, err := settingsValues(ws)
	if err != nil {
		return err
	}
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO workspaces (workspace_id, create_time, `+settingsColumns+`)
			VALUES ($1, $2, `+sqldb.Placeholders(3, len(vals))+`)`, append([]any{ws.ID, micros(ws.CreateTime)}, vals...)...); err != nil {
			return fmt.Errorf("insert workspace: %w", err)
		}
		key.WorkspaceID = ws.ID
		return insertAPIKey(ctx, tx, key, keyHash)
	})
}

// PhoneRegion returns the region a workspace reads phone numbers in; an
// unknown workspace reads them as Japanese.
func (s *Store) PhoneRegion(ctx context.Context, ws string) (string, error) {
	return phoneRegion(ctx, s.db, ws)
}

// querier is what reads need of a DB or a transaction, so one read serves
// both. Statements are prepared once per database: several of these reads
// run on every request.
type querier interface {
	QueryRowPrepared(ctx context.Context, query string, args ...any) sqldb.RowScanner
}

func phoneRegion(ctx context.Context, q querier, ws string) (string, error) {
	var r string
	err := q.QueryRowPrepared(ctx, `SELECT phone_region FROM workspaces WHERE workspace_id = $1`, ws).Scan(&r)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read phone region: %w", err)
	}
	return r, nil
}

// Workspace returns a workspace.
func (s *Store) Workspace(ctx context.Context, id string) (workspace.Workspace, error) {
	return loadWorkspace(ctx, s.db, id, false)
}

// loadWorkspace reads a workspace, locking its row when forUpdate is set.
func loadWorkspace(ctx context.Context, q querier, id string, forUpdate bool) (workspace.Workspace, error) {
	ws := workspace.Workspace{ID: id}
	query := `SELECT create_time, ` + settingsColumns + ` FROM workspaces WHERE workspace_id = $1`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	err := scanWorkspace(q.QueryRowPrepared(ctx, query, id), &ws)
	if errors.Is(err, sql.ErrNoRows) {
		return workspace.Workspace{}, fmt.Errorf("workspace %q: %w", id, workspace.ErrNotFound)
	}
	if err != nil {
		return workspace.Workspace{}, fmt.Errorf("load workspace %q: %w", id, err)
	}
	return ws, nil
}

// UpdateWorkspace changes a workspace's settings in one transaction: it
// loads the workspace, lets change modify it and stores the result (id and
// create time stay), so concurrent updates of different settings do not
// undo each other. An error from change is returned as is, with nothing
// stored.
func (s *Store) UpdateWorkspace(ctx context.Context, id string, change func(*workspace.Workspace) error) (workspace.Workspace, error) {
	var out workspace.Workspace
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		// SQLite runs one writer at a time; PostgreSQL locks the row.
		ws, err := loadWorkspace(ctx, tx, id, tx.Dialect == sqldb.Postgres)
		if err != nil {
			return err
		}
		if err := change(&ws); err != nil {
			return err
		}
		vals, err := settingsValues(ws)
		if err != nil {
			return err
		}
		// The SET list follows settingsColumns.
		if _, err := tx.ExecContext(ctx, `UPDATE workspaces SET display_name = $2, phone_region = $3, timezone = $4,
			quiet_hours_start = $5, quiet_hours_end = $6, frequency_caps = $7, allow_loopback_urls = $8, allow_private_urls = $9,
			require_consent = $10, event_retention_days = $11
			WHERE workspace_id = $1`, append([]any{id}, vals...)...); err != nil {
			return fmt.Errorf("update workspace %q: %w", id, err)
		}
		out, err = loadWorkspace(ctx, tx, id, false)
		return err
	})
	if err != nil {
		return workspace.Workspace{}, err
	}
	return out, nil
}

// CountWorkspaces counts workspaces.
func (s *Store) CountWorkspaces(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM workspaces`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count workspaces: %w", err)
	}
	return n, nil
}

// InTx runs fn in one transaction; see sqldb.DB.InTx for retries.
func (s *Store) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	inserted := 0
	err := s.db.InTx(ctx, func(t *sqldb.Tx) error {
		tx := &Tx{tx: t, w: newWriteSet()}
		if err := fn(tx); err != nil {
			return err
		}
		if err := tx.flush(ctx); err != nil {
			return err
		}
		inserted = tx.w.inserted
		return nil
	})
	if err != nil {
		return err
	}
	s.analyzer.Wrote(inserted)
	return nil
}

// For returns s as the Store of a consumer whose transactions see its own
// Tx interface T (ingest.Tx, dedupe.Tx …), which *Tx satisfies: Go's func
// types do not convert, so func(*Tx) error cannot stand in for
// func(T) error. The store tests assert that *Tx satisfies each T.
func For[T any](s *Store) Bound[T] { return Bound[T]{s} }

// Bound is a Store whose InTx hands fn a T; see For.
type Bound[T any] struct{ *Store }

// InTx runs fn in one transaction; see Store.InTx.
func (b Bound[T]) InTx(ctx context.Context, fn func(tx T) error) error {
	return b.Store.InTx(ctx, func(tx *Tx) error { return fn(any(tx).(T)) })
}

// Tx is the write side of ingestion, used inside one transaction.
type Tx struct {
	tx *sqldb.Tx
	w  *writeSet
}

// PhoneRegion returns the region a workspace reads phone numbers in; an
// unknown workspace reads them as Japanese.
func (t *Tx) PhoneRegion(ctx context.Context, ws string) (string, error) {
	if r, ok := t.w.regions[ws]; ok {
		return r, nil
	}
	r, err := phoneRegion(ctx, t.tx, ws)
	if err != nil {
		return "", err
	}
	t.w.regions[ws] = r
	return r, nil
}

// EventCustomer returns the customer a stored event belongs to, and whether
// the event exists.
func (t *Tx) EventCustomer(ctx context.Context, ws, eventID string) (string, bool, error) {
	if id, ok := t.w.events[wsKey(ws, eventID)]; ok {
		return id, id != "", nil
	}
	var id string
	err := t.tx.QueryRowContext(ctx, `SELECT customer_id FROM events WHERE workspace_id = $1 AND event_id = $2`, ws, eventID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("look up event %q: %w", eventID, err)
	}
	return id, true, nil
}

// FindIdentities returns the customers holding any of keys, in the order
// of keys; what the transaction already knows is answered from memory.
func (t *Tx) FindIdentities(ctx context.Context, ws string, keys []identity.Key) ([]identity.Match, error) {
	var unknown []identity.Key
	for _, k := range keys {
		if _, ok := t.w.idents[identKey(ws, k)]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		if err := t.lookUpIdentities(ctx, ws, unknown); err != nil {
			return nil, err
		}
	}
	var out []identity.Match
	for _, k := range keys {
		id := t.w.idents[identKey(ws, k)]
		if id == "" {
			continue
		}
		c, ok := t.w.customers[wsKey(ws, id)]
		if !ok {
			return nil, fmt.Errorf("identity %s: customer %s not cached", k.Kind, id)
		}
		out = append(out, identity.Match{Key: k, Customer: c})
	}
	return out, nil
}

// CreateCustomer adds an empty customer first seen at seen (written at
// flush).
func (t *Tx) CreateCustomer(ctx context.Context, ws, customerID string, seen, now time.Time) error {
	t.w.bufferNewCustomer(ws, customerID, micros(seen), micros(now))
	t.w.customers[wsKey(ws, customerID)] = identity.Customer{ID: customerID, CreateTime: fromMicros(micros(now))}
	return nil
}

// AttachIdentity points key at a customer (written at flush); a user id is
// also recorded on the customer itself.
func (t *Tx) AttachIdentity(ctx context.Context, ws string, key identity.Key, customerID string, now time.Time) error {
	t.w.newIdents = append(t.w.newIdents, identityRow{ws: ws, kind: key.Kind, value: key.Value, customerID: customerID, at: micros(now)})
	if key.Kind == identity.UserID {
		row, err := t.loadCustomer(ctx, ws, customerID)
		if err != nil {
			return fmt.Errorf("record user id: %w", err)
		}
		if row.row.userID == "" {
			row.row.userID = key.Value
			row.markDirty()
		}
	}
	c, ok := t.w.customers[wsKey(ws, customerID)]
	if !ok {
		// Unknown here: the next look-up reads the database (after
		// writing this identity).
		delete(t.w.idents, identKey(ws, key))
		return nil
	}
	if key.Kind == identity.UserID && c.UserID == "" {
		c.UserID = key.Value
		t.w.customers[wsKey(ws, customerID)] = c
	}
	t.w.idents[identKey(ws, key)] = customerID
	return nil
}

// Touch counts an event on a customer and sets traits (identify calls) and
// consents (statements the message makes). Counters alone are added up
// per customer; a customer whose traits or consents change is held in
// memory until the flush.
func (t *Tx) Touch(ctx context.Context, ws, customerID string, eventTime time.Time, traits map[string]any, consents []consent.Statement, now time.Time) error {
	at := micros(eventTime)
	if len(traits) == 0 && len(consents) == 0 {
		t.w.addTouch(ws, customerID, at, micros(now))
		return nil
	}
	c, err := t.loadCustomer(ctx, ws, customerID)
	if err != nil {
		return err
	}
	c.count(1, at, at, micros(now))
	if len(traits) > 0 {
		if err := c.setTraits(traits, micros(now)); err != nil {
			return err
		}
	}
	if len(consents) > 0 {
		if err := c.applyConsents(consents); err != nil {
			return err
		}
	}
	return nil
}

// InsertEvent stores an event (written with the transaction's other new
// events, before anything reads events back).
func (t *Tx) InsertEvent(ctx context.Context, e customer.Event) error {
	t.w.newEvents = append(t.w.newEvents, e)
	t.w.events[wsKey(e.WorkspaceID, e.EventID)] = e.CustomerID
	return nil
}

// AppendOutbox queues a bus message to publish after commit; outbox rows
// are written in the order they were appended.
func (t *Tx) AppendOutbox(ctx context.Context, ws, kind, msgID string, payload []byte, now time.Time) error {
	t.bufferOutbox(ctx, ws, kind, msgID, payload, micros(now))
	return nil
}

type customerRow struct {
	id, userID, traits, mergedInto string
	identityTraits, traitTimes     string
	consents                       string
	createTime, updateTime         int64
	firstSeen, lastSeen            int64
	eventCount                     int64
}

const customerColumns = `customer_id, user_id, traits, merged_into, create_time, update_time, first_seen, last_seen, event_count, identity_traits, trait_times, consents`

func scanCustomer(sc interface{ Scan(...any) error }) (customerRow, error) {
	var r customerRow
	err := sc.Scan(&r.id, &r.userID, &r.traits, &r.mergedInto, &r.createTime, &r.updateTime, &r.firstSeen, &r.lastSeen, &r.eventCount, &r.identityTraits, &r.traitTimes, &r.consents)
	return r, err
}

func (t *Tx) customer(ctx context.Context, ws, id string) (customerRow, error) {
	if err := t.syncRows(ctx); err != nil {
		return customerRow{}, err
	}
	r, err := scanCustomer(t.tx.QueryRowContext(ctx, `SELECT `+customerColumns+` FROM customers WHERE workspace_id = $1 AND customer_id = $2`, ws, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("customer %q: %w", id, customer.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("load customer %q: %w", id, err)
	}
	return r, nil
}

func decodeTraits(s string) (map[string]any, error) {
	m := map[string]any{}
	if s == "" {
		return m, nil
	}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, fmt.Errorf("decode traits: %w", err)
	}
	return m, nil
}

func encode3(a, b, c map[string]any) (string, string, string, error) {
	var out [3]string
	for i, m := range []map[string]any{a, b, c} {
		if len(m) == 0 {
			out[i] = "{}"
			continue
		}
		j, err := json.Marshal(m)
		if err != nil {
			return "", "", "", fmt.Errorf("encode json: %w", err)
		}
		out[i] = string(j)
	}
	return out[0], out[1], out[2], nil
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }
