package match

import (
	"os"
	"strconv"
	"testing"

	"github.com/kizuna/kizuna/services/ingestion/internal/match/matchtest"
	"github.com/kizuna/kizuna/services/ingestion/internal/normalize"
)

// pairCounts returns, over all unordered record pairs, how many are in one
// predicted cluster (predicted), in one true entity (actual) and both (tp),
// without enumerating pairs.
func pairCounts(clusters, entities []int) (tp, predicted, actual int) {
	choose2 := func(n int) int { return n * (n - 1) / 2 }
	byCluster := map[int]int{}
	byEntity := map[int]int{}
	both := map[[2]int]int{}
	for i := range clusters {
		byCluster[clusters[i]]++
		byEntity[entities[i]]++
		both[[2]int{clusters[i], entities[i]}]++
	}
	for _, n := range byCluster {
		predicted += choose2(n)
	}
	for _, n := range byEntity {
		actual += choose2(n)
	}
	for _, n := range both {
		tp += choose2(n)
	}
	return tp, predicted, actual
}

func normalizeRows(rows []matchtest.Row) []Record {
	recs := make([]Record, len(rows))
	for i, r := range rows {
		recs[i] = FromNormalized(normalize.NormalizeRecord(r.Record, normalize.Options{}))
	}
	return recs
}

// TestQualityOnGeneratedData is the acceptance test for matching quality:
// pairwise precision ≥ 0.99 and recall ≥ 0.97 on 20,000 labelled records
// full of namesakes, households and colleagues.
func TestQualityOnGeneratedData(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 5000
	}
	// KIZUNA_QUALITY_N=1000000 measures quality at benchmark scale.
	if s := os.Getenv("KIZUNA_QUALITY_N"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		n = v
	}
	for _, seed := range []uint64{1, 2} {
		rows := matchtest.Generate(seed, n)
		recs := normalizeRows(rows)
		res := Find(recs, DefaultOptions())
		cl := Clusters(len(recs), res.Pairs)
		ent := make([]int, len(rows))
		for i, r := range rows {
			ent[i] = r.Entity
		}
		tp, pred, act := pairCounts(cl, ent)
		precision := float64(tp) / float64(pred)
		recall := float64(tp) / float64(act)
		t.Logf("seed %d: %d records, %d true pairs, %d predicted, precision %.4f recall %.4f; %+v",
			seed, n, act, pred, precision, recall, res.Stats)
		if precision < 0.99 || recall < 0.97 {
			t.Errorf("seed %d: precision %.4f (want ≥ 0.99), recall %.4f (want ≥ 0.97)", seed, precision, recall)
		}
		if testing.Verbose() {
			reportErrors(t, rows, recs, res, cl)
		}
	}
}

// reportErrors logs a few false merges and missed pairs to help tuning.
func reportErrors(t *testing.T, rows []matchtest.Row, recs []Record, res Result, cl []int) {
	shown := 0
	for _, p := range res.Pairs {
		if p.Decision == Merge && rows[p.I].Entity != rows[p.J].Entity && shown < 10 {
			shown++
			t.Logf("FALSE MERGE %.2f %v\n  %+v\n  %+v", p.Score, p.Reasons, rows[p.I].Record, rows[p.J].Record)
		}
	}
	byEntity := map[int][]int{}
	for i, r := range rows {
		byEntity[r.Entity] = append(byEntity[r.Entity], i)
	}
	shown = 0
	for _, idx := range byEntity {
		for x := 1; x < len(idx) && shown < 10; x++ {
			i, j := idx[0], idx[x]
			if cl[i] != cl[j] {
				shown++
				s, reasons := score(&recs[i], &recs[j])
				t.Logf("MISSED %.2f %v\n  %+v\n  %+v", s, reasons, rows[i].Record, rows[j].Record)
			}
		}
	}
}
