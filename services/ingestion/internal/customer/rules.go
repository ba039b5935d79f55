package customer

import (
	"cmp"
	"slices"
	"time"

	"github.com/kizuna/kizuna/services/ingestion/internal/conflict"
	"github.com/kizuna/kizuna/services/ingestion/internal/consent"
	"github.com/kizuna/kizuna/services/ingestion/internal/identity"
	"github.com/kizuna/kizuna/services/ingestion/internal/tracking"
)

// Traits are a customer's traits with when each was last received (Unix
// microseconds, as stored; 0 for traits stored before times were kept).
type Traits struct {
	Values map[string]any
	Times  map[string]int64
}

// NewTraits returns empty traits.
func NewTraits() Traits {
	return Traits{Values: map[string]any{}, Times: map[string]int64{}}
}

// Set records traits received at at.
func (s Traits) Set(traits map[string]any, at int64) {
	for k, v := range traits {
		s.Values[k] = v
		s.Times[k] = at
	}
}

// Absorb takes every trait of o received after s's value of it (or that s
// lacks): the most recently received value wins.
func (s Traits) Absorb(o Traits) {
	for k, v := range o.Values {
		if _, ok := s.Values[k]; !ok || o.Times[k] > s.Times[k] {
			s.Values[k] = v
			s.Times[k] = o.Times[k]
		}
	}
}

// Profile is what a merge folds from the merged customers into the
// survivor.
type Profile struct {
	UserID              string
	EventCount          int64
	FirstSeen, LastSeen time.Time
	Traits              Traits
	Consents            consent.State
}

// Absorb folds o into p: the most recently received value of every trait
// and consent, the counters added up, and p's own user id, else o's.
func (p *Profile) Absorb(o Profile) {
	p.Traits.Absorb(o.Traits)
	p.Consents.Absorb(o.Consents)
	p.EventCount += o.EventCount
	if o.FirstSeen.Before(p.FirstSeen) {
		p.FirstSeen = o.FirstSeen
	}
	if o.LastSeen.After(p.LastSeen) {
		p.LastSeen = o.LastSeen
	}
	if p.UserID == "" {
		p.UserID = o.UserID
	}
}

// CheckLive refuses a customer that was merged away (into mergedInto) as
// a party to a merge.
func CheckLive(id, mergedInto string) error {
	if mergedInto != "" {
		return conflict.Errorf("CUSTOMER_MERGED", "customer %s was merged into %s", id, mergedInto)
	}
	return nil
}

// CheckMergeInto refuses merging a customer into itself.
func CheckMergeInto(survivorID, id string) error {
	if id == survivorID {
		return conflict.Errorf("MERGE_INTO_ITSELF", "merge %s into itself", id)
	}
	return nil
}

// CheckUndo refuses undoing a merge that is no longer applied, or one
// recorded without what an undo needs (recorded is false: merges from
// before migration 0003 kept nothing to undo with).
func CheckUndo(m Merge, recorded bool) error {
	if m.State != MergeApplied {
		return conflict.Errorf("MERGE_ALREADY_UNDONE", "merge %s is already undone", m.ID)
	}
	if !recorded {
		return conflict.Errorf("MERGE_NOT_UNDOABLE", "merge %s was recorded before merges could be undone", m.ID)
	}
	return nil
}

// CheckSurvivorLive refuses undoing a merge whose survivor has since been
// merged away (into mergedInto): that later merge has to be undone first.
func CheckSurvivorLive(survivorID, mergedInto string) error {
	if mergedInto != "" {
		return conflict.Errorf("SURVIVOR_MERGED_SINCE", "customer %s has since been merged into %s; undo that merge first", survivorID, mergedInto)
	}
	return nil
}

// EventMove is an event and the customer it belongs to.
type EventMove struct {
	EventID    string
	CustomerID string
}

// UndoState is what Reassign needs to know of a merge being undone.
type UndoState struct {
	Merge Merge
	// MovedEvents are the events the merge moved that the survivor still
	// holds, each with the merged customer it came from.
	MovedEvents []EventMove
	// MovedIdentities are the identities the merge moved that the
	// survivor still holds, each with the merged customer it came from.
	MovedIdentities map[identity.Key]string
	// SurvivorIdentities are the identities the survivor holds, each with
	// the time it was attached.
	SurvivorIdentities map[identity.Key]time.Time
	// Later are the survivor's events received at or after the merge, in
	// the order they arrived.
	Later []Event
	// Region is the workspace's phone region, to read identities from
	// events as ingestion did.
	Region string
}

// Reassignment is where an undo sends events and identities: by restored
// customer, event ids sorted; identities by the customer that gets them.
type Reassignment struct {
	Events     map[string][]string
	Identities map[string][]identity.Key
}

// Reassign decides where an undo puts events and identities. What the merge
// moved goes back. Events that reached the survivor after the merge are
// re-resolved against the identities as they will be after the undo, in
// the order they arrived, so an event carrying a restored customer's
// anonymous id or e-mail goes to that customer along with the identities it
// introduced. An identity attached to the survivor since the merge is no
// evidence yet: the first event that carries it decides where it belongs.
func Reassign(st UndoState) Reassignment {
	survivor := st.Merge.SurvivorID
	restored := map[string]bool{}
	for _, id := range st.Merge.MergedIDs {
		restored[id] = true
	}
	identMoves := map[identity.Key]string{}
	held := map[identity.Key]string{}
	for k := range st.SurvivorIdentities {
		held[k] = survivor
	}
	for k, owner := range st.MovedIdentities {
		identMoves[k], held[k] = owner, owner
	}
	decided := map[identity.Key]bool{}
	settled := func(k identity.Key) bool {
		_, moved := st.MovedIdentities[k]
		return moved || decided[k] || st.SurvivorIdentities[k].Before(st.Merge.Time)
	}
	moves := slices.Clone(st.MovedEvents)
	movedEvent := map[string]bool{}
	for _, mv := range st.MovedEvents {
		movedEvent[mv.EventID] = true
	}
	for _, e := range st.Later {
		if movedEvent[e.EventID] {
			continue
		}
		keys := identity.MessageKeys(tracking.Type(e.Type), e.UserID, e.AnonymousID, e.Traits, e.Context, st.Region)
		owner := survivor
		for _, k := range keys {
			if o, ok := held[k]; ok && settled(k) {
				owner = o
				break
			}
		}
		for _, k := range keys {
			if held[k] == survivor && !settled(k) {
				held[k] = owner
				decided[k] = true
				if owner != survivor {
					identMoves[k] = owner
				}
			}
		}
		if restored[owner] {
			moves = append(moves, EventMove{EventID: e.EventID, CustomerID: owner})
		}
	}
	out := Reassignment{Events: map[string][]string{}, Identities: map[string][]identity.Key{}}
	for _, mv := range moves {
		out.Events[mv.CustomerID] = append(out.Events[mv.CustomerID], mv.EventID)
	}
	for _, ids := range out.Events {
		slices.Sort(ids)
	}
	for k, owner := range identMoves {
		out.Identities[owner] = append(out.Identities[owner], k)
	}
	for _, keys := range out.Identities {
		slices.SortFunc(keys, func(a, b identity.Key) int {
			return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Value, b.Value))
		})
	}
	return out
}

// UserIDAfterUndo is a customer's user id after an undo moved identities:
// current stays while the customer still holds it, else the earliest
// attached of held (in attach order), else none.
func UserIDAfterUndo(current string, held []string) string {
	if slices.Contains(held, current) {
		return current
	}
	if len(held) > 0 {
		return held[0]
	}
	return ""
}
