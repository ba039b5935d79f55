package store_test

import (
	"github.com/kizuna/kizuna/services/ingestion/internal/api"
	"github.com/kizuna/kizuna/services/ingestion/internal/dedupe"
	"github.com/kizuna/kizuna/services/ingestion/internal/imports"
	"github.com/kizuna/kizuna/services/ingestion/internal/ingest"
	"github.com/kizuna/kizuna/services/ingestion/internal/rights"
	"github.com/kizuna/kizuna/services/ingestion/internal/store"
)

// The SQL store is what the domain packages' and the API's storage
// interfaces stand for.
var (
	_ ingest.Store  = store.For[ingest.Tx](nil)
	_ ingest.Tx     = (*store.Tx)(nil)
	_ dedupe.Store  = store.For[dedupe.Tx](nil)
	_ dedupe.Tx     = (*store.Tx)(nil)
	_ imports.Store = (*store.Store)(nil)
	_ rights.Store  = store.For[rights.Tx](nil)
	_ rights.Tx     = (*store.Tx)(nil)
	_ api.Store     = (*store.Store)(nil)
)
