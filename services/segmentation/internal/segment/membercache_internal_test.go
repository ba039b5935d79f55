package segment

import (
	"fmt"
	"reflect"
	"testing"
)

// TestMemberCachePages builds a membership cache from pages, applies
// writes, and checks what later (warm) pages read from it: each page its
// customers' memberships among the segments asked, the last page also
// the members no page listed (no customer row), once. It uses 70
// segments, so that customers' memberships span two words.
func TestMemberCachePages(t *testing.T) {
	segs := make([]string, 70)
	for i := range segs {
		segs[i] = fmt.Sprintf("s%02d", i)
	}
	c := &memberCache{state: memberBuilding, version: 5, segs: segs, words: 2, index: newCustomerIndex(), pass: 1}
	c.fill(map[string][]string{"a": {"s01", "s65"}, "orphan": {"s02"}})
	c.fill(map[string][]string{"c": {"s65"}, "gone": {"s69"}})
	c.applied([]MembershipChange{
		{SegmentID: "s03", CustomerID: "b", Joined: true}, // a customer new to the cache
		{SegmentID: "s65", CustomerID: "c", Joined: false},
		{SegmentID: "unheld", CustomerID: "c", Joined: true},
	}, 6)
	c.done(true)
	if c.state != memberLoaded || c.version != 6 {
		t.Fatalf("state %v at version %d, want loaded at 6", c.state, c.version)
	}

	c.pass++ // a warm evaluation
	read := []string{"s01", "s02", "s03", "s65", "s69"}
	customers := func(ids ...string) []CustomerTraits {
		out := make([]CustomerTraits, len(ids))
		for i, id := range ids {
			out[i] = CustomerTraits{ID: id}
		}
		return out
	}
	if got, want := c.page(customers("a", "b"), read, false), map[string][]string{"a": {"s01", "s65"}, "b": {"s03"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("first page = %v, want %v", got, want)
	}
	if got, want := c.page(customers("a"), []string{"s65"}, false), map[string][]string{"a": {"s65"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("page asking for one segment = %v, want %v", got, want)
	}
	// c has no membership left, and "gone" and "orphan" were in no page.
	if got, want := c.page(customers("c"), read, true), map[string][]string{"gone": {"s69"}, "orphan": {"s02"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("last page = %v, want %v", got, want)
	}

	// A write another writer's version went before: stale, never served.
	c.applied([]MembershipChange{{SegmentID: "s01", CustomerID: "a"}}, 8)
	if c.state != memberStale {
		t.Errorf("state %v after a write at version 8 onto 6, want stale", c.state)
	}
}
