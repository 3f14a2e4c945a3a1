package generic

import (
	"context"
	"fmt"
	"strings"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

// Ansible roles carry tasks for every OS family and pick one with `when:
// ansible_os_family == ...`. The tasks for families gpuctl does not manage
// must still load, so that a Debian host can run the role; they fail only on
// a host that actually reaches them.
var otherOSModules = []struct{ name, family, instead string }{
	{"yum", "RPM (Red Hat, CentOS, Fedora)", pkgInstead},
	{"dnf", "RPM (Red Hat, CentOS, Fedora)", pkgInstead},
	{"dnf5", "RPM (Fedora)", pkgInstead},
	{"rpm_key", "RPM (Red Hat, CentOS, Fedora)", pkgInstead},
	{"yum_repository", "RPM (Red Hat, CentOS, Fedora)", pkgInstead},
	{"rhsm_repository", "Red Hat", pkgInstead},
	{"redhat_subscription", "Red Hat", pkgInstead},
	{"zypper", "SUSE", pkgInstead},
	{"zypper_repository", "SUSE", pkgInstead},
	{"apk", "Alpine", pkgInstead},
	{"pacman", "Arch Linux", pkgInstead},
	{"portage", "Gentoo", pkgInstead},
	{"pkgng", "FreeBSD", pkgInstead},
	{"openbsd_pkg", "OpenBSD", pkgInstead},
	{"homebrew", "macOS", pkgInstead},
	{"homebrew_tap", "macOS", pkgInstead},
	{"homebrew_cask", "macOS", pkgInstead},
	{"win_package", "Windows", pkgInstead},
	{"win_chocolatey", "Windows", pkgInstead},
	// zabbix's selinux.yml runs only where getenforce says SELinux is on;
	// Debian and Ubuntu confine with AppArmor and ship SELinux off.
	{"seboolean", "SELinux", selinuxInstead},
	{"selinux_permissive", "SELinux", selinuxInstead},
	// kubespray and dev-sec's os_hardening set the SELinux mode, and
	// ssh_hardening and deepops label sshd's port, behind the same kind
	// of condition.
	{"selinux", "SELinux", selinuxInstead},
	{"seport", "SELinux", selinuxInstead},
	// k3s-ansible's prereq role opens its ports with firewalld where the
	// firewalld service runs (Red Hat's default), with ufw where ufw is on.
	{"firewalld", "firewalld", firewalldInstead},
	{"firewalld_info", "firewalld", firewalldInstead},
}

const (
	pkgInstead       = "gpuctl manages packages with apt and package (Debian, Ubuntu)"
	selinuxInstead   = "gpuctl does not manage SELinux (Debian and Ubuntu confine with AppArmor)"
	firewalldInstead = "gpuctl manages the firewall with iptables and ufw (Debian's and Ubuntu's)"
)

func init() {
	for _, m := range otherOSModules {
		m := m
		modules.Register(modules.Info{
			Name:    m.name,
			Summary: "Loads for " + m.family + " branches of a role; fails on any host that reaches it (gpuctl manages Debian and Ubuntu)",
			CheckMode: "Reads /etc/os-release to name the host's OS in the error; a host that reaches the task fails, " +
				"under --check too.",
			Example: `- name: Only runs where the role's condition selects it
  ` + m.name + `: {name: htop}
  when: ansible_os_family == "RedHat"`,
			New: func() modules.Module { return &OtherOS{module: m.name, family: m.family, instead: m.instead} },
		})
	}
}

// OtherOS accepts any arguments: they are Ansible's for an OS family gpuctl
// does not manage, and checking them would only refuse content that a
// Debian host never runs.
type OtherOS struct {
	Args map[string]any `yaml:",remain" doc:"any of the Ansible module's arguments; accepted and not used"`

	module, family, instead string
}

func (m *OtherOS) Validate() error { return nil }

func (m *OtherOS) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	guard := "`when: ansible_os_family == ...`"
	switch m.family {
	case "SELinux":
		guard = "`when: ansible_selinux.status == \"enabled\"`"
	case "firewalld":
		guard = "`when: \"'firewalld.service' in ansible_facts.services\"` (service_facts)"
	}
	return plan.Diff{}, fmt.Errorf("%s is for %s hosts, and this host runs %s; %s "+
		"and does not support %s: guard the task with %s as the role's other branches do",
		m.module, m.family, HostOS(ctx, h), m.instead, m.module, guard)
}

func (m *OtherOS) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	_, err := m.Check(ctx, h)
	return err
}

// HostOS names the host's OS from /etc/os-release, as well as it can.
func HostOS(ctx context.Context, h modules.Host) string {
	b, err := h.Conn().ReadFile(ctx, "/etc/os-release")
	if err != nil {
		return "an OS without /etc/os-release"
	}
	fields := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			fields[k] = strings.Trim(v, `"'`)
		}
	}
	for _, k := range []string{"PRETTY_NAME", "NAME", "ID"} {
		if fields[k] != "" {
			return fields[k]
		}
	}
	return "an unnamed OS"
}

var _ modules.Module = (*OtherOS)(nil)
