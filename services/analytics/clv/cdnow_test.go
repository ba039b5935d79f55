package clv

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// dataDir is where the CDNOW files live relative to this package: the work
// tree's shared/ folder sits beside the repository checkout.
var dataDir = filepath.Join("..", "..", "..", "..", "shared", "data", "cdnow")

// cdnowFile returns the path of a CDNOW data file, skipping the test when
// the data are absent, except under CI where missing data is a failure.
func cdnowFile(tb testing.TB, name string) string {
	tb.Helper()
	p := filepath.Join(dataDir, name)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("CDNOW data missing under CI: %v", err)
		}
		tb.Skipf("CDNOW data not available: %v", err)
	}
	return p
}

// cdnowSummaryFile loads the published CDNOW calibration summaries. zbar is
// filled from the *_with_transactions file when withSpend is set.
func cdnowSummaryFile(tb testing.TB, withSpend bool) []Summary {
	tb.Helper()
	name := "cdnow_customers_summary.csv"
	if withSpend {
		name = "cdnow_customers_summary_with_transactions.csv"
	}
	f, err := os.Open(cdnowFile(tb, name))
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
	f, err := os.Open(cdnowFile(tb, "CDNOW_sample.txt"))
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
