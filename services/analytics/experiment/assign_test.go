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

// TestSampleSizeBounds: an effect too small to detect is refused with the
// reason instead of overflowing (it answered -9223372036854775808), and a
// Wald interval of a difference of rates stays within [-1, 1].
func TestSampleSizeBounds(t *testing.T) {
	if n, err := SampleSizeProportions(0.5, 1e-12, Absolute, 0.05, 0.8); err == nil || n != 0 {
		t.Errorf("tiny effect = %d, %v; want an error", n, err)
	}
	if n, err := SampleSizeMeans(1, 1e-12, 0.05, 0.8); err == nil || n != 0 {
		t.Errorf("tiny mean effect = %d, %v; want an error", n, err)
	}
	if n, err := SampleSizeProportions(0.2, 0.05, Absolute, 0.05, 0.8); err != nil || n != 1031 {
		t.Errorf("reference case = %d, %v; want 1031", n, err)
	}
	r, err := TwoProportionZTest(Proportion{Conversions: 1, Trials: 2}, Proportion{Conversions: 2, Trials: 2}, 0.05)
	if err != nil || r.AbsoluteCI.Low < -1 || r.AbsoluteCI.High > 1 {
		t.Errorf("extreme rates: interval %+v, %v; want within [-1, 1]", r.AbsoluteCI, err)
	}
}
