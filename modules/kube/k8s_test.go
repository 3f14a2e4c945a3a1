package kube

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/internal/kubetest"
	"github.com/gpuctl/gpuctl/kubeclient"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
	"github.com/gpuctl/gpuctl/plan"
)

const appManifest = `
apiVersion: v1
kind: Namespace
metadata: {name: k8s-test}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: app-config, namespace: k8s-test}
data: {mode: "{{ mode }}"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: k8s-test}
spec:
  replicas: 2
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      tolerations: [{operator: Exists}]
      containers: [{name: app, image: registry.k8s.io/pause:3.10}]
`

func TestK8sValidate(t *testing.T) {
	for _, args := range []map[string]any{
		{},
		{"src": "a", "template": "b"},
		{"definition": "apiVersion: v1\nkind: ConfigMap\n"},
		{"definition": 3},
		{"definition": map[string]any{"kind": "ConfigMap", "metadata": map[string]any{"name": "x"}}},
	} {
		if _, err := newModuleErr("k8s", args); err == nil {
			t.Errorf("k8s %v: expected a validation error", args)
		}
	}
}

func TestK8sTemplateLifecycle(t *testing.T) {
	cl := kubetest.Start(t)
	cl.AddNode(t, "k8s-node", kubetest.NodeOptions{})
	h := newHost(t, cl, "k8s-node")
	ctx := context.Background()
	tpl := filepath.Join(t.TempDir(), "app.yaml.j2")
	if err := os.WriteFile(tpl, []byte(appManifest), 0o644); err != nil {
		t.Fatal(err)
	}
	h.V["mode"] = "fast"
	args := map[string]any{"template": tpl, "wait": true, "timeout": "1m"}

	d := check(t, h, moduletest.New(t, "k8s", args))
	logDiff(t, d)
	if len(d.Changes) != 3 || d.Changes[0].Action != plan.Create || d.Changes[2].Resource != "deployment/k8s-test/app" {
		t.Fatalf("unexpected plan %+v", d.Changes)
	}
	if _, err := cl.Client.CoreV1().Namespaces().Get(ctx, "k8s-test", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("check created the namespace: %v", err)
	}
	converge(t, h, "k8s", args)
	dep, err := cl.Client.AppsV1().Deployments("k8s-test").Get(ctx, "app", metav1.GetOptions{})
	if err != nil || dep.Status.AvailableReplicas != 2 {
		t.Fatalf("deployment not rolled out: %v %+v", err, dep.Status)
	}

	// One field changes: the diff names it and shows before/after.
	h.V["mode"] = "safe"
	d = converge(t, h, "k8s", args)
	logDiff(t, d)
	if len(d.Changes) != 1 || d.Changes[0].Field != "data.mode" || !strings.Contains(d.Changes[0].Before, "mode: fast") ||
		!strings.Contains(d.Changes[0].After, "mode: safe") || !d.Changes[0].Content {
		t.Fatalf("update diff %+v", d.Changes)
	}
	cm, _ := cl.Client.CoreV1().ConfigMaps("k8s-test").Get(ctx, "app-config", metav1.GetOptions{})
	if cm.Data["mode"] != "safe" {
		t.Fatalf("configmap %v", cm.Data)
	}
	for _, mf := range cm.ManagedFields {
		if mf.Manager != kubeclient.FieldManager {
			t.Errorf("unexpected field manager %q", mf.Manager)
		}
	}

	// Delete the lot.
	del := map[string]any{"template": tpl, "state": "absent", "wait": true, "timeout": "1m"}
	d = converge(t, h, "k8s", del)
	if len(d.Changes) != 3 || d.Changes[0].Action != plan.Delete {
		t.Fatalf("delete plan %+v", d.Changes)
	}
}

func TestK8sInline(t *testing.T) {
	cl := kubetest.Start(t)
	h := newHost(t, cl, "")
	args := map[string]any{"namespace": "default", "definition": []any{
		map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "inline"}, "data": map[string]any{"n": "1"}},
	}}
	d := converge(t, h, "k8s", args)
	if d.Changes[0].Resource != "configmap/default/inline" {
		t.Fatalf("resource %q", d.Changes[0].Resource)
	}
	converge(t, h, "k8s", map[string]any{"state": "absent", "definition": args["definition"]})
}

func TestK8sErrors(t *testing.T) {
	cl := kubetest.Start(t)
	ctx := context.Background()
	cm := map[string]any{"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": "denied", "namespace": "default"}}

	t.Run("rbac", func(t *testing.T) {
		h := newHost(t, cl, "")
		h.V["kubeconfig"] = cl.LimitedKubeconfigPath
		_, err := moduletest.New(t, "k8s", map[string]any{"definition": cm}).Check(ctx, h)
		t.Log(err)
		if err == nil || !apierrors.IsForbidden(errors.Unwrap(err)) && !strings.Contains(err.Error(), "forbidden") ||
			!strings.Contains(err.Error(), "RBAC") {
			t.Fatalf("want RBAC error, got %v", err)
		}
	})

	t.Run("unreachable", func(t *testing.T) {
		data := strings.Replace(string(cl.Kubeconfig), cl.Server, "https://127.0.0.1:1", 1)
		p := filepath.Join(t.TempDir(), "dead.conf")
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		h := newHost(t, cl, "")
		_, err := moduletest.New(t, "k8s", map[string]any{"definition": cm, "kubeconfig": p}).Check(ctx, h)
		t.Log(err)
		if err == nil || !errors.Is(err, conn.ErrUnreachable) || !strings.Contains(err.Error(), "configmap/default/denied") ||
			!strings.Contains(err.Error(), "unreachable from host cp1") {
			t.Fatalf("want unreachable error naming host and object, got %v", err)
		}
	})

	t.Run("no kubeconfig", func(t *testing.T) {
		h := newHost(t, cl, "")
		_, err := moduletest.New(t, "k8s", map[string]any{"definition": cm, "kubeconfig": "/nonexistent/admin.conf"}).Check(ctx, h)
		if err == nil || !strings.Contains(err.Error(), "/nonexistent/admin.conf not found on host cp1") {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		cl.AddNode(t, "k8s-timeout-node", kubetest.NodeOptions{})
		zero := int64(0)
		_ = cl.Client.CoreV1().Pods("default").Delete(ctx, "stuck", metav1.DeleteOptions{GracePeriodSeconds: &zero})
		h := newHost(t, cl, "")
		args := map[string]any{"wait": true, "timeout": "3s", "definition": map[string]any{
			"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "stuck", "namespace": "default"},
			"spec": map[string]any{
				"nodeSelector": map[string]any{"no-such": "label"},
				"containers":   []any{map[string]any{"name": "c", "image": "registry.k8s.io/pause:3.10"}},
			}}}
		m := moduletest.New(t, "k8s", args)
		d := check(t, h, m)
		err := m.Apply(ctx, h, d)
		t.Log(err)
		if !errors.Is(err, kubeclient.ErrTimeout) || !strings.Contains(err.Error(), "pod/default/stuck") ||
			!strings.Contains(err.Error(), "didn't match Pod's node affinity/selector") {
			t.Fatalf("want timeout naming the pod with the scheduler's reason, got %v", err)
		}
		converge(t, h, "k8s", map[string]any{"state": "absent", "definition": args["definition"]})
	})
}

// TestNoClusterYet: in check mode, before kubeadm has written admin.conf,
// every kube module says "known after apply" instead of failing.
func TestNoClusterYet(t *testing.T) {
	h := moduletest.Local()
	h.HostName, h.V = "fresh", map[string]any{"kubeconfig": "/nonexistent/admin.conf"}
	for name, args := range map[string]map[string]any{
		"k8s":           {"definition": map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "x"}}},
		"cni":           {},
		"label":         {"labels": map[string]any{"gpu": "true"}},
		"taint":         {"key": "gpu-only"},
		"device_plugin": {},
		"gpu_test_pod":  {},
		"cluster_check": {},
	} {
		m := moduletest.New(t, name, args)
		d, err := modules.CheckOnly(context.Background(), m, h)
		if err != nil || !strings.HasPrefix(d.Unknown, "known after apply") {
			t.Errorf("%s: diff %+v, err %v", name, d, err)
		}
		if r, ok := m.(modules.Reader); !ok || r.Reads()[0] != kubeclient.DefaultKubeconfig {
			t.Errorf("%s does not declare that it reads the kubeconfig", name)
		}
	}
	// Outside check mode a missing kubeconfig is an error that says where.
	_, err := moduletest.New(t, "label", map[string]any{"labels": map[string]any{"gpu": "true"}}).Check(context.Background(), h)
	if err == nil || !strings.Contains(err.Error(), "kubeconfig /nonexistent/admin.conf not found on host fresh") {
		t.Fatalf("got %v", err)
	}
}
