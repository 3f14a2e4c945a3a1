package generic_test

import (
	"context"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
	"github.com/gpuctl/gpuctl/plan"
)

// Other families' modules load with whatever arguments Ansible takes, and
// fail only when a host runs them, naming that host's OS.
func TestOtherOSModules(t *testing.T) {
	args := map[string]any{"name": []any{"htop", "kernel-devel"}, "state": "present", "enablerepo": "epel", "disable_gpg_check": true}
	for _, name := range []string{"yum", "dnf", "rpm_key", "yum_repository", "zypper", "zypper_repository", "apk", "pacman"} {
		m, h, err := checkOnOS(t, name, args, `PRETTY_NAME="Ubuntu 24.04.1 LTS"`+"\nID=ubuntu\n")
		for _, want := range []string{name + " is for", "Ubuntu 24.04.1 LTS", "apt and package"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q lacks %q", name, err, want)
			}
		}
		if err := m.Apply(context.Background(), h, plan.Diff{}); err == nil {
			t.Errorf("%s: apply succeeded", name)
		}
	}
}

// checkOnOS loads the module as the loader would, runs its Check on a host
// whose /etc/os-release says osRelease, and returns Check's error, which
// must not be nil: the host reaches a module it cannot run.
func checkOnOS(t *testing.T, name string, args map[string]any, osRelease string) (modules.Module, *moduletest.Host, error) {
	t.Helper()
	if err := modules.CheckKeys(name, args); err != nil {
		t.Fatalf("%s: loader refused arguments: %v", name, err)
	}
	m, err := modules.New(name, args)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	h := moduletest.Local()
	h.C = osReleaseConn{h.C, osRelease}
	_, err = m.Check(context.Background(), h)
	if err == nil {
		t.Fatalf("%s: a host that reaches it must fail", name)
	}
	return m, h, err
}

// osReleaseConn answers /etc/os-release with its own text.
type osReleaseConn struct {
	conn.Conn
	text string
}

func (c osReleaseConn) ReadFile(ctx context.Context, p string) ([]byte, error) {
	if p == "/etc/os-release" {
		return []byte(c.text), nil
	}
	return c.Conn.ReadFile(ctx, p)
}

// SELinux modules sit in branches a role takes only where SELinux is on
// (zabbix's selinux.yml); they load under every FQCN spelling and fail on
// a host that reaches them, naming its OS and what gpuctl does instead.
func TestSELinuxModulesLoadAndFailOnReach(t *testing.T) {
	for name, args := range map[string]map[string]any{
		"ansible.posix.seboolean":              {"name": "zabbix_can_network", "state": true, "persistent": true},
		"seboolean":                            {"name": "httpd_can_connect_zabbix", "state": "yes"},
		"community.general.selinux_permissive": {"name": "zabbix_agent_t", "permissive": true},
		"community.general.seboolean":          {"name": "x", "state": false},
		"ansible.builtin.selinux_permissive":   {"domain": "x", "permissive": false},
		"ansible.posix.selinux":                {"policy": "targeted", "state": "permissive"},
		"community.general.seport":             {"ports": "2222", "proto": "tcp", "setype": "ssh_port_t", "state": "present"},
	} {
		_, _, err := checkOnOS(t, name, args, `PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"`+"\nID=debian\n")
		for _, want := range []string{modules.Canonical(name) + " is for SELinux hosts", "Debian GNU/Linux 12 (bookworm)", "AppArmor"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error %q lacks %q", name, err, want)
			}
		}
	}
}
