package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/kizuna/kizuna/services/metrics/internal/kpi"
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
