package kube

import (
	"context"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/internal/kubetest"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

func TestClusterCheck(t *testing.T) {
	cl := kubetest.Start(t)
	ctx := context.Background()
	gpuNode(t, cl, "check-gpu")
	cl.AddNode(t, "check-cpu", kubetest.NodeOptions{})
	h := newHost(t, cl, "check-gpu")
	// The cluster the seed builds: device plugin on the labelled GPU node.
	// The plugin must tolerate gpu-only, or the taint keeps it off the GPU node.
	dp := map[string]any{"node_selector": map[string]any{"gpu": "true"}, "timeout": "1m",
		"tolerations": []any{map[string]any{"key": "gpu-only", "operator": "Exists"}}}
	if m := moduletest.New(t, "device_plugin", dp); !check(t, h, m).Empty() {
		if err := m.Apply(ctx, h, check(t, h, m)); err != nil {
			t.Fatal(err)
		}
	}

	args := map[string]any{"gpu_pod": seedPodArgs, "timeout": "1m"}
	m := moduletest.New(t, "cluster_check", args)
	d := check(t, h, m)
	logDiff(t, d)
	notes := strings.Join(d.Notes, "\n")
	if !strings.Contains(notes, "PASS nodes_ready") || !strings.Contains(notes, "PASS gpu_capacity: check-gpu") {
		t.Fatalf("check-mode notes: %s", notes)
	}
	if err := m.Apply(ctx, h, d); err != nil {
		t.Fatal(err)
	}
	msg := m.(modules.Messager).Message()
	t.Logf("report:\n%s", msg)
	for _, want := range []string{
		"PASS nodes_ready", "PASS system_pods", "PASS device_plugin", "PASS gpu_capacity",
		"PASS gpu_pod", "NVIDIA-SMI",
		"PASS node_selector", "stays Pending", "bound to check-gpu",
		"PASS taint", "pod without toleration kept off check-gpu", "untolerated taint", "pod with the toleration bound to check-gpu",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	res := m.(modules.Resulter).Result()
	if res["passed"] != true {
		t.Errorf("result %v", res)
	}
}

// TestClusterCheckGPULess: on a cluster with no GPU the GPU items are
// skipped with the reason, the rest still run.
func TestClusterCheckGPULess(t *testing.T) {
	cl := kubetest.Start(t)
	ctx := context.Background()
	cl.AddNode(t, "plain", kubetest.NodeOptions{})
	h := newHost(t, cl, "plain")
	m := moduletest.New(t, "cluster_check", map[string]any{"checks": []any{"nodes_ready", "gpu_capacity", "gpu_pod", "taint"}})
	if err := m.Apply(ctx, h, check(t, h, m)); err != nil {
		t.Fatal(err)
	}
	msg := m.(modules.Messager).Message()
	t.Logf("report:\n%s", msg)
	for _, want := range []string{"SKIP gpu_capacity", "no node advertises nvidia.com/gpu", "SKIP gpu_pod", "SKIP taint", "no node has taint gpu-only=true:NoSchedule"} {
		if !strings.Contains(msg, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	// gpu: true makes a missing GPU a failure.
	m = moduletest.New(t, "cluster_check", map[string]any{"checks": []any{"gpu_capacity"}, "gpu": "true"})
	if err := m.Apply(ctx, h, check(t, h, m)); err == nil || !strings.Contains(err.Error(), "FAIL gpu_capacity") {
		t.Fatalf("want failure, got %v", err)
	}
}
