package imports_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/kizuna/kizuna/services/ingestion/internal/imports"
	"github.com/kizuna/kizuna/services/platform/sqldb/sqldbtest"
)

// BenchmarkImportCustomers imports a customers file of b.N rows on SQLite
// through the runner, as a job would run (rows/s in the custom metric).
func BenchmarkImportCustomers(b *testing.B) {
	f := newFixture(b, sqldbtest.SQLite(b))
	f.chunk = 2 << 20
	var sb strings.Builder
	sb.WriteString("user_id,email,phone,name,name_kana,postal_code,address,rank\n")
	for i := range b.N {
		fmt.Fprintf(&sb, "C%07d,user%07d@example.jp,090-%04d-%04d,佐藤 花子,サトウ ハナコ,100-0001,東京都千代田区丸の内1-%d,ゴールド\n", i, i, i/10000, i%10000, i%30)
	}
	id := f.start(b, imports.Customers, sb.String())
	b.ResetTimer()
	if ran, err := f.runner(2000, nil).RunOne(context.Background()); !ran || err != nil {
		b.Fatal(ran, err)
	}
	b.StopTimer()
	if im := f.job(b, id); im.State != imports.ImportSucceeded || im.Progress.RowsImported != int64(b.N) {
		b.Fatalf("job = %+v", im)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkImportOrders imports an orders file of b.N rows on SQLite,
// spread over 10,000 customers imported before the timer starts.
func BenchmarkImportOrders(b *testing.B) {
	const customers = 10000
	f := newFixture(b, sqldbtest.SQLite(b))
	f.chunk = 2 << 20
	var cs strings.Builder
	cs.WriteString("user_id,email\n")
	for i := range customers {
		fmt.Fprintf(&cs, "C%07d,user%07d@example.jp\n", i, i)
	}
	if ran, err := f.runner(2000, nil).RunOne(context.Background()); ran || err != nil {
		b.Fatal("a job ran before any was started", ran, err)
	}
	f.start(b, imports.Customers, cs.String())
	if ran, err := f.runner(2000, nil).RunOne(context.Background()); !ran || err != nil {
		b.Fatal(ran, err)
	}
	var sb strings.Builder
	sb.WriteString("user_id,order_id,timestamp,revenue,currency,category\n")
	for i := range b.N {
		fmt.Fprintf(&sb, "C%07d,O%09d,2025-%02d-%02dT10:00:00+09:00,%d,JPY,cat-%d\n", i%customers, i, 1+i%12, 1+i%28, 1000+i%9000, i%7)
	}
	id := f.start(b, imports.Orders, sb.String())
	b.ResetTimer()
	if ran, err := f.runner(2000, nil).RunOne(context.Background()); !ran || err != nil {
		b.Fatal(ran, err)
	}
	b.StopTimer()
	if im := f.job(b, id); im.State != imports.ImportSucceeded || im.Progress.RowsImported != int64(b.N) {
		b.Fatalf("job = %+v", im)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
