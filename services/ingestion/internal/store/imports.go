package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/imports"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

const importColumns = `workspace_id, import_id, kind, encoding, mapping, state, bytes_total, chunks, bytes_read, rows_read,
	rows_imported, rows_rejected, rows_duplicate, error, run_micros, create_time, start_time, update_time, end_time`

func scanImport(sc interface{ Scan(...any) error }) (imports.Import, error) {
	var im imports.Import
	var run, created, started, updated, ended int64
	err := sc.Scan(&im.WorkspaceID, &im.ID, &im.Kind, &im.Encoding, &im.Mapping, &im.State, &im.BytesTotal, &im.Chunks,
		&im.Progress.BytesRead, &im.Progress.RowsRead, &im.Progress.RowsImported, &im.Progress.RowsRejected, &im.Progress.RowsDuplicate,
		&im.Error, &run, &created, &started, &updated, &ended)
	im.Progress.Run = time.Duration(run) * time.Microsecond
	im.CreateTime, im.UpdateTime = fromMicros(created), fromMicros(updated)
	if started != 0 {
		im.StartTime = fromMicros(started)
	}
	if ended != 0 {
		im.EndTime = fromMicros(ended)
	}
	return im, err
}

// CreateImport records a new job waiting for its file.
func (s *Store) CreateImport(ctx context.Context, im imports.Import) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO imports (workspace_id, import_id, kind, encoding, mapping, state, create_time, update_time)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`, im.WorkspaceID, im.ID, im.Kind, im.Encoding, im.Mapping, imports.ImportUploading, micros(im.CreateTime)); err != nil {
			return fmt.Errorf("record import: %w", err)
		}
		return nil
	})
}

// Import returns a job.
func (s *Store) Import(ctx context.Context, ws, id string) (imports.Import, error) {
	return loadImport(ctx, s.db, ws, id, false)
}

func loadImport(ctx context.Context, q querier, ws, id string, forUpdate bool) (imports.Import, error) {
	query := `SELECT ` + importColumns + ` FROM imports WHERE workspace_id = $1 AND import_id = $2`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	im, err := scanImport(q.QueryRowPrepared(ctx, query, ws, id))
	if errors.Is(err, sql.ErrNoRows) {
		return imports.Import{}, fmt.Errorf("import %q: %w", id, imports.ErrNotFound)
	}
	if err != nil {
		return imports.Import{}, fmt.Errorf("load import %q: %w", id, err)
	}
	return im, nil
}

// AppendImportChunk stores the part of a job's file that starts at offset
// and returns the bytes uploaded, as imports.Import.CheckChunk decides: a
// retry changes nothing, a gap is refused, the file stays within maxTotal.
func (s *Store) AppendImportChunk(ctx context.Context, ws, id string, offset int64, data []byte, maxTotal int64, now time.Time) (int64, error) {
	var total int64
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		im, err := loadImport(ctx, tx, ws, id, tx.Dialect == sqldb.Postgres)
		if err != nil {
			return err
		}
		total = im.BytesTotal
		if retry, err := im.CheckChunk(offset, int64(len(data)), maxTotal); err != nil || retry {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO import_chunks (workspace_id, import_id, seq, data) VALUES ($1, $2, $3, $4)`,
			ws, id, im.Chunks, data); err != nil {
			return fmt.Errorf("store import chunk: %w", err)
		}
		total += int64(len(data))
		if _, err := tx.ExecContext(ctx, `UPDATE imports SET bytes_total = $3, chunks = $4, update_time = $5 WHERE workspace_id = $1 AND import_id = $2`,
			ws, id, total, im.Chunks+1, micros(now)); err != nil {
			return fmt.Errorf("record import chunk: %w", err)
		}
		return nil
	})
	return total, err
}

// StartImport queues an uploaded job; a job already started is returned
// as it is.
func (s *Store) StartImport(ctx context.Context, ws, id string, now time.Time) (imports.Import, error) {
	var out imports.Import
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		im, err := loadImport(ctx, tx, ws, id, tx.Dialect == sqldb.Postgres)
		if err != nil {
			return err
		}
		out = im
		if start, err := im.CheckStart(); err != nil || !start {
			return err
		}
		out.State, out.StartTime, out.UpdateTime = imports.ImportRunning, now, now
		if _, err := tx.ExecContext(ctx, `UPDATE imports SET state = $3, start_time = $4, update_time = $4 WHERE workspace_id = $1 AND import_id = $2`,
			ws, id, imports.ImportRunning, micros(now)); err != nil {
			return fmt.Errorf("start import: %w", err)
		}
		return nil
	})
	return out, err
}

// ClaimImport takes a running job no replica holds (or whose holder let
// its lease lapse, having stopped) for owner until leaseUntil. ok is false
// when there is none.
func (s *Store) ClaimImport(ctx context.Context, owner string, now, leaseUntil time.Time) (imports.Import, bool, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT workspace_id, import_id FROM imports WHERE state = $1 AND lease_until < $2 ORDER BY start_time LIMIT 10`,
		imports.ImportRunning, micros(now))
	if err != nil {
		return imports.Import{}, false, fmt.Errorf("find imports to run: %w", err)
	}
	var candidates [][2]string
	for rows.Next() {
		var c [2]string
		if err := rows.Scan(&c[0], &c[1]); err != nil {
			rows.Close()
			return imports.Import{}, false, fmt.Errorf("scan import: %w", err)
		}
		candidates = append(candidates, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return imports.Import{}, false, fmt.Errorf("find imports to run: %w", err)
	}
	for _, c := range candidates {
		var claimed bool
		err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
			res, err := tx.ExecContext(ctx, `UPDATE imports SET lease_owner = $3, lease_until = $4 WHERE workspace_id = $1 AND import_id = $2
				AND state = $5 AND lease_until < $6`, c[0], c[1], owner, micros(leaseUntil), imports.ImportRunning, micros(now))
			if err != nil {
				return fmt.Errorf("claim import: %w", err)
			}
			n, err := res.RowsAffected()
			claimed = n == 1
			return err
		})
		if err != nil {
			return imports.Import{}, false, err
		}
		if claimed {
			im, err := s.Import(ctx, c[0], c[1])
			return im, err == nil, err
		}
	}
	return imports.Import{}, false, nil
}

// SaveImportProgress records a job's progress and the rows it rejected
// since the last save, and extends owner's lease to leaseUntil. It fails
// with ErrLeaseLost when owner no longer holds the job.
func (s *Store) SaveImportProgress(ctx context.Context, ws, id, owner string, p imports.ImportProgress, rejected []imports.Rejection, now, leaseUntil time.Time) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE imports SET bytes_read = $4, rows_read = $5, rows_imported = $6, rows_rejected = $7,
			rows_duplicate = $8, run_micros = $9, update_time = $10, lease_until = $11
			WHERE workspace_id = $1 AND import_id = $2 AND lease_owner = $3 AND state = $12`,
			ws, id, owner, p.BytesRead, p.RowsRead, p.RowsImported, p.RowsRejected, p.RowsDuplicate, p.Run.Microseconds(),
			micros(now), micros(leaseUntil), imports.ImportRunning)
		if err != nil {
			return fmt.Errorf("record import progress: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			if err != nil {
				return fmt.Errorf("record import progress: %w", err)
			}
			return imports.ErrLeaseLost
		}
		for _, n := range sqldb.ChunkRows(len(rejected), 64) {
			part := rejected[:n]
			rejected = rejected[n:]
			args := make([]any, 0, 5*n)
			for _, r := range part {
				args = append(args, ws, id, r.Line, r.Reason, r.Row)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO import_rejections (workspace_id, import_id, line, reason, row_text) VALUES `+
				tx.Dialect.Rows(n, 5)+` ON CONFLICT DO NOTHING`, args...); err != nil {
				return fmt.Errorf("record rejected rows: %w", err)
			}
		}
		return nil
	})
}

// FinishImport ends owner's job as succeeded or failed and drops its file.
func (s *Store) FinishImport(ctx context.Context, ws, id, owner, state, errText string, now time.Time) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE imports SET state = $4, error = $5, end_time = $6, update_time = $6, lease_owner = '', lease_until = 0
			WHERE workspace_id = $1 AND import_id = $2 AND lease_owner = $3 AND state = $7`, ws, id, owner, state, errText, micros(now), imports.ImportRunning)
		if err != nil {
			return fmt.Errorf("finish import: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			if err != nil {
				return fmt.Errorf("finish import: %w", err)
			}
			return imports.ErrLeaseLost
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM import_chunks WHERE workspace_id = $1 AND import_id = $2`, ws, id); err != nil {
			return fmt.Errorf("drop import file: %w", err)
		}
		return nil
	})
}

// ReleaseImport gives up owner's claim on a running job, so that any
// replica (or the restarted process) takes it up at once.
func (s *Store) ReleaseImport(ctx context.Context, ws, id, owner string) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE imports SET lease_owner = '', lease_until = 0 WHERE workspace_id = $1 AND import_id = $2 AND lease_owner = $3`,
			ws, id, owner); err != nil {
			return fmt.Errorf("release import: %w", err)
		}
		return nil
	})
}

// ImportChunk returns the seq-th chunk of a job's file.
func (s *Store) ImportChunk(ctx context.Context, ws, id string, seq int64) ([]byte, error) {
	var data []byte
	err := s.db.QueryRowContext(ctx, `SELECT data FROM import_chunks WHERE workspace_id = $1 AND import_id = $2 AND seq = $3`, ws, id, seq).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("chunk %d of import %q: %w", seq, id, imports.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read import chunk: %w", err)
	}
	return data, nil
}

// ImportRejections returns a page of a job's rejected rows in file order.
func (s *Store) ImportRejections(ctx context.Context, ws, id string, pageSize int, token string) ([]imports.Rejection, string, error) {
	var after int64
	if token != "" {
		pos, tid, err := decodeToken(token)
		if err != nil || tid != id {
			return nil, "", ErrBadPageToken
		}
		if after, err = strconv.ParseInt(pos, 10, 64); err != nil {
			return nil, "", ErrBadPageToken
		}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT line, reason, row_text FROM import_rejections WHERE workspace_id = $1 AND import_id = $2 AND line > $3
		ORDER BY line LIMIT `+strconv.Itoa(pageSize+1), ws, id, after)
	if err != nil {
		return nil, "", fmt.Errorf("list rejected rows: %w", err)
	}
	defer rows.Close()
	var out []imports.Rejection
	for rows.Next() {
		var r imports.Rejection
		if err := rows.Scan(&r.Line, &r.Reason, &r.Row); err != nil {
			return nil, "", fmt.Errorf("scan rejected row: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, "", fmt.Errorf("list rejected rows: %w", err)
	}
	out, next := trimPage(out, pageSize, func(r imports.Rejection) string { return encodeToken(strconv.FormatInt(r.Line, 10), id) })
	return out, next, nil
}
