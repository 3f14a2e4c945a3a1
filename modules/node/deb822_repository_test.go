package node

import (
	"testing"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// The stanza is ansible-core's deb822_repository output: the arguments
// sorted by name, each under format_field_name's spelling, booleans as
// yes/no, lists joined by spaces, a multi-line value indented with "."
// for its empty lines.
func TestDeb822Stanza(t *testing.T) {
	const key = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEYCQjIxYJKwYBBAHaRw8BAQdAD\n=IE0r\n-----END PGP PUBLIC KEY BLOCK-----\n"
	for _, tc := range []struct {
		name     string
		args     map[string]any
		signedBy string
		want     string
	}{
		{"docker", map[string]any{
			"name": "docker", "types": "deb", "uris": "https://download.docker.com/linux/debian",
			"suites": "bookworm", "components": "stable", "signed_by": "https://download.docker.com/linux/debian/gpg",
		}, "/etc/apt/keyrings/docker.asc",
			"Components: stable\nX-Repolib-Name: docker\nSigned-By: /etc/apt/keyrings/docker.asc\nSuites: bookworm\nTypes: deb\nURIs: https://download.docker.com/linux/debian\n"},
		// ansible-core's test/integration/targets/deb822_repository.
		{"ansible-test focal archive", map[string]any{
			"name": "ansible-test focal archive", "uris": "http://us.archive.ubuntu.com/ubuntu",
			"suites": []any{"focal", "focal-updates"}, "components": []any{"main", "restricted"}, "date_max_future": 10,
		}, "",
			"Components: main restricted\nDate-Max-Future: 10\nX-Repolib-Name: ansible-test focal archive\nSuites: focal focal-updates\nTypes: deb\nURIs: http://us.archive.ubuntu.com/ubuntu\n"},
		{"flat, default type", map[string]any{
			"name": "kubernetes", "uris": "https://pkgs.k8s.io/core:/stable:/v1.30/deb/", "suites": "/",
		}, "",
			"X-Repolib-Name: kubernetes\nSuites: /\nTypes: deb\nURIs: https://pkgs.k8s.io/core:/stable:/v1.30/deb/\n"},
		{"every field", map[string]any{
			"name": "Debian Main", "types": []any{"deb", "deb-src"}, "uris": []any{"http://a/debian", "http://b/debian"},
			"suites": []any{"bookworm", "bookworm-updates"}, "components": []any{"main", "contrib"},
			"architectures": []any{"amd64", "arm64"}, "allow_downgrade_to_insecure": false, "allow_insecure": "yes",
			"allow_weak": false, "by_hash": true, "check_date": "no", "check_valid_until": false, "date_max_future": 10,
			"enabled": true, "inrelease_path": "InRelease", "languages": "en", "pdiffs": false, "targets": []any{"Packages"},
			"trusted": false, "mode": "0600",
		}, "",
			"Allow-Downgrade-To-Insecure: no\nAllow-Insecure: yes\nAllow-Weak: no\nArchitectures: amd64 arm64\nBy-Hash: yes\n" +
				"Check-Date: no\nCheck-Valid-Until: no\nComponents: main contrib\nDate-Max-Future: 10\nEnabled: yes\n" +
				"Inrelease-Path: InRelease\nLanguages: en\nX-Repolib-Name: Debian Main\nPdiffs: no\nSuites: bookworm bookworm-updates\n" +
				"Targets: Packages\nTrusted: no\nTypes: deb deb-src\nURIs: http://a/debian http://b/debian\n"},
		{"inline key", map[string]any{
			"name": "debian", "uris": "https://deb.debian.org", "suites": "stable", "components": "main", "signed_by": key,
		}, key,
			"Components: main\nX-Repolib-Name: debian\nSigned-By:\n    -----BEGIN PGP PUBLIC KEY BLOCK-----\n    .\n" +
				"    mDMEYCQjIxYJKwYBBAHaRw8BAQdAD\n    =IE0r\n    -----END PGP PUBLIC KEY BLOCK-----\n" +
				"Suites: stable\nTypes: deb\nURIs: https://deb.debian.org\n"},
		{"comma-separated list, as Ansible splits a string", map[string]any{
			"name": "x", "uris": "http://a/", "suites": "s", "components": "main,contrib",
		}, "",
			"Components: main contrib\nX-Repolib-Name: x\nSuites: s\nTypes: deb\nURIs: http://a/\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := moduletest.New(t, "deb822_repository", tc.args).(*Deb822Repository)
			if got := m.stanza(tc.signedBy); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// The file names are Ansible's: the name lower-cased, runs of _ and
// white space made one -, anything but [a-z0-9-] dropped.
func TestDeb822Slug(t *testing.T) {
	for name, want := range map[string]string{
		"docker":            "docker",
		"Docker CE":         "docker-ce",
		"my_repo.example":   "my-repoexample",
		"NVIDIA  container": "nvidia-container",
		"a__b c":            "a-b-c",
	} {
		m := &Deb822Repository{Name: name}
		if got := m.slug(); got != want {
			t.Errorf("%q: %q, want %q", name, got, want)
		}
	}
	m := &Deb822Repository{Name: "Docker CE"}
	if m.dest() != "/etc/apt/sources.list.d/docker-ce.sources" || m.keyFile("asc") != "/etc/apt/keyrings/docker-ce.asc" {
		t.Errorf("dest %s key %s", m.dest(), m.keyFile("asc"))
	}
}

// urlScheme is Python's urlsplit scheme rule, which decides whether
// signed_by is downloaded or written in as it is.
func TestURLScheme(t *testing.T) {
	for s, want := range map[string]string{
		"https://download.docker.com/linux/debian/gpg": "https",
		"HTTP://x/k": "http",
		"-----BEGIN PGP PUBLIC KEY BLOCK-----\nVersion: x\n": "",
		"/etc/apt/keyrings/docker.asc":                       "",
		"9DC858229FC7DD38854AE2D88D81803C0EBFCD88":           "",
		"ftp://x/k": "ftp",
		"1abc://x":  "",
	} {
		if got := urlScheme(s); got != want {
			t.Errorf("%q: %q, want %q", s, got, want)
		}
	}
}

func TestDeb822BadArgs(t *testing.T) {
	ok := map[string]any{"name": "docker", "uris": "https://download.docker.com/linux/debian", "suites": "bookworm", "components": "stable"}
	with := func(kv ...any) map[string]any {
		m := map[string]any{}
		for k, v := range ok {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(m, kv[i].(string))
			} else {
				m[kv[i].(string)] = kv[i+1]
			}
		}
		return m
	}
	for want, args := range map[string]map[string]any{
		`missing required argument "name"`:                                  with("name", nil),
		`name "!!!": gives an empty file name`:                              with("name", "!!!"),
		`types: "rpm" is not one of deb, deb-src`:                           with("types", "rpm"),
		`argument "state" is "gone"`:                                        with("state", "gone"),
		"uris is required with state: present":                              with("uris", nil),
		"suites is required with state: present":                            with("suites", nil),
		`suite "/" is an exact path: it takes no components`:                with("suites", "/"),
		`suite "bookworm" needs components`:                                 with("components", nil),
		`signed_by "ftp://x/k": only http and https URLs`:                   with("signed_by", "ftp://x/k"),
		`mode "u=banana"`:                                                   with("mode", "u=banana"),
		"unknown argument: key_url":                                         with("key_url", "https://x/k"),
		`uri "download.docker.com" is not a URL`:                            with("uris", "download.docker.com"),
		`date_max_future`:                                                   with("date_max_future", "soon"),
		`enabled`:                                                           with("enabled", "maybe"),
		`signed_by "relative.asc": not a URL, an absolute path on the host`: with("signed_by", "relative.asc"),
	} {
		moduletest.BadArgs(t, "deb822_repository", args, want)
	}
	// An unquoted YAML 0600 arrives as 384; Ansible reads it as that number.
	if m, err := modules.New("deb822_repository", with("mode", 0o600)); err != nil || m.(*Deb822Repository).Mode != "0600" {
		t.Errorf("mode 0o600: %v", err)
	}
	for _, args := range []map[string]any{
		ok,
		{"name": "docker", "state": "absent"},
		with("signed_by", "/etc/apt/keyrings/docker.asc"),
		with("signed_by", "https://download.docker.com/linux/debian/gpg"),
		with("signed_by", "9DC858229FC7DD38854AE2D88D81803C0EBFCD88"),
		with("mode", 0o600),
		with("types", []any{"deb", "deb-src"}),
	} {
		if _, err := modules.New("ansible.builtin.deb822_repository", args); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
}
