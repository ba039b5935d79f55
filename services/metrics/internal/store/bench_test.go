package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/kizuna/kizuna/services/metrics/internal/kpi"
	"github.com/kizuna/kizuna/services/metrics/internal/results"
	"github.com/kizuna/kizuna/services/platform/sqldb"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// BenchmarkMemberTotals measures a segment-scope aggregate at the size the
// design targets: 200k customers with two orders each, and a segment of
// 100k of them.
func BenchmarkMemberTotals(b *testing.B) {
	const customers = 200_000
	ctx := context.Background()
	db := sqldbtest.SQLite(b)
	s := newStore(b, db)
	err := db.InTx(ctx, func(tx *sqldb.Tx) error {
		for i := range customers {
			id := fmt.Sprintf("cus_%07d", i)
			if _, err := tx.ExecContext(ctx, `INSERT INTO customers (workspace_id, customer_id, first_seen) VALUES ('w', $1, 0)`, id); err != nil {
				return err
			}
			for j := range 2 {
				if _, err := tx.ExecContext(ctx, `INSERT INTO orders (workspace_id, order_key, customer_id, order_time, revenue, currency)
VALUES ('w', $1, $2, $3, 10, 'JPY')`, fmt.Sprintf("order:%d-%d", i, j), id, day(j).UnixMicro()); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	members := make([]string, 0, customers/2)
	for i := 0; i < customers; i += 2 {
		members = append(members, fmt.Sprintf("cus_%07d", i))
	}
	b.ResetTimer()
	for b.Loop() {
		got, err := s.MemberTotals(ctx, "w", members, kpi.Range{})
		if err != nil {
			b.Fatal(err)
		}
		if got.Orders != customers {
			b.Fatalf("orders = %d, want %d", got.Orders, customers)
		}
	}
}

// BenchmarkJourneyResults measures a full read-out's counting on SQLite:
// 100k exposed customers (20 % holdout, A, B), each with an order before and
// one after exposure, 200k orders in all, through results.Measure and
// results.Aggregate and the statistics of both arms against the holdout.
func BenchmarkJourneyResults(b *testing.B) {
	const customers = 100_000
	ctx := context.Background()
	db := sqldbtest.SQLite(b)
	s := newStore(b, db)
	arms := []string{"holdout", "A", "A", "B", "B"}
	err := db.InTx(ctx, func(tx *sqldb.Tx) error {
		for i := range customers {
			id := fmt.Sprintf("cus_%07d", i)
			if _, err := tx.ExecContext(ctx, `INSERT INTO exposures (workspace_id, journey_id, customer_id, variant, exposure_time, send_id)
VALUES ('w', 'j', $1, $2, $3, $4)`, id, arms[i%5], day(40).UnixMicro(), "snd_"+id); err != nil {
				return err
			}
			for j, d := range []int{30, 42} {
				if _, err := tx.ExecContext(ctx, `INSERT INTO orders (workspace_id, order_key, customer_id, order_time, revenue, currency)
VALUES ('w', $1, $2, $3, 10, 'JPY')`, fmt.Sprintf("order:%d-%d", i, j), id, day(d).UnixMicro()); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	d := results.NewDesign("", 0, 20, []string{"A", "B"}, []float64{1, 1})
	b.ResetTimer()
	for b.Loop() {
		out, err := results.Measure(ctx, s, "w", "j", d)
		if err != nil {
			b.Fatal(err)
		}
		counts := results.Aggregate(d, out, nil)
		for _, c := range counts[1:] {
			if cmp := results.Compare(counts[0], c, 0.05); cmp.Conversion == nil {
				b.Fatal(cmp.ConversionReason)
			}
		}
		if counts[0].Exposed != customers/5 || counts[0].Converted != customers/5 {
			b.Fatalf("holdout %+v", counts[0])
		}
	}
}
