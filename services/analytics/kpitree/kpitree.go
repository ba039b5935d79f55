// Package kpitree compiles and evaluates KPI trees: a KGI broken down into
// KPIs, each measured directly or defined by a formula over other nodes
// (sales = customers * spend). Formulas are expr-lang expressions, checked
// when the tree is compiled so a saved tree always evaluates.
package kpitree

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/parser"
	"github.com/expr-lang/expr/vm"
)

// Node kinds.
const (
	KGI = "KGI"
	KSF = "KSF"
	KPI = "KPI"
)

// Limits on a tree.
const (
	MaxNodes      = 100
	MaxFormulaLen = 1000
)

// ErrInvalid marks a tree that cannot be compiled; errors wrapping it are
// *NodeError.
var ErrInvalid = errors.New("invalid kpi tree")

// NodeError says what is wrong with one node.
type NodeError struct {
	// Index is the node's position in the tree, NodeID its id.
	Index  int
	NodeID string
	// Field is the node field at fault ("id", "kind", "kpi", "formula").
	Field string
	Msg   string
}

func (e *NodeError) Error() string {
	return fmt.Sprintf("node %q: %s: %s", e.NodeID, e.Field, e.Msg)
}

func (e *NodeError) Unwrap() error { return ErrInvalid }

// Node is a tree node as defined by its author.
type Node struct {
	ID, Kind string
	// KPI names the measured KPI; Formula computes the node from others.
	KPI, Formula string
	ParentID     string
}

// Tree is a compiled tree.
type Tree struct {
	nodes []Node
	// order lists formula nodes so each comes after the nodes it uses.
	order    []int
	programs map[string]*vm.Program
	deps     map[string][]string
	root     string
}

var idPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]{0,63}$`)

// Compile checks nodes and compiles their formulas. knownKPI says whether
// a KPI name exists.
func Compile(nodes []Node, knownKPI func(string) bool) (*Tree, error) {
	if len(nodes) == 0 || len(nodes) > MaxNodes {
		return nil, fmt.Errorf("%w: %d nodes, want 1 to %d", ErrInvalid, len(nodes), MaxNodes)
	}
	t := &Tree{nodes: nodes, programs: map[string]*vm.Program{}, deps: map[string][]string{}}
	index := map[string]int{}
	for i, n := range nodes {
		bad := func(field, format string, a ...any) error {
			return &NodeError{Index: i, NodeID: n.ID, Field: field, Msg: fmt.Sprintf(format, a...)}
		}
		if !idPattern.MatchString(n.ID) {
			return nil, bad("id", "must be 1 to 64 letters, digits or underscores, starting with a letter")
		}
		if _, dup := index[n.ID]; dup {
			return nil, bad("id", "used by two nodes")
		}
		index[n.ID] = i
		switch n.Kind {
		case KSF:
			if n.KPI != "" || n.Formula != "" {
				return nil, bad("kind", "a KSF is qualitative: it has neither kpi nor formula")
			}
		case KGI, KPI:
			if n.KPI == "" && n.Formula == "" {
				return nil, bad("kpi", "a %s needs a kpi or a formula", n.Kind)
			}
		default:
			return nil, bad("kind", "%q is not KGI, KSF or KPI", n.Kind)
		}
		if n.KPI != "" && !knownKPI(n.KPI) {
			return nil, bad("kpi", "unknown KPI %q", n.KPI)
		}
		if len(n.Formula) > MaxFormulaLen {
			return nil, bad("formula", "longer than %d bytes", MaxFormulaLen)
		}
	}
	env := make(map[string]any, len(nodes))
	for _, n := range nodes {
		env[n.ID] = 0.0
	}
	for i, n := range nodes {
		bad := func(field, format string, a ...any) error {
			return &NodeError{Index: i, NodeID: n.ID, Field: field, Msg: fmt.Sprintf(format, a...)}
		}
		if n.ParentID != "" {
			if _, ok := index[n.ParentID]; !ok {
				return nil, bad("parent_id", "no node %q", n.ParentID)
			}
		}
		if n.Formula == "" {
			continue
		}
		parsed, err := parser.Parse(n.Formula)
		if err != nil {
			return nil, bad("formula", "%v", err)
		}
		names := identifiers(parsed.Node)
		for _, name := range names {
			j, ok := index[name]
			switch {
			case !ok:
				return nil, bad("formula", "unknown name %q (not a node id)", name)
			case nodes[j].Kind == KSF:
				return nil, bad("formula", "%q is a KSF, which has no value", name)
			}
		}
		prog, err := expr.Compile(n.Formula, expr.Env(env), expr.AsFloat64())
		if err != nil {
			return nil, bad("formula", "%v", err)
		}
		t.programs[n.ID] = prog
		t.deps[n.ID] = names
	}
	if err := t.sort(index); err != nil {
		return nil, err
	}
	t.root = t.findRoot()
	return t, nil
}

// identifiers lists the distinct variable names an expression reads.
func identifiers(root ast.Node) []string {
	var v collector
	ast.Walk(&root, &v)
	return v.names
}

type collector struct{ names []string }

func (c *collector) Visit(n *ast.Node) {
	if id, ok := (*n).(*ast.IdentifierNode); ok && !slices.Contains(c.names, id.Value) {
		c.names = append(c.names, id.Value)
	}
}

// sort orders formula nodes dependencies first, failing on a cycle.
func (t *Tree) sort(index map[string]int) error {
	const (
		unvisited = iota
		visiting
		done
	)
	state := make([]int, len(t.nodes))
	var visit func(i int, path []string) error
	visit = func(i int, path []string) error {
		switch state[i] {
		case done:
			return nil
		case visiting:
			n := t.nodes[i]
			return &NodeError{Index: i, NodeID: n.ID, Field: "formula", Msg: fmt.Sprintf("cycle %v", append(path, n.ID))}
		}
		state[i] = visiting
		id := t.nodes[i].ID
		for _, dep := range t.deps[id] {
			if err := visit(index[dep], append(path, id)); err != nil {
				return err
			}
		}
		state[i] = done
		if _, ok := t.programs[id]; ok {
			t.order = append(t.order, i)
		}
		return nil
	}
	for i := range t.nodes {
		if err := visit(i, nil); err != nil {
			return err
		}
	}
	return nil
}

// findRoot is the first KGI, else the first node no formula uses.
func (t *Tree) findRoot() string {
	for _, n := range t.nodes {
		if n.Kind == KGI {
			return n.ID
		}
	}
	used := map[string]bool{}
	for _, deps := range t.deps {
		for _, d := range deps {
			used[d] = true
		}
	}
	for _, n := range t.nodes {
		if !used[n.ID] && n.Kind != KSF {
			return n.ID
		}
	}
	return t.nodes[0].ID
}

// Root is the node whose value the tree explains.
func (t *Tree) Root() string { return t.root }

// Nodes returns the nodes as compiled.
func (t *Tree) Nodes() []Node { return slices.Clone(t.nodes) }

// IsLeaf says whether id is measured rather than computed.
func (t *Tree) IsLeaf(id string) bool {
	_, formula := t.programs[id]
	return !formula && slices.ContainsFunc(t.nodes, func(n Node) bool { return n.ID == id && n.Kind != KSF })
}

// Evaluate computes every formula node from the leaf values given (a
// missing leaf is 0). A result that is not a finite number (a division by
// zero) is 0, as the KPIs define x/0.
func (t *Tree) Evaluate(leaves map[string]float64) (map[string]float64, error) {
	env := make(map[string]any, len(t.nodes))
	out := make(map[string]float64, len(t.nodes))
	for _, n := range t.nodes {
		if n.Kind == KSF {
			continue
		}
		env[n.ID] = leaves[n.ID]
		out[n.ID] = leaves[n.ID]
	}
	for _, i := range t.order {
		id := t.nodes[i].ID
		v, err := expr.Run(t.programs[id], env)
		if err != nil {
			return nil, fmt.Errorf("evaluate node %q: %w", id, err)
		}
		f, _ := v.(float64)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			f = 0
		}
		env[id] = f
		out[id] = f
	}
	return out, nil
}

// Sensitivity returns, for each leaf the root depends on, the root's change
// when that leaf alone rises by 1 % from its value in leaves.
func (t *Tree) Sensitivity(leaves map[string]float64) (map[string]float64, error) {
	base, err := t.Evaluate(leaves)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, n := range t.nodes {
		if !t.IsLeaf(n.ID) || n.ID == t.root {
			continue
		}
		bumped := make(map[string]float64, len(leaves))
		for k, v := range leaves {
			bumped[k] = v
		}
		bumped[n.ID] = leaves[n.ID] * 1.01
		got, err := t.Evaluate(bumped)
		if err != nil {
			return nil, err
		}
		out[n.ID] = got[t.root] - base[t.root]
	}
	return out, nil
}
