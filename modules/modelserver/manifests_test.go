package modelserver

import (
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
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
	if strings.Join(c.Args, " ") != "--addr=0.0.0.0:8000 --device=auto" || len(c.Command) != 0 {
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
	arch := seedModel(t, dir)
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
		t.Fatalf("configmap %v %v", keys(cm.Data), cm.BinaryData)
	}
	d := toTyped[appsv1.Deployment](t, objs[1])
	ps := d.Spec.Template.Spec
	c := ps.Containers[0]
	if len(ps.NodeSelector) != 0 || len(ps.Tolerations) != 0 || c.Resources.Limits != nil {
		t.Fatalf("CPU deployment has placement or limits: %+v %+v %+v", ps.NodeSelector, ps.Tolerations, c.Resources)
	}
	if strings.Join(c.Args, " ") != "--addr=0.0.0.0:8000 --device=auto --model=/models/seed.json --precision=tf32" {
		t.Fatalf("args %v", c.Args)
	}
	if ps.Volumes[0].ConfigMap.Name != "model-server-model" || c.VolumeMounts[0].MountPath != "/models" || d.Spec.Template.Annotations[modelHashAnnotation] != lm.Combined {
		t.Fatalf("volume %+v mount %+v ann %v", ps.Volumes, c.VolumeMounts, d.Spec.Template.Annotations)
	}

	// hostPath.
	m = decodeMS(t, map[string]any{"image": "r.io/s:v1", "model": arch, "model_from": "host_path"})
	objs, _ = m.objects(m.Image, lm)
	d = toTyped[appsv1.Deployment](t, objs[0])
	if v := d.Spec.Template.Spec.Volumes[0].HostPath; v == nil || v.Path != "/var/lib/gpuctl/models/model-server" {
		t.Fatalf("hostPath %+v", d.Spec.Template.Spec.Volumes)
	}

	// Baked into the built image: no volume, model path in the image.
	m = decodeMS(t, map[string]any{"model": arch})
	objs, _ = m.objects("gpuctl.local/model-server:0123", lm)
	d = toTyped[appsv1.Deployment](t, objs[0])
	if len(d.Spec.Template.Spec.Volumes) != 0 || !strings.Contains(strings.Join(d.Spec.Template.Spec.Containers[0].Args, " "), "--model=/models/seed.json") {
		t.Fatalf("image model %+v", d.Spec.Template.Spec)
	}

	// Too big for a ConfigMap.
	big := filepath.Join(t.TempDir(), "big")
	bigArch := seedModel(t, big)
	writeFile(t, big, "pad.bin", randomBytes(t, 10))
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
