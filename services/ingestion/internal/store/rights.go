package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/customer"
	"github.com/kizuna/kizuna/services/ingestion/internal/identity"
	"github.com/kizuna/kizuna/services/ingestion/internal/rights"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// LiveCustomer follows merges from id to the customer that holds it now.
func (t *Tx) LiveCustomer(ctx context.Context, ws, id string) (string, error) {
	if err := t.syncRows(ctx); err != nil {
		return "", err
	}
	for range maxRedirects {
		var into string
		err := t.tx.QueryRowContext(ctx, `SELECT merged_into FROM customers WHERE workspace_id = $1 AND customer_id = $2`, ws, id).Scan(&into)
		if errors.Is(err, sql.ErrNoRows) {
			return "", fmt.Errorf("customer %q: %w", id, customer.ErrNotFound)
		}
		if err != nil {
			return "", fmt.Errorf("read customer %q: %w", id, err)
		}
		if into == "" {
			return id, nil
		}
		id = into
	}
	return "", fmt.Errorf("customer %q: more than %d merge hops", id, maxRedirects)
}

// IdentityCustomer returns the customer holding key, "" when none does.
func (t *Tx) IdentityCustomer(ctx context.Context, ws string, key identity.Key) (string, error) {
	if err := t.syncRows(ctx); err != nil {
		return "", err
	}
	var id string
	err := t.tx.QueryRowContext(ctx, `SELECT customer_id FROM identities WHERE workspace_id = $1 AND kind = $2 AND value = $3`, ws, key.Kind, key.Value).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("find identity %s: %w", key.Kind, err)
	}
	return id, nil
}

// PersonCustomerIDs returns live and every customer merged into it, at any
// depth: one person's records.
func (t *Tx) PersonCustomerIDs(ctx context.Context, ws, live string) ([]string, error) {
	if err := t.syncRows(ctx); err != nil {
		return nil, err
	}
	out := []string{live}
	frontier := []string{live}
	for depth := 0; len(frontier) > 0 && depth < maxRedirects; depth++ {
		var next []string
		for len(frontier) > 0 {
			n := min(len(frontier), maxInList)
			in, args := t.tx.Dialect.InList(2, frontier[:n])
			frontier = frontier[n:]
			ids, err := sqldb.Strings(t.tx.QueryContext(ctx, `SELECT customer_id FROM customers WHERE workspace_id = $1 AND merged_into IN (`+in+`)`, append([]any{ws}, args...)...))
			if err != nil {
				return nil, fmt.Errorf("find merged customers: %w", err)
			}
			next = append(next, ids...)
		}
		out = append(out, next...)
		frontier = next
	}
	return out, nil
}

// PersonKeys returns every identity the customers hold or held before a
// merge moved it.
func (t *Tx) PersonKeys(ctx context.Context, ws string, ids []string) ([]identity.Key, error) {
	if err := t.syncRows(ctx); err != nil {
		return nil, err
	}
	seen := map[identity.Key]bool{}
	var out []identity.Key
	for _, table := range []string{"identities", "merge_identities"} {
		for rest := ids; len(rest) > 0; {
			n := min(len(rest), maxInList)
			in, args := t.tx.Dialect.InList(2, rest[:n])
			rest = rest[n:]
			rows, err := t.tx.QueryContext(ctx, `SELECT kind, value FROM `+table+` WHERE workspace_id = $1 AND customer_id IN (`+in+`)`, append([]any{ws}, args...)...)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", table, err)
			}
			for rows.Next() {
				var k identity.Key
				if err := rows.Scan(&k.Kind, &k.Value); err != nil {
					rows.Close()
					return nil, fmt.Errorf("scan %s: %w", table, err)
				}
				if !seen[k] {
					seen[k] = true
					out = append(out, k)
				}
			}
			if err := rows.Close(); err != nil {
				return nil, fmt.Errorf("read %s: %w", table, err)
			}
		}
	}
	return out, nil
}

// Suppress records suppressed identity hashes; existing ones are kept.
func (t *Tx) Suppress(ctx context.Context, ws string, hashes []string, regulationID string, now time.Time) error {
	for _, h := range hashes {
		if _, err := t.tx.ExecContext(ctx, `INSERT INTO suppressions (workspace_id, key_hash, regulation_id, create_time) VALUES ($1, $2, $3, $4)
			ON CONFLICT (workspace_id, key_hash) DO NOTHING`, ws, h, regulationID, micros(now)); err != nil {
			return fmt.Errorf("suppress: %w", err)
		}
	}
	return nil
}

// Unsuppress removes suppressed identity hashes and reports how many were.
func (t *Tx) Unsuppress(ctx context.Context, ws string, hashes []string) (int64, error) {
	var total int64
	for _, h := range hashes {
		res, err := t.tx.ExecContext(ctx, `DELETE FROM suppressions WHERE workspace_id = $1 AND key_hash = $2`, ws, h)
		if err != nil {
			return 0, fmt.Errorf("unsuppress: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}

// ErasePerson deletes every row about the customers ids, who held keys:
// profiles, identities, events, where merges moved them from, duplicate
// suggestions. Merge records keep only ids and can no longer be undone.
// It returns the rows deleted.
func (t *Tx) ErasePerson(ctx context.Context, ws string, ids []string, keys []identity.Key) (int64, error) {
	// Writes this transaction buffered must land before they are erased,
	// and what it cached about these customers is gone after.
	if err := t.flush(ctx); err != nil {
		return 0, err
	}
	defer t.w.forgetCustomers()
	var total int64
	exec := func(what, q string, args ...any) error {
		res, err := t.tx.ExecContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("erase %s: %w", what, err)
		}
		n, _ := res.RowsAffected()
		total += n
		return nil
	}
	for _, k := range keys {
		if err := exec("moved identity", `DELETE FROM merge_identities WHERE workspace_id = $1 AND kind = $2 AND value = $3`, ws, k.Kind, k.Value); err != nil {
			return 0, err
		}
	}
	for rest := ids; len(rest) > 0; {
		n := min(len(rest), maxInList)
		// Numbered placeholders: the list is bound twice in some statements.
		in, args := sqldb.InList(2, rest[:n])
		rest = rest[n:]
		args = append([]any{ws}, args...)
		for _, st := range []struct{ what, q string }{
			{"moved events", `DELETE FROM merge_events WHERE workspace_id = $1 AND (customer_id IN (` + in + `) OR event_id IN (SELECT event_id FROM events WHERE workspace_id = $1 AND customer_id IN (` + in + `)))`},
			{"moved identities", `DELETE FROM merge_identities WHERE workspace_id = $1 AND customer_id IN (` + in + `)`},
			{"events", `DELETE FROM events WHERE workspace_id = $1 AND customer_id IN (` + in + `)`},
			{"identities", `DELETE FROM identities WHERE workspace_id = $1 AND customer_id IN (` + in + `)`},
			{"suggestions", `DELETE FROM merge_suggestions WHERE workspace_id = $1 AND (customer_a IN (` + in + `) OR customer_b IN (` + in + `))`},
			{"customers", `DELETE FROM customers WHERE workspace_id = $1 AND customer_id IN (` + in + `)`},
		} {
			if err := exec(st.what, st.q, args...); err != nil {
				return 0, err
			}
		}
		// Merge records are ids only; undoing one would need the rows
		// just deleted.
		if _, err := t.tx.ExecContext(ctx, `UPDATE merges SET state = $2 WHERE workspace_id = $1 AND state = $3 AND survivor_id IN (`+shift(in, 2)+`)`,
			append([]any{ws, customer.MergeErased, customer.MergeApplied}, args[1:]...)...); err != nil {
			return 0, fmt.Errorf("erase merges: %w", err)
		}
	}
	return total, nil
}

// shift renumbers the $n placeholders of an InList made from 2 to start
// after by more.
func shift(in string, by int) string {
	parts := strings.Split(in, ", ")
	for i, p := range parts {
		var n int
		if _, err := fmt.Sscanf(p, "$%d", &n); err == nil {
			parts[i] = fmt.Sprintf("$%d", n+by)
		}
	}
	return strings.Join(parts, ", ")
}

// InsertRegulation records a regulation with its services' states.
func (t *Tx) InsertRegulation(ctx context.Context, ws string, r rights.Regulation) error {
	ids, err := json.Marshal(r.CustomerIDs)
	if err != nil {
		return fmt.Errorf("encode customer ids: %w", err)
	}
	var done int64
	if !r.DoneTime.IsZero() {
		done = micros(r.DoneTime)
	}
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO regulations (workspace_id, regulation_id, type, target_kind, target, customer_ids, create_time, done_time)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, ws, r.ID, r.Type, r.TargetKind, r.Target, string(ids), micros(r.CreateTime), done); err != nil {
		return fmt.Errorf("insert regulation: %w", err)
	}
	for _, s := range r.Services {
		state := "pending"
		if s.Done {
			state = "done"
		}
		if _, err := t.tx.ExecContext(ctx, `INSERT INTO regulation_services (workspace_id, regulation_id, service, state, affected_rows, update_time)
			VALUES ($1, $2, $3, $4, $5, $6)`, ws, r.ID, s.Service, state, s.AffectedRows, micros(s.UpdateTime)); err != nil {
			return fmt.Errorf("insert regulation service: %w", err)
		}
	}
	return nil
}

// SuppressedHashes returns which of hashes are suppressed in ws.
func (s *Store) SuppressedHashes(ctx context.Context, ws string, hashes []string) (map[string]bool, error) {
	return suppressedHashes(ctx, s.db.QueryIn, ws, hashes)
}

// SuppressedHashes is Store.SuppressedHashes inside the transaction: the
// group writer screens the messages it stores with it.
func (t *Tx) SuppressedHashes(ctx context.Context, ws string, hashes []string) (map[string]bool, error) {
	return suppressedHashes(ctx, t.tx.QueryIn, ws, hashes)
}

func suppressedHashes(ctx context.Context, queryIn func(ctx context.Context, query string, args []any, values []string, scan func(sqldb.RowScanner) error) error,
	ws string, hashes []string) (map[string]bool, error) {
	out := map[string]bool{}
	if len(hashes) == 0 {
		return out, nil
	}
	// Every tracking request asks: prepared statements, in a few IN-list
	// sizes.
	err := queryIn(ctx, `SELECT key_hash FROM suppressions WHERE workspace_id = $1 AND key_hash IN (%s)`, []any{ws}, hashes, func(row sqldb.RowScanner) error {
		var h string
		err := row.Scan(&h)
		out[h] = true
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read suppressions: %w", err)
	}
	return out, nil
}

// ReportRegulation records that service applied a regulation and marks the
// regulation done once every service is. A repeated report changes
// nothing; a report of an unknown regulation is ignored (it was for
// another deployment sharing the bus, or the workspace is gone).
func (s *Store) ReportRegulation(ctx context.Context, ws, id, service string, rows int64, now time.Time) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE regulation_services SET state = 'done', affected_rows = $4, update_time = $5
			WHERE workspace_id = $1 AND regulation_id = $2 AND service = $3 AND state <> 'done'`, ws, id, service, rows, micros(now))
		if err != nil {
			return fmt.Errorf("report regulation: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		var pending int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM regulation_services WHERE workspace_id = $1 AND regulation_id = $2 AND state <> 'done'`, ws, id).Scan(&pending); err != nil {
			return fmt.Errorf("count pending services: %w", err)
		}
		if pending == 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE regulations SET done_time = $3 WHERE workspace_id = $1 AND regulation_id = $2`, ws, id, micros(now)); err != nil {
				return fmt.Errorf("finish regulation: %w", err)
			}
		}
		return nil
	})
}

const regulationColumns = `regulation_id, type, target_kind, target, customer_ids, create_time, done_time`

// Regulation returns one regulation with its services.
func (s *Store) Regulation(ctx context.Context, ws, id string) (rights.Regulation, error) {
	rs, err := s.regulations(ctx, ws, `WHERE workspace_id = $1 AND regulation_id = $2`, ws, id)
	if err != nil {
		return rights.Regulation{}, err
	}
	if len(rs) == 0 {
		return rights.Regulation{}, fmt.Errorf("regulation %q: %w", id, rights.ErrNotFound)
	}
	return rs[0], nil
}

// Regulations pages through a workspace's regulations, newest first.
func (s *Store) Regulations(ctx context.Context, ws string, size int, token string) ([]rights.Regulation, string, error) {
	q, args := `WHERE workspace_id = $1`, []any{ws}
	if token != "" {
		at, id, err := decodeTimeToken(token)
		if err != nil {
			return nil, "", err
		}
		q += ` AND (create_time < $2 OR (create_time = $2 AND regulation_id < $3))`
		args = append(args, at, id)
	}
	rs, err := s.regulations(ctx, ws, q+fmt.Sprintf(` ORDER BY create_time DESC, regulation_id DESC LIMIT %d`, size+1), args...)
	if err != nil {
		return nil, "", err
	}
	rs, next := trimPage(rs, size, func(r rights.Regulation) string { return timeToken(r.CreateTime, r.ID) })
	return rs, next, nil
}

// CustomerRegulations returns the regulations that applied to a customer.
func (s *Store) CustomerRegulations(ctx context.Context, ws, customerID string) ([]rights.Regulation, error) {
	b, _ := json.Marshal(customerID)
	return s.regulations(ctx, ws, `WHERE workspace_id = $1 AND customer_ids LIKE $2 ORDER BY create_time`, ws, "%"+string(b)+"%")
}

func (s *Store) regulations(ctx context.Context, ws, where string, args ...any) ([]rights.Regulation, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+regulationColumns+` FROM regulations `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("read regulations: %w", err)
	}
	var out []rights.Regulation
	for rows.Next() {
		var r rights.Regulation
		var ids string
		var created, done int64
		if err := rows.Scan(&r.ID, &r.Type, &r.TargetKind, &r.Target, &ids, &created, &done); err != nil {
			rows.Close()
			return nil, fmt.Errorf("scan regulation: %w", err)
		}
		if err := json.Unmarshal([]byte(ids), &r.CustomerIDs); err != nil {
			rows.Close()
			return nil, fmt.Errorf("decode regulation customers: %w", err)
		}
		r.CreateTime = fromMicros(created)
		if done != 0 {
			r.DoneTime = fromMicros(done)
		}
		out = append(out, r)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("read regulations: %w", err)
	}
	for i := range out {
		srows, err := s.db.QueryContext(ctx, `SELECT service, state, affected_rows, update_time FROM regulation_services
			WHERE workspace_id = $1 AND regulation_id = $2 ORDER BY service`, ws, out[i].ID)
		if err != nil {
			return nil, fmt.Errorf("read regulation services: %w", err)
		}
		for srows.Next() {
			var sv rights.RegulationService
			var state string
			var at int64
			if err := srows.Scan(&sv.Service, &state, &sv.AffectedRows, &at); err != nil {
				srows.Close()
				return nil, fmt.Errorf("scan regulation service: %w", err)
			}
			sv.Done, sv.UpdateTime = state == "done", fromMicros(at)
			out[i].Services = append(out[i].Services, sv)
		}
		if err := srows.Close(); err != nil {
			return nil, fmt.Errorf("read regulation services: %w", err)
		}
	}
	return out, nil
}
