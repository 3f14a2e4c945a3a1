package kube

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gpuctl/gpuctl/internal/kubetest"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

func TestDevicePlugin(t *testing.T) {
	cl := kubetest.Start(t)
	ctx := context.Background()
	cl.AddNode(t, "dp-gpu", kubetest.NodeOptions{Labels: map[string]string{"gpu": "true"}, Capacity: map[string]string{"nvidia.com/gpu": "1"}})
	h := newHost(t, cl, "dp-gpu")
	args := map[string]any{"runtime_class": true, "node_selector": map[string]any{"gpu": "true"}, "timeout": "1m"}

	d := check(t, h, moduletest.New(t, "device_plugin", args))
	logDiff(t, d)
	if len(d.Changes) != 2 || d.Changes[0].Resource != "runtimeclass/nvidia" ||
		d.Changes[1].Resource != "daemonset/kube-system/nvidia-device-plugin-daemonset" ||
		!strings.Contains(d.Changes[1].After, "nvcr.io/nvidia/k8s-device-plugin:v0.18.2") ||
		!strings.Contains(d.Changes[1].After, "gpu: \"true\"") {
		t.Fatalf("unexpected plan %+v", d.Changes)
	}
	if _, err := cl.Client.NodeV1().RuntimeClasses().Get(ctx, "nvidia", metav1.GetOptions{}); err == nil {
		t.Fatal("check created the RuntimeClass")
	}
	converge(t, h, "device_plugin", args)

	// Pinning the seed's version is an update of the image.
	seed := map[string]any{"version": "v0.14.5", "runtime_class": true, "node_selector": map[string]any{"gpu": "true"}, "timeout": "1m"}
	d = converge(t, h, "device_plugin", seed)
	logDiff(t, d)
	if !strings.Contains(d.Changes[0].Field, "image") {
		t.Errorf("version change diff does not name the image: %q", d.Changes[0].Field)
	}
}

// TestDevicePluginNoGPU: the plugin runs on a node that reports no GPU;
// the error names the node and what was seen.
func TestDevicePluginNoGPU(t *testing.T) {
	cl := kubetest.Start(t)
	ctx := context.Background()
	cl.AddNode(t, "dp-nogpu", kubetest.NodeOptions{Labels: map[string]string{"gpu-nogpu": "true"}})
	h := newHost(t, cl, "dp-nogpu")
	args := map[string]any{"node_selector": map[string]any{"gpu-nogpu": "true"}, "verify_timeout": "2s", "timeout": "1m"}
	m := moduletest.New(t, "device_plugin", args)
	d := check(t, h, m)
	err := m.Apply(ctx, h, d)
	t.Log(err)
	if err == nil || !strings.Contains(err.Error(), "node/dp-nogpu to advertise nvidia.com/gpu") ||
		!strings.Contains(err.Error(), "capacity 0") {
		t.Fatalf("want verification timeout, got %v", err)
	}
	// Installed but no GPU: a later check fails too rather than saying ok.
	if _, err := moduletest.New(t, "device_plugin", args).Check(ctx, h); err == nil || !strings.Contains(err.Error(), "advertises no nvidia.com/gpu") {
		t.Fatalf("check after failed verification: %v", err)
	}
}

// TestDevicePluginNVMLHint: the plugin pod logs what it logs on a node whose
// containers cannot see the driver (the fixture's kwok serves that log for
// namespace nvml-fail); the error names the cause.
func TestDevicePluginNVMLHint(t *testing.T) {
	cl := kubetest.Start(t)
	ctx := context.Background()
	cl.AddNode(t, "dp-nvml", kubetest.NodeOptions{Labels: map[string]string{"gpu-nvml": "true"}})
	h := newHost(t, cl, "dp-nvml")
	embedded, err := manifests.ReadFile("manifests/nvidia-device-plugin-v0.18.2.yaml")
	if err != nil {
		t.Fatal(err)
	}
	manifest := "apiVersion: v1\nkind: Namespace\nmetadata: {name: nvml-fail}\n---\n" +
		strings.Replace(string(embedded), "namespace: kube-system", "namespace: nvml-fail", 1)
	path := filepath.Join(t.TempDir(), "plugin.yaml")
	if err := os.WriteFile(path, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	m := moduletest.New(t, "device_plugin", map[string]any{"manifest": path, "node_selector": map[string]any{"gpu-nvml": "true"},
		"verify_timeout": "2s", "timeout": "1m"})
	err = m.Apply(ctx, h, check(t, h, m))
	t.Log(err)
	if err == nil || !strings.Contains(err.Error(), "likely cause: the plugin cannot use NVML") ||
		!strings.Contains(err.Error(), "Failed to initialize NVML") {
		t.Fatalf("want the NVML cause, got %v", err)
	}
	converge(t, h, "k8s", map[string]any{"src": path, "state": "absent", "wait": true})
}
