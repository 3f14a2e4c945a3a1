// Package kubetest starts the project's real control plane (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok, built by
// test/k8s/build.sh) for tests, once per test binary.
//
// Tests call Start; it skips the test when the fixture cannot run here (not
// root, binaries not built, -short) unless GPUCTL_K8S_FIXTURE=require, which
// turns the skip into a failure for CI. GPUCTL_K8S_KUBECONFIG points the
// tests at a cluster already started with test/k8s/up.sh instead.
package kubetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Version is the Kubernetes version build.sh builds by default.
const Version = "v1.34.4"

// Cluster is a running control plane.
type Cluster struct {
	Server         string // https://127.0.0.1:<port>
	KubeconfigPath string // admin (system:masters) kubeconfig
	Kubeconfig     []byte
	// LimitedKubeconfigPath authenticates a user with no RBAC bindings.
	LimitedKubeconfigPath string
	Config                *rest.Config
	Client                kubernetes.Interface
	runDir                string
	scripts               string
	owned                 bool // started by this process, stopped by Stop
}

// one shared cluster per test binary; starting one costs ~10 s.
var shared struct {
	mu      sync.Mutex
	cluster *Cluster
	err     error
	tried   bool
}

// Start returns the test binary's cluster, starting it on first use.
func Start(t testing.TB) *Cluster {
	t.Helper()
	if reason := unavailable(); reason != "" {
		skipOrFail(t, reason)
	}
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.tried {
		shared.tried = true
		shared.cluster, shared.err = start(context.Background())
	}
	if shared.err != nil {
		t.Fatalf("kubetest: %v", shared.err)
	}
	return shared.cluster
}

// Main runs the tests and stops the shared cluster afterwards; use it from
// TestMain. Without it the cluster is still stopped when the binary exits, by
// the watchdog up.sh leaves behind, about a second later.
func Main(m *testing.M) int {
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.cluster != nil {
		if err := shared.cluster.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "kubetest:", err)
		}
	}
	return code
}

func skipOrFail(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv("GPUCTL_K8S_FIXTURE") == "require" {
		t.Fatalf("kubetest: control-plane fixture required but unavailable: %s", reason)
	}
	t.Skipf("kubetest: %s (set GPUCTL_K8S_FIXTURE=require to fail instead)", reason)
}

// unavailable says why the fixture cannot run, or "" when it can.
func unavailable() string {
	if os.Getenv("GPUCTL_K8S_KUBECONFIG") != "" {
		return ""
	}
	if testing.Short() {
		return "real control plane not started in -short mode"
	}
	if os.Geteuid() != 0 {
		return "needs root (etcd data on /dev/shm, cache in /var/cache)"
	}
	bin := BinDir()
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return fmt.Sprintf("%s not built in %s; run test/k8s/build.sh", b, bin)
		}
	}
	return ""
}

// BinDir is where build.sh puts the binaries, honouring the same variables.
func BinDir() string {
	if d := os.Getenv("GPUCTL_K8S_BIN"); d != "" {
		return d
	}
	cache := os.Getenv("GPUCTL_K8S_CACHE")
	if cache == "" {
		cache = "/var/cache/gpuctl-k8s"
	}
	v := os.Getenv("GPUCTL_K8S_VERSION")
	if v == "" {
		v = Version
	}
	return filepath.Join(cache, v, "bin")
}

func start(ctx context.Context) (*Cluster, error) {
	if kc := os.Getenv("GPUCTL_K8S_KUBECONFIG"); kc != "" {
		return attach(kc, filepath.Join(filepath.Dir(kc), "limited.kubeconfig"), "", false)
	}
	scripts, err := scriptDir()
	if err != nil {
		return nil, err
	}
	run, err := os.MkdirTemp("", "gpuctl-k8s-")
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(5)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(scripts, "up.sh"))
	cmd.Env = append(os.Environ(),
		"GPUCTL_K8S_RUN="+run,
		"GPUCTL_K8S_ETCD_PORT="+strconv.Itoa(ports[0]),
		"GPUCTL_K8S_ETCD_PEER_PORT="+strconv.Itoa(ports[1]),
		"GPUCTL_K8S_APISERVER_PORT="+strconv.Itoa(ports[2]),
		"GPUCTL_K8S_KWOK_PORT="+strconv.Itoa(ports[3]),
		"GPUCTL_K8S_WATCH_PID="+strconv.Itoa(os.Getpid()),
		"GPUCTL_K8S_RUN_EPHEMERAL=1",
	)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("test/k8s/up.sh: %w\n%s", err, stderr.String())
	}
	fmt.Fprintf(os.Stderr, "kubetest: control plane up in %.1fs (run dir %s)\n", time.Since(t0).Seconds(), run)
	kc := lastLine(stdout.String())
	c, err := attach(kc, filepath.Join(run, "pki", "limited.kubeconfig"), run, true)
	if err != nil {
		return nil, err
	}
	c.scripts = scripts
	return c, nil
}

func attach(kubeconfig, limited, run string, owned bool) (*Cluster, error) {
	data, err := os.ReadFile(kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kubeconfig, err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Cluster{Server: cfg.Host, KubeconfigPath: kubeconfig, Kubeconfig: data,
		LimitedKubeconfigPath: limited, Config: cfg, Client: cs, runDir: run, owned: owned}, nil
}

// Stop tears the control plane down (only one this process started).
func (c *Cluster) Stop() error {
	if !c.owned {
		return nil
	}
	c.owned = false
	cmd := exec.Command(filepath.Join(c.scripts, "down.sh"))
	cmd.Env = append(os.Environ(), "GPUCTL_K8S_RUN="+c.runDir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("test/k8s/down.sh: %w: %s", err, out)
	}
	return os.RemoveAll(c.runDir)
}

// RunDir holds the fixture's PKI, logs and kwok configuration.
func (c *Cluster) RunDir() string { return c.runDir }

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// scriptDir finds test/k8s by walking up from the test's directory to the
// module root.
func scriptDir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, "test", "k8s", "up.sh")
		if _, err := os.Stat(p); err == nil {
			return filepath.Dir(p), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("test/k8s/up.sh not found above the working directory")
		}
		dir = parent
	}
}

func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
