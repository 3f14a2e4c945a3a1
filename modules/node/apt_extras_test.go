package node

import (
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// Ansible's apt options on a real host and a signed loopback repository:
// pkg alias, downgrade, dist-upgrade, only_upgrade, autoremove alone and
// with state=absent; each keeps the timeline.
func TestAptAnsibleExtras(t *testing.T) {
	gpgEnv := newGPG(t)
	dir, key := buildRepo(t, gpgEnv, []fakeDeb{
		{Name: "gpuctl-hello", Version: "1.0-1", Depends: "gpuctl-dep", Files: map[string][]byte{"/usr/bin/gpuctl-hello": script("hello 1.0")}},
		{Name: "gpuctl-hello", Version: "2.0-1", Depends: "gpuctl-dep", Files: map[string][]byte{"/usr/bin/gpuctl-hello": script("hello 2.0")}},
		{Name: "gpuctl-dep", Version: "0.1-1"},
	}, "/", "")
	h := moduletest.Start(t, 1)[0]
	url := serve(t, dir, h)
	// Ansible's one-line form, its key put in place as a role would.
	h.TH.Run(t, "mkdir -p /etc/apt/keyrings && cat > /etc/apt/keyrings/gpuctl-line.asc <<'EOF'\n"+key+"\nEOF")
	line := "deb [signed-by=/etc/apt/keyrings/gpuctl-line.asc] " + url + " /"
	h.Timeline(t, "ansible.builtin.apt_repository", map[string]any{"repo": line, "filename": "gpuctl-line"})
	if out := h.TH.Run(t, "cat /etc/apt/sources.list.d/gpuctl-line.list; stat -c %a /etc/apt/sources.list.d/gpuctl-line.list"); out != line+"\n644" {
		t.Fatalf("list file %q", out)
	}
	installed := func() string {
		out := h.TH.Run(t, "dpkg-query -W -f='${Package}=${Version}:${db:Status-Abbrev}\\n' 'gpuctl-*' 2>/dev/null | grep ':ii' || true")
		return strings.ReplaceAll(out, " ", "")
	}

	h.Timeline(t, "ansible.builtin.apt", map[string]any{"pkg": "gpuctl-hello=1.0-1"})
	d := h.Timeline(t, "apt", map[string]any{"upgrade": "dist"})
	if !moduletest.HasChange(d, "package:gpuctl-hello", "version") || installed() != "gpuctl-dep=0.1-1:ii\ngpuctl-hello=2.0-1:ii" {
		t.Errorf("dist-upgrade: %s\n%s", moduletest.Describe(d), installed())
	}
	h.Timeline(t, "apt", map[string]any{"package": "gpuctl-hello=1.0-1", "allow_downgrade": true})
	h.Timeline(t, "apt", map[string]any{"name": "gpuctl-hello", "state": "absent"})
	d = h.Timeline(t, "apt", map[string]any{"autoremove": true})
	if !moduletest.HasChange(d, "package:gpuctl-dep", "") || installed() != "" {
		t.Errorf("autoremove: %s\n%s", moduletest.Describe(d), installed())
	}
	h.NoChange(t, "apt", map[string]any{"name": "gpuctl-hello", "state": "latest", "only_upgrade": true})
	h.Timeline(t, "apt", map[string]any{"name": "gpuctl-hello", "force": true})
	d = h.Timeline(t, "apt", map[string]any{"name": "gpuctl-hello", "state": "absent", "autoremove": true})
	if !moduletest.HasChange(d, "package:gpuctl-dep", "") || installed() != "" {
		t.Errorf("absent with autoremove: %s\n%s", moduletest.Describe(d), installed())
	}

	// autoclean deletes a cached package file apt can no longer download.
	h.TH.Run(t, "touch /var/cache/apt/archives/gpuctl-gone_1.0_all.deb")
	d = h.Timeline(t, "ansible.builtin.apt", map[string]any{"autoclean": true})
	if !moduletest.HasChange(d, "apt-archive:gpuctl-gone_1.0", "") || h.TH.Run(t, "ls /var/cache/apt/archives | grep -c gpuctl-gone || true") != "0" {
		t.Errorf("autoclean: %s", moduletest.Describe(d))
	}

	// Removing the only line removes the file; a commented-out copy of
	// the line elsewhere is enabled where it is, as Ansible does.
	h.Timeline(t, "apt_repository", map[string]any{"repo": line, "state": "absent", "update_cache": false})
	h.TH.Run(t, "printf '# %s  # old\\n' '"+line+"' > /etc/apt/sources.list.d/mine.list")
	h.Timeline(t, "apt_repository", map[string]any{"repo": line, "update-cache": false})
	if out := h.TH.Run(t, "ls /etc/apt/sources.list.d; cat /etc/apt/sources.list.d/mine.list"); out != "debian.sources\nmine.list\n"+line+" # old" {
		t.Errorf("sources.list.d:\n%s", out)
	}
}

// Ansible's _parse and _suggest_filename, on lines checked against
// ansible-core 2.14's own functions.
func TestAnsibleRepoLine(t *testing.T) {
	for _, tc := range []struct{ line, source, file string }{
		{"deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/debian bookworm stable",
			"deb [arch=amd64 signed-by=/etc/apt/keyrings/docker.asc] https://download.docker.com/linux/debian bookworm stable", "download_docker_com_linux_debian.list"},
		{"deb http://user:pw@repo.example.com:8080/debian/ bookworm main contrib", "deb http://user:pw@repo.example.com:8080/debian/ bookworm main contrib", "repo_example_com_8080_debian.list"},
		{"deb-src   https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH)   /", "deb-src https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /", "nvidia_github_io_libnvidia_container_stable_deb_ARCH.list"},
	} {
		r := &AnsibleRepo{Repo: tc.line}
		if err := r.validateRepo(); err != nil {
			t.Fatal(err)
		}
		if r.source != tc.source || r.file() != "/etc/apt/sources.list.d/"+tc.file {
			t.Errorf("%q: source %q file %q", tc.line, r.source, r.file())
		}
	}
	// ppa: as ansible-core 2.14's _expand_ppa and add_source name them.
	for _, tc := range []struct{ repo, codename, source, file string }{
		{"ppa:graphics-drivers/ppa", "jammy", "deb http://ppa.launchpad.net/graphics-drivers/ppa/ubuntu jammy main", "ppa_graphics_drivers_ppa_jammy.list"},
		{"ppa:deadsnakes", "noble", "deb http://ppa.launchpad.net/deadsnakes/ppa/ubuntu noble main", "ppa_deadsnakes_noble.list"},
		{"ppa:ondrej/php", "bookworm", "deb http://ppa.launchpad.net/ondrej/php/ubuntu bookworm main", "ppa_ondrej_php_bookworm.list"},
	} {
		r := &AnsibleRepo{Repo: tc.repo, ValidateCerts: true}
		if err := r.validateRepo(); err != nil {
			t.Fatal(err)
		}
		r.setPPARelease(tc.codename)
		if r.source != tc.source || r.file() != "/etc/apt/sources.list.d/"+tc.file {
			t.Errorf("%q on %s: source %q file %q", tc.repo, tc.codename, r.source, r.file())
		}
		if got := r.ppa.apiURL(); !strings.HasPrefix(got, "https://launchpad.net/api/1.0/~") {
			t.Errorf("%q: API %s", tc.repo, got)
		}
	}
	for line, want := range map[string]srcLine{
		"#deb  http://x  y z # old": {true, false, "deb http://x y z", "old"},
		"  # just a comment":        {false, false, "just a comment", ""},
		"":                          {false, true, "", ""},
		"deb http://a b c #note":    {true, true, "deb http://a b c", "note"},
	} {
		v, e, s, c := parseSourceLine(line)
		if got := (srcLine{v, e, s, c}); got != want {
			t.Errorf("%q: %+v, want %+v", line, got, want)
		}
	}
	for want, args := range map[string]map[string]any{
		"expected a source line":           {"repo": "http://example.com bookworm main"},
		"expected ppa:OWNER/NAME":          {"repo": "ppa:Graphics Drivers/ppa"},
		"a release codename":               {"repo": "ppa:graphics-drivers/ppa", "codename": "jammy main"},
		"validate_certs: false":            {"repo": "ppa:graphics-drivers/ppa", "validate_certs": false},
		"give one of them":                 {"repo": "deb http://a b c", "name": "x"},
		`missing required argument "name"`: {"uris": "http://a"},
		"expected an octal mode":           {"repo": "deb http://a b c", "mode": "rw"},
	} {
		if _, err := modules.New("apt_repository", args); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want %q", args, err, want)
		}
	}
}
