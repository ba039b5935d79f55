package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/kizuna/kizuna/services/platform/sqldb"
)

const channelColumns = `workspace_id, channel_id, display_name, type, config, secrets, create_time, update_time`

func scanChannel(row scanner) (Channel, error) {
	var c Channel
	var createUS, updateUS int64
	if err := row.Scan(&c.WorkspaceID, &c.ID, &c.DisplayName, &c.Type, &c.Config, &c.Secrets, &createUS, &updateUS); err != nil {
		return Channel{}, err
	}
	c.CreateTime, c.UpdateTime = fromMicros(createUS), fromMicros(updateUS)
	return c, nil
}

// CreateChannel inserts c.
func (s *Store) CreateChannel(ctx context.Context, c Channel) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error { return insertChannel(ctx, tx, c) })
}

func insertChannel(ctx context.Context, q querier, c Channel) error {
	_, err := q.ExecContext(ctx, `INSERT INTO channels (`+channelColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		c.WorkspaceID, c.ID, c.DisplayName, c.Type, c.Config, c.Secrets, micros(c.CreateTime), micros(c.UpdateTime))
	if err != nil {
		return fmt.Errorf("insert channel %q: %w", c.ID, err)
	}
	return nil
}

// GetChannel returns the workspace's channel or ErrNotFound.
func (s *Store) GetChannel(ctx context.Context, workspaceID, channelID string) (Channel, error) {
	c, err := scanChannel(s.db.QueryRowContext(ctx, `SELECT `+channelColumns+` FROM channels
		WHERE workspace_id = $1 AND channel_id = $2`, workspaceID, channelID))
	if errors.Is(err, sql.ErrNoRows) {
		return Channel{}, fmt.Errorf("channel %q: %w", channelID, ErrNotFound)
	}
	if err != nil {
		return Channel{}, fmt.Errorf("select channel %q: %w", channelID, err)
	}
	return c, nil
}

// LookupChannel finds a channel by id alone, for LINE's webhook, which
// carries no workspace.
func (s *Store) LookupChannel(ctx context.Context, channelID string) (Channel, error) {
	c, err := scanChannel(s.db.QueryRowContext(ctx, `SELECT `+channelColumns+` FROM channels WHERE channel_id = $1`, channelID))
	if errors.Is(err, sql.ErrNoRows) {
		return Channel{}, fmt.Errorf("channel %q: %w", channelID, ErrNotFound)
	}
	if err != nil {
		return Channel{}, fmt.Errorf("select channel %q: %w", channelID, err)
	}
	return c, nil
}

// ListChannels returns up to limit channels, newest first, after the id
// after ("" for the first page).
func (s *Store) ListChannels(ctx context.Context, workspaceID, after string, limit int) ([]Channel, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+channelColumns+` FROM channels
		WHERE workspace_id = $1 AND ($2 = '' OR channel_id < $2) ORDER BY channel_id DESC LIMIT $3`, workspaceID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("select channels: %w", err)
	}
	return collect(rows, scanChannel)
}

// ChannelTypes returns the type of every channel of the workspace.
func (s *Store) ChannelTypes(ctx context.Context, workspaceID string) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT channel_id, type FROM channels WHERE workspace_id = $1`, workspaceID)
	if err != nil {
		return nil, fmt.Errorf("select channel types: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, t string
		if err := rows.Scan(&id, &t); err != nil {
			return nil, fmt.Errorf("select channel types: %w", err)
		}
		out[id] = t
	}
	return out, rows.Err()
}

// UpdateChannel stores c's name, config and secrets.
func (s *Store) UpdateChannel(ctx context.Context, c Channel) error {
	res, err := s.db.ExecWrite(ctx, `UPDATE channels SET display_name = $3, config = $4, secrets = $5, update_time = $6
		WHERE workspace_id = $1 AND channel_id = $2`, c.WorkspaceID, c.ID, c.DisplayName, c.Config, c.Secrets, micros(c.UpdateTime))
	if err != nil {
		return fmt.Errorf("update channel %q: %w", c.ID, err)
	}
	return oneRow(res, "channel", c.ID)
}

// DeleteChannel deletes a channel.
func (s *Store) DeleteChannel(ctx context.Context, workspaceID, channelID string) error {
	res, err := s.db.ExecWrite(ctx, `DELETE FROM channels WHERE workspace_id = $1 AND channel_id = $2`, workspaceID, channelID)
	if err != nil {
		return fmt.Errorf("delete channel %q: %w", channelID, err)
	}
	return oneRow(res, "channel", channelID)
}

func oneRow(res sql.Result, what, id string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s %q: %w", what, id, err)
	}
	if n == 0 {
		return fmt.Errorf("%s %q: %w", what, id, ErrNotFound)
	}
	return nil
}

// collect scans every row with scan and closes rows.
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
