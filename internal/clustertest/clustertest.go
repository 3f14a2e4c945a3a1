// Package clustertest boots throwaway Kubernetes node containers for the
// end-to-end test (test/e2e) through the scripts in test/cluster: systemd
// as PID 1, Debian 12 with containerd, runc, iptables and the CNI plugins
// from Debian, each node with its own address on bridge gpuctl-e2e0 and a
// real sshd. The nodes are bare: the test has gpuctl install Kubernetes on
// them from the offline artifacts test/cluster/build.sh built (binaries
// and image archives), which Artifacts names.
//
// Start needs root and the artifacts; without them it skips the test,
// unless GPUCTL_E2E=require, which makes that a failure (for CI). -short
// and GPUCTL_E2E=off always skip.
package clustertest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// EnvMode names the environment variable deciding what happens when the
// fixture cannot run: "require" fails the test, "off" skips it.
const EnvMode = "GPUCTL_E2E"

// Node is one running node container.
type Node struct {
	Name           string // hostname and Kubernetes node name
	Addr           string // its address on the bridge; sshd listens on port 22 there
	KeyFile        string // client key root accepts
	KnownHostsFile string // this node's host key
	Dir            string // state: overlay upper, containerd and kubelet dirs, console.log
}

// Artifacts are the offline inputs test/cluster/build.sh made.
type Artifacts struct {
	KubeBinDir string   // kubelet, kubeadm, kubectl (and the control-plane binaries) of KubeVersion
	Kubectl    string   // kubectl for this machine
	Images     []string // image archives: control plane, kube-proxy, CoreDNS, pause, Flannel, test tools
	KubeVersion,
	FlannelImage,
	ToolsImage string
}

// Option changes what Start does.
type Option func(*config)

type config struct{ importImages bool }

// ImportImages has each node import the image archives into containerd
// at boot, for playbooks that do not import them themselves.
func ImportImages() Option { return func(c *config) { c.importImages = true } }

// ScriptsDir is test/cluster, found from this source file;
// GPUCTL_CLUSTER_SCRIPTS overrides it for binaries run away from the tree.
func ScriptsDir() string {
	if d := os.Getenv("GPUCTL_CLUSTER_SCRIPTS"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "test", "cluster")
}

// Available says why the fixture cannot run here, or "" when it can.
func Available() string {
	switch {
	case testing.Short():
		return "the cluster fixture does not run in -short mode"
	case os.Getenv(EnvMode) == "off":
		return EnvMode + "=off"
	case os.Geteuid() != 0:
		return "the cluster fixture needs root (systemd-nspawn, overlay mounts, cgroups, a bridge)"
	}
	if err := exec.Command(filepath.Join(ScriptsDir(), "build.sh"), "--check").Run(); err != nil {
		return "artifacts not built or out of date: run " + filepath.Join(ScriptsDir(), "build.sh")
	}
	return ""
}

// Require skips (or with GPUCTL_E2E=require fails) the test when the
// fixture cannot run.
func Require(t testing.TB) {
	t.Helper()
	if reason := Available(); reason != "" {
		if os.Getenv(EnvMode) == "require" && !testing.Short() {
			t.Fatalf("clustertest: %s (%s=require)", reason, EnvMode)
		}
		t.Skipf("clustertest: %s", reason)
	}
}

// LoadArtifacts reads where build.sh put everything.
func LoadArtifacts(t testing.TB) Artifacts {
	t.Helper()
	out, err := exec.Command("bash", "-c", `. "$1/env.sh" && echo "KUBEBIN=$K8S_BIN" && echo "IMAGES=$(readlink -f "$CCACHE/images-current")" &&
		echo "VERSION=$K8S_VERSION" && echo "FLANNEL=$FLANNEL_IMAGE" && echo "TOOLS=$TOOLS_IMAGE"`, "-", ScriptsDir()).Output()
	if err != nil {
		t.Fatalf("clustertest: read test/cluster/env.sh: %v", err)
	}
	var a Artifacts
	var images string
	for _, l := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "KUBEBIN":
			a.KubeBinDir, a.Kubectl = v, filepath.Join(v, "kubectl")
		case "IMAGES":
			images = v
		case "VERSION":
			a.KubeVersion = v
		case "FLANNEL":
			a.FlannelImage = v
		case "TOOLS":
			a.ToolsImage = v
		}
	}
	a.Images, _ = filepath.Glob(filepath.Join(images, "*.tar"))
	if len(a.Images) == 0 {
		t.Fatalf("clustertest: no image archives in %q", images)
	}
	return a
}

// Start boots one node container per name (addresses in that order:
// 10.77.0.11, .12, ...) and waits until each answers SSH. The nodes, their
// mounts, cgroups and the bridge go when the test ends, also when it fails;
// GPUCTL_E2E_KEEP=1 keeps them for a look (test/cluster/down.sh --all).
func Start(t testing.TB, names []string, opts ...Option) []Node {
	t.Helper()
	Require(t)
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	scripts := ScriptsDir()
	// Node names and addresses are fixed, so nodes left by a test binary that was killed (go test -timeout)
	// would block this start: remove them first.
	if out, err := exec.Command(filepath.Join(scripts, "down.sh"), "--all").CombinedOutput(); err != nil {
		t.Fatalf("clustertest: down.sh --all (leftovers of an earlier run): %v\n%s", err, out)
	} else if len(bytes.TrimSpace(out)) > 0 {
		t.Logf("clustertest: removed leftovers of an earlier run:\n%s", out)
	}
	// Registered first, so that a half-done start is cleaned up as well.
	t.Cleanup(func() {
		if os.Getenv("GPUCTL_E2E_KEEP") == "1" {
			t.Logf("clustertest: GPUCTL_E2E_KEEP=1: nodes %v left running; stop them with %s/down.sh --all", names, scripts)
			return
		}
		start := time.Now()
		out, err := exec.Command(filepath.Join(scripts, "down.sh"), names...).CombinedOutput()
		if err != nil {
			t.Errorf("clustertest: down.sh: %v\n%s", err, out)
		}
		t.Logf("clustertest: nodes stopped in %.1fs", time.Since(start).Seconds())
	})
	args := []string{}
	if cfg.importImages {
		args = append(args, "--import-images")
	}
	args = append(args, names...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(scripts, "up.sh"), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("clustertest: up.sh: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	nodes, err := parse(stdout.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != len(names) {
		t.Fatalf("clustertest: up.sh started %d of %d nodes:\n%s", len(nodes), len(names), stdout.String())
	}
	return nodes
}

func parse(b []byte) ([]Node, error) {
	var nodes []Node
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var n Node
		for _, f := range strings.Fields(sc.Text()) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "NAME":
				n.Name = v
			case "ADDR":
				n.Addr = v
			case "KEY":
				n.KeyFile = v
			case "KNOWN_HOSTS":
				n.KnownHostsFile = v
			case "DIR":
				n.Dir = v
			}
		}
		if n.Name == "" || n.Addr == "" || n.KeyFile == "" || n.KnownHostsFile == "" {
			return nil, fmt.Errorf("clustertest: up.sh: incomplete line %q", sc.Text())
		}
		nodes = append(nodes, n)
	}
	return nodes, sc.Err()
}

// Output runs cmd as root on the node over SSH (the ssh binary, strict
// host-key checking) and returns its combined output.
func (n Node) Output(cmd string) (string, error) {
	c := exec.Command("ssh", "-i", n.KeyFile, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
		"-o", "LogLevel=ERROR", "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+n.KnownHostsFile,
		"-o", "GlobalKnownHostsFile=/dev/null", "root@"+n.Addr, cmd)
	out, err := c.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// Run is Output that fails the test on error.
func (n Node) Run(t testing.TB, cmd string) string {
	t.Helper()
	out, err := n.Output(cmd)
	if err != nil {
		t.Fatalf("%s: %s: %v\n%s", n.Name, cmd, err, out)
	}
	return out
}
