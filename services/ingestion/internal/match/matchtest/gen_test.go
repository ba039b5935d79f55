package matchtest

import "testing"

func TestGenerateDeterministic(t *testing.T) {
	a, b := Generate(7, 500), Generate(7, 500)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("row %d differs between runs: %+v vs %+v", i, a[i], b[i])
		}
	}
	dups := map[int]int{}
	for _, r := range a {
		dups[r.Entity]++
	}
	if len(dups) == len(a) {
		t.Fatal("no duplicates generated")
	}
}
