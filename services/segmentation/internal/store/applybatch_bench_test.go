package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
	"github.com/kizuna/kizuna/services/segmentation/internal/segment"
	"github.com/kizuna/kizuna/services/segmentation/internal/store"
)

// BenchmarkApplyEventsBatch applies batches of 200 track events of 100
// customers (rows existing after the first batch), as a consumer does.
func BenchmarkApplyEventsBatch(b *testing.B) {
	sqldbtest.ForEachBackendB(b, func(b *testing.B, db *sqldb.DB) {
		ctx := context.Background()
		s, err := store.New(ctx, db)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		batch := func() []segment.Event {
			evs := make([]segment.Event, 200)
			for i := range evs {
				n++
				evs[i] = track("w", fmt.Sprintf("e%d", n), fmt.Sprintf("c%03d", i%100), "Viewed", t0)
			}
			return evs
		}
		if _, err := s.ApplyEvents(ctx, batch(), t0); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			if _, err := s.ApplyEvents(ctx, batch(), t0); err != nil {
				b.Fatal(err)
			}
		}
	})
}
