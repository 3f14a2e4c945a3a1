package kube

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gpuctl/gpuctl/internal/kubetest"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// TestClusterCheckGPUBusy: the H100 node's case. Its one GPU is held by the
// model server, so a new GPU test pod can never schedule; the check shows
// the kept GPU test pod of site.yaml instead, and fails without one.
func TestClusterCheckGPUBusy(t *testing.T) {
	cl := kubetest.Start(t)
	ctx := context.Background()
	gpuNode(t, cl, "check-gpu")
	h := newHost(t, cl, "check-gpu")
	keep := map[string]any{"keep": true}
	for k, v := range seedPodArgs {
		keep[k] = v
	}
	converge(t, h, "gpu_test_pod", keep)
	holder := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "model-server", Namespace: "default"},
		Spec: corev1.PodSpec{
			NodeName:    "check-gpu",
			Tolerations: []corev1.Toleration{{Key: "gpu-only", Operator: corev1.TolerationOpExists}},
			Containers: []corev1.Container{{Name: "server", Image: "gpuctl.local/model-server:test",
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{kubetest.GPU: resource.MustParse("1")}}}},
		},
	}
	if _, err := cl.Client.CoreV1().Pods("default").Create(ctx, holder, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	run := func() string {
		t.Helper()
		m := moduletest.New(t, "cluster_check", map[string]any{"checks": []any{"gpu_pod"}, "gpu_pod": seedPodArgs, "timeout": "20s"})
		start := time.Now()
		err := m.Apply(ctx, h, check(t, h, m))
		if time.Since(start) > 15*time.Second {
			t.Errorf("check waited %s: it must not wait for a GPU that is held", time.Since(start))
		}
		msg := m.(modules.Messager).Message()
		if err != nil {
			msg += "\n" + err.Error()
		}
		return msg
	}
	msg := run()
	t.Logf("report:\n%s", msg)
	for _, want := range []string{"PASS gpu_pod", "no free GPU", "pod/default/model-server", "kept GPU test pod default/gpu-test succeeded on check-gpu", "NVIDIA-SMI"} {
		if !strings.Contains(msg, want) {
			t.Errorf("report lacks %q", want)
		}
	}

	if err := cl.Client.CoreV1().Pods("default").Delete(ctx, "gpu-test", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	msg = run()
	if !strings.Contains(msg, "FAIL gpu_pod") || !strings.Contains(msg, "no kept GPU test pod default/gpu-test") {
		t.Errorf("without a kept test pod, want FAIL naming it:\n%s", msg)
	}
}
