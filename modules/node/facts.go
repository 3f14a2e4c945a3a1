package node

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
)

// nodeFactsScript reads everything in one round trip; each section starts
// with a @@@name line.
const nodeFactsScript = `sec() { echo "@@@$1"; }
sec os; cat /etc/os-release 2>/dev/null
sec kernel; uname -r
sec arch; uname -m
sec cgroupfs; stat -fc %T /sys/fs/cgroup 2>/dev/null
sec swaps; cat /proc/swaps
sec containerd; containerd --version 2>/dev/null
sec ctrdcfg; cat /etc/containerd/config.toml 2>/dev/null
sec ctrddump; [ -e /etc/containerd/config.toml ] && timeout 5 containerd config dump 2>/dev/null
sec ctrdactive; systemctl is-active containerd 2>/dev/null
sec kubelet; kubelet --version 2>/dev/null
sec kubeadm; kubeadm version -o short 2>/dev/null
sec kubectl; kubectl version --client 2>/dev/null | head -1
sec cp; ls /etc/kubernetes/manifests 2>/dev/null
sec kubeletconf; [ -e /etc/kubernetes/kubelet.conf ] && echo yes
sec kubeletactive; systemctl is-active kubelet 2>/dev/null
`

func init() {
	modules.RegisterFacts(modules.FactGatherer{Name: "node", Gather: GatherNodeFacts})
}

var semver = regexp.MustCompile(`v?(\d+\.\d+\.\d+[0-9A-Za-z.+~-]*)`)

// firstVersion extracts the first version number from a --version line
// ("containerd containerd.io 1.7.27 05044ec…", "Kubernetes v1.34.4").
func firstVersion(s string) string {
	for _, f := range strings.Fields(s) {
		if m := semver.FindStringSubmatch(f); m != nil && m[0] == f {
			return m[1]
		}
	}
	if m := semver.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}

// GatherNodeFacts reads the facts the node modules and playbook conditions
// use. Keys:
//
//	os_id, os_version_id, os_codename, os_pretty_name, os_supported (bool)
//	kernel_release, architecture, cgroup_version ("v1" or "v2")
//	swap_active (bool), swap_devices ([]string)
//	containerd_version ("" when absent), containerd_running (bool),
//	containerd_config_present, containerd_systemd_cgroup, containerd_cri_disabled (bool),
//	containerd_sandbox_image
//	kubelet_version, kubeadm_version, kubectl_version ("" when absent)
//	control_plane_initialized (bool: static pod manifests exist),
//	control_plane_running (bool: the API server answers /livez),
//	node_joined (bool: /etc/kubernetes/kubelet.conf exists), kubelet_running (bool)
func GatherNodeFacts(ctx context.Context, c conn.Conn) (modules.Facts, error) {
	r, err := c.Run(ctx, nodeFactsScript)
	if err != nil {
		return nil, fmt.Errorf("gather node facts: %w", err)
	}
	sec := splitSections(r.Stdout)
	f := parseNodeFacts(sec)
	if f.Bool("control_plane_initialized") {
		f["control_plane_running"] = apiLivez(ctx, c, 6443) == nil
	}
	return f, nil
}

func parseNodeFacts(sec map[string]string) modules.Facts {
	trim := func(k string) string { return strings.TrimSpace(sec[k]) }
	d := parseOSRelease(sec["os"])
	f := modules.Facts{
		"os_id": d.ID, "os_version_id": d.VersionID, "os_codename": d.Codename, "os_pretty_name": d.Pretty,
		"os_supported":   d.Supported() == nil,
		"kernel_release": trim("kernel"), "architecture": trim("arch"),
	}
	// Same spelling as the engine's base facts, which this overrides.
	f["cgroup_version"] = "v1"
	if trim("cgroupfs") == "cgroup2fs" {
		f["cgroup_version"] = "v2"
	}
	var devs []string
	for _, s := range parseProcSwaps(sec["swaps"]) {
		devs = append(devs, s.Path)
	}
	f["swap_active"] = len(devs) > 0
	f["swap_devices"] = devs
	f["containerd_version"] = firstVersion(trim("containerd"))
	f["containerd_running"] = trim("ctrdactive") == "active"
	f["containerd_config_present"] = trim("ctrdcfg") != ""
	f["containerd_systemd_cgroup"] = false
	f["containerd_cri_disabled"] = false
	f["containerd_sandbox_image"] = ""
	// What containerd really uses (drop-ins merged), else the file.
	cfg := sec["ctrddump"]
	if strings.TrimSpace(cfg) == "" {
		cfg = sec["ctrdcfg"]
	}
	if v, err := viewContainerdConfig([]byte(cfg)); err == nil && strings.TrimSpace(cfg) != "" {
		f["containerd_systemd_cgroup"] = v.SystemdCgroup
		f["containerd_cri_disabled"] = v.CRIDisabled
		f["containerd_sandbox_image"] = v.SandboxImage
	}
	f["kubelet_version"] = firstVersion(trim("kubelet"))
	f["kubeadm_version"] = firstVersion(trim("kubeadm"))
	f["kubectl_version"] = firstVersion(trim("kubectl"))
	f["control_plane_initialized"] = strings.Contains(sec["cp"], "kube-apiserver.yaml")
	f["control_plane_running"] = false
	f["node_joined"] = trim("kubeletconf") == "yes"
	f["kubelet_running"] = trim("kubeletactive") == "active"
	return f
}
