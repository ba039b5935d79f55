// Command gencsv writes a generated, labelled customer CSV (the matcher's
// test generator) for timing the cleanse CLI by hand:
//
//	go run ./internal/match/matchtest/gencsv -n 1000000 -o /tmp/customers-1m.csv
//
// Big files are never committed.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/kizuna/kizuna/services/ingestion/internal/match/matchtest"
)

func main() {
	n := flag.Int("n", 1_000_000, "number of records")
	seed := flag.Uint64("seed", 42, "generator seed (the same seed and n give the same file)")
	out := flag.String("o", "", "output file (required)")
	flag.Parse()
	if *out == "" || *n <= 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := write(*out, *seed, *n); err != nil {
		fmt.Fprintln(os.Stderr, "gencsv:", err)
		os.Exit(1)
	}
}

func write(path string, seed uint64, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if err := matchtest.WriteCSV(w, matchtest.Generate(seed, n)); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
