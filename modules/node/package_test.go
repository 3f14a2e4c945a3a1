package node

import (
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules"
)

// package is apt on a Debian host: install from a local signed
// repository, then remove with Ansible's synonym.
func TestPackageHost(t *testing.T) {
	gpgEnv := newGPG(t)
	dir, key := buildRepo(t, gpgEnv, []fakeDeb{{Name: "gpuctl-pkg", Version: "1.0-1", Files: map[string][]byte{"/usr/bin/gpuctl-pkg": script("pkg 1.0")}}}, "/", "")
	h := startHosts(t, 1)[0]
	url := serve(t, dir, h)
	if _, err := apply(t, h, "apt_repository", map[string]any{"name": "gpuctl-pkg", "uris": url, "suites": "/", "key": key}); err != nil {
		t.Fatal(err)
	}
	d := timeline(t, h, "ansible.builtin.package", map[string]any{"name": "gpuctl-pkg", "state": "installed"})
	if !hasChange(d, "package:gpuctl-pkg", "version") {
		t.Errorf("diff:\n%s", describe(d))
	}
	if out := h.th.Run(t, "dpkg-query -W -f '${Status}' gpuctl-pkg"); out != "install ok installed" {
		t.Errorf("dpkg: %q", out)
	}
	timeline(t, h, "package", map[string]any{"pkg": []any{"gpuctl-pkg"}, "state": "removed"})
	if _, err := checkOnly(t, h, "package", map[string]any{"name": "gpuctl-pkg", "use": "yum"}); err == nil || !strings.Contains(err.Error(), "Debian GNU/Linux 12") {
		t.Errorf("use: yum on Debian: %v", err)
	}
}

func TestPackageBadArgs(t *testing.T) {
	for want, args := range map[string]map[string]any{
		`missing required argument "name"`: {"state": "present"},
		"expected one of present":          {"name": "htop", "state": "purged"},
		"not a valid Debian package name":  {"name": "Bad_Name!"},
	} {
		if _, err := modules.New("package", args); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want %q", args, err, want)
		}
	}
}
