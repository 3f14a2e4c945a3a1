package facts

import (
	"strings"
)

var (
	// Virt is what systemd-detect-virt finds: the container technology
	// when in one, else the hypervisor, else "none".
	Virt = &Fact[Virtualization]{Name: "virtualization",
		Cmd: `if command -v systemd-detect-virt >/dev/null; then c=$(systemd-detect-virt -c); v=$(systemd-detect-virt -v)
else [ -e /.dockerenv ] && c=docker; [ -e /run/.containerenv ] && c=podman; fi
echo "${c:-none} ${v:-none}"`,
		Parse: ParseVirt}
	// Init is the name of PID 1 and whether systemd booted the host.
	Init = &Fact[string]{Name: "service_mgr", Cmd: "cat /proc/1/comm; [ -d /run/systemd/system ] && echo systemd-booted", Parse: ParseServiceMgr}
	// SELinux is whether SELinux is enabled: libselinux's
	// is_selinux_enabled asks whether selinuxfs is mounted, and the kernel
	// mounts it only then. Read only when a task needs it (file modules'
	// seuser/setype), not gathered with the base facts.
	SELinux = &Fact[bool]{Name: "selinux_enabled", File: "/sys/fs/selinux/enforce",
		Parse: func([]byte) (bool, error) { return true, nil }}
	// PkgTools lists the package managers installed, for pkg_mgr.
	PkgTools = &Fact[[]string]{Name: "pkg_tools", Cmd: "for p in apt-get dnf yum zypper apk pacman; do command -v $p >/dev/null && echo $p; done",
		Parse: func(b []byte) ([]string, error) { return strings.Fields(string(b)), nil }}
)

// Virtualization is ansible_virtualization_type and _role.
type Virtualization struct {
	Container string // systemd-nspawn, docker, lxc, podman, or none
	VM        string // kvm, vmware, microsoft, or none
}

// ParseVirt reads "container vm" as the Virt command prints them.
func ParseVirt(b []byte) (Virtualization, error) {
	f := strings.Fields(string(b))
	v := Virtualization{Container: "none", VM: "none"}
	if len(f) > 0 {
		v.Container = f[0]
	}
	if len(f) > 1 {
		v.VM = f[1]
	}
	return v, nil
}

// ansibleVirt names the technologies as Ansible's linux virtual facts do.
var ansibleVirt = map[string]string{
	"oracle": "virtualbox", "microsoft": "VirtualPC", "vmware": "VMware", "xen": "xen", "qemu": "kvm",
	"amazon": "kvm", "container-other": "container", "lxc-libvirt": "lxc",
}

// Type is ansible_virtualization_type: the container when in one (what the
// host's processes see first), else the hypervisor, else "NA".
func (v Virtualization) Type() string {
	for _, t := range []string{v.Container, v.VM} {
		if t != "none" && t != "" {
			if a, ok := ansibleVirt[t]; ok {
				return a
			}
			return t
		}
	}
	return "NA"
}

// Role is ansible_virtualization_role: "guest" inside a VM or container,
// else "NA" (Ansible says "host" only where it finds a hypervisor running).
func (v Virtualization) Role() string {
	if v.Type() == "NA" {
		return "NA"
	}
	return "guest"
}

// Guests lists ansible_virtualization_tech_guest: "container" before the
// container technology, as Ansible lists them.
func (v Virtualization) Guests() []any {
	out := []any{}
	if v.Container != "none" && v.Container != "" {
		out = append(out, "container", v.nameOf(v.Container))
	}
	if v.VM != "none" && v.VM != "" {
		out = append(out, v.nameOf(v.VM))
	}
	return out
}

func (Virtualization) nameOf(t string) string {
	if a, ok := ansibleVirt[t]; ok {
		return a
	}
	return t
}

// ParseServiceMgr reads PID 1's name and the systemd-booted marker, as
// Ansible's service_mgr facts decide: PID 1's name unless it is a plain init
// or a shell, then systemd when it booted the host, else sysvinit.
func ParseServiceMgr(b []byte) (string, error) {
	l := strings.Fields(string(b))
	booted := len(l) > 1 && l[len(l)-1] == "systemd-booted"
	if len(l) > 0 && l[0] != "init" && !strings.HasSuffix(l[0], "sh") && l[0] != "systemd-booted" {
		switch l[0] {
		case "runit-init":
			return "runit", nil
		case "openrc-init":
			return "openrc", nil
		}
		return l[0], nil
	}
	switch {
	case booted:
		return "systemd", nil
	case len(l) > 0 && l[0] == "init":
		return "sysvinit", nil
	}
	return "service", nil
}

// PkgMgr is ansible_pkg_mgr: by OS family first, as Ansible does, else the
// first package manager found.
func PkgMgr(os OSRelease, tools []string) string {
	has := func(t string) bool {
		for _, x := range tools {
			if x == t {
				return true
			}
		}
		return false
	}
	switch os.Family() {
	case "Debian":
		return "apt"
	case "RedHat":
		if has("dnf") {
			return "dnf"
		}
		return "yum"
	case "Suse":
		return "zypper"
	case "Alpine":
		return "apk"
	case "Archlinux":
		return "pacman"
	}
	for _, t := range tools {
		if t == "apt-get" {
			return "apt"
		}
		return t
	}
	return "unknown"
}
