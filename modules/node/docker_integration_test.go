package node

import (
	"context"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// containerdIO repackages Debian's containerd on the host as Docker's
// containerd.io would be: another package name that conflicts with the
// distribution's, and a config.toml conffile that disables the CRI plugin.
func containerdIO(t *testing.T, h *moduletest.Remote) []byte {
	h.TH.Run(t, `set -e; rm -rf /root/cio; mkdir -p /root/cio; cd /root/cio
apt-get -q download containerd >/dev/null 2>&1
dpkg-deb -R containerd_*.deb pkg
sed -i -e 's/^Package: containerd$/Package: containerd.io/' -e 's/^Version: .*/Version: 1.7.99-1/' pkg/DEBIAN/control
printf 'Conflicts: containerd\nReplaces: containerd\nProvides: containerd\n' >> pkg/DEBIAN/control
mkdir -p pkg/etc/containerd
printf '#   Copyright 2018-2022 Docker Inc.\ndisabled_plugins = ["cri"]\n' > pkg/etc/containerd/config.toml
echo /etc/containerd/config.toml >> pkg/DEBIAN/conffiles
dpkg-deb -Zgzip -z1 -b pkg containerd.io_1.7.99-1_amd64.deb >/dev/null`)
	deb, err := h.C.ReadFile(context.Background(), "/root/cio/containerd.io_1.7.99-1_amd64.deb")
	if err != nil {
		t.Fatal(err)
	}
	return deb
}

// TestContainerdDockerSource: a host where Docker's containerd.io was
// installed by hand has the CRI plugin off; preflight says so, and the
// containerd module with source: docker (repository shaped like
// download.docker.com: dists/CODENAME/stable, key at /gpg) fixes it.
func TestContainerdDockerSource(t *testing.T) {
	h := moduletest.Start(t, 1)[0]
	deb := containerdIO(t, h)
	dir, key := buildRepo(t, newGPG(t), []fakeDeb{{Name: "containerd.io", Version: "1.7.99-1", Raw: deb}}, "bookworm", "stable")
	url := serve(t, dir, h)
	args := map[string]any{"source": "docker", "repo_url": url, "key_url": url + "gpg", "config_overrides": nspawnContainerd}

	// By hand, as people follow Docker's instructions.
	if _, _, err := h.Apply(t, "apt_repository", map[string]any{"name": "docker", "uris": url, "suites": "bookworm", "components": "stable", "key": key}); err != nil {
		t.Fatal(err)
	}
	h.TH.Run(t, "DEBIAN_FRONTEND=noninteractive apt-get -q -y install containerd.io >/dev/null 2>&1")
	_, err := h.CheckOnly(t, "preflight", map[string]any{"skip": []any{"ports", "ip_forward", "memory", "cpu"}})
	if err == nil || !strings.Contains(err.Error(), `CRI plugin is disabled in /etc/containerd/config.toml (disabled_plugins = ["cri"]`) {
		t.Fatalf("preflight: %v", err)
	}
	t.Log(err)

	d := h.Timeline(t, "containerd", args)
	if !moduletest.HasChange(d, "file:/etc/containerd/config.toml", "content") || moduletest.HasChange(d, "package:containerd.io", "") {
		t.Fatalf("diff %s", moduletest.Describe(d))
	}
	if st := criPluginStatus(h.TH.Run(t, "ctr plugins ls")); st != "ok" {
		t.Fatalf("CRI plugin %s", st)
	}
	if _, err := h.CheckOnly(t, "preflight", map[string]any{"skip": []any{"ports", "ip_forward", "memory", "cpu"}}); err != nil {
		t.Fatal(err)
	}
	if src := h.TH.Run(t, "grep -h -e URIs -e Suites -e Components -e Signed-By /etc/apt/sources.list.d/docker.sources"); !strings.Contains(src, "Suites: bookworm") || !strings.Contains(src, "Components: stable") {
		t.Fatalf("docker.sources:\n%s", src)
	}
}
