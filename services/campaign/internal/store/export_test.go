package store

import (
	"io/fs"
	"strings"
	"testing/fstest"
)

// MigrationsBefore returns the migrations whose names sort before prefix,
// to build a database as an older version left it.
func MigrationsBefore(prefix string) fs.FS {
	out := fstest.MapFS{}
	entries, _ := fs.ReadDir(migrationFiles, "migrations")
	for _, e := range entries {
		if strings.Compare(e.Name(), prefix) < 0 {
			b, _ := fs.ReadFile(migrationFiles, "migrations/"+e.Name())
			out[e.Name()] = &fstest.MapFile{Data: b}
		}
	}
	return out
}
