package experiment

import (
	"hash/fnv"
	"strconv"
)

// Bucket places an id in [0, 1) for an experiment seed, as GrowthBook's
// hash version 2 does: FNV-1a 32 of seed+id, its decimal string hashed
// again, modulo 10,000. The same seed and id always give the same bucket,
// and different seeds give independent buckets, so one experiment's split
// does not predict another's.
func Bucket(seed, id string) float64 {
	inner := fnv32a(seed + id)
	return float64(fnv32a(strconv.FormatUint(uint64(inner), 10))%10000) / 10000
}

// Pick returns the index of the arm whose share of the weights holds the
// id's bucket (arms in order, each taking weight/total of [0, 1)), or -1
// when no weight is positive.
func Pick(seed, id string, weights []float64) int {
	total := 0.0
	for _, w := range weights {
		if w > 0 {
			total += w
		}
	}
	if total <= 0 {
		return -1
	}
	b := Bucket(seed, id) * total
	last := -1
	for i, w := range weights {
		if w <= 0 {
			continue
		}
		if b < w {
			return i
		}
		b -= w
		last = i
	}
	return last // rounding at the top end
}

func fnv32a(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}
