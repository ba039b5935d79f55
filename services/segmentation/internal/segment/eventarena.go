package segment

import "hash/maphash"

// eventArena holds every customer's cached events, each customer's in one
// run of a large chunk, indexed by customer id in a table of its own.
// Nothing in it is a pointer per customer: a map of a million customer
// ids to a million slices made the garbage collector mark two million
// objects in every cycle (most of a recompute's GC time at that size),
// where the arena's chunks and the index's four slices are a few hundred.
//
// Runs are written once. A customer whose events change gets a new run at
// the end of the last chunk and its old run becomes waste; a chunk whose
// runs are mostly waste has its live runs moved to the end (compact), and
// is dropped. Slices of a run stay valid until the chunk is dropped.
type eventArena struct {
	// chunks hold the runs one after the other, up to their capacity;
	// nil once dropped.
	chunks [][]cachedEvent
	// live counts the events of each chunk's live runs.
	live []int
	// tail is the chunk new runs go to (-1 before the first).
	tail int
	// index numbers the customer ids; runs holds their runs by number.
	index customerIndex
	runs  []eventRun
}

// arenaChunk is the capacity of a chunk, in events (1 MiB); a run longer
// than a quarter of it gets a chunk of its own.
const arenaChunk = 1 << 16

// eventRun is where a customer's events are: chunk, offset and length.
type eventRun struct {
	chunk, off, n uint32
}

func newEventArena() *eventArena {
	return &eventArena{tail: -1, index: newCustomerIndex()}
}

// eventsFrom returns the customer's events (nil without any) and its
// number, or prev when it has none; it looks first at the customer
// numbered after prev (see customerIndex.findFrom).
func (a *eventArena) eventsFrom(customerID string, prev int) ([]cachedEvent, int) {
	i, ok := a.index.findFrom(customerID, prev)
	if !ok {
		return nil, prev
	}
	return a.run(a.runs[i]), i
}

func (a *eventArena) run(r eventRun) []cachedEvent {
	if r.n == 0 {
		return nil
	}
	return a.chunks[r.chunk][r.off : r.off+r.n : r.off+r.n]
}

// set makes evs the customer's events (copied; none drops them).
func (a *eventArena) set(customerID string, evs []cachedEvent) {
	i := a.number(customerID)
	a.free(a.runs[i])
	var r eventRun
	if len(evs) > 0 {
		var dst []cachedEvent
		r, dst = a.alloc(len(evs))
		copy(dst, evs)
	}
	a.runs[i] = r
}

// number returns the customer's number, adding it (with no events) if
// needed.
func (a *eventArena) number(customerID string) int {
	i := a.index.add(customerID)
	if i == len(a.runs) {
		a.runs = append(a.runs, eventRun{})
	}
	return i
}

// merge merges added (sorted) into the customer's events; false, changing
// nothing, when an added event has the name and time of a held one (see
// mergeEvents).
func (a *eventArena) merge(customerID string, added []cachedEvent) bool {
	i := a.number(customerID)
	old := a.runs[i]
	held := a.run(old)
	if !canMerge(held, added) {
		return false
	}
	r, dst := a.alloc(len(held) + len(added))
	mergeInto(dst, held, added)
	a.free(old)
	a.runs[i] = r
	return true
}

// append adds the customers of b (which a holds none of) after a's,
// numbered in b's order, taking over b's chunks: b is not to be used
// after.
func (a *eventArena) append(b *eventArena) {
	base := uint32(len(a.chunks))
	a.chunks = append(a.chunks, b.chunks...)
	a.live = append(a.live, b.live...)
	if b.tail >= 0 {
		if a.tail >= 0 && a.live[a.tail] == 0 {
			a.chunks[a.tail] = nil // as alloc drops a tail it leaves
		}
		a.tail = b.tail + int(base)
	}
	for j, e := range b.index.entries {
		i := a.number(string(b.index.ids[e.start : e.start+e.len]))
		a.free(a.runs[i]) // none, unless b's customers were a's too
		r := b.runs[j]
		if r.n > 0 {
			r.chunk += base
		}
		a.runs[i] = r
	}
}

// alloc reserves a run of n (> 0) events and returns it with its space.
func (a *eventArena) alloc(n int) (eventRun, []cachedEvent) {
	k := a.tail
	if n > arenaChunk/4 {
		k = a.newChunk(n)
	} else if k < 0 || cap(a.chunks[k])-len(a.chunks[k]) < n {
		if k >= 0 && a.live[k] == 0 {
			// free keeps the tail however empty, and nothing frees into
			// it once it is left: drop it now or never.
			a.chunks[k] = nil
		}
		k = a.newChunk(arenaChunk)
		a.tail = k
	}
	c := a.chunks[k]
	off := len(c)
	a.chunks[k] = c[:off+n]
	a.live[k] += n
	return eventRun{chunk: uint32(k), off: uint32(off), n: uint32(n)}, a.chunks[k][off : off+n]
}

// newChunk adds an empty chunk of capacity size, in a dropped one's place
// if there is one.
func (a *eventArena) newChunk(size int) int {
	c := make([]cachedEvent, 0, size)
	for k, old := range a.chunks {
		if old == nil {
			a.chunks[k], a.live[k] = c, 0
			return k
		}
	}
	a.chunks = append(a.chunks, c)
	a.live = append(a.live, 0)
	return len(a.chunks) - 1
}

// free makes run r waste, and drops its chunk once nothing in it is live
// (unless new runs go there).
func (a *eventArena) free(r eventRun) {
	if r.n == 0 {
		return
	}
	k := int(r.chunk)
	a.live[k] -= int(r.n)
	if a.live[k] == 0 && k != a.tail {
		a.chunks[k] = nil
	}
}

// compact moves the live runs of chunks that are mostly waste to the end,
// and drops those chunks, so that the arena holds at most about twice its
// live events (plus the chunk being filled).
func (a *eventArena) compact() {
	sparse := make([]bool, len(a.chunks))
	found := false
	for k, c := range a.chunks {
		if c != nil && k != a.tail && a.live[k]*2 < len(c) {
			sparse[k], found = true, true
		}
	}
	if !found {
		return
	}
	// Each entry is looked at once, before anything moves it, so a chunk
	// taking a dropped sparse one's place is never taken for it.
	for i, old := range a.runs {
		if old.n == 0 || !sparse[old.chunk] {
			continue
		}
		r, dst := a.alloc(int(old.n))
		copy(dst, a.run(old))
		a.free(old) // drops the chunk with its last live run
		a.runs[i] = r
	}
}

// customerIndex numbers customer ids 0, 1, 2, … in the order added: an
// open-addressing hash table, pointer-free (the ids are held one after the
// other in one byte slice) so that the garbage collector has nothing to
// follow in it. Ids are never removed (the arena gives a customer whose
// events are gone an empty run; only a full reload, with a new index,
// forgets customers).
type customerIndex struct {
	seed maphash.Seed
	// slots hold 1 + the entry's position, 0 when empty; a power of two
	// in length, at most half full.
	slots   []uint32
	entries []indexEntry
	ids     []byte
}

type indexEntry struct {
	hash       uint32 // low bits of the id's hash
	start, len uint32 // of the id in ids
}

func newCustomerIndex() customerIndex {
	return customerIndex{seed: maphash.MakeSeed(), slots: make([]uint32, 1024)}
}

// find returns id's number.
func (x *customerIndex) find(id string) (int, bool) {
	h := uint32(maphash.String(x.seed, id))
	mask := uint32(len(x.slots) - 1)
	for s := h & mask; ; s = (s + 1) & mask {
		p := x.slots[s]
		if p == 0 {
			return 0, false
		}
		e := &x.entries[p-1]
		if e.hash == h && string(x.ids[e.start:e.start+e.len]) == id {
			return int(p - 1), true
		}
	}
}

// findFrom is find trying first the number after prev (-1 for none): a
// bulk evaluation looks customers up in id order, the order a full load
// reads and numbers them in, so the next number is usually the one, found
// with neither hashing nor a random memory access.
func (x *customerIndex) findFrom(id string, prev int) (int, bool) {
	if next := prev + 1; next >= 0 && next < len(x.entries) {
		e := &x.entries[next]
		if string(x.ids[e.start:e.start+e.len]) == id {
			return next, true
		}
	}
	return x.find(id)
}

// add returns id's number, numbering it if it had none.
func (x *customerIndex) add(id string) int {
	if i, ok := x.find(id); ok {
		return i
	}
	if 2*(len(x.entries)+1) > len(x.slots) {
		x.grow()
	}
	h := uint32(maphash.String(x.seed, id))
	x.entries = append(x.entries, indexEntry{hash: h, start: uint32(len(x.ids)), len: uint32(len(id))})
	x.ids = append(x.ids, id...)
	x.place(h, uint32(len(x.entries)))
	return len(x.entries) - 1
}

// place puts slot value p in the first free slot from hash h's.
func (x *customerIndex) place(h, p uint32) {
	mask := uint32(len(x.slots) - 1)
	s := h & mask
	for x.slots[s] != 0 {
		s = (s + 1) & mask
	}
	x.slots[s] = p
}

// grow doubles the slots and places the entries again.
func (x *customerIndex) grow() {
	x.slots = make([]uint32, 2*len(x.slots))
	for i, e := range x.entries {
		x.place(e.hash, uint32(i+1))
	}
}
