package node

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// k8sBinDir is where build-kubeadm.sh (and test/k8s/build.sh) put real
// Kubernetes binaries; tests that need them skip without.
func k8sBinDir(t *testing.T, names ...string) string {
	cache := os.Getenv("GPUCTL_K8S_CACHE")
	if cache == "" {
		cache = "/var/cache/gpuctl-k8s"
	}
	dir := filepath.Join(cache, "v1.34.4", "bin")
	for _, n := range names {
		if !fileExists(filepath.Join(dir, n)) {
			missingK8s(t, "no "+n+" in "+dir+": run modules/node/testdata/build-kubeadm.sh")
		}
	}
	return dir
}

// TestKubeadmDryRun prepares a Debian 12 host with the node modules
// (containerd, then the real kubelet/kubeadm/kubectl v1.34.4 through the
// air-gap binaries source), checks what the kubeadm module would do, and
// runs `kubeadm init --dry-run` on the configuration it generates, with
// kubeadm's own preflight.
func TestKubeadmDryRun(t *testing.T) {
	bins := k8sBinDir(t, "kubeadm", "kubelet", "kubectl")
	h := moduletest.Start(t, 1)[0]
	ctx := context.Background()
	if _, _, err := h.Apply(t, "containerd", map[string]any{"config_overrides": nspawnContainerd}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.Apply(t, "kubernetes_packages", map[string]any{"version": "1.34.4", "source": "binaries", "binaries_dir": bins}); err != nil {
		t.Fatal(err)
	}
	if v := h.TH.Run(t, "kubeadm version -o short"); v != "v1.34.4" {
		t.Fatalf("kubeadm %s", v)
	}
	// kubeadm refuses a loopback advertise address: take the host's own.
	addr := h.TH.Run(t, "ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -1")
	if addr == "" {
		t.Skip("test host has no global IPv4 address for the API server to advertise")
	}
	args := map[string]any{"kubernetes_version": "v1.34.4", "advertise_address": addr, "extra_sans": []any{"k8s.gpuctl.test"},
		"node_name": h.TH.Name, "fetch_admin_conf": filepath.Join(t.TempDir(), "{host}.conf")}

	d, err := h.CheckOnly(t, "kubeadm", args)
	if err != nil {
		t.Fatal(err)
	}
	if !moduletest.HasChange(d, "file:/etc/kubernetes/gpuctl-kubeadm.yaml", "content") || !moduletest.HasChange(d, "kubeadm:init", "") {
		t.Fatalf("check mode on a clean host:\n%s", moduletest.Describe(d))
	}
	t.Logf("check mode:\n%s", moduletest.Describe(d))

	// Write the configuration exactly as the module would and dry-run it.
	k := kubeadmModule(t, args)
	cfg, err := k.params().initConfig()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.C.WriteFile(ctx, "/root/kubeadm.yaml", cfg, conn.FileAttrs{Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	h.TH.Run(t, "kubeadm config validate --config /root/kubeadm.yaml")
	// The container shares this machine's kernel, whose ip_forward the test
	// leaves alone; every other kubeadm preflight check must pass.
	out, err := h.TH.Output("root", "kubeadm init --dry-run --config /root/kubeadm.yaml --ignore-preflight-errors=FileContent--proc-sys-net-ipv4-ip_forward 2>&1")
	if err != nil {
		t.Fatalf("kubeadm init --dry-run: %v\n%s", err, out)
	}
	for _, want := range []string{"[preflight] Running pre-flight checks", "[certs] Generating \"apiserver\" certificate", "k8s.gpuctl.test", "[dryrun] Would write file"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q", want)
		}
	}
	var warnings []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "[WARNING") || strings.Contains(l, "error execution") {
			warnings = append(warnings, l)
		}
	}
	t.Logf("kubeadm init --dry-run passed preflight; warnings:\n%s", strings.Join(warnings, "\n"))
}

// fakeAPIServer answers /livez over TLS on a loopback port, which test
// hosts sharing this machine's network see as their own 127.0.0.1.
func fakeAPIServer(t *testing.T) int {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/livez" {
			w.Write([]byte("ok"))
			return
		}
		http.NotFound(w, r)
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener.Close()
	srv.Listener = l
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(l.Addr().String())
	p, _ := strconv.Atoi(port)
	return p
}

// TestKubeadmStates covers what the module decides from the host's state:
// a half-finished init is an error saying what to do, a healthy control
// plane is left alone (only admin.conf is fetched, 0600), and reset only
// runs when asked and cleans up.
func TestKubeadmStates(t *testing.T) {
	bins := k8sBinDir(t, "kubeadm")
	h := moduletest.Start(t, 1)[0]
	if _, _, err := h.Apply(t, "kubernetes_packages", map[string]any{"version": "1.34.4", "source": "binaries", "binaries_dir": bins,
		"packages": []any{"kubeadm"}, "dependencies": []any{}}); err != nil {
		t.Fatal(err)
	}
	port := fakeAPIServer(t)
	dest := filepath.Join(t.TempDir(), "kube", "{host}.conf")
	args := map[string]any{"bind_port": port, "health_timeout": "1s", "fetch_admin_conf": dest}

	t.Run("half-finished init", func(t *testing.T) {
		h.TH.Run(t, "mkdir -p /etc/kubernetes/pki /etc/kubernetes/manifests && echo ca > /etc/kubernetes/pki/ca.crt && echo x > /etc/kubernetes/manifests/kube-apiserver.yaml")
		a := map[string]any{"bind_port": 1, "health_timeout": "1s", "fetch_admin_conf": dest}
		_, err := h.CheckOnly(t, "kubeadm", a)
		if err == nil || !strings.Contains(err.Error(), "half-finished kubeadm init") || !strings.Contains(err.Error(), "action: reset") {
			t.Fatalf("err = %v", err)
		}
		t.Log(err)
	})

	t.Run("healthy control plane is left alone", func(t *testing.T) {
		h.TH.Run(t, "printf 'apiVersion: v1\\nkind: Config\\n' > /etc/kubernetes/admin.conf")
		d := h.Timeline(t, "kubeadm", args)
		if len(d.Changes) != 1 || !strings.HasPrefix(d.Changes[0].Resource, "local-file:") || !d.Changes[0].Sensitive {
			t.Fatalf("expected only the admin.conf fetch:\n%s", moduletest.Describe(d))
		}
		local := strings.ReplaceAll(dest, "{host}", h.TH.Name)
		fi, err := os.Stat(local)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("fetched admin.conf: %v %v", fi, err)
		}
	})

	t.Run("join leaves a joined node alone and hides the token", func(t *testing.T) {
		join := map[string]any{"action": "join", "api_server_endpoint": "127.0.0.1:6443", "token": "abcdef.0123456789abcdef", "unsafe_skip_ca_verification": true, "health_timeout": "1s"}
		d, err := h.CheckOnly(t, "kubeadm", join)
		if err == nil {
			t.Fatalf("join on a control plane's leftovers should refuse, got:\n%s", moduletest.Describe(d))
		}
		h2 := moduletest.Start(t, 1)[0]
		d, err = h2.CheckOnly(t, "kubeadm", join)
		if err != nil {
			t.Fatal(err)
		}
		if s := moduletest.Describe(d); strings.Contains(s, "0123456789abcdef") || !moduletest.HasChange(d, "kubeadm:join", "") {
			t.Fatalf("diff shows the token or misses the join:\n%s", s)
		}
		for _, c := range d.Changes {
			if c.Resource == "file:/etc/kubernetes/gpuctl-kubeadm.yaml" && !c.Sensitive {
				t.Fatal("join configuration diff not sensitive")
			}
		}
		h2.TH.Run(t, "mkdir -p /etc/kubernetes && touch /etc/kubernetes/kubelet.conf")
		h2.NoChange(t, "kubeadm", join)
	})

	t.Run("reset only when asked", func(t *testing.T) {
		d := h.Timeline(t, "kubeadm", map[string]any{"action": "reset", "health_timeout": "1s"})
		if !moduletest.HasChange(d, "kubeadm:reset", "") {
			t.Fatal(moduletest.Describe(d))
		}
		if out := h.TH.Run(t, "ls /etc/kubernetes/manifests /etc/kubernetes/pki 2>/dev/null | grep -c yaml || true"); out != "0" {
			t.Fatalf("reset left %s manifests", out)
		}
	})

	t.Run("kubeadm version skew", func(t *testing.T) {
		_, err := h.CheckOnly(t, "kubeadm", map[string]any{"kubernetes_version": "v1.36.0", "fetch_admin_conf": ""})
		if err == nil || !strings.Contains(err.Error(), "kubeadm v1.34.4 cannot deploy Kubernetes v1.36.0") {
			t.Fatalf("err = %v", err)
		}
		if _, err := h.CheckOnly(t, "kubeadm", map[string]any{"kubernetes_version": "v1.33.7", "fetch_admin_conf": ""}); err != nil {
			t.Fatalf("one minor older must be allowed: %v", err)
		}
	})
}
