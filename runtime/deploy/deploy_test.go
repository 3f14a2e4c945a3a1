// The manifests are decoded strictly into the API types and checked for
// what Day 2 and the server rely on. Validation against a live API server
// is the model-server module's integration test.
package deploy

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

func decode(t *testing.T, file string, into any) {
	t.Helper()
	b, err := Manifests.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, into); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func TestDeployment(t *testing.T) {
	var d appsv1.Deployment
	decode(t, "deployment.yaml", &d)
	spec := d.Spec.Template.Spec
	if spec.NodeSelector["gpu"] != "true" {
		t.Errorf("nodeSelector %v, want gpu: \"true\"", spec.NodeSelector)
	}
	tolerated := false
	for _, tl := range spec.Tolerations {
		if tl.Key == "gpu-only" && tl.Value == "true" && tl.Effect == corev1.TaintEffectNoSchedule && tl.Operator == corev1.TolerationOpEqual {
			tolerated = true
		}
	}
	if !tolerated {
		t.Errorf("no toleration for gpu-only=true:NoSchedule: %+v", spec.Tolerations)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%d containers", len(spec.Containers))
	}
	c := spec.Containers[0]
	if q := c.Resources.Limits["nvidia.com/gpu"]; q.Value() != 1 {
		t.Errorf("GPU limit %v, want 1", q.String())
	}
	for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
		if p == nil || p.HTTPGet == nil || !strings.HasPrefix(p.HTTPGet.Path, "/v2/health/") || p.HTTPGet.Port.StrVal != "http" {
			t.Errorf("%s probe %+v", name, p)
		}
	}
	if c.ReadinessProbe.HTTPGet.Path != "/v2/health/ready" {
		t.Errorf("readiness must follow draining: %s", c.ReadinessProbe.HTTPGet.Path)
	}
	if d.Spec.Selector == nil || d.Spec.Selector.MatchLabels["app.kubernetes.io/name"] != d.Spec.Template.Labels["app.kubernetes.io/name"] {
		t.Error("selector does not match the pod labels")
	}
	if spec.TerminationGracePeriodSeconds == nil || *spec.TerminationGracePeriodSeconds < 35 {
		t.Error("grace period shorter than drain delay plus shutdown timeout")
	}
}

func TestService(t *testing.T) {
	var s corev1.Service
	decode(t, "service.yaml", &s)
	var d appsv1.Deployment
	decode(t, "deployment.yaml", &d)
	if s.Namespace != d.Namespace {
		t.Errorf("service in %q, deployment in %q", s.Namespace, d.Namespace)
	}
	for k, v := range s.Spec.Selector {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("service selector %s=%s does not match the pods", k, v)
		}
	}
	if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].TargetPort.StrVal != d.Spec.Template.Spec.Containers[0].Ports[0].Name {
		t.Errorf("service ports %+v", s.Spec.Ports)
	}
	var ns corev1.Namespace
	decode(t, "namespace.yaml", &ns)
	if ns.Name != d.Namespace {
		t.Errorf("namespace %q, deployment in %q", ns.Name, d.Namespace)
	}
}
