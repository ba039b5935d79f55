package helmcheck

import (
	"os"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v3/pkg/chart"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

const chartDir = "../helm/kizuna"

var components = []string{"gateway", "ingestion", "segmentation", "metrics", "campaign"}

var grpcPorts = map[string]int32{"ingestion": 50051, "segmentation": 50052, "metrics": 50053, "campaign": 50054}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func readValues(t *testing.T, file string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.UnmarshalStrict(b, &v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return v
}

// minimalValues is the least a user must give: where PostgreSQL is and the
// two keys.
func minimalValues() map[string]any {
	return map[string]any{
		"postgresql": map[string]any{"url": "postgres://kizuna:pw@db.example:5432/kizuna?sslmode=require"},
		"secrets": map[string]any{
			"serviceSecret": strings.Repeat("s", 32),
			"secretKey":     strings.Repeat("ab", 32),
		},
	}
}

// rendered indexes the objects by kind and name.
type rendered map[string]map[string]any

func index(t *testing.T, objs []Object) rendered {
	t.Helper()
	r := rendered{}
	for _, o := range objs {
		if r[o.Kind] == nil {
			r[o.Kind] = map[string]any{}
		}
		if _, dup := r[o.Kind][o.Name]; dup {
			t.Errorf("%s %s rendered twice", o.Kind, o.Name)
		}
		r[o.Kind][o.Name] = o.Value
	}
	return r
}

func get[T any](t *testing.T, r rendered, kind, name string) T {
	t.Helper()
	v, ok := r[kind][name].(T)
	if !ok {
		t.Fatalf("no %s %q rendered (have %v)", kind, name, keys(r[kind]))
	}
	return v
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func env(c corev1.Container) map[string]corev1.EnvVar {
	m := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		m[e.Name] = e
	}
	return m
}

func TestRenderProductionValues(t *testing.T) {
	objs, err := Render(loadChart(t), "kizuna", "kizuna", readValues(t, "testdata/production.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	r := index(t, objs)

	// Secrets come from outside the chart: it renders none.
	if n := len(r["Secret"]); n != 0 {
		t.Errorf("rendered %d Secrets with existing secrets given: %v", n, keys(r["Secret"]))
	}
	for kind, want := range map[string]int{
		"Deployment": 5, "Service": 5, "NetworkPolicy": 5, "HorizontalPodAutoscaler": 2,
		"PodDisruptionBudget": 4, "ServiceMonitor": 1, "ServiceAccount": 1, "PrometheusRule": 1,
	} {
		if got := len(r[kind]); got != want {
			t.Errorf("%d %s objects, want %d: %v", got, kind, want, keys(r[kind]))
		}
	}

	for _, name := range components {
		t.Run(name, func(t *testing.T) {
			full := "kizuna-" + name
			d := get[*appsv1.Deployment](t, r, "Deployment", full)
			pod := d.Spec.Template.Spec
			if len(pod.Containers) != 1 {
				t.Fatalf("%d containers", len(pod.Containers))
			}
			c := pod.Containers[0]
			if c.Image != "registry.example.com/kizuna/kizuna:1.4.2" || len(c.Command) != 1 || c.Command[0] != "/usr/local/bin/"+name {
				t.Errorf("image %q command %v", c.Image, c.Command)
			}

			// Replicas: the HPA's when autoscaling, else the value.
			hpa, autoscaled := r["HorizontalPodAutoscaler"][full].(*autoscalingv2.HorizontalPodAutoscaler)
			switch {
			case autoscaled && d.Spec.Replicas != nil:
				t.Errorf("autoscaled Deployment sets replicas %d; the HPA owns them", *d.Spec.Replicas)
			case autoscaled && (hpa.Spec.ScaleTargetRef.Name != full || hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas != 3):
				t.Errorf("HPA = %+v", hpa.Spec)
			case !autoscaled && (d.Spec.Replicas == nil || *d.Spec.Replicas != 2):
				t.Errorf("replicas = %v, want 2", d.Spec.Replicas)
			}
			if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
				t.Errorf("rolling update %+v: want maxUnavailable 0", ru)
			}

			// Security: non-root, read-only root, no privilege escalation.
			psc, sc := pod.SecurityContext, c.SecurityContext
			if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
				t.Errorf("pod securityContext %+v: want runAsNonRoot", psc)
			}
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
				sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
				t.Errorf("container securityContext %+v", sc)
			}
			if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
				t.Errorf("service account token is mounted")
			}

			// Probes: all three; gRPC health for the services.
			for probeName, p := range map[string]*corev1.Probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
				if p == nil {
					t.Errorf("no %s probe", probeName)
					continue
				}
				if name == "gateway" {
					if p.HTTPGet == nil {
						t.Errorf("gateway %s probe is not HTTP: %+v", probeName, p.ProbeHandler)
					}
				} else if p.GRPC == nil || p.GRPC.Port != grpcPorts[name] {
					t.Errorf("%s probe %+v: want gRPC on %d", probeName, p.ProbeHandler, grpcPorts[name])
				}
			}
			if name == "gateway" {
				if c.ReadinessProbe.HTTPGet.Path != "/readyz" {
					t.Errorf("gateway readiness path %q", c.ReadinessProbe.HTTPGet.Path)
				}
			} else if svc := c.ReadinessProbe.GRPC.Service; svc == nil || !strings.HasPrefix(*svc, "kizuna."+name+".v1.") {
				t.Errorf("readiness asks for gRPC service %v, want one of kizuna.%s.v1", svc, name)
			}

			// Configuration: the database from the existing Secret, the
			// NATS cluster, targets on headless Services.
			e := env(c)
			if name != "gateway" {
				db := e["KIZUNA_DATABASE_URL"].ValueFrom
				if db == nil || db.SecretKeyRef == nil || db.SecretKeyRef.Name != "kizuna-database" || db.SecretKeyRef.Key != "url" {
					t.Errorf("KIZUNA_DATABASE_URL = %+v", e["KIZUNA_DATABASE_URL"])
				}
				if got := e["KIZUNA_NATS_URL"].Value; strings.Count(got, "nats://") != 3 {
					t.Errorf("KIZUNA_NATS_URL = %q, want the three servers", got)
				}
				if e["KIZUNA_LEASE_TTL"].Value != "15s" {
					t.Errorf("KIZUNA_LEASE_TTL = %+v, want the chart's 15s", e["KIZUNA_LEASE_TTL"])
				}
				if e["KIZUNA_NATS_CREDS"].Value != "/etc/kizuna/nats/kizuna.creds" || e["KIZUNA_BUS_REPLICAS"].Value != "3" || e["KIZUNA_BUS_PACKS"].Value != "true" {
					t.Errorf("NATS creds %q, replicas %q, packs %q", e["KIZUNA_NATS_CREDS"].Value, e["KIZUNA_BUS_REPLICAS"].Value, e["KIZUNA_BUS_PACKS"].Value)
				}
				if ref := e["KIZUNA_SERVICE_SECRET"].ValueFrom; ref == nil || ref.SecretKeyRef.Name != "kizuna-keys" {
					t.Errorf("KIZUNA_SERVICE_SECRET = %+v", e["KIZUNA_SERVICE_SECRET"])
				}
			}
			if name == "gateway" || name == "metrics" {
				if got := e["KIZUNA_SEGMENTATION_TARGET"].Value; got != "dns:///kizuna-segmentation.kizuna.svc:50052" {
					t.Errorf("KIZUNA_SEGMENTATION_TARGET = %q", got)
				}
			}
			if e["KIZUNA_PROMETHEUS_ADDR"].Value != ":9090" || e["KIZUNA_OTLP_ENDPOINT"].Value == "" {
				t.Errorf("metrics address %q, OTLP %q", e["KIZUNA_PROMETHEUS_ADDR"].Value, e["KIZUNA_OTLP_ENDPOINT"].Value)
			}

			// Service: the gateway's is a ClusterIP; the others headless.
			svc := get[*corev1.Service](t, r, "Service", full)
			if headless := svc.Spec.ClusterIP == corev1.ClusterIPNone; headless == (name == "gateway") {
				t.Errorf("Service clusterIP %q", svc.Spec.ClusterIP)
			}

			// PDB unless turned off (campaign's is, in these values).
			if _, ok := r["PodDisruptionBudget"][full].(*policyv1.PodDisruptionBudget); ok == (name == "campaign") {
				t.Errorf("PodDisruptionBudget present = %v", ok)
			}

			checkNetworkPolicy(t, get[*networkingv1.NetworkPolicy](t, r, "NetworkPolicy", full), name)
		})
	}

	// The PrometheusRule carries deploy/prometheus/alerts.yaml unchanged:
	// its {{ $labels }} templates are Prometheus', not Helm's.
	rule := get[*monitoringv1.PrometheusRule](t, r, "PrometheusRule", "kizuna")
	alerts := 0
	for _, g := range rule.Spec.Groups {
		for _, rl := range g.Rules {
			alerts++
			if rl.Alert == "KizunaConsumerLag" && !strings.Contains(rl.Annotations["summary"], "{{ $labels.consumer }}") {
				t.Errorf("KizunaConsumerLag summary %q lost its Prometheus template", rl.Annotations["summary"])
			}
		}
	}
	if alerts < 10 {
		t.Errorf("PrometheusRule holds %d alerts", alerts)
	}

	sm := get[*monitoringv1.ServiceMonitor](t, r, "ServiceMonitor", "kizuna")
	if sm.Labels["release"] != "prometheus" || len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" {
		t.Errorf("ServiceMonitor = %+v", sm)
	}
}

// checkNetworkPolicy: only the gateway takes traffic from outside the
// release; only the services reach PostgreSQL and NATS.
func checkNetworkPolicy(t *testing.T, np *networkingv1.NetworkPolicy, name string) {
	t.Helper()
	if len(np.Spec.PolicyTypes) != 2 {
		t.Errorf("policyTypes = %v, want Ingress and Egress", np.Spec.PolicyTypes)
	}
	for _, rule := range np.Spec.Ingress {
		for _, p := range rule.Ports {
			switch p.Port.String() {
			case "http", "grpc":
				if name != "gateway" && (len(rule.From) != 1 || rule.From[0].PodSelector == nil || rule.From[0].NamespaceSelector != nil) {
					t.Errorf("gRPC ingress %+v: want the release's pods only", rule.From)
				}
				if name == "gateway" && (len(rule.From) != 1 || rule.From[0].NamespaceSelector == nil) {
					t.Errorf("gateway ingress %+v: want the ingress controller's namespace", rule.From)
				}
			case "metrics":
				if len(rule.From) == 0 {
					t.Errorf("metrics open to everyone")
				}
			default:
				t.Errorf("unexpected ingress port %s", p.Port.String())
			}
		}
	}
	egressPorts := map[int]bool{}
	for _, rule := range np.Spec.Egress {
		for _, p := range rule.Ports {
			egressPorts[p.Port.IntValue()] = true
		}
	}
	if reachesStores := egressPorts[5432] && egressPorts[4222]; reachesStores == (name == "gateway") {
		t.Errorf("egress ports %v: PostgreSQL and NATS are for the services only", egressPorts)
	}
}

func TestRenderMinimalValues(t *testing.T) {
	objs, err := Render(loadChart(t), "shop", "marketing", minimalValues())
	if err != nil {
		t.Fatal(err)
	}
	r := index(t, objs)
	keys := get[*corev1.Secret](t, r, "Secret", "shop-kizuna")
	db := get[*corev1.Secret](t, r, "Secret", "shop-kizuna-database")
	if len(keys.StringData["service-secret"]) != 32 || !strings.HasPrefix(db.StringData["database-url"], "postgres://") {
		t.Errorf("secrets = %v / %v", keys.StringData, db.StringData)
	}
	if n := len(r["HorizontalPodAutoscaler"]) + len(r["ServiceMonitor"]) + len(r["PrometheusRule"]); n != 0 {
		t.Errorf("HPA, ServiceMonitor and PrometheusRule are off by default; rendered %d", n)
	}
	d := get[*appsv1.Deployment](t, r, "Deployment", "shop-kizuna-campaign")
	e := env(d.Spec.Template.Spec.Containers[0])
	if ref := e["KIZUNA_SECRET_KEY"].ValueFrom; ref == nil || ref.SecretKeyRef.Name != "shop-kizuna" || ref.SecretKeyRef.Key != "secret-key" {
		t.Errorf("KIZUNA_SECRET_KEY = %+v", e["KIZUNA_SECRET_KEY"])
	}
	if _, ok := e["KIZUNA_NATS_CREDS"]; ok {
		t.Errorf("NATS credentials set without a Secret")
	}
	seg := get[*appsv1.Deployment](t, r, "Deployment", "shop-kizuna-segmentation")
	if v := env(seg.Spec.Template.Spec.Containers[0])["GOMEMLIMIT"].Value; v != "1800MiB" {
		t.Errorf("segmentation GOMEMLIMIT = %q, want 1800MiB under its 2Gi limit", v)
	}
}

func TestRenderRequiresValues(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(v map[string]any)
		wantErr string
	}{
		{"no database", func(v map[string]any) { delete(v, "postgresql") }, "postgresql.url or postgresql.existingSecret is required"},
		{"no secret key", func(v map[string]any) { delete(v["secrets"].(map[string]any), "secretKey") }, "secrets.secretKey"},
		{"no service secret", func(v map[string]any) { delete(v["secrets"].(map[string]any), "serviceSecret") }, "secrets.serviceSecret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := minimalValues()
			tt.edit(v)
			_, err := Render(loadChart(t), "kizuna", "kizuna", v)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// TestDecodeIsStrict shows the check can fail: each manifest has one
// mistake the API server would reject or silently drop.
func TestDecodeIsStrict(t *testing.T) {
	tests := []struct {
		name, doc, wantErr string
	}{
		{"unknown field", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {clusterIp: None}\n", "unknown field"},
		{"wrong type", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {replicas: two}\n", "cannot unmarshal"},
		{"duplicate key", "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nmetadata: {name: b}\n", "already set"},
		{"unknown kind", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n", "not known"},
		{"no name", "apiVersion: v1\nkind: Service\nmetadata: {}\n", "without metadata.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Decode([]byte(tt.doc)); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Decode = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestRenderGRPCTLS(t *testing.T) {
	v := readValues(t, "testdata/production.yaml")
	v["grpcTLS"] = map[string]any{"enabled": true, "existingSecret": "kizuna-grpc-tls"}
	objs, err := Render(loadChart(t), "kizuna", "kizuna", v)
	if err != nil {
		t.Fatal(err)
	}
	r := index(t, objs)
	for _, name := range components {
		d := get[*appsv1.Deployment](t, r, "Deployment", "kizuna-"+name)
		pod := d.Spec.Template.Spec
		c := pod.Containers[0]
		e := env(c)
		if e["KIZUNA_GRPC_TLS_CERT"].Value != "/etc/kizuna/grpc-tls/tls.crt" || e["KIZUNA_GRPC_TLS_CA"].Value != "/etc/kizuna/grpc-tls/ca.crt" {
			t.Errorf("%s: TLS env %+v %+v", name, e["KIZUNA_GRPC_TLS_CERT"], e["KIZUNA_GRPC_TLS_CA"])
		}
		if _, ok := e["KIZUNA_GRPC_TLS_CLIENT_AUTH"]; ok == (name == "gateway") {
			t.Errorf("%s: KIZUNA_GRPC_TLS_CLIENT_AUTH set = %v (only servers require client certificates)", name, ok)
		}
		mounted := false
		for _, m := range c.VolumeMounts {
			mounted = mounted || (m.Name == "grpc-tls" && m.MountPath == "/etc/kizuna/grpc-tls")
		}
		secret := false
		for _, vol := range pod.Volumes {
			secret = secret || (vol.Name == "grpc-tls" && vol.Secret != nil && vol.Secret.SecretName == "kizuna-grpc-tls")
		}
		if !mounted || !secret {
			t.Errorf("%s: grpc-tls mounted %v, volume %v", name, mounted, secret)
		}
		if name != "gateway" && (c.ReadinessProbe.TCPSocket == nil || c.ReadinessProbe.GRPC != nil) {
			t.Errorf("%s: readiness %+v; gRPC probes cannot speak TLS", name, c.ReadinessProbe.ProbeHandler)
		}
	}

	v["grpcTLS"] = map[string]any{"enabled": true}
	if _, err := Render(loadChart(t), "kizuna", "kizuna", v); err == nil || !strings.Contains(err.Error(), "grpcTLS.existingSecret") {
		t.Errorf("TLS without a Secret: err = %v", err)
	}
}
