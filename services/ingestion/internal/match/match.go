package match

import (
	"cmp"
	"runtime"
	"slices"
	"sync"

	"github.com/kizuna/kizuna/services/ingestion/internal/normalize"
)

// Decision is what to do with a scored pair.
type Decision int

// Decisions. Pairs below Options.Low are not returned at all.
const (
	// Review means the pair is plausible but needs a person to decide.
	Review Decision = iota + 1
	// Merge means the records are the same customer.
	Merge
)

// None: the pair is below Options.Low.
const None Decision = 0

// String returns "review" or "merge".
func (d Decision) String() string {
	switch d {
	case Review:
		return "review"
	case Merge:
		return "merge"
	}
	return "none"
}

// Options tunes Find. Use DefaultOptions and override fields; zero fields
// take their default values.
type Options struct {
	// High is the score from which a pair is merged, Low the score from
	// which it is suggested for review.
	High, Low float64
	// MaxBlock is the largest block compared all-pairs. Larger blocks use
	// a sorted-neighbourhood window (see the package documentation).
	MaxBlock int
	// Window is how many sorted neighbours each record of an oversized
	// block is compared with.
	Window int
	// Workers is the number of scoring goroutines; 0 means GOMAXPROCS.
	Workers int
}

// DefaultOptions returns the tuned defaults. MaxBlock 64 keeps the
// all-pairs work per block at ≤ 2016 comparisons, larger than any real
// duplicate group, while a 1,000-employee main line costs 1000×Window.
func DefaultOptions() Options {
	return Options{High: 0.75, Low: 0.5, MaxBlock: 64, Window: 8}
}

// Compare scores a pair of records and decides it as Find does: Merge from
// opt.High, Review from opt.Low, else None. A pair that shares a mobile
// number while the names conflict is always Review, with the reason
// normalize.RuleSharedMobileNameConflict, whatever its score — the rule
// identity resolution applies to live events too.
func Compare(a, b *Record, opt Options) (float64, []string, Decision) {
	s, reasons := score(a, b)
	switch {
	case sharedMobileConflict(a, b):
		return s, append(reasons, normalize.RuleSharedMobileNameConflict), Review
	case s < opt.Low:
		return s, reasons, None
	case s >= opt.High:
		return s, reasons, Merge
	}
	return s, reasons, Review
}

// Pair is a scored candidate pair. I and J index the records slice given to
// Find (I < J); A and B are their IDs.
type Pair struct {
	I, J     int
	A, B     string
	Score    float64
	Reasons  []string
	Decision Decision
}

// Stats describes the work Find did.
type Stats struct {
	Records         int
	Blocks          int // blocks with at least two records
	OversizedBlocks int // blocks handled with the sorted-neighbourhood window
	Candidates      int // distinct pairs scored
	Merges          int
}

// Result is the output of Find: the pairs at or above Options.Low, sorted by
// (I, J).
type Result struct {
	Pairs []Pair
	Stats Stats
}

// Find scores candidate pairs among records and returns the merge and review
// pairs. It is deterministic for a given input and options.
func Find(records []Record, opt Options) Result {
	def := DefaultOptions()
	if opt.High == 0 {
		opt.High = def.High
	}
	if opt.Low == 0 {
		opt.Low = def.Low
	}
	if opt.MaxBlock < 2 {
		opt.MaxBlock = def.MaxBlock
	}
	if opt.Window < 1 {
		opt.Window = def.Window
	}
	if opt.Workers <= 0 {
		opt.Workers = runtime.GOMAXPROCS(0)
	}
	st := Stats{Records: len(records)}
	cands := candidates(records, opt, &st)
	st.Candidates = len(cands)

	// Score in contiguous chunks so that concatenating the workers'
	// outputs keeps the (I, J) order without another sort.
	chunks := opt.Workers * 4
	if chunks > len(cands) {
		chunks = 1
	}
	outs := make([][]Pair, chunks)
	var wg sync.WaitGroup
	next := make(chan int, chunks)
	for c := range chunks {
		next <- c
	}
	close(next)
	for range opt.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range next {
				lo, hi := c*len(cands)/chunks, (c+1)*len(cands)/chunks
				var out []Pair
				for _, p := range cands[lo:hi] {
					i, j := int(p>>32), int(uint32(p))
					s, reasons, d := Compare(&records[i], &records[j], opt)
					if d == None {
						continue
					}
					out = append(out, Pair{I: i, J: j, A: records[i].ID, B: records[j].ID, Score: s, Reasons: reasons, Decision: d})
				}
				outs[c] = out
			}
		}()
	}
	wg.Wait()
	var res Result
	for _, o := range outs {
		res.Pairs = append(res.Pairs, o...)
	}
	for _, p := range res.Pairs {
		if p.Decision == Merge {
			st.Merges++
		}
	}
	res.Stats = st
	return res
}

// Clusters groups n records connected by Merge pairs (union-find with path
// halving and union by size). It returns a cluster number for each record
// index; numbers start at 1 and follow the order of each cluster's first
// record, so the output is stable and singletons get their own number.
// pairs must index the same n records, as the pairs from Find do.
func Clusters(n int, pairs []Pair) []int {
	parent := make([]int32, n)
	size := make([]int32, n)
	for i := range parent {
		parent[i] = int32(i)
		size[i] = 1
	}
	find := func(x int32) int32 {
		for parent[x] != x {
			parent[x] = parent[parent[x]]
			x = parent[x]
		}
		return x
	}
	for _, p := range pairs {
		if p.Decision != Merge {
			continue
		}
		a, b := find(int32(p.I)), find(int32(p.J))
		if a == b {
			continue
		}
		if size[a] < size[b] {
			a, b = b, a
		}
		parent[b] = a
		size[a] += size[b]
	}
	ids := make([]int, n)
	label := make([]int32, n) // root → cluster number, 0 = unassigned
	next := int32(0)
	for i := range n {
		r := find(int32(i))
		if label[r] == 0 {
			next++
			label[r] = next
		}
		ids[i] = int(label[r])
	}
	return ids
}

// blockEntry places record idx into the block whose key hashes to h.
type blockEntry struct {
	h   uint64
	idx int32
}

// Block key kinds; mixed into the hash so that e.g. an e-mail and a phone
// with the same text never share a block.
const (
	kEmail byte = iota + 1
	kPhone
	kNamePostal
	kNameAddress
	kKanaAddress
	kKanaPostal
	kCompanyName
	kCompanyKana
)

// candidates returns the distinct candidate pairs as I<<32|J, sorted.
// Keys are 64-bit FNV-1a hashes rather than strings: a million records
// have several million keys, and hashes sort and group in a fraction of
// the memory. A hash collision only adds a candidate pair, which scoring
// then rejects, so it cannot cause a wrong merge.
func candidates(records []Record, opt Options, st *Stats) []uint64 {
	entries := make([]blockEntry, 0, len(records)*6) // ~6 of the 8 keys are usually set
	for i := range records {
		r := &records[i]
		add := func(kind byte, a, b string) {
			if a == "" || b == "" {
				return
			}
			entries = append(entries, blockEntry{hashKey(kind, a, b), int32(i)})
		}
		add(kEmail, r.Email, "-")
		add(kPhone, r.Phone, "-")
		add(kNamePostal, r.Name, r.Postal)
		add(kNameAddress, r.Name, r.Address)
		add(kKanaAddress, r.Kana, r.Address)
		add(kKanaPostal, r.Kana, r.Postal)
		add(kCompanyName, r.Company, r.Name)
		add(kCompanyKana, r.Company, r.Kana)
	}
	slices.SortFunc(entries, func(a, b blockEntry) int {
		if c := cmp.Compare(a.h, b.h); c != 0 {
			return c
		}
		return cmp.Compare(a.idx, b.idx)
	})
	var pairs []uint64
	for s := 0; s < len(entries); {
		e := s + 1
		for e < len(entries) && entries[e].h == entries[s].h {
			e++
		}
		blk := entries[s:e]
		s = e
		if len(blk) < 2 {
			continue
		}
		st.Blocks++
		if len(blk) <= opt.MaxBlock {
			for x := 0; x < len(blk); x++ {
				for y := x + 1; y < len(blk); y++ {
					pairs = appendPair(pairs, blk[x].idx, blk[y].idx)
				}
			}
			continue
		}
		st.OversizedBlocks++
		// Sorted neighbourhood: duplicates of one person inside a huge
		// block share a name or reading, so they sort next to each other.
		idx := make([]int32, len(blk))
		for x := range blk {
			idx[x] = blk[x].idx
		}
		slices.SortFunc(idx, func(a, b int32) int {
			ra, rb := &records[a], &records[b]
			if c := cmp.Compare(ra.Name, rb.Name); c != 0 {
				return c
			}
			if c := cmp.Compare(ra.Kana, rb.Kana); c != 0 {
				return c
			}
			return cmp.Compare(a, b)
		})
		for x := range idx {
			for y := x + 1; y < len(idx) && y <= x+opt.Window; y++ {
				pairs = appendPair(pairs, idx[x], idx[y])
			}
		}
	}
	slices.Sort(pairs)
	return slices.Compact(pairs)
}

func appendPair(pairs []uint64, a, b int32) []uint64 {
	if a > b {
		a, b = b, a
	}
	if a == b {
		return pairs
	}
	return append(pairs, uint64(a)<<32|uint64(b))
}

func hashKey(kind byte, a, b string) uint64 {
	const (
		offset = 14695981039346656037
		prime  = 1099511628211
	)
	h := uint64(offset)
	h = (h ^ uint64(kind)) * prime
	for i := 0; i < len(a); i++ {
		h = (h ^ uint64(a[i])) * prime
	}
	h = (h ^ 0xff) * prime // separator: 0xff never occurs in UTF-8
	for i := 0; i < len(b); i++ {
		h = (h ^ uint64(b[i])) * prime
	}
	return h
}
