// Package helmcheck renders the Helm chart in deploy/helm/kizuna with Helm's
// own template engine, offline, and decodes every object it renders into
// the typed Kubernetes API structs with unknown fields rejected: a typo in a
// field name, a field at the wrong level or a wrong type fails the test
// instead of the install. Its tests run in `make test`.
package helmcheck

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Object is one rendered manifest, decoded.
type Object struct {
	// Template is the chart file it came from ("kizuna/templates/pdb.yaml").
	Template string
	Kind     string
	Name     string
	// Value is a pointer to the typed struct (*appsv1.Deployment, …).
	Value any
}

// types maps each apiVersion/kind the chart may render to a constructor of
// its typed struct. A kind missing here fails the check: adding one to the
// chart means adding its type here.
var types = map[string]func() any{
	"v1/Secret":                               func() any { return &corev1.Secret{} },
	"v1/Service":                              func() any { return &corev1.Service{} },
	"v1/ServiceAccount":                       func() any { return &corev1.ServiceAccount{} },
	"apps/v1/Deployment":                      func() any { return &appsv1.Deployment{} },
	"autoscaling/v2/HorizontalPodAutoscaler":  func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	"policy/v1/PodDisruptionBudget":           func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/NetworkPolicy":      func() any { return &networkingv1.NetworkPolicy{} },
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return &monitoringv1.PrometheusRule{} },
}

// Load loads the chart in dir.
func Load(dir string) (*chart.Chart, error) {
	c, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", dir, err)
	}
	return c, nil
}

// Render renders c as `helm template --namespace namespace release` would
// with the user values vals (nil: the chart's defaults), and decodes every
// object strictly. NOTES.txt is left out.
func Render(c *chart.Chart, release, namespace string, vals map[string]any) ([]Object, error) {
	if err := chartutil.ProcessDependenciesWithMerge(c, vals); err != nil {
		return nil, fmt.Errorf("dependencies: %w", err)
	}
	top, err := chartutil.ToRenderValues(c, vals, chartutil.ReleaseOptions{
		Name: release, Namespace: namespace, Revision: 1, IsInstall: true,
	}, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	files, err := engine.Render(c, top)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var objs []Object
	for _, name := range names {
		if path.Base(name) == "NOTES.txt" || strings.HasPrefix(path.Base(name), "_") {
			continue
		}
		for i, doc := range splitDocuments(files[name]) {
			obj, err := Decode([]byte(doc))
			if err != nil {
				return nil, fmt.Errorf("%s, document %d: %w", name, i+1, err)
			}
			obj.Template = name
			objs = append(objs, obj)
		}
	}
	return objs, nil
}

// splitDocuments splits a YAML stream on "---" lines, dropping documents
// that hold only comments and blank lines.
func splitDocuments(s string) []string {
	var docs []string
	for _, doc := range strings.Split("\n"+s, "\n---") {
		if hasContent(doc) {
			docs = append(docs, doc)
		}
	}
	return docs
}

func hasContent(doc string) bool {
	for _, line := range strings.Split(doc, "\n") {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			return true
		}
	}
	return false
}

// Decode decodes one YAML manifest into its typed struct, rejecting
// duplicate keys, unknown fields and values of the wrong type.
func Decode(doc []byte) (Object, error) {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return Object{}, fmt.Errorf("yaml: %w", err)
	}
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name string `json:"name"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(js, &head); err != nil {
		return Object{}, fmt.Errorf("read apiVersion and kind: %w", err)
	}
	newValue, ok := types[head.APIVersion+"/"+head.Kind]
	if !ok {
		return Object{}, fmt.Errorf("%s %s: kind not known to the check", head.APIVersion, head.Kind)
	}
	// sigs.k8s.io/json decodes as the API server does: field names match
	// case-sensitively (encoding/json would take "clusterIp" for clusterIP)
	// and unknown or duplicate fields are reported.
	v := newValue()
	strict, err := kjson.UnmarshalStrict(js, v, kjson.DisallowUnknownFields, kjson.DisallowDuplicateFields)
	if err != nil {
		return Object{}, fmt.Errorf("%s %q: %w", head.Kind, head.Metadata.Name, err)
	}
	if len(strict) > 0 {
		return Object{}, fmt.Errorf("%s %q: %w", head.Kind, head.Metadata.Name, errors.Join(strict...))
	}
	if head.Metadata.Name == "" {
		return Object{}, fmt.Errorf("%s without metadata.name", head.Kind)
	}
	return Object{Kind: head.Kind, Name: head.Metadata.Name, Value: v}, nil
}
