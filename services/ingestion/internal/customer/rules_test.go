package customer_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/conflict"
	"github.com/kizuna/kizuna/services/ingestion/internal/consent"
	"github.com/kizuna/kizuna/services/ingestion/internal/customer"
	"github.com/kizuna/kizuna/services/ingestion/internal/identity"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func anon(v string) identity.Key { return identity.Key{Kind: identity.AnonymousID, Value: v} }
func user(v string) identity.Key { return identity.Key{Kind: identity.UserID, Value: v} }

func track(id, userID, anonymousID string) customer.Event {
	return customer.Event{EventID: id, Type: "track", UserID: userID, AnonymousID: anonymousID}
}

// TestReassign: B was merged into A at t0; the undo sends back what the
// merge moved, and events that reached A since go by their identities.
func TestReassign(t *testing.T) {
	m := customer.Merge{ID: "mrg_1", SurvivorID: "cus_a", MergedIDs: []string{"cus_b"}, State: customer.MergeApplied, Time: t0}
	before, after := t0.Add(-time.Hour), t0.Add(time.Hour)
	tests := []struct {
		name  string
		state customer.UndoState
		want  customer.Reassignment
	}{{
		name: "what the merge moved goes back",
		state: customer.UndoState{
			Merge:              m,
			MovedEvents:        []customer.EventMove{{EventID: "e2", CustomerID: "cus_b"}, {EventID: "e1", CustomerID: "cus_b"}},
			MovedIdentities:    map[identity.Key]string{anon("b"): "cus_b"},
			SurvivorIdentities: map[identity.Key]time.Time{anon("a"): before, anon("b"): before},
		},
		want: customer.Reassignment{
			Events:     map[string][]string{"cus_b": {"e1", "e2"}},
			Identities: map[string][]identity.Key{"cus_b": {anon("b")}},
		},
	}, {
		name: "a later event of a restored identity follows it",
		state: customer.UndoState{
			Merge:              m,
			MovedIdentities:    map[identity.Key]string{anon("b"): "cus_b"},
			SurvivorIdentities: map[identity.Key]time.Time{anon("a"): before, anon("b"): before},
			Later:              []customer.Event{track("e3", "", "b"), track("e4", "", "a")},
		},
		want: customer.Reassignment{
			Events:     map[string][]string{"cus_b": {"e3"}},
			Identities: map[string][]identity.Key{"cus_b": {anon("b")}},
		},
	}, {
		name: "an identity attached since the merge goes where its first event goes",
		state: customer.UndoState{
			Merge:              m,
			MovedIdentities:    map[identity.Key]string{anon("b"): "cus_b"},
			SurvivorIdentities: map[identity.Key]time.Time{anon("a"): before, anon("b"): before, user("u"): after},
			Later:              []customer.Event{track("e5", "u", "b"), track("e6", "u", "")},
		},
		want: customer.Reassignment{
			Events:     map[string][]string{"cus_b": {"e5", "e6"}},
			Identities: map[string][]identity.Key{"cus_b": {anon("b"), user("u")}},
		},
	}, {
		name: "an identity the survivor held before the merge keeps its events",
		state: customer.UndoState{
			Merge:              m,
			MovedIdentities:    map[identity.Key]string{anon("b"): "cus_b"},
			SurvivorIdentities: map[identity.Key]time.Time{anon("a"): before, anon("b"): before, user("u"): before},
			Later:              []customer.Event{track("e7", "u", "b")},
		},
		want: customer.Reassignment{
			Events:     map[string][]string{},
			Identities: map[string][]identity.Key{"cus_b": {anon("b")}},
		},
	}, {
		name: "a moved event is not re-resolved",
		state: customer.UndoState{
			Merge:              m,
			MovedEvents:        []customer.EventMove{{EventID: "e8", CustomerID: "cus_b"}},
			SurvivorIdentities: map[identity.Key]time.Time{anon("a"): before},
			Later:              []customer.Event{track("e8", "", "a")},
		},
		want: customer.Reassignment{
			Events:     map[string][]string{"cus_b": {"e8"}},
			Identities: map[string][]identity.Key{},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := customer.Reassign(tt.state); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Reassign =\n%+v, want\n%+v", got, tt.want)
			}
		})
	}
}

func TestChecks(t *testing.T) {
	applied := customer.Merge{ID: "mrg_1", State: customer.MergeApplied}
	undone := customer.Merge{ID: "mrg_1", State: customer.MergeUndone}
	erased := customer.Merge{ID: "mrg_1", State: customer.MergeErased}
	tests := []struct {
		name   string
		err    error
		reason string // "" for no error
	}{
		{"applied merge with its record", customer.CheckUndo(applied, true), ""},
		{"undone merge", customer.CheckUndo(undone, true), "MERGE_ALREADY_UNDONE"},
		{"erased merge", customer.CheckUndo(erased, true), "MERGE_ALREADY_UNDONE"},
		{"merge recorded before undo existed", customer.CheckUndo(applied, false), "MERGE_NOT_UNDOABLE"},
		{"live survivor", customer.CheckSurvivorLive("cus_a", ""), ""},
		{"survivor merged since", customer.CheckSurvivorLive("cus_a", "cus_c"), "SURVIVOR_MERGED_SINCE"},
		{"live customer", customer.CheckLive("cus_a", ""), ""},
		{"merged customer", customer.CheckLive("cus_a", "cus_c"), "CUSTOMER_MERGED"},
		{"merge into another", customer.CheckMergeInto("cus_a", "cus_b"), ""},
		{"merge into itself", customer.CheckMergeInto("cus_a", "cus_a"), "MERGE_INTO_ITSELF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := conflict.Reason(tt.err)
			if got != tt.reason || (tt.reason == "") != (tt.err == nil) {
				t.Errorf("err = %v (reason %q), want reason %q", tt.err, got, tt.reason)
			}
		})
	}
}

func TestUserIDAfterUndo(t *testing.T) {
	tests := []struct {
		name, current string
		held          []string
		want          string
	}{
		{"still held", "u2", []string{"u1", "u2"}, "u2"},
		{"moved away: earliest held", "u3", []string{"u1", "u2"}, "u1"},
		{"none held", "u3", nil, ""},
		{"none before", "", []string{"u1"}, "u1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := customer.UserIDAfterUndo(tt.current, tt.held); got != tt.want {
				t.Errorf("UserIDAfterUndo(%q, %v) = %q, want %q", tt.current, tt.held, got, tt.want)
			}
		})
	}
}

func TestProfileAbsorb(t *testing.T) {
	traits := func(kv ...any) customer.Traits {
		tr := customer.NewTraits()
		for i := 0; i < len(kv); i += 3 {
			tr.Values[kv[i].(string)], tr.Times[kv[i].(string)] = kv[i+1], int64(kv[i+2].(int))
		}
		return tr
	}
	tests := []struct {
		name         string
		survivor, in customer.Profile
		want         customer.Profile
	}{{
		name:     "latest trait wins, counters add up, survivor's user id stays",
		survivor: customer.Profile{UserID: "u1", EventCount: 2, FirstSeen: t0, LastSeen: t0.Add(time.Hour), Traits: traits("plan", "free", 10, "city", "Osaka", 30)},
		in:       customer.Profile{UserID: "u2", EventCount: 3, FirstSeen: t0.Add(-time.Hour), LastSeen: t0, Traits: traits("plan", "pro", 20, "city", "Kyoto", 5, "age", 30, 1)},
		want:     customer.Profile{UserID: "u1", EventCount: 5, FirstSeen: t0.Add(-time.Hour), LastSeen: t0.Add(time.Hour), Traits: traits("plan", "pro", 20, "city", "Osaka", 30, "age", 30, 1)},
	}, {
		name:     "a survivor without a user id takes the merged one's",
		survivor: customer.Profile{FirstSeen: t0, LastSeen: t0, Traits: traits()},
		in:       customer.Profile{UserID: "u2", EventCount: 1, FirstSeen: t0.Add(time.Minute), LastSeen: t0.Add(2 * time.Hour), Traits: traits()},
		want:     customer.Profile{UserID: "u2", EventCount: 1, FirstSeen: t0, LastSeen: t0.Add(2 * time.Hour), Traits: traits()},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.survivor.Consents, tt.in.Consents, tt.want.Consents = consent.State{}, consent.State{}, consent.State{}
			p := tt.survivor
			p.Absorb(tt.in)
			if !reflect.DeepEqual(p, tt.want) {
				t.Errorf("Absorb =\n%+v, want\n%+v", p, tt.want)
			}
		})
	}
}
