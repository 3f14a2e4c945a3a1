package kube

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gpuctl/gpuctl/internal/kubetest"
	"github.com/gpuctl/gpuctl/kubeclient"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

func TestTaintValidate(t *testing.T) {
	for _, args := range []map[string]any{
		{},
		{"value": "x"},
		{"key": "gpu-only", "effect": "Sometimes"},
		{"key": "bad key!"},
	} {
		if _, err := newModuleErr("taint", args); err == nil {
			t.Errorf("taint %v: expected a validation error", args)
		}
	}
}

func TestTaint(t *testing.T) {
	cl := kubetest.Start(t)
	cl.AddNode(t, "taint-node", kubetest.NodeOptions{Taints: []corev1.Taint{
		{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule},
	}})
	h := newHost(t, cl, "taint-node")
	ctx := context.Background()
	taints := func() []string {
		n, err := cl.Client.CoreV1().Nodes().Get(ctx, "taint-node", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, t := range n.Spec.Taints {
			// The node lifecycle controller's own taints come and go.
			if !strings.HasPrefix(t.Key, "node.kubernetes.io/") {
				out = append(out, kubeclient.TaintString(t))
			}
		}
		return out
	}

	// The seed's single-node cluster: remove the control-plane taint (and
	// the pre-1.24 master one, absent here).
	untaint := map[string]any{"state": "absent", "taints": []any{
		map[string]any{"key": "node-role.kubernetes.io/control-plane"},
		map[string]any{"key": "node-role.kubernetes.io/master"},
	}}
	d := check(t, h, moduletest.New(t, "taint", untaint))
	logDiff(t, d)
	if len(d.Changes) != 1 || len(taints()) != 1 {
		t.Fatalf("diff %+v, taints %v", d.Changes, taints())
	}
	converge(t, h, "taint", untaint)
	if got := taints(); len(got) != 0 {
		t.Fatalf("taints after untaint: %v", got)
	}

	taint := map[string]any{"key": "gpu-only", "value": "true", "effect": "NoSchedule"}
	converge(t, h, "taint", taint)
	if got := taints(); len(got) != 1 || got[0] != "gpu-only=true:NoSchedule" {
		t.Fatalf("taints: %v", got)
	}
	// A new value for the same key and effect updates the taint in place.
	d = converge(t, h, "taint", map[string]any{"key": "gpu-only", "value": "yes"})
	if d.Changes[0].Before != "gpu-only=true:NoSchedule" || d.Changes[0].After != "gpu-only=yes:NoSchedule" {
		t.Fatalf("update diff %+v", d.Changes)
	}
}
