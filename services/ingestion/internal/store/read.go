package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/consent"
	"github.com/kizuna/kizuna/services/ingestion/internal/customer"
	"github.com/kizuna/kizuna/services/ingestion/internal/identity"
	"github.com/kizuna/kizuna/services/ingestion/internal/profile"

	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/validation"
)

func fsSub() (fs.FS, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return sub, nil
}

// maxRedirects bounds following merged customers to their survivor.
const maxRedirects = 16

// Customer returns a profile, following merges to the surviving customer.
func (s *Store) Customer(ctx context.Context, ws, id string) (*customer.Customer, error) {
	found, err := s.Customers(ctx, ws, []string{id})
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("customer %q: %w", id, customer.ErrNotFound)
	}
	return found[0], nil
}

// Customers returns the profiles of ids in their order, each following
// merges to its survivor; unknown ids are left out. It costs a query per
// merge hop plus one for identities, however many ids are asked for.
func (s *Store) Customers(ctx context.Context, ws string, ids []string) ([]*customer.Customer, error) {
	rows := map[string]customerRow{}
	pending := ids
	for hop := 0; len(pending) > 0; hop++ {
		if hop == maxRedirects {
			return nil, fmt.Errorf("customers: merge chain longer than %d", maxRedirects)
		}
		loaded, err := s.customerRows(ctx, ws, pending)
		if err != nil {
			return nil, err
		}
		pending = nil
		for _, r := range loaded {
			rows[r.id] = r
			if _, seen := rows[r.mergedInto]; r.mergedInto != "" && !seen {
				pending = append(pending, r.mergedInto)
			}
		}
	}
	survivors := map[string]*customer.Customer{}
	var order []*customer.Customer
	region, regionRead := "", false
	for _, id := range ids {
		r, ok := rows[id]
		for hop := 0; ok && r.mergedInto != "" && hop < maxRedirects; hop++ {
			r, ok = rows[r.mergedInto]
		}
		if !ok || r.mergedInto != "" {
			continue
		}
		c, done := survivors[r.id]
		if !done {
			traits, err := decodeTraits(r.traits)
			if err != nil {
				return nil, err
			}
			c = &customer.Customer{
				ID: r.id, Traits: traits, CreateTime: fromMicros(r.createTime), UpdateTime: fromMicros(r.updateTime),
				FirstSeen: fromMicros(r.firstSeen), LastSeen: fromMicros(r.lastSeen), EventCount: r.eventCount,
			}
			if c.Consents, err = consent.Decode(r.consents); err != nil {
				return nil, err
			}
			if err := json.Unmarshal([]byte(r.identityTraits), &c.IdentityTraits); err != nil {
				return nil, fmt.Errorf("decode identity traits of %s: %w", r.id, err)
			}
			if len(c.IdentityTraits) == 0 && len(traits) > 0 {
				// Stored before identity traits were (migration 0003):
				// derived now, stored with the next identify.
				if !regionRead {
					if region, err = s.PhoneRegion(ctx, ws); err != nil {
						return nil, err
					}
					regionRead = true
				}
				c.IdentityTraits = profile.Describe(traits, region)
			}
			survivors[r.id] = c
		}
		order = append(order, c)
	}
	if err := s.loadIdentities(ctx, ws, survivors); err != nil {
		return nil, err
	}
	return order, nil
}

func (s *Store) customerRows(ctx context.Context, ws string, ids []string) ([]customerRow, error) {
	args := []any{ws}
	for _, id := range ids {
		args = append(args, id)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+customerColumns+` FROM customers WHERE workspace_id = $1 AND customer_id IN (`+sqldb.Placeholders(2, len(ids))+`)`, args...)
	if err != nil {
		return nil, fmt.Errorf("load customers: %w", err)
	}
	defer rows.Close()
	var out []customerRow
	for rows.Next() {
		r, err := scanCustomer(rows)
		if err != nil {
			return nil, fmt.Errorf("scan customer: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *Store) loadIdentities(ctx context.Context, ws string, customers map[string]*customer.Customer) error {
	if len(customers) == 0 {
		return nil
	}
	args := []any{ws}
	for id := range customers {
		args = append(args, id)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT customer_id, kind, value FROM identities WHERE workspace_id = $1 AND customer_id IN (`+
		sqldb.Placeholders(2, len(customers))+`) ORDER BY kind, value`, args...)
	if err != nil {
		return fmt.Errorf("load identities: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var k identity.Key
		if err := rows.Scan(&id, &k.Kind, &k.Value); err != nil {
			return fmt.Errorf("scan identity: %w", err)
		}
		customers[id].Identities = append(customers[id].Identities, k)
	}
	return rows.Err()
}

// Lookup returns the customer holding an identity.
func (s *Store) Lookup(ctx context.Context, ws string, key identity.Key) (*customer.Customer, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT customer_id FROM identities WHERE workspace_id = $1 AND kind = $2 AND value = $3`,
		ws, key.Kind, key.Value).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("identity %s: %w", key.Kind, customer.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("look up identity: %w", err)
	}
	return s.Customer(ctx, ws, id)
}

// CustomerEvents lists a customer's events newest first. The page token is
// the position after the last event returned.
func (s *Store) CustomerEvents(ctx context.Context, ws, customerID string, pageSize int, token string) (*customer.EventPage, error) {
	c, err := liveInfo(ctx, s.db, ws, customerID)
	if err != nil {
		return nil, err
	}
	q := `SELECT event_id, customer_id, type, name, user_id, anonymous_id, event_time, receive_time, properties, traits, context,
		group_id, previous_id, order_id, revenue, currency FROM events WHERE workspace_id = $1 AND customer_id = $2`
	args := []any{ws, c.ID}
	if token != "" {
		at, id, err := decodeTimeToken(token)
		if err != nil {
			return nil, err
		}
		q += ` AND (event_time < $3 OR (event_time = $3 AND event_id < $4))`
		args = append(args, at, id)
	}
	q += fmt.Sprintf(` ORDER BY event_time DESC, event_id DESC LIMIT %d`, pageSize+1)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	page := &customer.EventPage{}
	for rows.Next() {
		var e customer.Event
		var at, recv int64
		var props, traits, ctxJSON string
		if err := rows.Scan(&e.EventID, &e.CustomerID, &e.Type, &e.Name, &e.UserID, &e.AnonymousID, &at, &recv, &props, &traits, &ctxJSON,
			&e.GroupID, &e.PreviousID, &e.OrderID, &e.Revenue, &e.Currency); err != nil {
			return nil, fmt.Errorf("scan event: %w", err)
		}
		e.WorkspaceID, e.Time, e.ReceiveTime = ws, fromMicros(at), fromMicros(recv)
		if e.Properties, err = decodeTraits(props); err != nil {
			return nil, err
		}
		if e.Traits, err = decodeTraits(traits); err != nil {
			return nil, err
		}
		if e.Context, err = decodeTraits(ctxJSON); err != nil {
			return nil, err
		}
		page.Events = append(page.Events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	page.Events, page.NextToken = trimPage(page.Events, pageSize, func(e customer.Event) string { return timeToken(e.Time, e.EventID) })
	return page, nil
}

// ErrBadPageToken reports a page token this store did not issue. It is bad
// input like any other (a *validation.Error on page_token), so the API
// answers it as InvalidArgument without knowing the store.
var ErrBadPageToken = validation.Invalid("page_token", "is not a token this service issued")

// Page tokens are "position|id" of the last row returned: keyset paging on
// (position, id), so inserts between pages neither repeat nor skip rows.
func encodeToken(pos, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(pos + "|" + id))
}

func decodeToken(token string) (pos, id string, err error) {
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return "", "", ErrBadPageToken
	}
	pos, id, ok := strings.Cut(string(b), "|")
	if !ok {
		return "", "", ErrBadPageToken
	}
	return pos, id, nil
}

// timeToken and decodeTimeToken page on a time in microseconds.
func timeToken(at time.Time, id string) string {
	return encodeToken(strconv.FormatInt(micros(at), 10), id)
}

func decodeTimeToken(token string) (int64, string, error) {
	pos, id, err := decodeToken(token)
	if err != nil {
		return 0, "", err
	}
	at, err := strconv.ParseInt(pos, 10, 64)
	if err != nil {
		return 0, "", ErrBadPageToken
	}
	return at, id, nil
}

// trimPage cuts rows read with LIMIT size+1 to size and returns the token of
// the next page, or "" when there is none.
func trimPage[T any](rows []T, size int, token func(T) string) ([]T, string) {
	if len(rows) <= size {
		return rows, ""
	}
	return rows[:size], token(rows[size-1])
}

// OutboxMessage is a queued bus message.
type OutboxMessage struct {
	Seq         int64
	WorkspaceID string
	Kind        string
	MsgID       string
	Payload     []byte
	// TraceContext is the writing request's trace (bus.EncodeTrace).
	TraceContext string
}

// PendingOutbox returns up to limit queued messages whose sequence number
// is above after, oldest first.
func (s *Store) PendingOutbox(ctx context.Context, after int64, limit int) ([]OutboxMessage, error) {
	rows, err := s.db.QueryPrepared(ctx, `SELECT seq, workspace_id, kind, msg_id, payload, trace_context FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2`,
		after, limit)
	if err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	defer rows.Close()
	out := make([]OutboxMessage, 0, limit)
	for rows.Next() {
		var m OutboxMessage
		if err := rows.Scan(&m.Seq, &m.WorkspaceID, &m.Kind, &m.MsgID, &m.Payload, &m.TraceContext); err != nil {
			return nil, fmt.Errorf("scan outbox: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read outbox: %w", err)
	}
	return out, nil
}

// OutboxBacklog counts the queued messages.
func (s *Store) OutboxBacklog(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count outbox: %w", err)
	}
	return n, nil
}

// DeleteOutbox removes published messages by sequence number, in one
// transaction. Deleting by list, not by range, matters on PostgreSQL:
// sequence numbers can commit out of order, so a lower one may still be
// unpublished. Runs of consecutive numbers are deleted as ranges all the
// same — no other row can hold a number inside a run — which on SQLite,
// whose numbers commit in order, makes a few thousand rows one or two short
// prepared statements; many short runs (PostgreSQL's interleaved writers)
// are deleted by list.
func (s *Store) DeleteOutbox(ctx context.Context, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	seqs = slices.Clone(seqs)
	slices.Sort(seqs)
	runs := seqRuns(seqs)
	// InTx, so that on SQLite the delete queues for the write lock with
	// the group writer: as an autocommit statement it slept in SQLite's busy
	// handler while the writer took the lock again and again, and under
	// sustained load the relay fell minutes behind.
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		if len(runs) <= maxOutboxDeleteRuns {
			for _, r := range runs {
				if _, err := tx.ExecPrepared(ctx, `DELETE FROM outbox WHERE seq >= $1 AND seq <= $2`, r[0], r[1]); err != nil {
					return err
				}
			}
			return nil
		}
		for chunk := range slices.Chunk(seqs, outboxDeleteChunk) {
			args := make([]any, len(chunk))
			for i, seq := range chunk {
				args[i] = seq
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE seq IN (`+sqldb.Placeholders(1, len(chunk))+`)`, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("delete %d outbox rows: %w", len(seqs), err)
	}
	return nil
}

// Bounds of DeleteOutbox's statements.
const (
	maxOutboxDeleteRuns = 8
	outboxDeleteChunk   = 1000
)

// seqRuns splits sorted, distinct sequence numbers into runs of consecutive
// ones, each as its first and last number.
func seqRuns(seqs []int64) [][2]int64 {
	var runs [][2]int64
	for _, seq := range seqs {
		if n := len(runs); n > 0 && runs[n-1][1] == seq-1 {
			runs[n-1][1] = seq
			continue
		}
		runs = append(runs, [2]int64{seq, seq})
	}
	return runs
}

// CustomerTraits returns the stored traits of the customers among ids
// (unknown ids are absent), as the transaction sees them.
func (t *Tx) CustomerTraits(ctx context.Context, ws string, ids []string) (map[string]map[string]any, error) {
	if err := t.syncRows(ctx); err != nil {
		return nil, err
	}
	out := make(map[string]map[string]any, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	in, args := t.tx.Dialect.InList(2, ids)
	rows, err := t.tx.QueryContext(ctx, `SELECT customer_id, traits FROM customers WHERE workspace_id = $1 AND customer_id IN (`+in+`)`,
		append([]any{ws}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("read traits: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, traits string
		if err := rows.Scan(&id, &traits); err != nil {
			return nil, fmt.Errorf("scan traits: %w", err)
		}
		if out[id], err = decodeTraits(traits); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read traits: %w", err)
	}
	return out, nil
}
