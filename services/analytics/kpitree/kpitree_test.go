package kpitree

import (
	"errors"
	"math"
	"testing"
)

func known(name string) bool { return name != "nope" }

func starter() []Node {
	return []Node{
		{ID: "sales", Kind: KGI, KPI: "revenue", Formula: "customers * spend"},
		{ID: "loyalty", Kind: KSF, ParentID: "sales"},
		{ID: "customers", Kind: KPI, Formula: "new_customers + returning_customers"},
		{ID: "new_customers", Kind: KPI, KPI: "new_customers"},
		{ID: "returning_customers", Kind: KPI, KPI: "returning_customers", ParentID: "loyalty"},
		{ID: "spend", Kind: KPI, Formula: "aov * frequency"},
		{ID: "aov", Kind: KPI, KPI: "aov"},
		{ID: "frequency", Kind: KPI, KPI: "purchase_frequency"},
	}
}

func TestEvaluateAndSensitivity(t *testing.T) {
	tree, err := Compile(starter(), known)
	if err != nil {
		t.Fatal(err)
	}
	if tree.Root() != "sales" {
		t.Errorf("root = %q", tree.Root())
	}
	leaves := map[string]float64{"new_customers": 30, "returning_customers": 70, "aov": 5000, "frequency": 1.5}
	got, err := tree.Evaluate(leaves)
	if err != nil {
		t.Fatal(err)
	}
	if got["customers"] != 100 || got["spend"] != 7500 || got["sales"] != 750000 {
		t.Errorf("evaluate = %v", got)
	}
	sens, err := tree.Sensitivity(leaves)
	if err != nil {
		t.Fatal(err)
	}
	// sales = (n + r) * aov * f: +1 % of aov or f adds 1 % of sales; +1 %
	// of new customers adds 0.3 customers, i.e. 0.3 * 7500.
	want := map[string]float64{"aov": 7500, "frequency": 7500, "new_customers": 2250, "returning_customers": 5250}
	for k, w := range want {
		if math.Abs(sens[k]-w) > 1e-6 {
			t.Errorf("sensitivity[%s] = %v, want %v", k, sens[k], w)
		}
	}
	if len(sens) != len(want) {
		t.Errorf("sensitivities for %v, want only leaves", sens)
	}
	// Division by zero is 0, not Inf.
	div, err := Compile([]Node{{ID: "r", Kind: KGI, Formula: "a / b"}, {ID: "a", Kind: KPI, KPI: "x"}, {ID: "b", Kind: KPI, KPI: "y"}}, known)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := div.Evaluate(map[string]float64{"a": 1}); err != nil || v["r"] != 0 {
		t.Errorf("1/0 = %v, %v", v, err)
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name      string
		nodes     []Node
		wantNode  string
		wantField string
	}{
		{"unknown name", []Node{{ID: "a", Kind: KGI, Formula: "b * c"}, {ID: "b", Kind: KPI, KPI: "x"}}, "a", "formula"},
		{"cycle", []Node{{ID: "a", Kind: KGI, Formula: "b + 1"}, {ID: "b", Kind: KPI, Formula: "c"}, {ID: "c", Kind: KPI, Formula: "b"}}, "b", "formula"},
		{"self reference", []Node{{ID: "a", Kind: KGI, Formula: "a + 1"}}, "a", "formula"},
		{"syntax", []Node{{ID: "a", Kind: KGI, Formula: "1 +"}}, "a", "formula"},
		{"unknown kpi", []Node{{ID: "a", Kind: KPI, KPI: "nope"}}, "a", "kpi"},
		{"bad kind", []Node{{ID: "a", Kind: "GOAL", KPI: "x"}}, "a", "kind"},
		{"ksf with formula", []Node{{ID: "a", Kind: KSF, Formula: "1"}}, "a", "kind"},
		{"ksf in formula", []Node{{ID: "a", Kind: KGI, Formula: "k"}, {ID: "k", Kind: KSF}}, "a", "formula"},
		{"empty kpi", []Node{{ID: "a", Kind: KPI}}, "a", "kpi"},
		{"duplicate", []Node{{ID: "a", Kind: KPI, KPI: "x"}, {ID: "a", Kind: KPI, KPI: "x"}}, "a", "id"},
		{"bad id", []Node{{ID: "1a", Kind: KPI, KPI: "x"}}, "1a", "id"},
		{"bad parent", []Node{{ID: "a", Kind: KPI, KPI: "x", ParentID: "z"}}, "a", "parent_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.nodes, known)
			var ne *NodeError
			if !errors.As(err, &ne) || !errors.Is(err, ErrInvalid) {
				t.Fatalf("Compile = %v, want a NodeError", err)
			}
			if ne.NodeID != tt.wantNode || ne.Field != tt.wantField {
				t.Errorf("error on %s.%s (%v), want %s.%s", ne.NodeID, ne.Field, err, tt.wantNode, tt.wantField)
			}
		})
	}
}
