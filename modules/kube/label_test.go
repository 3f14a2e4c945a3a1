package kube

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gpuctl/gpuctl/internal/kubetest"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

func TestLabelValidate(t *testing.T) {
	for _, args := range []map[string]any{
		{},
		{"labels": map[string]any{"bad key!": "x"}},
		{"labels": map[string]any{"gpu": "not valid value!"}},
		{"labels": map[string]any{"gpu": "true"}, "remove": []any{"gpu"}},
	} {
		if _, err := newModuleErr("label", args); err == nil {
			t.Errorf("label %v: expected a validation error", args)
		}
	}
}

func TestLabel(t *testing.T) {
	cl := kubetest.Start(t)
	cl.AddNode(t, "label-node", kubetest.NodeOptions{Labels: map[string]string{"old": "x"}})
	h := newHost(t, cl, "label-node")
	ctx := context.Background()
	labels := func() map[string]string {
		n, err := cl.Client.CoreV1().Nodes().Get(ctx, "label-node", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return n.Labels
	}

	args := map[string]any{"labels": map[string]any{"gpu": "true"}, "remove": []any{"old"}}
	d := check(t, h, moduletest.New(t, "label", args))
	logDiff(t, d)
	if len(d.Changes) != 2 || d.Changes[0].Field != "label gpu" || d.Changes[0].After != "true" || d.Changes[1].After != "(unset)" {
		t.Fatalf("unexpected diff %+v", d.Changes)
	}
	if l := labels(); l["gpu"] != "" || l["old"] != "x" {
		t.Fatalf("check changed the node: %v", l)
	}
	converge(t, h, "label", args)
	if l := labels(); l["gpu"] != "true" || l["old"] != "" {
		t.Fatalf("labels after apply: %v", l)
	}
}

func TestLabelMissingNode(t *testing.T) {
	cl := kubetest.Start(t)
	h := newHost(t, cl, "no-such-node")
	_, err := moduletest.New(t, "label", map[string]any{"labels": map[string]any{"gpu": "true"}}).Check(context.Background(), h)
	if err == nil || !contains(err.Error(), "node/no-such-node") {
		t.Fatalf("want error naming node/no-such-node, got %v", err)
	}
	_ = corev1.NodeReady
}
