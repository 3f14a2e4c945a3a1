package node

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules"
)

var update = flag.Bool("update", false, "rewrite golden files")

func kubeadmModule(t *testing.T, args map[string]any) *Kubeadm {
	t.Helper()
	m, err := modules.New("kubeadm", args)
	if err != nil {
		t.Fatal(err)
	}
	return m.(*Kubeadm)
}

var kubeadmCases = []struct {
	name string
	args map[string]any
}{
	{"init-defaults", map[string]any{}},
	{"init-full", map[string]any{"advertise_address": "10.77.0.2", "control_plane_endpoint": "k8s.example.com:6443",
		"extra_sans": []any{"k8s.example.com", "10.77.0.100"}, "node_name": "gpu-1", "image_repository": "registry.local:5000",
		"skip_phases": []any{"addon/kube-proxy"}, "ignore_preflight_errors": []any{"SystemVerification"}, "kubelet_config": map[string]any{"failSwapOn": false}}},
	{"init-kube-proxy", map[string]any{"kube_proxy_config": map[string]any{"conntrack": map[string]any{"maxPerCore": 0}}}},
	{"join", map[string]any{"action": "join", "api_server_endpoint": "10.77.0.2:6443", "token": "abcdef.0123456789abcdef",
		"discovery_token_ca_cert_hash": "sha256:" + strings.Repeat("0f", 32)}},
}

func renderKubeadm(t *testing.T, args map[string]any) []byte {
	k := kubeadmModule(t, args)
	var out []byte
	var err error
	if k.Action == "join" {
		out, err = k.params().joinConfig()
	} else {
		out, err = k.params().initConfig()
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestKubeadmConfigGolden(t *testing.T) {
	for _, tc := range kubeadmCases {
		t.Run(tc.name, func(t *testing.T) {
			out := renderKubeadm(t, tc.args)
			golden := filepath.Join("testdata", "kubeadm-"+tc.name+".yaml")
			if *update {
				os.WriteFile(golden, out, 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if string(want) != string(out) {
				t.Fatalf("differs from %s (go test -update):\n%s", golden, out)
			}
		})
	}
	if v := kubeadmAPIVersion("v1.30.2"); v != "kubeadm.k8s.io/v1beta3" {
		t.Fatal(v)
	}
}

// kubeadmBinary finds a real kubeadm: GPUCTL_KUBEADM, the fixture cache
// test/k8s builds into, or PATH.
func kubeadmBinary(t *testing.T) string {
	if p := os.Getenv("GPUCTL_KUBEADM"); p != "" {
		return p
	}
	cache := os.Getenv("GPUCTL_K8S_CACHE")
	if cache == "" {
		cache = "/var/cache/gpuctl-k8s"
	}
	if p := filepath.Join(cache, "v1.34.4", "bin", "kubeadm"); fileExists(p) {
		return p
	}
	if p, err := exec.LookPath("kubeadm"); err == nil {
		return p
	}
	missingK8s(t, "no kubeadm binary: build it with modules/node/testdata/build-kubeadm.sh or set GPUCTL_KUBEADM")
	return ""
}

// missingK8s skips, or fails where CI demands the fixture
// (GPUCTL_K8S_FIXTURE=require), so a missing build cannot pass as skipped.
func missingK8s(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("GPUCTL_K8S_FIXTURE") == "require" && !testing.Short() {
		t.Fatal(why + " (GPUCTL_K8S_FIXTURE=require)")
	}
	t.Skip(why)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// TestKubeadmConfigValidate feeds every generated configuration to a real
// kubeadm 1.34 (`kubeadm config validate`), which rejects unknown fields
// and bad values the way init and join would.
func TestKubeadmConfigValidate(t *testing.T) {
	bin := kubeadmBinary(t)
	for _, tc := range kubeadmCases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "kubeadm.yaml")
			os.WriteFile(p, renderKubeadm(t, tc.args), 0o600)
			out, err := exec.Command(bin, "config", "validate", "--config", p).CombinedOutput()
			if err != nil {
				t.Fatalf("kubeadm config validate: %v\n%s", err, out)
			}
			t.Logf("%s", out)
		})
	}
}

// The validation has teeth: kubeadm rejects what our Validate would have
// stopped, had it been written by hand.
func TestKubeadmConfigValidateRejects(t *testing.T) {
	bin := kubeadmBinary(t)
	bad := strings.Replace(string(renderKubeadm(t, map[string]any{})), "podSubnet: 10.244.0.0/16", "podSubnet: 10.244.0.0", 1)
	p := filepath.Join(t.TempDir(), "kubeadm.yaml")
	os.WriteFile(p, []byte(bad), 0o600)
	if out, err := exec.Command(bin, "config", "validate", "--config", p).CombinedOutput(); err == nil {
		t.Fatalf("kubeadm accepted a bad pod subnet:\n%s", out)
	}
}

func TestKubeProxyConfigRendered(t *testing.T) {
	p := kubeadmParams{APIVersion: "kubeadm.k8s.io/v1beta4", KubernetesVersion: "v1.34.4", CRISocket: "unix:///run/containerd/containerd.sock",
		CgroupDriver: "systemd", BindPort: 6443, PodSubnet: "10.244.0.0/16", ServiceSubnet: "10.96.0.0/12",
		KubeProxyConfig: map[string]any{"conntrack": map[string]any{"maxPerCore": 0}}}
	b, err := p.initConfig()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "kind: KubeProxyConfiguration") || !strings.Contains(string(b), "maxPerCore: 0") {
		t.Fatalf("config:\n%s", b)
	}
	p.KubeProxyConfig = nil
	if b, _ := p.initConfig(); strings.Contains(string(b), "KubeProxyConfiguration") {
		t.Fatal("empty kube_proxy_config rendered a document")
	}
}
