package clv

import (
	"fmt"
	"math"
	"runtime"
	"sync"
)

// triples is the sufficient statistic of the purchase-count models: distinct
// (x, t_x, T) rows with multiplicities. Distinct values of each coordinate
// are stored once so that per-evaluation logs and gamma functions are
// computed per distinct value, not per customer.
type triples struct {
	x, tx, T []float64 // distinct values
	rows     []tripleRow
	xWeight  []float64 // total weight per distinct x
	n        float64   // total number of customers
	repeat   float64   // customers with x > 0
}

type tripleRow struct {
	xi, txi, ti int32
	w           float64
}

// triple returns the (x, t_x, T) the purchase-count models see for s,
// normalised so that customers the models cannot tell apart share a key:
// recency carries no information without repeats and becomes 0, and t_x is
// capped at T (validate lets rounding in published files put it slightly
// beyond). Fitting and prediction both key on it.
func (s Summary) triple() (x, tx, T float64) {
	tx = s.Recency
	if s.Frequency == 0 {
		tx = 0
	}
	return s.Frequency, min(tx, s.T), s.T
}

// compress validates the summaries and collapses identical triples.
func compress(summaries []Summary) (*triples, error) {
	d := &triples{}
	xIdx := map[float64]int32{}
	txIdx := map[float64]int32{}
	tIdx := map[float64]int32{}
	rowIdx := make(map[[3]int32]int32, 1024)
	intern := func(m map[float64]int32, vals *[]float64, v float64) int32 {
		i, ok := m[v]
		if !ok {
			i = int32(len(*vals))
			m[v] = i
			*vals = append(*vals, v)
		}
		return i
	}
	for _, s := range summaries {
		if err := s.validate(); err != nil {
			return nil, err
		}
		if s.Frequency > 0 {
			d.repeat++
		}
		x, tx, T := s.triple()
		key := [3]int32{intern(xIdx, &d.x, x), intern(txIdx, &d.tx, tx), intern(tIdx, &d.T, T)}
		if i, ok := rowIdx[key]; ok {
			d.rows[i].w++
		} else {
			rowIdx[key] = int32(len(d.rows))
			d.rows = append(d.rows, tripleRow{xi: key[0], txi: key[1], ti: key[2], w: 1})
		}
		d.n++
	}
	d.xWeight = make([]float64, len(d.x))
	for _, r := range d.rows {
		d.xWeight[r.xi] += r.w
	}
	return d, nil
}

// parallelThreshold is the row count above which likelihood sums are split
// across CPUs; below it goroutine overhead outweighs the gain.
const parallelThreshold = 20000

// numChunks returns how many chunks parallelFor should split n items into:
// one per CPU, or a single one when n is below threshold or there is only
// one CPU.
func numChunks(n, threshold int) int {
	workers := runtime.GOMAXPROCS(0)
	if n < threshold || workers < 2 {
		return 1
	}
	return workers
}

// parallelFor splits [0, n) into chunks contiguous ranges of equal size
// (the last one shorter) and runs fn(c, lo, hi) for each, concurrently
// unless chunks is 1. c is the chunk's index, below chunks, so callers can
// give each chunk its own accumulator.
func parallelFor(n, chunks int, fn func(c, lo, hi int)) {
	if chunks <= 1 {
		fn(0, 0, n)
		return
	}
	var wg sync.WaitGroup
	size := (n + chunks - 1) / chunks
	for c := 0; c*size < n; c++ {
		lo, hi := c*size, min((c+1)*size, n)
		wg.Go(func() { fn(c, lo, hi) })
	}
	wg.Wait()
}

// sumRows evaluates fn over row chunks, each chunk accumulating into its
// own slice of length dim, and returns the element-wise total.
func sumRows(n, dim int, fn func(lo, hi int, acc []float64)) []float64 {
	chunks := numChunks(n, parallelThreshold)
	if chunks == 1 {
		acc := make([]float64, dim)
		fn(0, n, acc)
		return acc
	}
	accs := make([][]float64, chunks)
	for c := range accs {
		accs[c] = make([]float64, dim)
	}
	parallelFor(n, chunks, func(c, lo, hi int) { fn(lo, hi, accs[c]) })
	total := accs[0]
	for _, a := range accs[1:] {
		for i := range total {
			total[i] += a[i]
		}
	}
	return total
}

// logAddExp returns log(exp(a)+exp(b)) and the weight exp(b-result) of b,
// without overflow.
func logAddExp(a, b float64) (float64, float64) {
	if a >= b {
		e := math.Exp(b - a)
		return a + math.Log1p(e), e / (1 + e)
	}
	e := math.Exp(a - b)
	return b + math.Log1p(e), 1 / (1 + e)
}

// positive reports an error unless every value is finite and > 0.
func positive(name string, vals ...float64) error {
	for _, v := range vals {
		if !(v > 0) || math.IsInf(v, 0) {
			return fmt.Errorf("%w: %s parameters must be positive and finite, got %v", ErrInvalidModel, name, vals)
		}
	}
	return nil
}
