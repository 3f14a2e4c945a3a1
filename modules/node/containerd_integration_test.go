package node

import (
	"context"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// nspawnContainerd are the settings a containerd inside a systemd-nspawn
// test host needs: its root is an overlay mount, on which the overlayfs
// snapshotter cannot stack, and it lacks CAP_SYS_RESOURCE.
var nspawnContainerd = map[string]any{
	"plugins": map[string]any{"io.containerd.grpc.v1.cri": map[string]any{
		"restrict_oom_score_adj": true,
		"containerd":             map[string]any{"snapshotter": "native"},
	}},
}

func containerdPID(t *testing.T, h *moduletest.Remote) string {
	return h.TH.Run(t, "systemctl show -p MainPID --value containerd")
}

// TestContainerd installs Debian's containerd on a real Debian 12 host,
// configures it for Kubernetes, checks that it restarts only on change and
// that the CRI plugin answers, and adds a runtime through the drop-in API
// the NVIDIA module uses.
func TestContainerd(t *testing.T) {
	h := moduletest.Start(t, 1)[0]
	ctx := context.Background()
	args := map[string]any{"config_overrides": nspawnContainerd}

	t.Run("preflight before", func(t *testing.T) {
		_, err := h.CheckOnly(t, "preflight", map[string]any{"skip": []any{"ports", "ip_forward", "memory", "cpu"}})
		if err == nil || !strings.Contains(err.Error(), "cri: containerd is not installed; run the containerd module") {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("install and configure", func(t *testing.T) {
		d := h.Timeline(t, "containerd", args)
		if !moduletest.HasChange(d, "package:containerd", "version") || !strings.Contains(d.Unknown, "known after apply") {
			t.Fatalf("check mode should predict the package and defer the config:\n%s", moduletest.Describe(d))
		}
		cfg := h.TH.Run(t, "cat /etc/containerd/config.toml")
		for _, want := range []string{"SystemdCgroup = true", "sandbox_image = 'registry.k8s.io/pause:3.10.1'", "/etc/containerd/conf.d/*.toml"} {
			if !strings.Contains(cfg, want) {
				t.Errorf("config.toml lacks %s", want)
			}
		}
		if st := criPluginStatus(h.TH.Run(t, "ctr plugins ls")); st != "ok" {
			t.Fatalf("CRI plugin %s", st)
		}
		t.Log(h.TH.Run(t, "ctr version | head -3"))
	})

	t.Run("facts", func(t *testing.T) {
		f, err := GatherNodeFacts(ctx, h.C)
		if err != nil {
			t.Fatal(err)
		}
		if f["os_id"] != "debian" || !f.Bool("os_supported") || f.String("containerd_version") == "" || !f.Bool("containerd_systemd_cgroup") ||
			f.Bool("containerd_cri_disabled") || !f.Bool("containerd_running") || f["containerd_sandbox_image"] != DefaultSandboxImage {
			t.Fatalf("facts %v", f)
		}
		t.Logf("facts: %v", f)
	})

	t.Run("preflight after", func(t *testing.T) {
		// The container shares this machine's kernel: forwarding and ports are
		// the machine's, so those are skipped.
		if _, err := h.CheckOnly(t, "preflight", map[string]any{"skip": []any{"ports", "ip_forward", "memory", "cpu"}}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("change restarts, no change does not", func(t *testing.T) {
		pid := containerdPID(t, h)
		h.NoChange(t, "containerd", args)
		changed := map[string]any{"config_overrides": nspawnContainerd, "sandbox_image": "registry.k8s.io/pause:3.10"}
		d := h.Timeline(t, "containerd", changed)
		if !moduletest.HasChange(d, "file:/etc/containerd/config.toml", "content") || !moduletest.HasChange(d, "service:containerd", "restart") {
			t.Fatalf("diff %s", moduletest.Describe(d))
		}
		if containerdPID(t, h) == pid {
			t.Fatal("containerd was not restarted after a config change")
		}
	})

	t.Run("runtime drop-in", func(t *testing.T) {
		path, content, err := ContainerdRuntimeDropIn(ctx, h.C, "/etc/containerd/config.toml", "/etc/containerd/conf.d", ContainerdRuntime{Name: "nvidia", BinaryName: "/usr/sbin/runc", Default: true})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.C.WriteFile(ctx, path, content, conn.FileAttrs{Mode: 0o644}); err != nil {
			t.Fatal(err)
		}
		pid := containerdPID(t, h)
		if err := RestartContainerdIfChanged(ctx, h.C, false); err != nil || containerdPID(t, h) != pid {
			t.Fatalf("restart without change: %v", err)
		}
		if err := RestartContainerdIfChanged(ctx, h.C, true); err != nil {
			t.Fatal(err)
		}
		if containerdPID(t, h) == pid {
			t.Fatal("not restarted")
		}
		dump := h.TH.Run(t, "containerd config dump")
		v, err := viewContainerdConfig([]byte(dump))
		if err != nil {
			t.Fatal(err)
		}
		if !v.SystemdCgroup || !strings.Contains(dump, `default_runtime_name = "nvidia"`) || !strings.Contains(dump, `BinaryName = "/usr/sbin/runc"`) {
			t.Fatalf("effective config: %+v\n%s", v, dump)
		}
		// The drop-in is not the containerd module's business: it stays.
		h.NoChange(t, "containerd", map[string]any{"config_overrides": nspawnContainerd, "sandbox_image": "registry.k8s.io/pause:3.10"})
		if _, err := h.CheckOnly(t, "preflight", map[string]any{"skip": []any{"ports", "ip_forward", "memory", "cpu"}}); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("preflight sees a drop-in that clobbers the CRI table", func(t *testing.T) {
		// What a tool writing only its runtime's table does to containerd 1.x.
		h.TH.Run(t, `printf 'version = 2
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.naive]
  runtime_type = "io.containerd.runc.v2"
' > /etc/containerd/conf.d/60-naive.toml`)
		_, err := h.CheckOnly(t, "preflight", map[string]any{"skip": []any{"ports", "ip_forward", "memory", "cpu"}})
		if err == nil || !strings.Contains(err.Error(), "cgroup_driver: containerd uses the cgroupfs cgroup driver") {
			t.Fatalf("err = %v", err)
		}
		d, err := h.CheckOnly(t, "containerd", map[string]any{"config_overrides": nspawnContainerd, "sandbox_image": "registry.k8s.io/pause:3.10"})
		if err != nil || !d.Empty() || len(d.Notes) == 0 || !strings.Contains(d.Notes[0], "overrides config.toml") {
			t.Fatalf("containerd should note the override: %v\n%s", err, moduletest.Describe(d))
		}
		t.Log(d.Notes[0])
		h.TH.Run(t, "rm /etc/containerd/conf.d/60-naive.toml")
	})
}
