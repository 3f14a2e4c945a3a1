// Package e2e runs the kube modules the way users do: `gpuctl run` (the CLI
// in-process) against a real SSH test host (systemd-nspawn, OpenSSH), whose
// admin.conf points at the fixture's API server. The kubeconfig is read over
// SFTP and the API is reached through the host's SSH connection.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/gpuctl/gpuctl/cli"
	"github.com/gpuctl/gpuctl/internal/kubetest"
	"github.com/gpuctl/gpuctl/internal/testhosts"
	_ "github.com/gpuctl/gpuctl/modules/all"
	_ "github.com/gpuctl/gpuctl/modules/kube"
)

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

// The seed's Days 1 and 2 after kubeadm, as in docs/kube-workflow.md.
// cluster_check fails the task itself when an item fails; an assert on its
// registered result would be "known after apply" in check mode, since the
// check pods only run on apply.
const site = `
- name: cluster add-ons
  hosts: all
  tasks:
    - name: pod network
      cni: {timeout: 2m}
    - name: single node, workloads on the control plane
      taint:
        state: absent
        taints: [{key: node-role.kubernetes.io/control-plane}, {key: node-role.kubernetes.io/master}]
    - name: NVIDIA device plugin
      device_plugin:
        runtime_class: true
        tolerations: [{key: gpu-only, operator: Exists}]
        timeout: 2m
    - name: mark the GPU node
      label: {labels: {gpu: "true"}}
    - name: GPU node only for GPU work
      taint: {key: gpu-only, value: "true", effect: NoSchedule}
    - name: GPU test pod
      gpu_test_pod:
        node_selector: {gpu: "true"}
        tolerations: [{key: gpu-only, value: "true", effect: NoSchedule}]
        timeout: 2m
      changed_when: false
    - name: validation checklist
      cluster_check:
        gpu_pod:
          node_selector: {gpu: "true"}
          tolerations: [{key: gpu-only, value: "true", effect: NoSchedule}]
      changed_when: false
`

type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// gpuctl runs the CLI in-process, as the binary would.
func gpuctl(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	root := cli.NewRoot(ctx, cli.IO{In: strings.NewReader(""), Out: &out, Err: &errb}, nil)
	root.SetArgs(args)
	err := root.Execute()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *cli.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.Code
		if ee.Err != nil {
			r.stderr += ee.Err.Error()
		}
	default:
		r.code = 1
		r.stderr += err.Error()
	}
	return r
}

func write(t *testing.T, path, body string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// putFile writes a file on the test host through its own SSH.
func putFile(t *testing.T, h testhosts.Host, path string, data []byte) {
	t.Helper()
	h.Run(t, fmt.Sprintf("mkdir -p %s && printf %%s '%s' | base64 -d > %s && chmod 600 %s",
		filepath.Dir(path), b64(data), path, path))
}

func TestSiteOverSSH(t *testing.T) {
	cl := kubetest.Start(t)
	hosts := testhosts.Start(t, 1)
	h := hosts[0]
	ctx := context.Background()
	dir := t.TempDir()

	// What kubeadm init leaves behind on the control plane: admin.conf, and
	// a node that is NotReady because no CNI is installed yet. nspawn hosts
	// share this machine's network, so the host reaches the API server at
	// the same loopback address.
	putFile(t, h, "/etc/kubernetes/admin.conf", cl.Kubeconfig)
	limited, err := os.ReadFile(cl.LimitedKubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	putFile(t, h, "/etc/kubernetes/limited.conf", limited)
	node := strings.ToLower(h.Name)
	cl.AddNode(t, node, kubetest.NodeOptions{
		NotReady: true,
		Taints:   []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}},
		Capacity: map[string]string{"nvidia.com/gpu": "1"},
	})
	// The "kubelet": Ready once Flannel's DaemonSet exists.
	go func() {
		_ = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := cl.Client.AppsV1().DaemonSets("kube-flannel").Get(ctx, "kube-flannel-ds", metav1.GetOptions{})
			return err == nil, nil
		})
		_ = cl.Manage(ctx, node)
	}()

	inv := write(t, filepath.Join(dir, "hosts.yaml"), fmt.Sprintf(
		"all:\n  vars:\n    ansible_user: root\n  hosts:\n    %s:\n      ansible_host: %s\n      ansible_port: %d\n      ansible_ssh_private_key_file: %s\n      gpuctl_known_hosts: %s\n      node_name: %s\n",
		h.Name, h.Addr, h.Port, h.KeyFile, h.KnownHostsFile, node))
	pb := write(t, filepath.Join(dir, "site.yaml"), site)

	r := gpuctl(t, "run", pb, "-i", inv, "--check", "--diff", "--detailed-exitcode")
	t.Logf("check on a fresh cluster:\n%s", r)
	if r.code != 2 {
		t.Fatalf("check: want exit 2 (changes pending)\n%s", r)
	}
	for _, want := range []string{"NotReady until a CNI is installed", "daemonset/kube-flannel/kube-flannel-ds", "nvidia-device-plugin-daemonset"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("check output lacks %q", want)
		}
	}
	if _, err := cl.Client.AppsV1().DaemonSets("kube-flannel").Get(ctx, "kube-flannel-ds", metav1.GetOptions{}); err == nil {
		t.Fatal("check mode created the Flannel DaemonSet")
	}

	start := time.Now()
	r = gpuctl(t, "run", pb, "-i", inv, "--detailed-exitcode")
	t.Logf("converge (%.1fs):\n%s", time.Since(start).Seconds(), r)
	if r.code != 2 {
		t.Fatalf("converge: want exit 2 (changed)\n%s", r)
	}
	n, err := cl.Client.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
	if err != nil || n.Labels["gpu"] != "true" || len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Key != "gpu-only" {
		t.Fatalf("node after converge: %v labels %v taints %v", err, n.Labels, n.Spec.Taints)
	}

	start = time.Now()
	r = gpuctl(t, "run", pb, "-i", inv, "--detailed-exitcode")
	t.Logf("re-run (%.1fs):\n%s", time.Since(start).Seconds(), r)
	if r.code != 0 {
		t.Fatalf("re-run: want exit 0 (no changes)\n%s", r)
	}
	r = gpuctl(t, "run", pb, "-i", inv, "--check", "--detailed-exitcode")
	if r.code != 0 {
		t.Fatalf("check after converge: want exit 0\n%s", r)
	}

	// RBAC: the error names the host, the task and the object.
	denied := write(t, filepath.Join(dir, "denied.yaml"), `
- hosts: all
  tasks:
    - name: label with a powerless kubeconfig
      label: {labels: {x: "y"}, kubeconfig: /etc/kubernetes/limited.conf}
`)
	r = gpuctl(t, "run", denied, "-i", inv)
	t.Logf("rbac:\n%s", r)
	out := r.stdout + r.stderr
	if r.code != 1 || !strings.Contains(out, h.Name) || !strings.Contains(out, "label with a powerless kubeconfig") ||
		!strings.Contains(out, "node/"+node) || !strings.Contains(out, "RBAC") {
		t.Fatalf("want a failure naming host, task and node/%s\n%s", node, r)
	}
}
