package node

import (
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/internal/testhosts"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// TestSwapAndKernelVM needs a real kernel: a QEMU VM test host with a swap
// file that is on, in fstab, and thus a systemd swap unit.
func TestSwapAndKernelVM(t *testing.T) {
	h := moduletest.Start(t, 1, testhosts.VM())[0]
	h.TH.Run(t, `set -e
dd if=/dev/zero of=/swapfile bs=1M count=16 status=none
chmod 600 /swapfile
mkswap /swapfile >/dev/null
swapon /swapfile
echo '/swapfile none swap sw 0 0' >> /etc/fstab
systemctl daemon-reload`)
	if !strings.Contains(h.TH.Run(t, "cat /proc/swaps"), "/swapfile") {
		t.Fatal("fixture: swap not on")
	}

	t.Run("preflight finds swap and kernel settings", func(t *testing.T) {
		_, err := h.CheckOnly(t, "preflight", map[string]any{"skip": []any{"cri", "cgroup_driver", "memory", "cpu", "ports"}})
		if err == nil {
			t.Fatal("preflight passed on a host with swap on")
		}
		for _, want := range []string{"swap: swap is on (/swapfile)", "ip_forward: net.ipv4.ip_forward is off"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("missing %q in:\n%v", want, err)
			}
		}
		t.Log(err)
	})

	t.Run("swap", func(t *testing.T) {
		d := h.Timeline(t, "swap", map[string]any{"state": "absent", "remove_files": true})
		for _, r := range []string{"swap:/swapfile", "file:/etc/fstab", "service:swapfile.swap", "file:/swapfile"} {
			if !moduletest.HasChange(d, r, "") {
				t.Errorf("no change for %s:\n%s", r, moduletest.Describe(d))
			}
		}
		out := h.TH.Run(t, "cat /proc/swaps | wc -l; grep swapfile /etc/fstab; grep -c swapfile /etc/fstab.gpuctl.bak; systemctl is-enabled swapfile.swap || true; test -e /swapfile && echo exists || echo gone")
		want := "1\n#/swapfile none swap sw 0 0 # disabled by gpuctl: kubelet needs swap off\n1\nmasked\ngone"
		if out != want {
			t.Fatalf("host state:\n%s\nwant:\n%s", out, want)
		}
	})

	t.Run("kernel", func(t *testing.T) {
		d := h.Timeline(t, "kernel", map[string]any{})
		for _, r := range []string{"kmod:br_netfilter", "sysctl:net.ipv4.ip_forward", "sysctl:net.bridge.bridge-nf-call-iptables",
			"file:/etc/modules-load.d/kubernetes.conf", "file:/etc/sysctl.d/99-kubernetes.conf"} {
			if !moduletest.HasChange(d, r, "") {
				t.Errorf("no change for %s:\n%s", r, moduletest.Describe(d))
			}
		}
		out := h.TH.Run(t, "grep -c ^br_netfilter /proc/modules; sysctl -n net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables net.bridge.bridge-nf-call-ip6tables")
		if out != "1\n1\n1\n1" {
			t.Fatalf("host state %q", out)
		}
	})

	t.Run("settings survive a reboot", func(t *testing.T) {
		// What boot does: systemd-modules-load and systemd-sysctl from the files.
		h.TH.Run(t, "sysctl -qw net.ipv4.ip_forward=0; modprobe -r br_netfilter; systemctl restart systemd-modules-load systemd-sysctl")
		h.NoChange(t, "kernel", map[string]any{})
	})

	t.Run("preflight passes these checks now", func(t *testing.T) {
		if _, err := h.CheckOnly(t, "preflight", map[string]any{"skip": []any{"cri", "cgroup_driver", "memory", "cpu", "ports"}}); err != nil {
			t.Fatal(err)
		}
	})
}
