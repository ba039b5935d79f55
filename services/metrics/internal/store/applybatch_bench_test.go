package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/metrics/internal/ledger"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// BenchmarkApplyEventsBatch applies batches of 200 events of 100 customers
// (rows existing after the first batch), as the consumer does: named track
// events with properties, one in ten a purchase.
func BenchmarkApplyEventsBatch(b *testing.B) {
	sqldbtest.ForEachBackendB(b, func(b *testing.B, db *sqldb.DB) {
		ctx := context.Background()
		s := newStore(b, db)
		n := 0
		batch := func() []ledger.Event {
			evs := make([]ledger.Event, 200)
			for i := range evs {
				n++
				evs[i] = ledger.Event{WorkspaceID: "w", EventID: fmt.Sprintf("e%d", n), CustomerID: fmt.Sprintf("c%03d", i%100),
					Time: t0.Add(time.Duration(n) * time.Second), Name: "Viewed Product", Properties: `{"category":"A","sku":"SKU-1"}`}
				if n%10 == 0 {
					evs[i].Name = "Order Completed"
					evs[i].Order = &ledger.Order{Key: fmt.Sprintf("order:%d", n), Revenue: 1200, Currency: "JPY"}
				}
			}
			return evs
		}
		if _, err := s.ApplyEvents(ctx, batch()); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			if _, err := s.ApplyEvents(ctx, batch()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
