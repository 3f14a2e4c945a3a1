package kube

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/gpuctl/gpuctl/kubeclient"
)

// Check's dry run and Apply's write are one code path: the same request,
// with the API server's dry-run flag set only for the check.

func fakeNode() *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "gpu-1", Labels: map[string]string{"zone": "a"}},
		Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "old", Effect: corev1.TaintEffectNoSchedule}}}}
}

// writes returns the write actions (update, patch) the client sent.
func writes(cs *fake.Clientset) []k8stesting.Action {
	var out []k8stesting.Action
	for _, a := range cs.Actions() {
		if a.GetVerb() == "update" || a.GetVerb() == "patch" {
			out = append(out, a)
		}
	}
	return out
}

func wantDryRun(t *testing.T, dry bool, got []string, manager string) {
	t.Helper()
	if slices.Equal(got, []string{metav1.DryRunAll}) != dry || (!dry && len(got) > 0) {
		t.Errorf("dry=%v: DryRun option %q", dry, got)
	}
	if manager != kubeclient.FieldManager {
		t.Errorf("field manager %q, want %q", manager, kubeclient.FieldManager)
	}
}

func TestTaintDryRunAndWriteAreOnePath(t *testing.T) {
	m, err := newModuleErr("taint", map[string]any{"key": "gpu-only", "value": "true"})
	if err != nil {
		t.Fatal(err)
	}
	for _, dry := range []bool{true, false} {
		cs := fake.NewClientset(fakeNode())
		st := &taintState{client: &kubeclient.Client{Kube: cs}, node: "gpu-1"}
		if err := st.write(context.Background(), m.(*Taint), dry); err != nil {
			t.Fatal(err)
		}
		w := writes(cs)
		if len(w) != 1 {
			t.Fatalf("dry=%v: %d writes, want 1", dry, len(w))
		}
		u := w[0].(k8stesting.UpdateActionImpl)
		wantDryRun(t, dry, u.UpdateOptions.DryRun, u.UpdateOptions.FieldManager)
		got := u.GetObject().(*corev1.Node).Spec.Taints
		want := []corev1.Taint{{Key: "old", Effect: corev1.TaintEffectNoSchedule}, {Key: "gpu-only", Value: "true", Effect: corev1.TaintEffectNoSchedule}}
		if !slices.Equal(got, want) {
			t.Errorf("dry=%v: taints %v, want %v", dry, got, want)
		}
	}
}

func TestLabelDryRunAndWriteAreOnePath(t *testing.T) {
	body := []byte(`{"metadata":{"labels":{"gpu":"true","zone":null}}}`)
	for _, dry := range []bool{true, false} {
		cs := fake.NewClientset(fakeNode())
		st := &nodePatch{client: &kubeclient.Client{Kube: cs}, node: "gpu-1", patch: body}
		if err := st.send(context.Background(), dry); err != nil {
			t.Fatal(err)
		}
		w := writes(cs)
		if len(w) != 1 {
			t.Fatalf("dry=%v: %d writes, want 1", dry, len(w))
		}
		p := w[0].(k8stesting.PatchActionImpl)
		wantDryRun(t, dry, p.PatchOptions.DryRun, p.PatchOptions.FieldManager)
		if string(p.GetPatch()) != string(body) || p.GetName() != "gpu-1" {
			t.Errorf("dry=%v: patch %s of %s", dry, p.GetPatch(), p.GetName())
		}
	}
}
