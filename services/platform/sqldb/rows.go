package sqldb

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"strings"
)

// MaxRowsPerStatement bounds the rows of one multi-row statement of
// InsertRows and QueryRows, keeping its parameters under both backends'
// limits (PostgreSQL: 65,535) for rows of up to 131 columns.
const MaxRowsPerStatement = 500

// InsertRows writes n rows with multi-row statements of a few sizes
// (powers of two up to MaxRowsPerStatement rows, see ChunkRows), each
// prepared once (ExecPrepared): a consumer applying a batch of messages
// then runs a handful of statements instead of one per message and
// table. head is the statement up to VALUES, tail what follows the rows
// (an ON CONFLICT clause, or ""), and row appends the values of row i to
// args, cols of them. On SQLite an "INSERT INTO" head runs as "INSERT OR
// FAIL INTO" (see Dialect.OrFail): a failed statement leaves the
// transaction to be rolled back, as every error in an InTx callback does.
func (tx *Tx) InsertRows(ctx context.Context, head, tail string, cols, n int, row func(args []any, i int) ([]any, error)) error {
	return tx.eachRowsChunk(head, tail, cols, n, row, func(query string, args []any) error {
		_, err := tx.ExecPrepared(ctx, query, args...)
		return err
	})
}

// QueryRows is InsertRows for a statement whose tail has a RETURNING
// clause: scan is called for every row returned.
func (tx *Tx) QueryRows(ctx context.Context, head, tail string, cols, n int, row func(args []any, i int) ([]any, error), scan func(RowScanner) error) error {
	return tx.eachRowsChunk(head, tail, cols, n, row, func(query string, args []any) error {
		rows, err := tx.QueryPrepared(ctx, query, args...)
		if err != nil {
			return err
		}
		return scanAll(rows, scan)
	})
}

func (tx *Tx) eachRowsChunk(head, tail string, cols, n int, row func(args []any, i int) ([]any, error), run func(query string, args []any) error) error {
	done := 0
	for _, k := range ChunkRows(n, MaxRowsPerStatement) {
		args := make([]any, 0, k*cols)
		for i := done; i < done+k; i++ {
			var err error
			if args, err = row(args, i); err != nil {
				return err
			}
		}
		query := tx.Dialect.multiRowHead(head) + ` VALUES ` + tx.Dialect.Rows(k, cols)
		if tail != "" {
			query += " " + tail
		}
		if err := run(query, args); err != nil {
			return err
		}
		done += k
	}
	return nil
}

// QueryIn runs query, whose %s is an IN list of values after the
// parameters args, for each chunk of values, prepared once per transaction
// (QueryPrepared), and calls scan for every row. The lists are padded to a
// power of two (PadIn), so the statement comes in a few sizes.
func (tx *Tx) QueryIn(ctx context.Context, query string, args []any, values []string, scan func(RowScanner) error) error {
	return queryIn(ctx, tx.Dialect, tx.QueryPrepared, query, args, values, scan)
}

// QueryIn is Tx.QueryIn outside a transaction, with the statements
// prepared once per database.
func (db *DB) QueryIn(ctx context.Context, query string, args []any, values []string, scan func(RowScanner) error) error {
	return queryIn(ctx, db.Dialect, db.QueryPrepared, query, args, values, scan)
}

func queryIn(ctx context.Context, d Dialect, queryPrepared func(context.Context, string, ...any) (*sql.Rows, error),
	query string, args []any, values []string, scan func(RowScanner) error) error {
	for chunk := range slices.Chunk(values, MaxRowsPerStatement) {
		in, inArgs := d.InList(len(args)+1, PadIn(chunk))
		rows, err := queryPrepared(ctx, strings.Replace(query, "%s", in, 1), append(slices.Clip(args), inArgs...)...)
		if err != nil {
			return err
		}
		if err := scanAll(rows, scan); err != nil {
			return err
		}
	}
	return nil
}

func scanAll(rows *sql.Rows, scan func(RowScanner) error) error {
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// PadIn returns values padded to a power of two by repeating the last one,
// which an IN list ignores, so that IN-list queries come in a few sizes
// the statement cache keeps.
func PadIn(values []string) []string {
	n := 1
	for n < len(values) {
		n *= 2
	}
	out := slices.Grow(slices.Clone(values), n-len(values))
	for len(out) < n {
		out = append(out, values[len(values)-1])
	}
	return out
}

// WorkspaceKey is a row key of two text columns: a workspace and an id in
// it.
type WorkspaceKey struct{ Workspace, ID string }

func compareWorkspaceKeys(a, b WorkspaceKey) int {
	return cmp.Or(cmp.Compare(a.Workspace, b.Workspace), cmp.Compare(a.ID, b.ID))
}

// InsertNew inserts a row for each distinct one of keys, the key's two
// values followed by extra, and reports for each of keys whether it is
// new: not stored before, and not repeating an earlier element of keys.
// A consumer records the ids of a batch of messages so, applying each
// once however often it is delivered. head is the INSERT up to VALUES;
// tail must be "ON CONFLICT … DO NOTHING RETURNING" the two key columns.
// Rows go in key order, so two transactions inserting overlapping keys
// lock them in one order (PostgreSQL).
func (tx *Tx) InsertNew(ctx context.Context, head, tail string, keys []WorkspaceKey, extra ...any) ([]bool, error) {
	distinct := slices.CompactFunc(slices.SortedFunc(slices.Values(keys), compareWorkspaceKeys), func(a, b WorkspaceKey) bool { return a == b })
	inserted := make(map[WorkspaceKey]bool, len(distinct))
	err := tx.QueryRows(ctx, head, tail, 2+len(extra), len(distinct),
		func(args []any, i int) ([]any, error) {
			return append(append(args, distinct[i].Workspace, distinct[i].ID), extra...), nil
		},
		func(row RowScanner) error {
			var k WorkspaceKey
			err := row.Scan(&k.Workspace, &k.ID)
			inserted[k] = true
			return err
		})
	if err != nil {
		return nil, err
	}
	fresh := make([]bool, len(keys))
	for i, k := range keys {
		fresh[i] = inserted[k]
		delete(inserted, k) // a repeat is not new
	}
	return fresh, nil
}
