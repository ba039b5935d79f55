package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/workspace"
	"github.com/kizuna/kizuna/services/platform/auth"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

const apiKeyColumns = `api_key_id, workspace_id, display_name, kind, scopes, key_prefix, create_time, revoke_time`

// scanAPIKey scans apiKeyColumns, then the columns after them into more.
func scanAPIKey(sc interface{ Scan(...any) error }, more ...any) (workspace.APIKey, error) {
	var k workspace.APIKey
	var scopes string
	var created, revoked int64
	if err := sc.Scan(append([]any{&k.ID, &k.WorkspaceID, &k.DisplayName, &k.Kind, &scopes, &k.Prefix, &created, &revoked}, more...)...); err != nil {
		return workspace.APIKey{}, err
	}
	k.Scopes = strings.Fields(scopes)
	k.CreateTime = fromMicros(created)
	if revoked != 0 {
		k.RevokeTime = fromMicros(revoked)
	}
	return k, nil
}

// insertAPIKey stores k under keyHash.
func insertAPIKey(ctx context.Context, tx *sqldb.Tx, k workspace.APIKey, keyHash string) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO api_keys (key_hash, `+apiKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0)`,
		keyHash, k.ID, k.WorkspaceID, k.DisplayName, k.Kind, strings.Join(k.Scopes, " "), k.Prefix, micros(k.CreateTime)); err != nil {
		return fmt.Errorf("insert api key: %w", err)
	}
	return nil
}

// CreateAPIKey stores a key of an existing workspace under keyHash.
func (s *Store) CreateAPIKey(ctx context.Context, k workspace.APIKey, keyHash string) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		if _, err := loadWorkspace(ctx, tx, k.WorkspaceID, false); err != nil {
			return err
		}
		return insertAPIKey(ctx, tx, k, keyHash)
	})
}

// ListAPIKeys returns a workspace's keys, revoked ones included, newest
// first.
func (s *Store) ListAPIKeys(ctx context.Context, ws string, pageSize int, token string) (*workspace.APIKeyPage, error) {
	q := `SELECT ` + apiKeyColumns + ` FROM api_keys WHERE workspace_id = $1`
	args := []any{ws}
	if token != "" {
		at, id, err := decodeTimeToken(token)
		if err != nil {
			return nil, err
		}
		q += ` AND (create_time < $2 OR (create_time = $2 AND api_key_id < $3))`
		args = append(args, at, id)
	}
	q += fmt.Sprintf(` ORDER BY create_time DESC, api_key_id DESC LIMIT %d`, pageSize+1)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	defer rows.Close()
	var keys []workspace.APIKey
	for rows.Next() {
		k, err := scanAPIKey(rows)
		if err != nil {
			return nil, fmt.Errorf("scan api key: %w", err)
		}
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	page := &workspace.APIKeyPage{}
	page.Keys, page.NextToken = trimPage(keys, pageSize, func(k workspace.APIKey) string { return timeToken(k.CreateTime, k.ID) })
	return page, nil
}

// RevokeAPIKey revokes a workspace's key at at and returns it. Revoking a
// revoked key changes nothing. callerHash is the hash of the caller's own
// key: a key cannot revoke itself (workspace.CheckRevoke).
func (s *Store) RevokeAPIKey(ctx context.Context, ws, id, callerHash string, at time.Time) (workspace.APIKey, error) {
	var out workspace.APIKey
	var revoked string
	err := s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		var hash string
		k, err := scanAPIKey(tx.QueryRowContext(ctx, `SELECT `+apiKeyColumns+`, key_hash FROM api_keys WHERE workspace_id = $1 AND api_key_id = $2`, ws, id), &hash)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("api key %q: %w", id, workspace.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("load api key: %w", err)
		}
		if err := workspace.CheckRevoke(hash, callerHash); err != nil {
			return err
		}
		if k.RevokeTime.IsZero() {
			k.RevokeTime = fromMicros(micros(at))
			if _, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoke_time = $1 WHERE key_hash = $2`, micros(k.RevokeTime), hash); err != nil {
				return fmt.Errorf("revoke api key: %w", err)
			}
		}
		out = k
		revoked = hash
		return nil
	})
	if err == nil {
		// Committed: from now on the key fails here at once.
		s.keys.Forget(revoked)
	}
	return out, err
}

// keyCacheTTL bounds how long a verified key is trusted without reading
// the key table again. Every tracking call verifies its key, and the read
// was a few per cent of a call's CPU. A key revoked through this process
// (RevokeAPIKey) fails at once; one revoked through another replica of
// ingestion, or by hand in SQL, keeps working here for up to keyCacheTTL.
// Unknown keys are not cached, so a new key works at once.
const keyCacheTTL = 5 * time.Second

// VerifyKey returns the workspace and scopes of an API key, or
// auth.ErrUnauthenticated for an unknown or revoked key.
func (s *Store) VerifyKey(ctx context.Context, key string) (auth.Principal, error) {
	return s.keys.VerifyKey(ctx, key)
}

// keyTable verifies keys against the api_keys table, uncached.
type keyTable struct{ s *Store }

func (t keyTable) VerifyKey(ctx context.Context, key string) (auth.Principal, error) {
	s := t.s
	var ws, scopes string
	// Prepared once: every request verifies its key, and parsing this
	// statement cost as much as running it.
	err := s.db.QueryRowPrepared(ctx, `SELECT workspace_id, scopes FROM api_keys WHERE key_hash = $1 AND revoke_time = 0`,
		auth.HashKey(key)).Scan(&ws, &scopes)
	if errors.Is(err, sql.ErrNoRows) {
		return auth.Principal{}, auth.ErrUnauthenticated
	}
	if err != nil {
		return auth.Principal{}, fmt.Errorf("look up api key: %w", err)
	}
	return auth.Principal{WorkspaceID: ws, Scopes: strings.Fields(scopes)}, nil
}

// KeyRevoked reports whether key is stored and revoked.
func (s *Store) KeyRevoked(ctx context.Context, key string) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM api_keys WHERE key_hash = $1 AND revoke_time <> 0`, auth.HashKey(key)).Scan(&n); err != nil {
		return false, fmt.Errorf("look up api key: %w", err)
	}
	return n > 0, nil
}
