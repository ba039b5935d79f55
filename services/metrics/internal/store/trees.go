package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kizuna/kizuna/services/platform/sqldb"
)

// Tree is a stored KPI tree. Nodes is the API's JSON for them: the store
// keeps it as given.
type Tree struct {
	ID, DisplayName        string
	Nodes                  string
	CreateTime, UpdateTime time.Time
}

// maxTrees bounds a workspace's trees.
const maxTrees = 1000

// CreateTree stores t under a new id.
func (s *Store) CreateTree(ctx context.Context, ws string, t Tree) (Tree, error) {
	id, err := NewID("kpt_")
	if err != nil {
		return Tree{}, err
	}
	t.ID = id
	t.CreateTime = s.now().UTC()
	t.UpdateTime = t.CreateTime
	err = s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		var n int64
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM kpi_trees WHERE workspace_id = $1`, ws).Scan(&n); err != nil {
			return fmt.Errorf("count trees: %w", err)
		}
		if n >= maxTrees {
			return fmt.Errorf("the workspace has %d KPI trees, the limit", maxTrees)
		}
		return insertTree(ctx, tx, ws, t)
	})
	if err != nil {
		return Tree{}, err
	}
	return t, nil
}

func insertTree(ctx context.Context, tx *sqldb.Tx, ws string, t Tree) error {
	_, err := tx.ExecContext(ctx, `
INSERT INTO kpi_trees (workspace_id, kpi_tree_id, display_name, nodes, create_time, update_time) VALUES ($1, $2, $3, $4, $5, $6)`,
		ws, t.ID, t.DisplayName, t.Nodes, t.CreateTime.UnixMicro(), t.UpdateTime.UnixMicro())
	if err != nil {
		return fmt.Errorf("insert tree: %w", err)
	}
	return nil
}

// EnsureStarterTree creates the tree build returns the first time it is
// called for a workspace, and never again, even once that tree is deleted.
func (s *Store) EnsureStarterTree(ctx context.Context, ws string, build func() Tree) error {
	// The usual case, a workspace that has had its tree, reads only: on
	// SQLite a write would take the database's single write lock.
	var done int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM starter_trees WHERE workspace_id = $1`, ws).Scan(&done)
	if err != nil {
		return fmt.Errorf("read starter tree: %w", err)
	}
	if done > 0 {
		return nil
	}
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		t := build()
		id, err := NewID("kpt_")
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO starter_trees (workspace_id, kpi_tree_id) VALUES ($1, $2) ON CONFLICT (workspace_id) DO NOTHING`, ws, id)
		if err != nil {
			return fmt.Errorf("record starter tree: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		t.ID = id
		t.CreateTime = s.now().UTC()
		t.UpdateTime = t.CreateTime
		return insertTree(ctx, tx, ws, t)
	})
}

const treeColumns = `kpi_tree_id, display_name, nodes, create_time, update_time`

func scanTree(row interface{ Scan(...any) error }) (Tree, error) {
	var (
		t                Tree
		created, updated int64
	)
	if err := row.Scan(&t.ID, &t.DisplayName, &t.Nodes, &created, &updated); err != nil {
		return Tree{}, err
	}
	t.CreateTime, t.UpdateTime = time.UnixMicro(created).UTC(), time.UnixMicro(updated).UTC()
	return t, nil
}

// GetTree returns a tree, ErrNotFound when there is none.
func (s *Store) GetTree(ctx context.Context, ws, id string) (Tree, error) {
	t, err := scanTree(s.db.QueryRowContext(ctx, `SELECT `+treeColumns+` FROM kpi_trees WHERE workspace_id = $1 AND kpi_tree_id = $2`, ws, id))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Tree{}, ErrNotFound
	case err != nil:
		return Tree{}, fmt.Errorf("get tree: %w", err)
	}
	return t, nil
}

// ListTrees lists the workspace's trees, oldest first.
func (s *Store) ListTrees(ctx context.Context, ws string) ([]Tree, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+treeColumns+` FROM kpi_trees WHERE workspace_id = $1 ORDER BY create_time, kpi_tree_id`, ws)
	if err != nil {
		return nil, fmt.Errorf("list trees: %w", err)
	}
	defer rows.Close()
	var out []Tree
	for rows.Next() {
		t, err := scanTree(rows)
		if err != nil {
			return nil, fmt.Errorf("list trees: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list trees: %w", err)
	}
	return out, nil
}

// UpdateTree replaces a tree's name and nodes.
func (s *Store) UpdateTree(ctx context.Context, ws string, t Tree) (Tree, error) {
	t.UpdateTime = s.now().UTC()
	res, err := s.db.ExecWrite(ctx, `UPDATE kpi_trees SET display_name = $3, nodes = $4, update_time = $5 WHERE workspace_id = $1 AND kpi_tree_id = $2`,
		ws, t.ID, t.DisplayName, t.Nodes, t.UpdateTime.UnixMicro())
	if err != nil {
		return Tree{}, fmt.Errorf("update tree: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err != nil {
			return Tree{}, fmt.Errorf("update tree: %w", err)
		}
		return Tree{}, ErrNotFound
	}
	return s.GetTree(ctx, ws, t.ID)
}

// DeleteTree deletes a tree and its initiatives.
func (s *Store) DeleteTree(ctx context.Context, ws, id string) error {
	return s.db.InTx(ctx, func(tx *sqldb.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM initiatives WHERE workspace_id = $1 AND kpi_tree_id = $2`, ws, id); err != nil {
			return fmt.Errorf("delete initiatives: %w", err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM kpi_trees WHERE workspace_id = $1 AND kpi_tree_id = $2`, ws, id)
		if err != nil {
			return fmt.Errorf("delete tree: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err != nil {
				return fmt.Errorf("delete tree: %w", err)
			}
			return ErrNotFound
		}
		return nil
	})
}

// Initiative is a PDCA record aimed at a tree node.
type Initiative struct {
	ID, TreeID, NodeID, Title, Description, Stage, Owner, CampaignID string
	CreateTime                                                       time.Time
}

// CreateInitiative stores in under a new id.
func (s *Store) CreateInitiative(ctx context.Context, ws string, in Initiative) (Initiative, error) {
	id, err := NewID("ini_")
	if err != nil {
		return Initiative{}, err
	}
	in.ID, in.CreateTime = id, s.now().UTC()
	_, err = s.db.ExecWrite(ctx, `
INSERT INTO initiatives (workspace_id, initiative_id, kpi_tree_id, node_id, title, description, stage, owner, campaign_id, create_time)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		ws, in.ID, in.TreeID, in.NodeID, in.Title, in.Description, in.Stage, in.Owner, in.CampaignID, in.CreateTime.UnixMicro())
	if err != nil {
		return Initiative{}, fmt.Errorf("insert initiative: %w", err)
	}
	return in, nil
}

// ListInitiatives lists a tree's initiatives, oldest first.
func (s *Store) ListInitiatives(ctx context.Context, ws, treeID string) ([]Initiative, error) {
	rows, err := s.db.QueryContext(ctx, `
SELECT initiative_id, kpi_tree_id, node_id, title, description, stage, owner, campaign_id, create_time
FROM initiatives WHERE workspace_id = $1 AND kpi_tree_id = $2 ORDER BY create_time, initiative_id`, ws, treeID)
	if err != nil {
		return nil, fmt.Errorf("list initiatives: %w", err)
	}
	defer rows.Close()
	var out []Initiative
	for rows.Next() {
		var (
			in      Initiative
			created int64
		)
		if err := rows.Scan(&in.ID, &in.TreeID, &in.NodeID, &in.Title, &in.Description, &in.Stage, &in.Owner, &in.CampaignID, &created); err != nil {
			return nil, fmt.Errorf("list initiatives: %w", err)
		}
		in.CreateTime = time.UnixMicro(created).UTC()
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list initiatives: %w", err)
	}
	return out, nil
}
