package modelserver

import (
	"context"
	"errors"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/modelserver/image"
	"github.com/gpuctl/gpuctl/modules/modelserver/internal/imagetest"
	"github.com/gpuctl/gpuctl/modules/modelserver/manifest"
	"github.com/gpuctl/gpuctl/modules/moduletest"
	"github.com/gpuctl/gpuctl/plan"
)

func decodeMS(t *testing.T, args map[string]any) *ModelServer {
	t.Helper()
	return moduletest.New(t, "model_server", args).(*ModelServer)
}

func toTyped[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	var out T
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func TestObjectsSeedDefaults(t *testing.T) {
	m := decodeMS(t, map[string]any{"image": "registry.example.com/gpuctl-serve:v1", "replicas": 2})
	objs, err := m.objects(m.Image, &loadedModel{Builtin: true, In: 10, Out: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].GetKind() != "Deployment" || objs[1].GetKind() != "Service" {
		t.Fatalf("objects %v", objs)
	}
	// DeepCopy panics on values unstructured does not allow (int).
	for _, o := range objs {
		o.DeepCopy()
	}
	d := toTyped[appsv1.Deployment](t, objs[0])
	ps := d.Spec.Template.Spec
	c := ps.Containers[0]
	if *d.Spec.Replicas != 2 || d.Namespace != "default" || c.Image != "registry.example.com/gpuctl-serve:v1" || c.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Fatalf("deployment %+v", d.Spec)
	}
	if ps.NodeSelector["gpu"] != "true" || len(ps.Tolerations) != 1 || ps.Tolerations[0].Key != "gpu-only" || ps.Tolerations[0].Value != "true" ||
		ps.Tolerations[0].Effect != corev1.TaintEffectNoSchedule || ps.Tolerations[0].Operator != corev1.TolerationOpEqual {
		t.Fatalf("placement %+v %+v", ps.NodeSelector, ps.Tolerations)
	}
	if q := c.Resources.Limits["nvidia.com/gpu"]; q.String() != "1" {
		t.Fatalf("gpu limit %v", c.Resources.Limits)
	}
	if ru := d.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxSurge.IntValue() != 0 || ru.MaxUnavailable.IntValue() != 1 {
		t.Fatalf("a GPU deployment must not surge: %+v", d.Spec.Strategy)
	}
	if c.ReadinessProbe.HTTPGet.Path != "/v2/health/ready" || c.LivenessProbe.HTTPGet.Path != "/v2/health/live" || c.ReadinessProbe.HTTPGet.Port.String() != "http" {
		t.Fatalf("probes %+v %+v", c.ReadinessProbe, c.LivenessProbe)
	}
	if strings.Join(c.Args, " ") != "--addr=0.0.0.0:8000 --device=auto --drain-delay=5s" || len(c.Command) != 0 {
		t.Fatalf("args %v", c.Args)
	}
	if !labelsMatch(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Fatal("selector does not select the template")
	}
	s := toTyped[corev1.Service](t, objs[1])
	if s.Spec.Type != corev1.ServiceTypeClusterIP || s.Spec.Ports[0].Port != 8000 || s.Spec.Ports[0].TargetPort.String() != "http" || !labelsMatch(s.Spec.Selector, d.Spec.Template.Labels) {
		t.Fatalf("service %+v", s.Spec)
	}
}

func volume(ps corev1.PodSpec, name string) *corev1.Volume {
	for i := range ps.Volumes {
		if ps.Volumes[i].Name == name {
			return &ps.Volumes[i]
		}
	}
	return nil
}

func labelsMatch(sel, labels map[string]string) bool {
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return len(sel) > 0
}

func TestObjectsModelSources(t *testing.T) {
	dir := t.TempDir()
	arch := imagetest.SeedModel(t, dir)
	lm, err := loadModel(arch)
	if err != nil {
		t.Fatal(err)
	}
	if lm.In != 10 || lm.Out != 1 || len(lm.Files) != 2 || lm.Arch != "seed.json" {
		t.Fatalf("model %+v", lm)
	}

	// ConfigMap (default with a registry image), no GPU, no placement.
	m := decodeMS(t, map[string]any{"image": "r.io/s:v1", "model": arch, "gpus": 0, "node_selector": map[string]any{}, "tolerations": []any{}, "extra_args": []any{"--precision=tf32"}})
	objs, err := m.objects(m.Image, lm)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 3 || objs[0].GetKind() != "ConfigMap" || objs[0].GetName() != "model-server-model" {
		t.Fatalf("objects %v", objs)
	}
	cm := toTyped[corev1.ConfigMap](t, objs[0])
	if _, ok := cm.Data["seed.json"]; !ok || len(cm.BinaryData["seed.safetensors"]) == 0 {
		t.Fatalf("configmap %v %v", slices.Sorted(maps.Keys(cm.Data)), cm.BinaryData)
	}
	d := toTyped[appsv1.Deployment](t, objs[1])
	ps := d.Spec.Template.Spec
	c := ps.Containers[0]
	if len(ps.NodeSelector) != 0 || len(ps.Tolerations) != 0 || c.Resources.Limits["nvidia.com/gpu"] != (resource.Quantity{}) {
		t.Fatalf("CPU deployment has placement or limits: %+v %+v %+v", ps.NodeSelector, ps.Tolerations, c.Resources)
	}
	if strings.Join(c.Args, " ") != "--addr=0.0.0.0:8000 --device=auto --model=/models/seed.json --drain-delay=5s --precision=tf32" {
		t.Fatalf("args %v", c.Args)
	}
	if v := volume(ps, "model"); v == nil || v.ConfigMap == nil || v.ConfigMap.Name != "model-server-model" || c.VolumeMounts[1].MountPath != "/models" || d.Spec.Template.Annotations[manifest.ModelHashAnnotation] != lm.Combined {
		t.Fatalf("volume %+v mount %+v ann %v", ps.Volumes, c.VolumeMounts, d.Spec.Template.Annotations)
	}

	// hostPath.
	m = decodeMS(t, map[string]any{"image": "r.io/s:v1", "model": arch, "model_from": "host_path"})
	objs, _ = m.objects(m.Image, lm)
	d = toTyped[appsv1.Deployment](t, objs[0])
	if v := volume(d.Spec.Template.Spec, "model"); v == nil || v.HostPath == nil || v.HostPath.Path != "/var/lib/gpuctl/models/model-server" {
		t.Fatalf("hostPath %+v", d.Spec.Template.Spec.Volumes)
	}

	// Baked into the built image: no volume, model path in the image.
	m = decodeMS(t, map[string]any{"model": arch})
	objs, _ = m.objects("gpuctl.local/model-server:0123", lm)
	d = toTyped[appsv1.Deployment](t, objs[0])
	if volume(d.Spec.Template.Spec, "model") != nil || !strings.Contains(strings.Join(d.Spec.Template.Spec.Containers[0].Args, " "), "--model=/models/seed.json") {
		t.Fatalf("image model %+v", d.Spec.Template.Spec)
	}

	// Too big for a ConfigMap.
	big := filepath.Join(t.TempDir(), "big")
	bigArch := imagetest.SeedModel(t, big)
	imagetest.WriteFile(t, big, "pad.bin", imagetest.RandomBytes(t, 10))
	lmBig, _ := loadModel(bigArch)
	lmBig.Files[1].Size = 2 << 20
	m = decodeMS(t, map[string]any{"image": "r.io/s:v1", "model": bigArch})
	if _, err := m.objects(m.Image, lmBig); err == nil || !strings.Contains(err.Error(), "at most 1 MiB") {
		t.Fatalf("big configmap: %v", err)
	}
}

func TestUnitFile(t *testing.T) {
	m := decodeMS(t, map[string]any{"mode": "host", "port": 8123, "extra_args": []any{"--max-batch=512"}})
	u := string(m.unitFile(&loadedModel{Builtin: true}, "/usr/bin/gpuctl"))
	for _, want := range []string{
		"ExecStart=/usr/local/bin/gpuctl-serve serve --addr=0.0.0.0:8123 --device=auto --max-batch=512\n",
		"DynamicUser=yes", "Restart=on-failure", "WantedBy=multi-user.target", "Type=exec",
	} {
		if !strings.Contains(u, want) {
			t.Errorf("unit lacks %q:\n%s", want, u)
		}
	}
	m = decodeMS(t, map[string]any{"mode": "host", "address": "127.0.0.1", "model": "/x/m.json"})
	u = string(m.unitFile(&loadedModel{Arch: "m.json"}, "/tmp/gpuctl-serve"))
	if !strings.Contains(u, "ExecStart=/usr/local/bin/gpuctl-serve --addr=127.0.0.1:8000 --device=auto --model=/var/lib/gpuctl/models/model-server/m.json\n") {
		t.Errorf("gpuctl-serve binary or model path:\n%s", u)
	}
	for in, want := range map[string]string{"a": "a", "a b": `"a b"`, "50%": "50%%", `x"y`: `"x\"y"`, "$HOME": "$$HOME"} {
		if got := systemdQuote(in); got != want {
			t.Errorf("systemdQuote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"name": "Model_Server"}, "name"},
		{map[string]any{"port": 0}, "port"},
		{map[string]any{"mode": "host", "image": "x"}, "mode: kubernetes only"},
		{map[string]any{"image": "Bad Ref"}, "image"},
		{map[string]any{"image": "r.io/x:1", "model_from": "image"}, "model_from: image"},
		{map[string]any{"image": "r.io/x:1", "base_image": "cuda.tar"}, "base_image"},
		{map[string]any{"command": []any{"/x"}}, "registry image"},
		{map[string]any{"extra_args": []any{"--addr=1.2.3.4:1"}}, "set by the module"},
		{map[string]any{"extra_args": []any{"serve"}}, "not a flag"},
		{map[string]any{"node_port": 31000}, "service_type: NodePort"},
		{map[string]any{"service_type": "NodePort", "node_port": 80}, "30000-32767"},
		{map[string]any{"tolerations": []any{map[string]any{"keys": "x"}}}, "unknown field"},
		{map[string]any{"deploy": false, "image": "r.io/x:1"}, "deploy: false"},
		{map[string]any{"mode": "other"}, "expected one of"},
		{map[string]any{"replicas": -1}, "negative"},
		{map[string]any{"cpu_request": "two"}, "cpu_request"},
		{map[string]any{"memory_limit": "-1Gi"}, "positive"},
		{map[string]any{"memory_request": "2Gi", "memory_limit": "1Gi"}, "more than memory_limit"},
		{map[string]any{"termination_grace_period": "30s"}, "longer than drain_delay"},
		{map[string]any{"termination_grace_period": "60s", "extra_args": []any{"--shutdown-timeout=1m"}}, "longer than drain_delay"},
		{map[string]any{"termination_grace_period": "45500ms"}, "whole seconds"},
		{map[string]any{"drain_delay": "-1s"}, "negative"},
		{map[string]any{"extra_args": []any{"--drain-delay=1s"}}, "set by the module"},
		{map[string]any{"run_as_user": -1}, "negative"},
	} {
		_, err := modules.New("model_server", tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want %q", tc.args, err, tc.want)
		}
	}
	for _, tc := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{}, "missing required"},
		{map[string]any{"archives": []any{"x.tar"}, "namespace": "a b"}, "namespace"},
		{map[string]any{"archives": []any{"x.tar"}, "remote_dir": "rel"}, "absolute"},
		{map[string]any{"archives": []any{"rel.tar"}, "remote_src": true}, "absolute"},
		{map[string]any{"archives": []any{"/a;rm -rf /"}, "remote_src": true}, "shell"},
		{map[string]any{"archives": []any{"x.tar"}, "bogus": 1}, "unknown"},
	} {
		_, err := modules.New("image_import", tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("image_import %v: err %v, want %q", tc.args, err, tc.want)
		}
	}
}

// The module's Deployment carries the hardening of runtime/deploy: a
// startup probe, a grace period longer than the drain, a non-root user
// under RuntimeDefault seccomp with no capabilities and a read-only root
// (with /tmp writable for the CUDA JIT cache), resources, and scrape
// annotations. Each can be turned off from the arguments.
func TestObjectsHardened(t *testing.T) {
	m := decodeMS(t, map[string]any{"image": "r.io/s:v1"})
	objs, err := m.objects(m.Image, &loadedModel{Builtin: true})
	if err != nil {
		t.Fatal(err)
	}
	d := toTyped[appsv1.Deployment](t, objs[0])
	ps := d.Spec.Template.Spec
	c := ps.Containers[0]
	if c.Name != "server" {
		t.Errorf("container %q: validate.yaml, gpu-node.sh and the log tail expect server", c.Name)
	}
	if p := c.StartupProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/v2/health/live" || p.FailureThreshold*p.PeriodSeconds < 60 {
		t.Errorf("startup probe %+v", p)
	}
	if c.LivenessProbe.InitialDelaySeconds != 0 {
		t.Errorf("liveness waits for the startup probe, not a guessed delay: %+v", c.LivenessProbe)
	}
	if g := ps.TerminationGracePeriodSeconds; g == nil || *g != 45 {
		t.Errorf("grace period %v, want 45", g)
	}
	psc := ps.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 || psc.RunAsGroup == nil || *psc.RunAsGroup != 65532 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v", psc)
	}
	csc := c.SecurityContext
	if csc == nil || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation || csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem ||
		csc.Capabilities == nil || len(csc.Capabilities.Drop) != 1 || csc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container securityContext %+v", csc)
	}
	if v := volume(ps, "tmp"); v == nil || v.EmptyDir == nil || len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/tmp" || c.VolumeMounts[0].ReadOnly {
		t.Errorf("no writable /tmp: %+v %+v", ps.Volumes, c.VolumeMounts)
	}
	if len(c.Env) != 1 || c.Env[0].Name != "CUDA_CACHE_PATH" || !strings.HasPrefix(c.Env[0].Value, "/tmp/") {
		t.Errorf("env %+v: the CUDA JIT cache needs a writable dir", c.Env)
	}
	r := c.Resources
	if r.Requests.Cpu().String() != "250m" || r.Requests.Memory().String() != "256Mi" || r.Limits.Memory().String() != "8Gi" {
		t.Errorf("resources %+v", r)
	}
	if a := d.Spec.Template.Annotations; a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != "8000" || a["prometheus.io/path"] != "/metrics" {
		t.Errorf("annotations %v", a)
	}

	m = decodeMS(t, map[string]any{"image": "r.io/s:v1", "run_as_user": 0, "run_as_group": 0, "read_only_root_filesystem": false,
		"cpu_request": "", "memory_request": "", "memory_limit": "", "scrape_annotations": false, "drain_delay": 0, "gpus": 0})
	objs, err = m.objects(m.Image, &loadedModel{Builtin: true})
	if err != nil {
		t.Fatal(err)
	}
	d = toTyped[appsv1.Deployment](t, objs[0])
	ps = d.Spec.Template.Spec
	c = ps.Containers[0]
	if psc := ps.SecurityContext; psc.RunAsNonRoot != nil || psc.RunAsUser != nil || psc.RunAsGroup != nil {
		t.Errorf("run_as_user 0 keeps the image's user: %+v", psc)
	}
	if *c.SecurityContext.ReadOnlyRootFilesystem || len(c.Resources.Requests)+len(c.Resources.Limits) != 0 || len(d.Spec.Template.Annotations) != 0 {
		t.Errorf("knobs off: %+v %+v %v", c.SecurityContext, c.Resources, d.Spec.Template.Annotations)
	}
	if strings.Contains(strings.Join(c.Args, " "), "--drain-delay") {
		t.Errorf("drain_delay 0: %v", c.Args)
	}
}

// Apply without its Check's plan is refused, in both modes, before
// anything is touched.
func TestApplyWithoutCheck(t *testing.T) {
	for _, args := range []map[string]any{{"image": "r.io/s:v1"}, {"mode": "host"}} {
		m := decodeMS(t, args)
		err := m.Apply(context.Background(), moduletest.Local(), plan.Diff{Changes: []plan.Change{{Resource: "x", Action: plan.Update}}})
		if !errors.Is(err, modules.ErrNoCheckState) || !strings.Contains(err.Error(), "model_server") {
			t.Errorf("%v: err %v, want ErrNoCheckState naming model_server", args, err)
		}
	}
}

// A model baked into the built image and one mounted from a ConfigMap or
// hostPath are found at the same --model path.
func TestModelDirsAgree(t *testing.T) {
	if image.ModelDir != manifest.ModelDir {
		t.Fatalf("image bakes models in %s, pods mount them at %s", image.ModelDir, manifest.ModelDir)
	}
}
