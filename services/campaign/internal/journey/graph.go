// Package journey is the journey domain without storage: validating a
// definition, moving a customer from step to step, matching events and
// traits, and the local-time arithmetic of delays and quiet hours.
//
// A definition is the contract's campaignv1.Journey itself rather than a
// copy in domain types: the definition is a tree the contract fixes field
// by field, and a second copy would only drift from it.
package journey

import (
	campaignv1 "github.com/kizuna/kizuna/gen/kizuna/campaign/v1"
)

// Graph indexes a journey's steps by id.
type Graph struct {
	steps []*campaignv1.Step
	index map[string]int
}

// NewGraph indexes steps; ids are unique in a validated journey.
func NewGraph(steps []*campaignv1.Step) *Graph {
	g := &Graph{steps: steps, index: make(map[string]int, len(steps))}
	for i, s := range steps {
		if _, dup := g.index[s.GetId()]; !dup {
			g.index[s.GetId()] = i
		}
	}
	return g
}

// Step returns the step with id, or nil.
func (g *Graph) Step(id string) *campaignv1.Step {
	if i, ok := g.index[id]; ok {
		return g.steps[i]
	}
	return nil
}

// First returns the id of the first step.
func (g *Graph) First() string {
	if len(g.steps) == 0 {
		return ""
	}
	return g.steps[0].GetId()
}

// After returns the step that follows the step with id when it is a send
// or delay step: its `next`, else the next in the list; "" after the last.
func (g *Graph) After(id string) string {
	i, ok := g.index[id]
	if !ok {
		return ""
	}
	if n := g.steps[i].GetNext(); n != "" {
		return n
	}
	if i+1 < len(g.steps) {
		return g.steps[i+1].GetId()
	}
	return ""
}

// Successors lists the indexes of every step step i can go to; -1 stands
// for the end of the journey.
func (g *Graph) Successors(i int) []int {
	s := g.steps[i]
	idx := func(id string) int {
		if id == "" {
			return -1
		}
		if j, ok := g.index[id]; ok {
			return j
		}
		return -1
	}
	switch k := s.GetKind().(type) {
	case *campaignv1.Step_WaitFor:
		return []int{idx(k.WaitFor.GetOnEvent()), idx(k.WaitFor.GetOnTimeout())}
	case *campaignv1.Step_Branch:
		return []int{idx(k.Branch.GetThenStep()), idx(k.Branch.GetElseStep())}
	case *campaignv1.Step_Exit:
		return nil
	}
	return []int{idx(g.After(s.GetId()))}
}
