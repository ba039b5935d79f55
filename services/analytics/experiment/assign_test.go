package experiment

import (
	"fmt"
	"math"
	"testing"
)

// TestBucketMatchesGrowthBook checks hash version 2 against the bucket in
// GrowthBook's shared SDK test cases ("creates experiments properly":
// seed "feature", hashValue "123", bucket 0.5231).
func TestBucketMatchesGrowthBook(t *testing.T) {
	tests := []struct {
		seed, id string
		want     float64
	}{
		{"feature", "123", 0.5231},
	}
	for _, tt := range tests {
		if got := Bucket(tt.seed, tt.id); got != tt.want {
			t.Errorf("Bucket(%q, %q) = %v, want %v", tt.seed, tt.id, got, tt.want)
		}
	}
}

// TestPickDistribution assigns 100,000 ids to weights 50/30/20 and a 10 %
// holdout: each share within 1 point of its weight, and the same answer on
// a second pass.
func TestPickDistribution(t *testing.T) {
	const n = 100000
	weights := []float64{50, 30, 20}
	counts := make([]int, len(weights))
	held := 0
	for i := range n {
		id := fmt.Sprintf("cus_%d", i)
		arm := Pick("jny_1:step:mail", id, weights)
		counts[arm]++
		if again := Pick("jny_1:step:mail", id, weights); again != arm {
			t.Fatalf("%s: arm %d then %d", id, arm, again)
		}
		if Bucket("jny_1:holdout", id) < 0.10 {
			held++
		}
	}
	for i, w := range weights {
		if share := float64(counts[i]) / n * 100; math.Abs(share-w) > 1 {
			t.Errorf("arm %d: %.2f %%, want %v ± 1", i, share, w)
		}
	}
	if share := float64(held) / n * 100; math.Abs(share-10) > 1 {
		t.Errorf("holdout %.2f %%, want 10 ± 1", share)
	}
	if Pick("s", "x", []float64{0, 0}) != -1 || Pick("s", "x", []float64{0, 5}) != 1 {
		t.Error("zero weights must never be picked")
	}
}
