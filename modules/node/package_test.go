package node

import (
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// package is apt on a Debian host: install from a local signed
// repository, then remove with Ansible's synonym.
func TestPackageHost(t *testing.T) {
	gpgEnv := newGPG(t)
	dir, key := buildRepo(t, gpgEnv, []fakeDeb{{Name: "gpuctl-pkg", Version: "1.0-1", Files: map[string][]byte{"/usr/bin/gpuctl-pkg": script("pkg 1.0")}}}, "/", "")
	h := moduletest.Start(t, 1)[0]
	url := serve(t, dir, h)
	if _, _, err := h.Apply(t, "apt_repository", map[string]any{"name": "gpuctl-pkg", "uris": url, "suites": "/", "key": key}); err != nil {
		t.Fatal(err)
	}
	d := h.Timeline(t, "ansible.builtin.package", map[string]any{"name": "gpuctl-pkg", "state": "installed"})
	if !moduletest.HasChange(d, "package:gpuctl-pkg", "version") {
		t.Errorf("diff:\n%s", moduletest.Describe(d))
	}
	if out := h.TH.Run(t, "dpkg-query -W -f '${Status}' gpuctl-pkg"); out != "install ok installed" {
		t.Errorf("dpkg: %q", out)
	}
	h.Timeline(t, "package", map[string]any{"pkg": []any{"gpuctl-pkg"}, "state": "removed"})
	if _, err := h.CheckOnly(t, "package", map[string]any{"name": "gpuctl-pkg", "use": "yum"}); err == nil || !strings.Contains(err.Error(), "Debian GNU/Linux 12") {
		t.Errorf("use: yum on Debian: %v", err)
	}
	// apt's own arguments pass through, as Ansible's package hands them to apt.
	h.Timeline(t, "package", map[string]any{"name": "gpuctl-pkg=1.0-1", "allow_downgrade": true, "install_recommends": false})
	// No name: apt's cache arguments alone, as Ansible's package hands them
	// to apt (geerlingguy.security's converge.yml).
	refresh := map[string]any{"update_cache": true, "cache_valid_time": 600}
	h.NoChange(t, "package", refresh)
	h.TH.Run(t, "touch -d '2 hours ago' "+updateStamp)
	if d := h.Timeline(t, "package", refresh); !moduletest.HasChange(d, "apt:cache", "update") {
		t.Errorf("diff:\n%s", moduletest.Describe(d))
	}
	if _, err := h.CheckOnly(t, "package", map[string]any{"update_cache": true, "update_only": true}); err == nil ||
		!strings.Contains(err.Error(), "does not take update_only (an argument of yum and dnf") {
		t.Errorf("update_only on Debian: %v", err)
	}
	// yum's arguments load, and fail on the Debian host that reaches them.
	if _, err := h.CheckOnly(t, "package", map[string]any{"name": "gpuctl-pkg", "disablerepo": "*", "enablerepo": "zabbix"}); err == nil ||
		!strings.Contains(err.Error(), "does not take disablerepo, enablerepo (an argument of yum and dnf") {
		t.Errorf("disablerepo on Debian: %v", err)
	}
}

func TestPackageBadArgs(t *testing.T) {
	for want, args := range map[string]map[string]any{
		"expected one of present":             {"name": "htop", "state": "purged"},
		"not a valid Debian package name":     {"name": "Bad_Name!"},
		"unknown argument: instal_recommends": {"name": "htop", "instal_recommends": true},
		"cache_valid_time":                    {"name": "htop", "cache_valid_time": "soon"},
	} {
		if _, err := modules.New("package", args); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want %q", args, err, want)
		}
	}
}

// Arguments of other backends load (a role's RedHat branch), apt's too.
func TestPackageOtherBackendArgsLoad(t *testing.T) {
	for _, args := range []map[string]any{
		{"name": "zabbix-agent", "disablerepo": "*", "enablerepo": []any{"zabbix"}, "state": "present"},
		{"name": "sops", "allow_downgrade": true, "update_cache": true},
		// geerlingguy.security's converge.yml: apt's arguments without name.
		{"update_cache": true, "cache_valid_time": 600},
		{"state": "present"},
	} {
		if _, err := modules.New("ansible.builtin.package", args); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
}
