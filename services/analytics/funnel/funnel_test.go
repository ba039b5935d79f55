package funnel

import (
	"errors"
	"testing"
	"time"
)

func TestCompute(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Hour) }
	view, add, buy := uint32(1), uint32(2), uint32(4)
	customers := map[string][]Event{
		// All three steps: 1 h then 3 h apart.
		"a": {{h(0), view}, {h(1), add}, {h(4), buy}},
		// Buys before adding: only the first two steps count.
		"b": {{h(2), add}, {h(-1), buy}, {h(0), view}},
		// The second step comes after the 24 h window of the first view,
		// but a later view starts an attempt that completes.
		"c": {{h(0), view}, {h(30), view}, {h(31), add}, {h(32), buy}},
		// Never views.
		"d": {{h(0), add}, {h(1), buy}},
		// Views only.
		"e": {{h(3), view}},
	}
	got, err := Compute(customers, Options{Steps: 3, Window: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	want := []Step{
		{Count: 4, FromPrevious: 1, FromStart: 1},
		{Count: 3, FromPrevious: 0.75, FromStart: 0.75, MedianFromPrevious: time.Hour},
		{Count: 2, FromPrevious: 2.0 / 3, FromStart: 0.5, MedianFromPrevious: 2 * time.Hour},
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("step %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	// Restricting first steps to before hour 10 drops c's completing attempt.
	got, err = Compute(customers, Options{Steps: 3, Window: 24 * time.Hour, End: h(10)})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Count != 4 || got[1].Count != 2 || got[2].Count != 1 {
		t.Errorf("counts with end = %d %d %d, want 4 2 1", got[0].Count, got[1].Count, got[2].Count)
	}
	for _, o := range []Options{{Steps: 1, Window: time.Hour}, {Steps: 3}} {
		if _, err := Compute(customers, o); !errors.Is(err, ErrInvalid) {
			t.Errorf("Compute(%+v) = %v, want ErrInvalid", o, err)
		}
	}
}
