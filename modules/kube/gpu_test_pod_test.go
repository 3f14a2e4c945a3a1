package kube

import (
	"context"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gpuctl/gpuctl/internal/kubetest"
	"github.com/gpuctl/gpuctl/kubeclient"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
	"github.com/gpuctl/gpuctl/plan"
)

func gpuNode(t *testing.T, cl *kubetest.Cluster, name string) {
	cl.AddNode(t, name, kubetest.NodeOptions{
		Labels:   map[string]string{"gpu": "true"},
		Taints:   []corev1.Taint{{Key: "gpu-only", Value: "true", Effect: corev1.TaintEffectNoSchedule}},
		Capacity: map[string]string{"nvidia.com/gpu": "1"},
	})
}

var seedPodArgs = map[string]any{
	"node_selector": map[string]any{"gpu": "true"},
	"tolerations":   []any{map[string]any{"key": "gpu-only", "value": "true", "effect": "NoSchedule"}},
	"timeout":       "1m",
}

func TestGPUTestPod(t *testing.T) {
	cl := kubetest.Start(t)
	ctx := context.Background()
	gpuNode(t, cl, "pod-gpu")
	h := newHost(t, cl, "pod-gpu")

	m := moduletest.New(t, "gpu_test_pod", seedPodArgs)
	d := check(t, h, m)
	if len(d.Changes) != 1 || d.Changes[0].Action != plan.Run || d.Changes[0].Resource != "pod/default/gpu-test" {
		t.Fatalf("plan %+v", d.Changes)
	}
	if _, err := cl.Client.CoreV1().Pods("default").Get(ctx, "gpu-test", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("check created the pod: %v", err)
	}
	if err := m.Apply(ctx, h, d); err != nil {
		t.Fatal(err)
	}
	msg := m.(modules.Messager).Message()
	t.Log(msg)
	if !strings.Contains(msg, "on pod-gpu") || !strings.Contains(msg, "NVIDIA-SMI") {
		t.Fatalf("message %q", msg)
	}
	if _, err := cl.Client.CoreV1().Pods("default").Get(ctx, "gpu-test", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("pod not cleaned up: %v", err)
	}

	// keep: the finished pod stays, and a second run has nothing to do.
	keep := map[string]any{"keep": true}
	for k, v := range seedPodArgs {
		keep[k] = v
	}
	converge(t, h, "gpu_test_pod", keep)
	if err := cl.Client.CoreV1().Pods("default").Delete(ctx, "gpu-test", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestGPUTestPodFailures(t *testing.T) {
	cl := kubetest.Start(t)
	ctx := context.Background()
	gpuNode(t, cl, "pod-fail")
	h := newHost(t, cl, "pod-fail")
	run := func(extra map[string]any) error {
		args := map[string]any{}
		for k, v := range seedPodArgs {
			args[k] = v
		}
		for k, v := range extra {
			args[k] = v
		}
		m := moduletest.New(t, "gpu_test_pod", args)
		return m.Apply(ctx, h, check(t, h, m))
	}

	// The fixture's kwok prints "No devices were found" for this pod name.
	err := run(map[string]any{"name": "gpu-test-nogpu"})
	t.Log(err)
	if err == nil || !strings.Contains(err.Error(), "pod/default/gpu-test-nogpu succeeded on node pod-fail but its log does not match") ||
		!strings.Contains(err.Error(), "No devices were found") {
		t.Fatalf("want log mismatch error, got %v", err)
	}

	// More GPUs than any node has: the scheduler's reason is in the error.
	err = run(map[string]any{"name": "gpu-test-greedy", "gpus": 4, "timeout": "3s"})
	t.Log(err)
	if !errors.Is(err, kubeclient.ErrTimeout) || !strings.Contains(err.Error(), "Insufficient nvidia.com/gpu") {
		t.Fatalf("want timeout with Insufficient nvidia.com/gpu, got %v", err)
	}
	for _, n := range []string{"gpu-test-nogpu", "gpu-test-greedy"} {
		if _, err := cl.Client.CoreV1().Pods("default").Get(ctx, n, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("pod %s not cleaned up after failure: %v", n, err)
		}
	}
}
