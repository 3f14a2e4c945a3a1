package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
	"gopkg.in/yaml.v3"
)

func init() {
	modules.Register(modules.Info{
		Name:      "preflight",
		Summary:   "Check that a host can run kubeadm and the kubelet, with an actionable message per failure",
		CheckMode: "Read-only in every mode: the task fails listing each failing check and what to do about it.",
		Example: `- name: Will this host work?
  preflight:
    role: control-plane
    skip: [clock]`,
		New: func() modules.Module { return &Preflight{} },
	})
}

// preflightChecks are the check names, in the order they run and print.
var preflightChecks = []string{"os", "swap", "br_netfilter", "ip_forward", "cri", "cgroup_driver", "ports", "memory", "cpu", "hostname", "clock"}

// Preflight finds what makes `kubeadm init` or the kubelet fail in the
// field before anything is changed. It reports every failing check at once,
// not only the first, so one run gives the whole to-do list.
type Preflight struct {
	Role         string        `yaml:"role" default:"control-plane" choices:"control-plane,worker" doc:"which ports must be free and how much memory is needed"`
	Skip         []string      `yaml:"skip" doc:"checks to skip: os, swap, br_netfilter, ip_forward, cri, cgroup_driver, ports, memory, cpu, hostname, clock"`
	CgroupDriver string        `yaml:"cgroup_driver" default:"systemd" choices:"systemd,cgroupfs" doc:"the kubelet's cgroup driver when /var/lib/kubelet/config.yaml does not exist yet"`
	MinMemoryMB  int           `yaml:"min_memory_mb" doc:"minimum memory (default 1700 for a control plane as kubeadm demands, 1024 for a worker)"`
	MinCPUs      int           `yaml:"min_cpus" doc:"minimum CPUs (default 2 for a control plane, 1 for a worker)"`
	Ports        []int         `yaml:"ports" doc:"TCP ports that must be free (default 6443, 2379, 2380, 10250, 10257, 10259; worker 10250)"`
	MaxClockSkew time.Duration `yaml:"max_clock_skew" doc:"largest tolerated difference between host and controller clocks (default 30s; certificates fail beyond it)"`

	passed []string
}

func (p *Preflight) Validate() error {
	for _, s := range p.Skip {
		if !slices.Contains(preflightChecks, s) {
			return fmt.Errorf("skip: unknown check %q (known: %s)", s, strings.Join(preflightChecks, ", "))
		}
	}
	for _, port := range p.Ports {
		if port < 1 || port > 65535 {
			return fmt.Errorf("ports: %d out of range", port)
		}
	}
	if p.MinMemoryMB < 0 || p.MinCPUs < 0 || p.MaxClockSkew < 0 {
		return errors.New("min_memory_mb, min_cpus and max_clock_skew cannot be negative")
	}
	return nil
}

// preflightInput is everything the checks look at, read in one command so
// the module costs one round trip.
type preflightInput struct {
	osRelease    string
	swaps        string
	bridgeNF     string // content of bridge-nf-call-iptables, "" when absent
	ipForward    string
	ctrdConfig   string
	ctrdDump     string // `containerd config dump`: config.toml merged with its drop-ins
	ctrdPlugins  string // ctr plugins ls, "" when containerd does not run
	ctrdPresent  bool
	kubeletCfg   string
	listening    string // /proc/net/tcp and tcp6
	meminfo      string
	cpus         int
	hostname     string
	resolves     bool
	hostTime     float64
	controlPlane bool
	joined       bool
}

const preflightScript = `sec() { echo "@@@$1"; }
sec os; cat /etc/os-release 2>/dev/null
sec swaps; cat /proc/swaps
sec bridge; cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null
sec fwd; cat /proc/sys/net/ipv4/ip_forward
sec ctrdcfg; cat /etc/containerd/config.toml 2>/dev/null
sec ctrddump; timeout 5 containerd config dump 2>/dev/null
sec ctrdpresent; command -v containerd >/dev/null && echo yes
sec ctrdplugins; timeout 5 ctr plugins ls 2>/dev/null
sec kubelet; cat /var/lib/kubelet/config.yaml 2>/dev/null
sec tcp; cat /proc/net/tcp /proc/net/tcp6 2>/dev/null
sec mem; cat /proc/meminfo
sec cpus; getconf _NPROCESSORS_ONLN
sec hostname; hostname
sec resolves; getent ahosts "$(hostname)" >/dev/null && echo yes
sec cp; [ -e /etc/kubernetes/manifests/kube-apiserver.yaml ] && echo yes
sec joined; [ -e /etc/kubernetes/kubelet.conf ] && echo yes
sec time; date +%s.%N
`

func splitSections(out string) map[string]string {
	m := map[string]string{}
	cur := ""
	var b strings.Builder
	for l := range strings.SplitSeq(out, "\n") {
		if name, ok := strings.CutPrefix(l, "@@@"); ok {
			if cur != "" {
				m[cur] = b.String()
			}
			cur = name
			b.Reset()
			continue
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	if cur != "" {
		m[cur] = b.String()
	}
	return m
}

func readPreflight(ctx context.Context, c conn.Conn) (preflightInput, error) {
	r, err := c.Run(ctx, preflightScript)
	if err != nil {
		return preflightInput{}, err
	}
	sec := splitSections(r.Stdout)
	in := preflightInput{
		osRelease: sec["os"], swaps: sec["swaps"], bridgeNF: strings.TrimSpace(sec["bridge"]), ipForward: strings.TrimSpace(sec["fwd"]),
		ctrdConfig: sec["ctrdcfg"], ctrdDump: sec["ctrddump"], ctrdPlugins: sec["ctrdplugins"], ctrdPresent: strings.TrimSpace(sec["ctrdpresent"]) == "yes",
		kubeletCfg: sec["kubelet"], listening: sec["tcp"], meminfo: sec["mem"], hostname: strings.TrimSpace(sec["hostname"]),
		resolves: strings.TrimSpace(sec["resolves"]) == "yes", controlPlane: strings.TrimSpace(sec["cp"]) == "yes",
		joined: strings.TrimSpace(sec["joined"]) == "yes",
	}
	in.cpus, _ = strconv.Atoi(strings.TrimSpace(sec["cpus"]))
	in.hostTime, _ = strconv.ParseFloat(strings.TrimSpace(sec["time"]), 64)
	return in, nil
}

// effectiveContainerd views the configuration containerd really uses: the
// dump (drop-ins included, which on containerd 1.x can replace the whole CRI
// table), or config.toml when containerd cannot dump it.
func (in preflightInput) effectiveContainerd() ctrdView {
	if v, err := viewContainerdConfig([]byte(in.ctrdDump)); err == nil && strings.TrimSpace(in.ctrdDump) != "" {
		return v
	}
	v, _ := viewContainerdConfig([]byte(in.ctrdConfig))
	return v
}

// memTotalMB reads MemTotal from /proc/meminfo.
func memTotalMB(meminfo string) int {
	for _, l := range lines(meminfo) {
		if rest, ok := strings.CutPrefix(l, "MemTotal:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			return kb / 1024
		}
	}
	return 0
}

// listeningPorts reads /proc/net/tcp{,6}: state 0A is LISTEN and the local
// address ends in the port in hex.
func listeningPorts(procNetTCP string) map[int]bool {
	ports := map[int]bool{}
	for _, l := range lines(procNetTCP) {
		f := strings.Fields(l)
		if len(f) < 4 || f[3] != "0A" {
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(hexPort, 16, 32); err == nil {
			ports[int(n)] = true
		}
	}
	return ports
}

// kubeletCgroupDriver reads cgroupDriver from the kubelet's configuration.
func kubeletCgroupDriver(cfg string) string {
	var k struct {
		CgroupDriver string `yaml:"cgroupDriver"`
	}
	if yaml.Unmarshal([]byte(cfg), &k) != nil {
		return ""
	}
	return k.CgroupDriver
}

// evaluate runs every check not skipped and returns the failures, each a
// sentence saying what is wrong and what to do.
func (p *Preflight) evaluate(in preflightInput, controllerTime time.Time) (failed, passed []string) {
	check := func(name string, fn func() string) {
		if slices.Contains(p.Skip, name) {
			return
		}
		if msg := fn(); msg != "" {
			failed = append(failed, name+": "+msg)
		} else {
			passed = append(passed, name)
		}
	}
	cp := p.Role == "control-plane"
	check("os", func() string {
		if err := parseOSRelease(in.osRelease).Supported(); err != nil {
			return err.Error()
		}
		return ""
	})
	check("swap", func() string {
		if act := parseProcSwaps(in.swaps); len(act) > 0 {
			return fmt.Sprintf("swap is on (%s): the kubelet refuses to start with swap and kubeadm init fails; run the swap module with state: absent", act[0].Path)
		}
		return ""
	})
	check("br_netfilter", func() string {
		if in.bridgeNF == "" {
			return "br_netfilter is not loaded, so bridged pod traffic bypasses iptables (Services break); run the kernel module (modprobe br_netfilter, persisted in /etc/modules-load.d)"
		}
		if in.bridgeNF != "1" {
			return "net.bridge.bridge-nf-call-iptables is 0; run the kernel module to set it to 1"
		}
		return ""
	})
	check("ip_forward", func() string {
		if in.ipForward != "1" {
			return "net.ipv4.ip_forward is off: pods cannot reach other nodes or Services and kubeadm preflight fails; run the kernel module"
		}
		return ""
	})
	check("cri", func() string {
		if !in.ctrdPresent {
			return "containerd is not installed; run the containerd module"
		}
		if strings.TrimSpace(in.ctrdConfig) != "" {
			if _, err := viewContainerdConfig([]byte(in.ctrdConfig)); err != nil {
				return "/etc/containerd/config.toml does not parse (" + err.Error() + "); run the containerd module to regenerate it"
			}
			if v := in.effectiveContainerd(); v.CRIDisabled {
				return `containerd's CRI plugin is disabled in /etc/containerd/config.toml (disabled_plugins = ["cri"], as Docker's containerd.io ships it): kubeadm reports "container runtime is not running"; run the containerd module`
			}
		}
		if in.ctrdPlugins == "" {
			return "containerd is not running or not answering (ctr plugins ls failed); systemctl status containerd, or run the containerd module"
		}
		if st := criPluginStatus(in.ctrdPlugins); st != "ok" {
			return fmt.Sprintf("containerd's CRI plugin status is %q; see journalctl -u containerd and run the containerd module", st)
		}
		return ""
	})
	check("cgroup_driver", func() string {
		if strings.TrimSpace(in.ctrdConfig) == "" {
			return "no /etc/containerd/config.toml: containerd's built-in default uses cgroupfs while kubeadm configures the kubelet for systemd; run the containerd module"
		}
		v := in.effectiveContainerd()
		ctrd := "cgroupfs"
		if v.SystemdCgroup {
			ctrd = "systemd"
		}
		kubelet, from := kubeletCgroupDriver(in.kubeletCfg), "/var/lib/kubelet/config.yaml"
		if kubelet == "" {
			kubelet, from = p.CgroupDriver, "the kubeadm configuration"
		}
		if ctrd != kubelet {
			return fmt.Sprintf("containerd uses the %s cgroup driver but the kubelet (%s) uses %s: pods crash-loop under two cgroup managers; set systemd_cgroup in the containerd module to match", ctrd, from, kubelet)
		}
		return ""
	})
	check("ports", func() string {
		if in.controlPlane || in.joined {
			return "" // the control plane, or this node's own kubelet once joined, holds them
		}
		ports := p.Ports
		if ports == nil {
			ports = []int{10250}
			if cp {
				ports = []int{6443, 2379, 2380, 10250, 10257, 10259}
			}
		}
		open := listeningPorts(in.listening)
		var busy []string
		for _, port := range ports {
			if open[port] {
				busy = append(busy, strconv.Itoa(port))
			}
		}
		if len(busy) > 0 {
			return fmt.Sprintf("TCP port(s) %s already in use: find the process with `ss -ltnp` and stop it, or reset a previous cluster (kubeadm action: reset)", strings.Join(busy, ", "))
		}
		return ""
	})
	check("memory", func() string {
		min := p.MinMemoryMB
		if min == 0 {
			min = 1024
			if cp {
				min = 1700
			}
		}
		if mb := memTotalMB(in.meminfo); mb < min {
			return fmt.Sprintf("%d MiB of memory, %d needed for a %s", mb, min, p.Role)
		}
		return ""
	})
	check("cpu", func() string {
		min := p.MinCPUs
		if min == 0 {
			min = 1
			if cp {
				min = 2
			}
		}
		if in.cpus < min {
			return fmt.Sprintf("%d CPU(s), %d needed for a %s", in.cpus, min, p.Role)
		}
		return ""
	})
	check("hostname", func() string {
		if !in.resolves {
			return fmt.Sprintf("hostname %q does not resolve: add it to /etc/hosts (127.0.1.1 or the node IP) or DNS; kubeadm and the kubelet look it up", in.hostname)
		}
		return ""
	})
	check("clock", func() string {
		max := durOr(p.MaxClockSkew, 30*time.Second)
		if in.hostTime == 0 {
			return "could not read the host clock"
		}
		skew := time.Duration((in.hostTime - float64(controllerTime.UnixNano())/1e9) * float64(time.Second))
		if skew.Abs() > max {
			return fmt.Sprintf("host clock is %s off the controller's: certificates will be rejected; enable time sync (timedatectl set-ntp true, or install chrony)", skew.Round(time.Second))
		}
		return ""
	})
	return failed, passed
}

func (p *Preflight) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	start := time.Now()
	in, err := readPreflight(ctx, h.Conn())
	if err != nil {
		return plan.Diff{}, err
	}
	// The host read its clock somewhere between start and now.
	mid := start.Add(time.Since(start) / 2)
	failed, passed := p.evaluate(in, mid)
	p.passed = passed
	if len(failed) > 0 {
		return plan.Diff{}, fmt.Errorf("preflight: %d check(s) failed:\n  - %s", len(failed), strings.Join(failed, "\n  - "))
	}
	return plan.Diff{}, nil
}

func (p *Preflight) Apply(ctx context.Context, h modules.Host, d plan.Diff) error { return nil }

// Message lists what passed, for the task line.
func (p *Preflight) Message() string {
	msg := fmt.Sprintf("%d checks passed (%s)", len(p.passed), strings.Join(p.passed, ", "))
	if len(p.Skip) > 0 {
		msg += "; skipped: " + strings.Join(p.Skip, ", ")
	}
	return msg
}

// Reads names the files the checks depend on that the node modules write,
// so that in check mode, after a task that would change one of them,
// preflight reports "known after apply" instead of failing on the state
// the run is about to fix.
func (p *Preflight) Reads() []string {
	return []string{"/etc/containerd/config.toml", "/var/lib/kubelet/config.yaml", "/etc/fstab",
		"/etc/modules-load.d/kubernetes.conf", "/etc/sysctl.d/99-kubernetes.conf", "/etc/hosts"}
}

var (
	_ modules.Module   = (*Preflight)(nil)
	_ modules.Messager = (*Preflight)(nil)
	_ modules.Reader   = (*Preflight)(nil)
)
