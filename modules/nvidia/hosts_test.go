package nvidia

import (
	"context"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// TestNVIDIAModulesOnRealHost: on a real Debian 12 host over SSH with no
// GPU, the driver and check modules skip cleanly; the toolkit, from a
// signed repository on loopback, installs pinned and held, and containerd
// (Debian's package) runs with the nvidia runtime, SystemdCgroup on, as
// its default.
func TestNVIDIAModulesOnRealHost(t *testing.T) {
	repo := newSignedRepo(t, "1.18.0-1")
	h := moduletest.Start(t, 1)[0]
	ctx := context.Background()

	for name, args := range map[string]map[string]any{"nvidia_driver": {}, "gpu_check": {}} {
		m := moduletest.New(t, name, args)
		d, err := m.Check(ctx, h)
		if err != nil || !d.Empty() || m.(modules.Skipper).Skip() != "no NVIDIA GPU found" {
			t.Fatalf("%s on a host without GPU: %+v %v", name, d, err)
		}
	}

	// containerd as the node modules leave it: Debian's package, kubeadm's
	// runc with the systemd cgroup driver.
	h.TH.Run(t, "DEBIAN_FRONTEND=noninteractive apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -qq install -y containerd >/dev/null")
	h.TH.Run(t, "mkdir -p /etc/containerd && cat > /etc/containerd/config.toml <<'EOF'\n"+kubeadmConfig+"EOF\nsystemctl restart containerd")

	args := map[string]any{"when_no_gpu": "install", "repo_url": repo.URL, "key": repo.Key, "default_runtime": true}
	h.Timeline(t, "nvidia_container_toolkit", args)

	if out := h.TH.Run(t, "dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\\n' nvidia-container-toolkit libnvidia-container1"); strings.Count(out, "1.18.0-1 hi") != 2 {
		t.Errorf("toolkit not installed pinned and held:\n%s", out)
	}
	dump := h.TH.Run(t, "containerd config dump")
	if err := verifyDump(dump, 2, true); err != nil {
		t.Fatal(err)
	}
	if runc, _ := tableBody(dump, `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]`); !strings.Contains(runc, "SystemdCgroup = true") {
		t.Errorf("runc lost SystemdCgroup:\n%s", runc)
	}
	nv, _ := tableBody(dump, `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia.options]`)
	t.Logf("containerd config dump on %s, nvidia runtime options:\n%s", h.TH.Name, nv)
	t.Logf("ctr plugins (cri):\n%s", h.TH.Run(t, "ctr plugins ls | grep -E 'cri|TYPE'"))
}
