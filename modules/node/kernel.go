package node

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:      "kernel",
		Summary:   "Load kernel modules and set sysctls now and at every boot (defaults: what Kubernetes needs)",
		CheckMode: "Reads /proc/modules and /proc/sys and reports modules to load, sysctls to set and the modules-load.d/sysctl.d files to write; changes nothing.",
		Example: `- name: Kernel prerequisites for Kubernetes
  kernel: {}
- name: More inotify watches
  kernel:
    name: inotify
    modules: []
    sysctls: {fs.inotify.max_user_watches: 524288}`,
		New: func() modules.Module { return &Kernel{} },
	})
}

// Kubernetes needs overlay for containerd's snapshotter, br_netfilter so
// that bridged pod traffic passes iptables (kube-proxy, CNI), and
// forwarding on.
var (
	defaultKernelModules = []string{"overlay", "br_netfilter"}
	defaultSysctls       = map[string]string{
		"net.bridge.bridge-nf-call-iptables":  "1",
		"net.bridge.bridge-nf-call-ip6tables": "1",
		"net.ipv4.ip_forward":                 "1",
	}
)

// Kernel loads modules (modprobe) and persists them in
// /etc/modules-load.d/NAME.conf; sets sysctls (sysctl -w) and persists them
// in /etc/sysctl.d/99-NAME.conf.
type Kernel struct {
	Name    string            `yaml:"name" default:"kubernetes" doc:"names the files: /etc/modules-load.d/NAME.conf and /etc/sysctl.d/99-NAME.conf"`
	Modules []string          `yaml:"modules" doc:"kernel modules to load (default overlay, br_netfilter; [] for none)"`
	Sysctls map[string]string `yaml:"sysctls" doc:"sysctls to set (default net.bridge.bridge-nf-call-iptables/ip6tables=1, net.ipv4.ip_forward=1; {} for none)"`
}

var (
	kmodName   = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	sysctlName = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_*-]+)+$`)
)

func (k *Kernel) Validate() error {
	if !repoName.MatchString(k.Name) {
		return fmt.Errorf("name %q: use letters, digits, '.', '_' and '-' only", k.Name)
	}
	for _, m := range k.modules() {
		if !kmodName.MatchString(m) {
			return fmt.Errorf("module %q: not a kernel module name", m)
		}
	}
	for key, v := range k.sysctls() {
		if !sysctlName.MatchString(key) || strings.Contains(key, "..") {
			return fmt.Errorf("sysctl %q: expected a dotted name such as net.ipv4.ip_forward", key)
		}
		if strings.TrimSpace(v) == "" || strings.ContainsAny(v, "\n") {
			return fmt.Errorf("sysctl %s: empty or multi-line value", key)
		}
	}
	return nil
}

func (k *Kernel) modules() []string {
	if k.Modules == nil {
		return defaultKernelModules
	}
	return k.Modules
}

func (k *Kernel) sysctls() map[string]string {
	if k.Sysctls == nil {
		return defaultSysctls
	}
	return k.Sysctls
}

func (k *Kernel) modulesFile() string { return "/etc/modules-load.d/" + k.Name + ".conf" }
func (k *Kernel) sysctlFile() string  { return "/etc/sysctl.d/99-" + k.Name + ".conf" }

// normSysctl compares values as the kernel prints them: fields separated by
// tabs ("32768\t60999").
func normSysctl(v string) string { return strings.Join(strings.Fields(v), " ") }

func sysctlPath(key string) string { return "/proc/sys/" + strings.ReplaceAll(key, ".", "/") }

func (k *Kernel) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	c := h.Conn()
	s := &steps{}
	mods := k.modules()
	loaded := &loadedModules{c: c}
	for _, m := range mods {
		ok, err := loaded.loaded(ctx, m)
		if err != nil {
			return plan.Diff{}, err
		}
		if ok {
			continue
		}
		s.add(plan.Change{Resource: "kmod:" + m, Action: plan.Update, Field: "loaded", Before: "false", After: "true"},
			func(ctx context.Context, c conn.Conn) error {
				if err := sh(ctx, c, "modprobe "+conn.Quote(m)); err != nil {
					return fmt.Errorf("%w (is the module available for kernel $(uname -r)? linux-modules-extra may be missing)", err)
				}
				return nil
			})
	}
	if len(mods) > 0 {
		content := managedHeader("kernel") + strings.Join(mods, "\n") + "\n"
		if err := fileStep(ctx, c, s, k.modulesFile(), []byte(content), 0o644, false); err != nil {
			return plan.Diff{}, err
		}
	} else if err := removeStep(ctx, c, s, k.modulesFile()); err != nil {
		return plan.Diff{}, err
	}

	keys := make([]string, 0, len(k.sysctls()))
	for key := range k.sysctls() {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	var conf strings.Builder
	conf.WriteString(managedHeader("kernel"))
	for _, key := range keys {
		want := normSysctl(k.sysctls()[key])
		fmt.Fprintf(&conf, "%s = %s\n", key, want)
		cur, ok, err := readFile(ctx, c, sysctlPath(key))
		if err != nil {
			return plan.Diff{}, err
		}
		before := normSysctl(string(cur))
		if !ok {
			// net.bridge.* appears only once br_netfilter is loaded.
			before = "(absent)"
		}
		if ok && before == want {
			continue
		}
		s.add(plan.Change{Resource: "sysctl:" + key, Action: plan.Update, Field: "value", Before: before, After: want},
			func(ctx context.Context, c conn.Conn) error {
				return sh(ctx, c, "sysctl -q -w "+conn.Quote(key+"="+want))
			})
	}
	if len(keys) > 0 {
		if err := fileStep(ctx, c, s, k.sysctlFile(), []byte(conf.String()), 0o644, false); err != nil {
			return plan.Diff{}, err
		}
	} else if err := removeStep(ctx, c, s, k.sysctlFile()); err != nil {
		return plan.Diff{}, err
	}
	return s.diff(), nil
}

func (k *Kernel) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	return applySteps(ctx, h, "kernel", d)
}

var _ modules.Module = (*Kernel)(nil)
