package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
)

// migrationRE matches NNNN_name.sql and NNNN_name.<dialect>.sql.
var migrationRE = regexp.MustCompile(`^(\d+)_([A-Za-z0-9_\-]+?)(?:\.(sqlite|postgres))?\.sql$`)

type migration struct {
	version int64
	name    string
	file    string
}

// Migrate applies the migrations in the root of migrations that are not yet
// recorded in schema_migrations, in version order, each in its own
// transaction; with nothing to apply it only creates the table if missing
// and reads it. Files are named NNNN_name.sql; NNNN_name.sqlite.sql or
// NNNN_name.postgres.sql replaces the generic file on that dialect. Re-running
// is a no-op. On PostgreSQL an advisory lock scoped to the current schema
// makes concurrently starting replicas apply each migration once.
//
// Migrations are forward-only: a file, once applied, must never change.
func Migrate(ctx context.Context, db *DB, migrations fs.FS) error {
	plan, err := planMigrations(migrations, db.Dialect)
	if err != nil {
		return err
	}
	err = db.InTx(ctx, func(tx *Tx) error {
		if err := lockMigrations(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version BIGINT PRIMARY KEY,
	name TEXT NOT NULL,
	applied_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	applied, err := appliedVersions(ctx, db)
	if err != nil {
		return err
	}
	for _, m := range plan {
		if applied[m.version] {
			continue
		}
		body, err := fs.ReadFile(migrations, m.file)
		if err != nil {
			return fmt.Errorf("migrate: read %s: %w", m.file, err)
		}
		err = db.InTx(ctx, func(tx *Tx) error {
			if err := lockMigrations(ctx, tx); err != nil {
				return err
			}
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM schema_migrations WHERE version = $1`, m.version).Scan(&one)
			switch {
			case err == nil:
				return nil // applied by a concurrent replica since appliedVersions
			case !errors.Is(err, sql.ErrNoRows):
				return fmt.Errorf("check version: %w", err)
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate: apply %s: %w", m.file, err)
		}
	}
	return nil
}

// appliedVersions reads schema_migrations once, so a start with nothing to
// apply costs one query rather than a transaction per migration.
func appliedVersions(ctx context.Context, db *DB) (map[int64]bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	defer rows.Close()
	applied := map[int64]bool{}
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
		}
		applied[v] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	return applied, nil
}

// lockMigrations serialises migrators of one PostgreSQL schema until the
// transaction ends. SQLite needs nothing: transactions begin IMMEDIATE.
func lockMigrations(ctx context.Context, tx *Tx) error {
	if tx.Dialect != Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext('kizuna.schema_migrations.' || current_schema()))`); err != nil {
		return fmt.Errorf("take migration lock: %w", err)
	}
	return nil
}

// planMigrations picks, per version, the file for dialect d and returns them
// in version order.
func planMigrations(migrations fs.FS, d Dialect) ([]migration, error) {
	entries, err := fs.ReadDir(migrations, ".")
	if err != nil {
		return nil, fmt.Errorf("migrate: list migrations: %w", err)
	}
	type candidates struct {
		name              string
		generic, specific *migration
	}
	byVersion := map[int64]*candidates{}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		sub := migrationRE.FindStringSubmatch(e.Name())
		if sub == nil {
			return nil, fmt.Errorf("migrate: file %q is not named NNNN_name[.sqlite|.postgres].sql", e.Name())
		}
		v, err := strconv.ParseInt(sub[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("migrate: file %q: version: %w", e.Name(), err)
		}
		c := byVersion[v]
		if c == nil {
			c = &candidates{name: sub[2]}
			byVersion[v] = c
		} else if c.name != sub[2] {
			return nil, fmt.Errorf("migrate: version %d used by two names (%q, %q)", v, c.name, sub[2])
		}
		m := &migration{version: v, name: sub[2], file: e.Name()}
		switch sub[3] {
		case "":
			c.generic = m
		case d.String():
			c.specific = m
		}
	}
	plan := make([]migration, 0, len(byVersion))
	for v, c := range byVersion {
		switch {
		case c.specific != nil:
			plan = append(plan, *c.specific)
		case c.generic != nil:
			plan = append(plan, *c.generic)
		default:
			return nil, fmt.Errorf("migrate: version %d (%s) has no file for %s", v, c.name, d)
		}
	}
	sort.Slice(plan, func(i, j int) bool { return plan[i].version < plan[j].version })
	return plan, nil
}
