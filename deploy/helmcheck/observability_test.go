package helmcheck

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// TestAlertRules decodes deploy/prometheus/alerts.yaml strictly into the
// Prometheus Operator's rule types (the rule-file format a PrometheusRule's
// spec holds) and checks every alert is complete. That the metrics they
// query exist is services/suite's TestMetricsEndpoint's job.
func TestAlertRules(t *testing.T) {
	b, err := os.ReadFile("../prometheus/alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSONStrict(b)
	if err != nil {
		t.Fatal(err)
	}
	var spec monitoringv1.PrometheusRuleSpec
	strict, err := kjson.UnmarshalStrict(js, &spec, kjson.DisallowUnknownFields, kjson.DisallowDuplicateFields)
	if err = errors.Join(append(strict, err)...); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, g := range spec.Groups {
		for _, r := range g.Rules {
			name := r.Alert
			switch {
			case name == "":
				t.Errorf("group %s: a rule without alert name", g.Name)
			case seen[name]:
				t.Errorf("alert %s defined twice", name)
			}
			seen[name] = true
			if strings.TrimSpace(r.Expr.String()) == "" {
				t.Errorf("%s: empty expr", name)
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q", name, s)
			}
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s: no %s", name, a)
				}
			}
			if want := "docs/OPERATIONS.md#" + strings.ToLower(name); r.Annotations["runbook_url"] != want {
				t.Errorf("%s: runbook_url %q, want %q", name, r.Annotations["runbook_url"], want)
			}
		}
	}
	if len(seen) < 10 {
		t.Errorf("only %d alerts", len(seen))
	}
}

// TestDashboard checks the Grafana dashboard is JSON with unique panel ids,
// and every panel queries Prometheus.
func TestDashboard(t *testing.T) {
	b, err := os.ReadFile("../grafana/kizuna.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Title  string `json:"title"`
		Panels []struct {
			ID      int    `json:"id"`
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("dashboard uid %q title %q", d.UID, d.Title)
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if strings.Count(tg.Expr, "(") != strings.Count(tg.Expr, ")") || strings.Count(tg.Expr, "{") != strings.Count(tg.Expr, "}") {
				t.Errorf("panel %q: unbalanced query %q", p.Title, tg.Expr)
			}
		}
	}
}
