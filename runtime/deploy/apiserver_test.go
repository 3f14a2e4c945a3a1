package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/gpuctl/gpuctl/internal/kubetest"
)

// The manifests are accepted by a real kube-apiserver (schema, defaults,
// admission), and the scheduler places the server on a GPU node that is
// labelled and tainted as the seed's, not on a plain one.
func TestManifestsOnRealAPIServer(t *testing.T) {
	c := kubetest.Start(t)
	kubectl := filepath.Join(kubetest.BinDir(), "kubectl")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(kubectl, append([]string{"--kubeconfig", c.KubeconfigPath}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	dir := t.TempDir()
	for _, f := range []string{"namespace.yaml", "deployment.yaml", "service.yaml"} {
		b, err := Manifests.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Server-side dry-run first: validation without side effects.
	run("apply", "--server-side", "--dry-run=server", "-f", filepath.Join(dir, "namespace.yaml"))
	run("apply", "--server-side", "-f", filepath.Join(dir, "namespace.yaml"))
	out := run("apply", "--server-side", "--dry-run=server", "-f", filepath.Join(dir, "deployment.yaml"), "-f", filepath.Join(dir, "service.yaml"))
	if !strings.Contains(out, "serverside-applied") {
		t.Fatalf("dry-run output: %s", out)
	}
	t.Cleanup(func() {
		exec.Command(kubectl, "--kubeconfig", c.KubeconfigPath, "delete", "-f", filepath.Join(dir, "namespace.yaml"), "--wait=false").Run()
	})
	plain := "plain-" + strings.ToLower(t.Name()[:4])
	gpu := "gpu-" + strings.ToLower(t.Name()[:4])
	c.AddNode(t, plain, kubetest.NodeOptions{})
	c.AddNode(t, gpu, kubetest.NodeOptions{Labels: map[string]string{"gpu": "true"}, Taints: []corev1.Taint{{Key: "gpu-only", Value: "true", Effect: corev1.TaintEffectNoSchedule}}, Capacity: map[string]string{"nvidia.com/gpu": "1"}})
	run("apply", "--server-side", "-f", filepath.Join(dir, "deployment.yaml"), "-f", filepath.Join(dir, "service.yaml"))
	ns := strings.TrimSpace(run("get", "-f", filepath.Join(dir, "namespace.yaml"), "-o", "jsonpath={.metadata.name}"))
	out = run("wait", "-n", ns, "--for=condition=PodScheduled", "pod", "--all", "--timeout=90s")
	if got := run("get", "pods", "-n", ns, "-o", "jsonpath={.items[*].spec.nodeName}"); !strings.Contains(got, gpu) || strings.Contains(got, plain) {
		t.Fatalf("server pods on %q, want only %s (%s)", got, gpu, out)
	}
}
