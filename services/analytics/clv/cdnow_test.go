package clv

import (
	"encoding/csv"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/analytics/clv/clvtest"
)

// cdnowSummaryFile loads the published CDNOW calibration summaries. zbar is
// filled from the *_with_transactions file when withSpend is set.
func cdnowSummaryFile(tb testing.TB, withSpend bool) []Summary {
	tb.Helper()
	name := "cdnow_customers_summary.csv"
	if withSpend {
		name = "cdnow_customers_summary_with_transactions.csv"
	}
	f, err := os.Open(clvtest.CDNOWPath(tb, name))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		tb.Fatal(err)
	}
	var out []Summary
	for _, r := range recs[1:] {
		num := func(i int) float64 {
			v, err := strconv.ParseFloat(r[i], 64)
			if err != nil {
				tb.Fatalf("%s: %v", name, err)
			}
			return v
		}
		s := Summary{CustomerID: r[0], Frequency: num(1), Recency: num(2), T: num(3)}
		if withSpend {
			s.MonetaryValue = num(4)
		}
		out = append(out, s)
	}
	return out
}

var cdnowCalibrationEnd = time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC)

// cdnowSampleSummaries summarises CDNOW_sample.txt in weeks.
func cdnowSampleSummaries(tb testing.TB) []Summary {
	tb.Helper()
	f, err := os.Open(clvtest.CDNOWPath(tb, "CDNOW_sample.txt"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	txs, err := ReadCDNOW(f)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := Summarize(txs, cdnowCalibrationEnd, Week)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}
