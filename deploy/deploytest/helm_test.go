package deploytest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// helmVersion is fetched from the Go module proxy and built into bin/tools once.
const helmVersion = "v3.22.0"

func helm(t *testing.T) string {
	t.Helper()
	bin := path("bin", "tools", "helm")
	// A go-installed helm reports only major.minor itself; the module version is in the binary's build info.
	if out, err := exec.Command("go", "version", "-m", bin).Output(); err == nil && strings.Contains(string(out), "helm.sh/helm/v3\t"+helmVersion) {
		return bin
	}
	t.Logf("building helm %s into bin/tools (once)", helmVersion)
	cmd := exec.Command("go", "install", "helm.sh/helm/v3/cmd/helm@"+helmVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+path("bin", "tools"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install helm.sh/helm/v3/cmd/helm@%s: %v\n%s", helmVersion, err, out)
	}
	return bin
}

const chart = "deploy/helm/suilong"

// manifest is one rendered Kubernetes object, as generic YAML.
type manifest map[string]any

func (m manifest) kind() string { return str(m, "kind") }
func (m manifest) name() string { return str(m, "metadata", "name") }

// get walks maps by key and lists by index (an int).
func get(v any, keys ...any) any {
	if m, ok := v.(manifest); ok {
		v = map[string]any(m)
	}
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any, keys ...any) string {
	s, _ := get(v, keys...).(string)
	return s
}

func list(v any, keys ...any) []any {
	l, _ := get(v, keys...).([]any)
	return l
}

func render(t *testing.T, args ...string) []manifest {
	t.Helper()
	out := run(t, 2*time.Minute, helm(t), append([]string{"template", "suilong", chart}, args...)...)
	var ms []manifest
	dec := yaml.NewDecoder(strings.NewReader(out))
	for {
		var m map[string]any // not manifest: yaml.v3 would give nested mappings that type too
		err := dec.Decode(&m)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("helm template output is not YAML: %v", err)
		}
		if m != nil {
			ms = append(ms, manifest(m))
		}
	}
	return ms
}

// The chart lints, refuses to render without its secrets, and renders what the platform's roles need: API
// replicas, autoscaled ingest workers each with its own client id and spool volume, two rules processes without
// an autoscaler, the migration Job as a pre-install/pre-upgrade hook; every workload non-root, read-only, with
// resources and probes on /healthz and /readyz; PDBs and Services that select the pods they mean; and only
// SUILONG_* variables that suilong reads.
func TestHelmChart(t *testing.T) {
	h := helm(t)
	run(t, 2*time.Minute, h, "lint", "--strict", chart, "--values", chart+"/ci/test-values.yaml")
	out, err := runErr(time.Minute, h, "template", "suilong", chart)
	if err == nil || !strings.Contains(out, "secrets.databaseURL (or secrets.existingSecret) is required") {
		t.Errorf("rendering without secrets should fail naming secrets.databaseURL; got err=%v\n%s", err, out)
	}

	for _, variant := range []struct {
		name        string
		args        []string
		ingestKind  string
		ingestClaim bool
	}{
		{"all on", []string{"--values", chart + "/ci/test-values.yaml"}, "StatefulSet", true},
		{"existing secret, no persistence", []string{"--set", "secrets.existingSecret=suilong-prod", "--set", "ingest.persistence.enabled=false"}, "Deployment", false},
	} {
		t.Run(variant.name, func(t *testing.T) {
			ms := render(t, variant.args...)
			checkChart(t, ms, variant.ingestKind, variant.ingestClaim)
		})
	}
}

func checkChart(t *testing.T, ms []manifest, ingestKind string, ingestClaim bool) {
	byKind := map[string][]manifest{}
	for _, m := range ms {
		byKind[m.kind()] = append(byKind[m.kind()], m)
	}
	workload := func(kind, role string) manifest {
		for _, m := range byKind[kind] {
			if str(m, "metadata", "labels", "app.kubernetes.io/component") == role {
				return m
			}
		}
		t.Fatalf("no %s for role %s; rendered %v", kind, role, kinds(ms))
		return nil
	}
	api, ingest, rules := workload("Deployment", "api"), workload(ingestKind, "ingest"), workload("Deployment", "rules")
	if n := get(api, "spec", "replicas"); n != 2 {
		t.Errorf("api replicas = %v; want 2", n)
	}
	if n := get(rules, "spec", "replicas"); n != 2 {
		t.Errorf("rules replicas = %v; want 2 (one active, one standby)", n)
	}
	if n := get(ingest, "spec", "replicas"); n != nil {
		t.Errorf("ingest sets replicas = %v; the autoscaler owns the count", n)
	}
	hpas := byKind["HorizontalPodAutoscaler"]
	if len(hpas) != 1 {
		t.Fatalf("%d HorizontalPodAutoscalers; want one, for ingest", len(hpas))
	}
	if k, n := str(hpas[0], "spec", "scaleTargetRef", "kind"), str(hpas[0], "spec", "scaleTargetRef", "name"); k != ingestKind || n != ingest.name() {
		t.Errorf("the autoscaler targets %s/%s; want %s/%s", k, n, ingestKind, ingest.name())
	}
	if m := str(hpas[0], "spec", "metrics", 0, "resource", "name"); m != "cpu" {
		t.Errorf("the autoscaler scales on %q; want cpu", m)
	}
	if claims := list(ingest, "spec", "volumeClaimTemplates"); (len(claims) > 0) != ingestClaim {
		t.Errorf("ingest volume claims %v; want some: %v", claims, ingestClaim)
	}
	var clientID bool
	for _, e := range list(ingest, "spec", "template", "spec", "containers", 0, "env") {
		if str(e, "name") == "SUILONG_INGEST_CLIENT_ID" && str(e, "valueFrom", "fieldRef", "fieldPath") == "metadata.name" {
			clientID = true
		}
	}
	if !clientID {
		t.Errorf("ingest workers do not get SUILONG_INGEST_CLIENT_ID from the pod's name")
	}

	jobs := byKind["Job"]
	if len(jobs) != 1 {
		t.Fatalf("%d Jobs; want the migration", len(jobs))
	}
	job := jobs[0]
	if hook := str(job, "metadata", "annotations", "helm.sh/hook"); hook != "pre-install,pre-upgrade" {
		t.Errorf("migration Job hook %q; want pre-install,pre-upgrade", hook)
	}
	if args := list(job, "spec", "template", "spec", "containers", 0, "args"); fmt.Sprint(args) != "[migrate]" {
		t.Errorf("migration Job runs %v; want [migrate]", args)
	}

	for _, w := range []manifest{api, ingest, rules, job} {
		checkPod(t, w)
	}
	for role, w := range map[string]manifest{"api": api, "ingest": ingest, "rules": rules} {
		c := get(w, "spec", "template", "spec", "containers", 0)
		if args := fmt.Sprint(list(c, "args")); args != fmt.Sprintf("[serve --only %s]", role) {
			t.Errorf("%s runs %s; want [serve --only %s]", w.name(), args, role)
		}
		if p := str(c, "livenessProbe", "httpGet", "path"); p != "/healthz" {
			t.Errorf("%s liveness probe on %q; want /healthz", w.name(), p)
		}
		if p := str(c, "readinessProbe", "httpGet", "path"); p != "/readyz" {
			t.Errorf("%s readiness probe on %q; want /readyz", w.name(), p)
		}
		if port := str(c, "ports", 0, "name"); port != "http" || get(c, "ports", 0, "containerPort") != 8080 {
			t.Errorf("%s does not name its port 8080 http: %v", w.name(), get(c, "ports"))
		}
		grace, _ := get(w, "spec", "template", "spec", "terminationGracePeriodSeconds").(int)
		if grace <= 20 {
			t.Errorf("%s terminationGracePeriodSeconds = %d; want more than the 20s drain timeout", w.name(), grace)
		}
		podLabels := get(w, "spec", "template", "metadata", "labels").(map[string]any)
		if !selects(get(w, "spec", "selector", "matchLabels"), podLabels) {
			t.Errorf("%s's selector does not select its own pods", w.name())
		}
		if !slices.ContainsFunc(byKind["PodDisruptionBudget"], func(m manifest) bool { return selects(get(m, "spec", "selector", "matchLabels"), podLabels) }) {
			t.Errorf("no PodDisruptionBudget covers %s", w.name())
		}
		if !slices.ContainsFunc(byKind["Service"], func(m manifest) bool { return selects(get(m, "spec", "selector"), podLabels) }) {
			t.Errorf("no Service selects %s", w.name())
		}
		for _, other := range []manifest{api, ingest, rules} {
			if other.name() != w.name() && selects(get(w, "spec", "selector", "matchLabels"), get(other, "spec", "template", "metadata", "labels").(map[string]any)) {
				t.Errorf("%s's selector also picks %s's pods", w.name(), other.name())
			}
		}
	}

	// Configuration: only variables suilong reads, the InfluxDB 2.x bucket, no migrations at serve.
	var names []string
	for _, m := range append(byKind["ConfigMap"], byKind["Secret"]...) {
		for _, section := range []string{"data", "stringData"} {
			if d, ok := get(m, section).(map[string]any); ok {
				for k := range d {
					names = append(names, k)
				}
			}
		}
	}
	checkEnvNames(t, "the chart's ConfigMap/Secret", names...)
	cm := byKind["ConfigMap"]
	if len(cm) != 1 || str(cm[0], "data", "SUILONG_INFLUX_BUCKET") != "coldchain" || str(cm[0], "data", "SUILONG_NO_MIGRATE") != "true" {
		t.Errorf("ConfigMap should set SUILONG_INFLUX_BUCKET=coldchain and SUILONG_NO_MIGRATE=true: %v", cm)
	}
	for _, s := range byKind["Secret"] {
		for _, k := range []string{"SUILONG_DATABASE_URL", "SUILONG_INFLUX_TOKEN", "SUILONG_MQTT_PASSWORD"} {
			if str(s, "stringData", k) == "" {
				t.Errorf("Secret %s lacks %s", s.name(), k)
			}
		}
	}
}

// checkPod: non-root, no privilege escalation, read-only root, capabilities dropped, resources set, and every
// SUILONG_* variable set directly one that suilong reads.
func checkPod(t *testing.T, w manifest) {
	t.Helper()
	pod := get(w, "spec", "template", "spec")
	if get(pod, "securityContext", "runAsNonRoot") != true {
		t.Errorf("%s: pod securityContext.runAsNonRoot is not true", w.name())
	}
	if uid, _ := get(pod, "securityContext", "runAsUser").(int); uid == 0 {
		t.Errorf("%s: pod runs as uid 0", w.name())
	}
	for _, c := range list(pod, "containers") {
		name := w.name() + "/" + str(c, "name")
		sc := get(c, "securityContext")
		if get(sc, "allowPrivilegeEscalation") != false || get(sc, "readOnlyRootFilesystem") != true {
			t.Errorf("%s: securityContext %v; want allowPrivilegeEscalation false, readOnlyRootFilesystem true", name, sc)
		}
		if fmt.Sprint(get(sc, "capabilities", "drop")) != "[ALL]" {
			t.Errorf("%s: capabilities not all dropped: %v", name, get(sc, "capabilities"))
		}
		if str(c, "resources", "requests", "cpu") == "" || str(c, "resources", "requests", "memory") == "" || str(c, "resources", "limits", "memory") == "" {
			t.Errorf("%s: resources %v; want cpu and memory requests and a memory limit", name, get(c, "resources"))
		}
		var env []string
		for _, e := range list(c, "env") {
			env = append(env, str(e, "name"))
		}
		checkEnvNames(t, name, env...)
		if mounts := list(c, "volumeMounts"); !slices.ContainsFunc(mounts, func(m any) bool { return str(m, "mountPath") == "/data" }) {
			t.Errorf("%s: no volume at /data (the root filesystem is read-only)", name)
		}
	}
}

// selects reports whether every label of selector is in labels.
func selects(selector any, labels map[string]any) bool {
	sel, ok := selector.(map[string]any)
	if !ok || len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func kinds(ms []manifest) string {
	var b bytes.Buffer
	for _, m := range ms {
		fmt.Fprintf(&b, "%s/%s ", m.kind(), m.name())
	}
	return b.String()
}
