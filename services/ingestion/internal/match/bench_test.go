package match

import (
	"testing"

	"github.com/kizuna/kizuna/services/ingestion/internal/match/matchtest"
	"github.com/kizuna/kizuna/services/ingestion/internal/normalize"
)

// BenchmarkDedupe100k measures Find + Clusters on 100,000 normalised
// generated records (normalisation excluded; see BenchmarkNormalize* in
// package normalize).
func BenchmarkDedupe100k(b *testing.B) {
	recs := normalizeRows(matchtest.Generate(42, 100_000))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		res := Find(recs, DefaultOptions())
		Clusters(len(recs), res.Pairs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e5, "ns/record")
}

// BenchmarkNormalizeGenerated normalises generated records (all fields), the
// per-record cost that dominates a CLI run.
func BenchmarkNormalizeGenerated(b *testing.B) {
	rows := matchtest.Generate(42, 10_000)
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		normalize.NormalizeRecord(rows[i%len(rows)].Record, normalize.Options{})
		i++
	}
}
