package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

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
		applyBatches(b, s, 1, batch)
	})
}

// BenchmarkApplyEventsLive is BenchmarkApplyEventsBatch with events as
// they come live: each batch 200 events of 100 customers drawn from 5,000,
// with distinct, increasing times, three names and properties, into a
// workspace holding 20,000 behaviour rows. Its index entries then land
// where live traffic puts them (by time at the end, by customer all over),
// where BenchmarkApplyEventsBatch's, all of one time, land by customer in
// every index.
func BenchmarkApplyEventsLive(b *testing.B) {
	sqldbtest.ForEachBackendB(b, func(b *testing.B, db *sqldb.DB) {
		ctx := context.Background()
		s, err := store.New(ctx, db)
		if err != nil {
			b.Fatal(err)
		}
		r := rand.New(rand.NewPCG(3, 3))
		names := []string{"Viewed Product", "Viewed Product", "Added to Cart", "Page Viewed"}
		n := 0
		batch := func() []segment.Event {
			customers := make([]string, 100)
			for i := range customers {
				customers[i] = fmt.Sprintf("c%05d", r.IntN(5000))
			}
			evs := make([]segment.Event, 200)
			for i := range evs {
				n++
				evs[i] = track("w", fmt.Sprintf("e%d", n), customers[i%len(customers)], names[r.IntN(len(names))], t0.Add(time.Duration(n)*time.Millisecond))
				evs[i].Properties = map[string]any{"category": "A", "sku": fmt.Sprintf("SKU-%d", r.IntN(50))}
			}
			return evs
		}
		applyBatches(b, s, 100, batch)
	})
}

// applyBatches applies warm batches, then b.N timed ones.
func applyBatches(b *testing.B, s *store.Store, warm int, batch func() []segment.Event) {
	ctx := context.Background()
	for i := range warm + b.N {
		if i == warm {
			b.ResetTimer()
		}
		if _, err := s.ApplyEvents(ctx, batch(), t0); err != nil {
			b.Fatal(err)
		}
	}
}
