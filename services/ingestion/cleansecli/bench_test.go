package cleansecli

import (
	"bytes"
	"context"
	"io"
	"testing"

	"github.com/kizuna/kizuna/services/ingestion/internal/match/matchtest"
)

// BenchmarkDedupeCLI100k runs "dedupe" end to end (CSV parsing,
// normalisation, matching, output) on 100,000 generated records.
func BenchmarkDedupeCLI100k(b *testing.B) {
	var in bytes.Buffer
	if err := matchtest.WriteCSV(&in, matchtest.Generate(42, 100_000)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(in.Len()))
	b.ResetTimer()
	for b.Loop() {
		if err := Run(context.Background(), []string{"dedupe"}, bytes.NewReader(in.Bytes()), io.Discard, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNormalizeCLI100k runs "normalize" end to end on 100,000 records.
func BenchmarkNormalizeCLI100k(b *testing.B) {
	var in bytes.Buffer
	if err := matchtest.WriteCSV(&in, matchtest.Generate(42, 100_000)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(in.Len()))
	b.ResetTimer()
	for b.Loop() {
		if err := Run(context.Background(), []string{"normalize"}, bytes.NewReader(in.Bytes()), io.Discard, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
