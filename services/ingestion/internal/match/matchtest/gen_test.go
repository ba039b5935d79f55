package matchtest

import (
	"bufio"
	"os"
	"strconv"
	"testing"
)

// TestWriteBenchCSV writes a generated CSV for timing the CLI by hand:
//
//	KIZUNA_GEN_CSV=/tmp/customers-1m.csv KIZUNA_GEN_N=1000000 \
//	  go test -run TestWriteBenchCSV ./internal/match/matchtest/
//
// It is skipped unless KIZUNA_GEN_CSV is set; big files are never committed.
func TestWriteBenchCSV(t *testing.T) {
	path := os.Getenv("KIZUNA_GEN_CSV")
	if path == "" {
		t.Skip("set KIZUNA_GEN_CSV (and KIZUNA_GEN_N) to write a benchmark CSV")
	}
	n := 1_000_000
	if s := os.Getenv("KIZUNA_GEN_N"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	if err := WriteCSV(w, Generate(42, n)); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestGenerateDeterministic(t *testing.T) {
	a, b := Generate(7, 500), Generate(7, 500)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("row %d differs between runs: %+v vs %+v", i, a[i], b[i])
		}
	}
	dups := map[int]int{}
	for _, r := range a {
		dups[r.Entity]++
	}
	if len(dups) == len(a) {
		t.Fatal("no duplicates generated")
	}
}
