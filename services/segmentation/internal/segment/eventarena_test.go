package segment

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestEventArenaAgainstMap applies random sets, merges, reloads and
// compactions to an arena and to a map of slices (what the cache held
// before the arena), and checks that every customer's events are the same
// after each step, and that compaction keeps the arena within about twice
// its live events.
func TestEventArenaAgainstMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	a := newEventArena()
	want := map[string][]cachedEvent{}
	ids := make([]string, 3000)
	for i := range ids {
		ids[i] = fmt.Sprintf("c%05d", i)
	}
	events := func(n int) []cachedEvent {
		evs := make([]cachedEvent, n)
		for i := range evs {
			evs[i] = cachedEvent{at: r.Int64N(1000), name: uint32(r.IntN(3)), props: uint32(r.IntN(5))}
		}
		slices.SortFunc(evs, compareEvents)
		return slices.CompactFunc(evs, func(x, y cachedEvent) bool { return compareEvents(x, y) == 0 })
	}
	check := func(step int) {
		t.Helper()
		for _, id := range ids {
			if got, _ := a.eventsFrom(id, -1); !slices.Equal(got, want[id]) {
				t.Fatalf("step %d: %s = %v, want %v", step, id, got, want[id])
			}
		}
	}
	for step := range 200 {
		for range 500 {
			id := ids[r.IntN(len(ids))]
			switch op := r.IntN(10); {
			case op < 5: // events appended
				added := events(1 + r.IntN(4))
				ok := a.merge(id, added)
				if wantOK := canMerge(want[id], added); ok != wantOK {
					t.Fatalf("step %d: merge %s = %v, want %v", step, id, ok, wantOK)
				}
				if ok {
					merged := append(slices.Clone(want[id]), added...)
					slices.SortStableFunc(merged, compareEvents)
					want[id] = merged
				}
			case op < 9: // reloaded
				evs := events(r.IntN(40))
				a.set(id, evs)
				if len(evs) == 0 {
					delete(want, id)
				} else {
					want[id] = evs
				}
			default: // a run longer than a chunk's quarter gets its own chunk
				if r.IntN(50) == 0 {
					evs := make([]cachedEvent, arenaChunk/4+1+r.IntN(100))
					for i := range evs {
						evs[i] = cachedEvent{at: int64(i), name: 1}
					}
					a.set(id, evs)
					want[id] = evs
				}
			}
		}
		a.compact()
		check(step)
		live, held := 0, 0
		for k, c := range a.chunks {
			held += len(c)
			live += a.live[k]
		}
		total := 0
		for _, evs := range want {
			total += len(evs)
		}
		if live != total {
			t.Fatalf("step %d: live count %d, want %d", step, live, total)
		}
		if held > 2*live+arenaChunk {
			t.Fatalf("step %d: chunks hold %d events for %d live ones", step, held, live)
		}
	}
}

// TestEventArenaCompactsAndDrops checks that customers whose events are
// reloaded again and again leave no chunk mostly waste behind, that a
// chunk with nothing live is dropped, and that a dropped chunk's place is
// taken by the next one.
func TestEventArenaCompactsAndDrops(t *testing.T) {
	a := newEventArena()
	evs := make([]cachedEvent, 20)
	for i := range evs {
		evs[i] = cachedEvent{at: int64(i)}
	}
	const customers = 10_000 // about three chunks of 20-event runs
	for round := range 5 {
		for i := range customers {
			evs[0].props = uint32(round)
			a.set(fmt.Sprint(i), evs)
		}
		a.compact()
	}
	if n := len(a.chunks); n > 8 {
		t.Errorf("%d chunks for %d live events", n, customers*len(evs))
	}
	for k, c := range a.chunks {
		if c != nil && k != a.tail && a.live[k]*2 < len(c) {
			t.Errorf("chunk %d: %d of %d events live after compact", k, a.live[k], len(c))
		}
	}
	for i := range customers {
		got, _ := a.eventsFrom(fmt.Sprint(i), i-1)
		if len(got) != len(evs) || got[0].props != 4 || got[19].at != 19 {
			t.Fatalf("customer %d: %v", i, got)
		}
	}
	for i := range customers {
		a.set(fmt.Sprint(i), nil)
	}
	for k, c := range a.chunks {
		if c != nil && k != a.tail {
			t.Errorf("chunk %d kept with nothing live", k)
		}
	}
	if got, _ := a.eventsFrom("1", -1); got != nil {
		t.Errorf("events after a reload found none: %v", got)
	}
}

// TestEventArenaDropsEmptyTail checks that a tail chunk whose runs were
// all freed while it was the tail is dropped when new runs go elsewhere:
// nothing frees into it after that, and compact has no run to move out of
// it, so it was kept until the next full reload.
func TestEventArenaDropsEmptyTail(t *testing.T) {
	a := newEventArena()
	evs := make([]cachedEvent, arenaChunk/4)
	for i := range 4 { // fill the first chunk exactly
		a.set(fmt.Sprint(i), evs)
	}
	for i := range 4 { // reloaded as none: the tail holds nothing live
		a.set(fmt.Sprint(i), nil)
	}
	a.set("next", evs[:1]) // does not fit: a new tail
	a.compact()
	held := 0
	for _, c := range a.chunks {
		held += cap(c)
	}
	if held != arenaChunk {
		t.Errorf("chunks hold room for %d events with 1 live, want one chunk (%d)", held, arenaChunk)
	}
}

// TestEventArenaAppend builds arenas of consecutive ranges of customers,
// as a load's readers do (some with a run of a chunk of its own, one
// empty), appends them to the first, and checks the result against one
// arena filled with every customer in order: the same events and numbers
// for every customer, and that sets, merges and compaction work on it
// after (the tail is the last part's).
func TestEventArenaAppend(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ids := make([]string, 9000)
	evs := make([][]cachedEvent, len(ids))
	for i := range ids {
		ids[i] = fmt.Sprintf("c%05d", i)
		n := r.IntN(30)
		if i%2500 == 7 {
			n = arenaChunk/4 + 1
		}
		for j := range n {
			evs[i] = append(evs[i], cachedEvent{at: int64(j), name: uint32(r.IntN(3)), props: uint32(r.IntN(5))})
		}
	}
	whole := newEventArena()
	for i, id := range ids {
		whole.set(id, evs[i])
	}
	bounds := []int{0, 3000, 3000, 5000, 8999, len(ids)} // [3000, 3000) is empty
	var joined *eventArena
	for k := range len(bounds) - 1 {
		a := newEventArena()
		for i := bounds[k]; i < bounds[k+1]; i++ {
			a.set(ids[i], evs[i])
		}
		if joined == nil {
			joined = a
		} else {
			joined.append(a)
		}
	}
	check := func(stage string) {
		t.Helper()
		for i, id := range ids {
			got, n := joined.eventsFrom(id, i-1)
			want, wantN := whole.eventsFrom(id, i-1)
			if !slices.Equal(got, want) || n != wantN {
				t.Fatalf("%s: %s = #%d %v, want #%d %v", stage, id, n, got, wantN, want)
			}
		}
	}
	check("appended")
	if last := joined.chunks[joined.tail]; len(last) == 0 || joined.runs[len(ids)-1].chunk != uint32(joined.tail) {
		t.Errorf("tail %d is not the last part's", joined.tail)
	}
	for i := range 3000 {
		id := ids[r.IntN(len(ids))]
		added := []cachedEvent{{at: int64(1000 + i), name: 2}}
		if !joined.merge(id, added) || !whole.merge(id, added) {
			t.Fatalf("merge %s refused", id)
		}
		if i%3 == 0 {
			joined.set(ids[i], nil)
			whole.set(ids[i], nil)
		}
	}
	joined.compact()
	check("changed and compacted")
}

// TestCustomerIndexGrows checks the index through several doublings, with
// ids that are prefixes of one another.
func TestCustomerIndexGrows(t *testing.T) {
	x := newCustomerIndex()
	const n = 20_000
	for i := range n {
		id := fmt.Sprint(i)
		if got := x.add(id); got != i {
			t.Fatalf("add %s = %d, want %d", id, got, i)
		}
	}
	for i := range n {
		id := fmt.Sprint(i)
		if got, ok := x.find(id); !ok || got != i {
			t.Fatalf("find %s = %d, %v", id, got, ok)
		}
		if got := x.add(id); got != i {
			t.Fatalf("add %s again = %d", id, got)
		}
	}
	for _, id := range []string{"", "x", "-1", fmt.Sprint(n)} {
		if i, ok := x.find(id); ok {
			t.Errorf("find %q = %d", id, i)
		}
		if i, ok := x.findFrom(id, 5); ok {
			t.Errorf("findFrom %q after 5 = %d", id, i)
		}
	}
	// findFrom finds with the right hint, a wrong one, none, and the last
	// number as the hint.
	for _, prev := range []int{-1, 0, 41, 42, 43, n - 1, n + 5} {
		if got, ok := x.findFrom("42", prev); !ok || got != 42 {
			t.Errorf("findFrom 42 after %d = %d, %v", prev, got, ok)
		}
	}
}
