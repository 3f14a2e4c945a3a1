package nvidia

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/conn/ssh"
	"github.com/gpuctl/gpuctl/internal/testhosts"
	"github.com/gpuctl/gpuctl/modules"
)

// sshHost is a modules.Host over SSH to a throwaway Debian 12 test host
// (systemd-nspawn, sharing this machine's network), as the engine gives it.
type sshHost struct {
	th    testhosts.Host
	c     conn.Conn
	check bool
}

func (h *sshHost) Name() string                  { return h.th.Name }
func (h *sshHost) Conn() conn.Conn               { return h.c }
func (h *sshHost) Local() conn.Conn              { return local.New() }
func (h *sshHost) Facts() modules.Facts          { return modules.Facts{} }
func (h *sshHost) Vars() map[string]any          { return map[string]any{} }
func (h *sshHost) Eval(string) (any, error)      { return nil, errors.New("no templates here") }
func (h *sshHost) Render(string) (string, error) { return "", errors.New("no templates here") }
func (h *sshHost) CheckMode() bool               { return h.check }
func (h *sshHost) Log() *slog.Logger             { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func startHost(t *testing.T) *sshHost {
	t.Helper()
	th := testhosts.Start(t, 1)[0] // skips without root, the image, or with -short
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := ssh.Dial(ctx, ssh.Config{
		Host: th.Addr, Port: th.Port, User: testhosts.UserRoot,
		KeyFiles: []string{th.KeyFile}, NoAgent: true,
		KnownHostsFiles: []string{th.KnownHostsFile}, NoUserKnownHosts: true,
	})
	if err != nil {
		t.Fatalf("dial %s: %v", th.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return &sshHost{th: th, c: c}
}

// hostTimeline is the module contract on a real host: check mode changes
// nothing (same hash of /etc, /usr/local, /opt), apply, then a fresh check
// and a second apply change nothing.
func hostTimeline(t *testing.T, h *sshHost, name string, args map[string]any) {
	t.Helper()
	ctx := context.Background()
	before := h.th.Hash(t)
	h.check = true
	d, err := modules.CheckOnly(ctx, newModule(t, name, args), h)
	h.check = false
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if d.Empty() {
		t.Fatal("first check found nothing to do")
	}
	if h.th.Hash(t) != before {
		t.Fatal("check mode changed the host")
	}
	for _, c := range d.Changes {
		t.Logf("planned: %s %s %s %s → %s", c.Action.Symbol(), c.Resource, c.Field, firstLine(c.Before), firstLine(c.After))
	}
	m := newModule(t, name, args)
	d, err = m.Check(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := m.Apply(ctx, h, d); err != nil {
		t.Fatalf("apply: %v", err)
	}
	t.Logf("apply took %s", time.Since(start).Round(time.Millisecond))
	for i := 0; i < 2; i++ {
		d, err := newModule(t, name, args).Check(ctx, h)
		if err != nil || !d.Empty() {
			t.Fatalf("re-check %d after apply: %+v %v", i, d.Changes, err)
		}
	}
}

// TestNVIDIAModulesOnRealHost: on a real Debian 12 host over SSH with no
// GPU, the driver and check modules skip cleanly; the toolkit, from a
// signed repository on loopback, installs pinned and held, and containerd
// (Debian's package) runs with the nvidia runtime, SystemdCgroup on, as
// its default.
func TestNVIDIAModulesOnRealHost(t *testing.T) {
	repo := newSignedRepo(t, "1.18.0-1")
	h := startHost(t)
	ctx := context.Background()

	for name, args := range map[string]map[string]any{"nvidia_driver": {}, "gpu_check": {}} {
		m := newModule(t, name, args)
		d, err := m.Check(ctx, h)
		if err != nil || !d.Empty() || m.(modules.Skipper).Skip() != "no NVIDIA GPU found" {
			t.Fatalf("%s on a host without GPU: %+v %v", name, d, err)
		}
	}

	// containerd as the node modules leave it: Debian's package, kubeadm's
	// runc with the systemd cgroup driver.
	h.th.Run(t, "DEBIAN_FRONTEND=noninteractive apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -qq install -y containerd >/dev/null")
	h.th.Run(t, "mkdir -p /etc/containerd && cat > /etc/containerd/config.toml <<'EOF'\n"+kubeadmConfig+"EOF\nsystemctl restart containerd")

	args := map[string]any{"when_no_gpu": "install", "repo_url": repo.URL, "key": repo.Key, "default_runtime": true}
	hostTimeline(t, h, "nvidia_container_toolkit", args)

	if out := h.th.Run(t, "dpkg-query -W -f='${Package} ${Version} ${db:Status-Abbrev}\\n' nvidia-container-toolkit libnvidia-container1"); strings.Count(out, "1.18.0-1 hi") != 2 {
		t.Errorf("toolkit not installed pinned and held:\n%s", out)
	}
	dump := h.th.Run(t, "containerd config dump")
	if err := verifyDump(dump, 2, true); err != nil {
		t.Fatal(err)
	}
	if runc, _ := tableBody(dump, `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]`); !strings.Contains(runc, "SystemdCgroup = true") {
		t.Errorf("runc lost SystemdCgroup:\n%s", runc)
	}
	nv, _ := tableBody(dump, `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia.options]`)
	t.Logf("containerd config dump on %s, nvidia runtime options:\n%s", h.th.Name, nv)
	t.Logf("ctr plugins (cri):\n%s", h.th.Run(t, "ctr plugins ls | grep -E 'cri|TYPE'"))
}
