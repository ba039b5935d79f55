package ingest

import (
	"context"

	"github.com/kizuna/kizuna/services/ingestion/internal/tracking"
)

// StoreGroupForTest stores batches in one group-commit transaction, as the
// writer stores the requests of concurrent callers queued together.
func (in *Ingester) StoreGroupForTest(ctx context.Context, ws string, batches [][]tracking.Message) ([]Result, error) {
	group := make([]*request, len(batches))
	for i, b := range batches {
		r, err := newRequest(ctx, ws, b)
		if err != nil {
			return nil, err
		}
		group[i] = r
	}
	return in.storeGroup(group)
}
