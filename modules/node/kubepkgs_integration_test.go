package node

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules/moduletest"
)

func kubeDebs(versions ...string) []fakeDeb {
	var debs []fakeDeb
	for _, v := range versions {
		up := strings.SplitN(v, "-", 2)[0]
		for _, n := range []string{"kubelet", "kubeadm", "kubectl"} {
			debs = append(debs, fakeDeb{Name: n, Version: v, Files: map[string][]byte{"/usr/bin/" + n: script("Kubernetes v" + up)}})
		}
	}
	return debs
}

// TestKubernetesPackagesApt installs from a repository shaped like
// pkgs.k8s.io (flat, suite "/", Release.key beside it), served on loopback.
func TestKubernetesPackagesApt(t *testing.T) {
	dir, _ := buildRepo(t, newGPG(t), kubeDebs("1.34.3-1.1", "1.34.4-1.1"), "/", "")
	h := moduletest.Start(t, 1)[0]
	url := serve(t, dir, h)
	args := func(v string) map[string]any {
		return map[string]any{"version": v, "repo_url": url, "key_url": url + "Release.key"}
	}

	t.Run("install", func(t *testing.T) {
		d := h.Timeline(t, "kubernetes_packages", args("1.34.3"))
		if !strings.Contains(d.Unknown, "known after apply") || !moduletest.HasChange(d, "file:/etc/apt/sources.list.d/kubernetes.sources", "") {
			t.Fatalf("check mode before the repository exists:\n%s", moduletest.Describe(d))
		}
		out := h.TH.Run(t, "kubelet; kubeadm; kubectl; apt-mark showhold | sort | tr '\\n' ' '; grep -h Suites /etc/apt/sources.list.d/kubernetes.sources")
		if out != "Kubernetes v1.34.3\nKubernetes v1.34.3\nKubernetes v1.34.3\nkubeadm kubectl kubelet Suites: /" {
			t.Fatalf("host state %q", out)
		}
	})

	t.Run("upgrade the pin", func(t *testing.T) {
		d := h.Timeline(t, "kubernetes_packages", args("1.34.4"))
		var ups []string
		for _, c := range d.Changes {
			ups = append(ups, c.Resource+" "+c.Before+"→"+c.After)
		}
		if strings.Join(ups, ",") != "package:kubeadm 1.34.3-1.1→1.34.4-1.1,package:kubectl 1.34.3-1.1→1.34.4-1.1,package:kubelet 1.34.3-1.1→1.34.4-1.1" {
			t.Fatalf("diff %v", ups)
		}
		if held := h.TH.Run(t, "apt-mark showhold | wc -l"); held != "3" {
			t.Fatalf("%s packages held after the upgrade", held)
		}
	})
}

// fakeKubeBinary is a real ELF executable (a copy of /bin/true) carrying a
// Kubernetes version stamp, as the real binaries do.
func fakeKubeBinary(t *testing.T, version string) []byte {
	b, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Skip(err)
	}
	return append(b, []byte("\x00gitVersion v"+version+"\x00")...)
}

// TestKubernetesPackagesBinaries is the air-gap source: binaries from a
// directory on the controller, then the same from a URL with checksums.
func TestKubernetesPackagesBinaries(t *testing.T) {
	h := moduletest.Start(t, 1)[0]
	dir := t.TempDir()
	for _, n := range []string{"kubelet", "kubeadm", "kubectl"} {
		b := fakeKubeBinary(t, "1.34.4")
		os.WriteFile(filepath.Join(dir, n), b, 0o755)
		sum := sha256.Sum256(b)
		os.WriteFile(filepath.Join(dir, n+".sha256"), []byte(hex.EncodeToString(sum[:])), 0o644)
	}

	t.Run("from a directory", func(t *testing.T) {
		d := h.Timeline(t, "kubernetes_packages", map[string]any{"version": "1.34.4", "source": "binaries", "binaries_dir": dir})
		for _, r := range []string{"file:/usr/bin/kubelet", "file:/usr/bin/kubeadm", "file:/etc/systemd/system/kubelet.service", "file:/etc/systemd/system/kubelet.service.d/10-kubeadm.conf", "service:kubelet", "package:conntrack"} {
			if !moduletest.HasChange(d, r, "") {
				t.Errorf("no change for %s", r)
			}
		}
		if out := h.TH.Run(t, "systemctl is-enabled kubelet; stat -c %a /usr/bin/kubeadm; kubeadm && echo runs"); out != "enabled\n755\nruns" {
			t.Fatalf("host state %q", out)
		}
	})

	t.Run("from a URL with checksums", func(t *testing.T) {
		url := serve(t, dir, nil)
		h.NoChange(t, "kubernetes_packages", map[string]any{"version": "1.34.4", "source": "binaries", "binaries_url": url})
		os.WriteFile(filepath.Join(dir, "kubectl.sha256"), []byte(strings.Repeat("0", 64)), 0o644)
		_, err := h.CheckOnly(t, "kubernetes_packages", map[string]any{"version": "1.34.4", "source": "binaries", "binaries_url": url})
		if err == nil || !strings.Contains(err.Error(), "checksum does not match") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("wrong version is refused", func(t *testing.T) {
		_, err := h.CheckOnly(t, "kubernetes_packages", map[string]any{"version": "1.34.5", "source": "binaries", "binaries_dir": dir})
		if err == nil || !strings.Contains(err.Error(), "does not carry version v1.34.5") {
			t.Fatalf("err = %v", err)
		}
	})
}
