package store

import "github.com/kizuna/kizuna/services/platform/sqldb"

// DB exposes the store's database to tests that check rows no method reads.
func (s *Store) DB() *sqldb.DB { return s.db }
