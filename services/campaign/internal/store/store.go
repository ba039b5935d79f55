// Package store is the campaign service's SQL store: one implementation
// over platform/sqldb that runs on SQLite and PostgreSQL alike, with its
// migrations embedded. It keeps channels, journeys, their entries and
// sends, consents, and the campaigns that run as broadcast journeys.
package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/kizuna/kizuna/services/campaign/internal/campaign"
	"github.com/kizuna/kizuna/services/platform/sqldb"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store implements campaign.Store and the journey runner's and sender's
// persistence.
type Store struct {
	db *sqldb.DB
}

var _ campaign.Store = (*Store)(nil)

// New migrates db to the current schema and returns a Store on it.
func New(ctx context.Context, db *sqldb.DB) (*Store, error) {
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("campaign store: %w", err)
	}
	if err := sqldb.Migrate(ctx, db, sub); err != nil {
		return nil, fmt.Errorf("campaign store: %w", err)
	}
	return &Store{db: db}, nil
}

// insertBatch bounds the rows of one multi-row INSERT, keeping it under
// SQLite's and PostgreSQL's bound-parameter limits.
const insertBatch = 100

// storable makes s storable as TEXT on both backends: invalid UTF-8 (a
// Liquid filter can cut a character in half, a webhook error can quote
// anything) and NUL, which PostgreSQL rejects, become U+FFFD.
func storable(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// micros stores t as Unix microseconds; the zero time is stored as 0.
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}
