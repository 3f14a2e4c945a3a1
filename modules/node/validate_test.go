package node

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/modules"
)

// Bad arguments must fail in modules.New, before any host is touched.
func TestValidate(t *testing.T) {
	key := "-----BEGIN PGP PUBLIC KEY BLOCK-----\nx\n-----END PGP PUBLIC KEY BLOCK-----"
	good := []struct {
		module string
		args   map[string]any
	}{
		{"swap", map[string]any{}},
		{"swap", map[string]any{"state": "absent", "remove_files": true}},
		{"kernel", map[string]any{}},
		{"kernel", map[string]any{"name": "inotify", "modules": []any{}, "sysctls": map[string]any{"fs.inotify.max_user_watches": 524288}}},
		{"apt", map[string]any{"name": []any{"kubelet=1.34.4-1.1", "curl"}, "hold": true, "update_cache": true, "cache_valid_time": 600}},
		{"apt", map[string]any{"name": "curl", "state": "absent", "purge": true}},
		{"apt", map[string]any{"deb": []any{"/tmp/x_1.0_amd64.deb"}}},
		{"apt_repository", map[string]any{"name": "kubernetes", "uris": "https://pkgs.k8s.io/core:/stable:/v1.34/deb/", "suites": "/", "key_url": "https://pkgs.k8s.io/core:/stable:/v1.34/deb/Release.key"}},
		{"apt_repository", map[string]any{"name": "docker", "uris": "https://download.docker.com/linux/ubuntu", "suites": "noble", "components": "stable", "key": key}},
		{"apt_repository", map[string]any{"name": "docker", "state": "absent"}},
		{"containerd", map[string]any{}},
		{"containerd", map[string]any{"source": "docker", "runtimes": []any{map[string]any{"name": "nvidia", "binary": "/usr/bin/nvidia-container-runtime", "default": true}}}},
		{"kubernetes_packages", map[string]any{"version": "1.34.4"}},
		{"kubernetes_packages", map[string]any{"version": "v1.34.4", "source": "binaries", "binaries_dir": "/srv/k8s"}},
		{"kubeadm", map[string]any{"advertise_address": "10.0.0.10", "extra_sans": []any{"k8s.example.com", "10.0.0.11"}, "control_plane_endpoint": "k8s.example.com:6443"}},
		{"kubeadm", map[string]any{"action": "join", "api_server_endpoint": "10.0.0.10:6443", "token": "abcdef.0123456789abcdef", "discovery_token_ca_cert_hash": "sha256:" + strings.Repeat("a", 64)}},
		{"kubeadm", map[string]any{"action": "reset"}},
		{"preflight", map[string]any{"skip": []any{"clock"}, "role": "worker"}},
	}
	for _, tc := range good {
		if _, err := modules.New(tc.module, tc.args); err != nil {
			t.Errorf("%s %v: %v", tc.module, tc.args, err)
		}
	}
	bad := []struct {
		module, why string
		args        map[string]any
	}{
		{"swap", "state present", map[string]any{"state": "present"}},
		{"swap", "relative fstab", map[string]any{"fstab": "fstab"}},
		{"swap", "unknown key", map[string]any{"swapiness": 1}},
		{"kernel", "bad module", map[string]any{"modules": []any{"br netfilter"}}},
		{"kernel", "bad sysctl", map[string]any{"sysctls": map[string]any{"ip_forward": 1}}},
		{"kernel", "bad name", map[string]any{"name": "../etc"}},
		{"apt", "bad name", map[string]any{"name": "Foo Bar"}},
		{"apt", "empty pin", map[string]any{"name": "kubelet="}},
		{"apt", "bad state", map[string]any{"name": "x1", "state": "installed"}},
		{"apt", "relative deb", map[string]any{"deb": "x.deb"}},
		{"apt", "purge without absent", map[string]any{"name": "x1", "purge": true}},
		{"apt_repository", "no name", map[string]any{"uris": "https://x.example/", "suites": "/", "key": key}},
		{"apt_repository", "no key", map[string]any{"name": "x", "uris": "https://x.example/", "suites": "/"}},
		{"apt_repository", "two keys", map[string]any{"name": "x", "uris": "https://x.example/", "suites": "/", "key": key, "key_url": "https://x.example/k"}},
		{"apt_repository", "not armour", map[string]any{"name": "x", "uris": "https://x.example/", "suites": "/", "key": "abc"}},
		{"apt_repository", "flat with components", map[string]any{"name": "x", "uris": "https://x.example/", "suites": "/", "components": "main", "key": key}},
		{"apt_repository", "bad uri", map[string]any{"name": "x", "uris": "x.example", "suites": "/", "key": key}},
		{"containerd", "bad source", map[string]any{"source": "snap"}},
		{"containerd", "two defaults", map[string]any{"runtimes": []any{map[string]any{"name": "a", "default": true}, map[string]any{"name": "b", "default": true}}}},
		{"containerd", "runc", map[string]any{"runtimes": []any{map[string]any{"name": "runc"}}}},
		{"containerd", "relative binary", map[string]any{"runtimes": []any{map[string]any{"name": "nvidia", "binary": "nvidia-container-runtime"}}}},
		{"containerd", "repo for distro", map[string]any{"repo_url": "https://x.example"}},
		{"kubernetes_packages", "no version", map[string]any{}},
		{"kubernetes_packages", "minor only", map[string]any{"version": "1.34"}},
		{"kubernetes_packages", "binaries without dir", map[string]any{"version": "1.34.4", "source": "binaries"}},
		{"kubernetes_packages", "dir for apt", map[string]any{"version": "1.34.4", "binaries_dir": "/x"}},
		{"kubernetes_packages", "pinned name", map[string]any{"version": "1.34.4", "packages": []any{"kubelet=1.2"}}},
		{"kubeadm", "bad cidr", map[string]any{"pod_network_cidr": "10.244.0.0"}},
		{"kubeadm", "bad address", map[string]any{"advertise_address": "node1"}},
		{"kubeadm", "bad action", map[string]any{"action": "upgrade"}},
		{"kubeadm", "join without token", map[string]any{"action": "join", "api_server_endpoint": "10.0.0.10:6443", "unsafe_skip_ca_verification": true}},
		{"kubeadm", "join bad token", map[string]any{"action": "join", "api_server_endpoint": "10.0.0.10:6443", "token": "secret", "unsafe_skip_ca_verification": true}},
		{"kubeadm", "join no ca", map[string]any{"action": "join", "api_server_endpoint": "10.0.0.10:6443", "token": "abcdef.0123456789abcdef"}},
		{"kubeadm", "token for init", map[string]any{"token": "abcdef.0123456789abcdef"}},
		{"kubeadm", "bad cgroup driver", map[string]any{"cgroup_driver": "systemD"}},
		{"preflight", "unknown check", map[string]any{"skip": []any{"gpu"}}},
		{"preflight", "bad port", map[string]any{"ports": []any{70000}}},
	}
	for _, tc := range bad {
		if _, err := modules.New(tc.module, tc.args); err == nil {
			t.Errorf("%s (%s): accepted %v", tc.module, tc.why, tc.args)
		}
	}
}

// The join token must never show: it is a secret argument and the join
// configuration's diff is sensitive.
func TestTokenIsSecret(t *testing.T) {
	args := map[string]any{"action": "join", "api_server_endpoint": "10.0.0.10:6443", "token": "abcdef.0123456789abcdef", "unsafe_skip_ca_verification": true}
	if s := modules.SecretArgs("kubeadm", args); len(s) != 1 || s[0] != "abcdef.0123456789abcdef" {
		t.Fatalf("secret args %v", s)
	}
}

func TestRegistered(t *testing.T) {
	for _, n := range []string{"swap", "kernel", "apt", "apt_repository", "containerd", "kubernetes_packages", "kubeadm", "preflight"} {
		info, ok := modules.Lookup(n)
		if !ok || info.Summary == "" || info.CheckMode == "" || info.Example == "" {
			t.Errorf("%s: incomplete registration", n)
		}
		for _, a := range info.Args() {
			if a.Doc == "" {
				t.Errorf("%s.%s: no doc", n, a.Name)
			}
		}
	}
}

func TestAptExtrasBadArgs(t *testing.T) {
	for want, args := range map[string]map[string]any{
		"expected one of no, yes, safe": {"upgrade": "all"},
		"expected comma-separated":      {"name": "x1", "dpkg_options": "force-confold; rm -rf /"},
		"not a release name":            {"name": "x1", "default_release": "a b"},
		`"name" is given twice`:         {"name": "x1", "pkg": "x2"},
		"purge only applies to state":   {"name": "x1", "purge": true},
	} {
		if _, err := modules.New("apt", args); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want %q", args, err, want)
		}
	}
}

// ansible-core 2.14's apt sets upgrade's and autoremove's defaults before
// required_one_of runs, so a task with no package is accepted: name: []
// (proxysql's empty package lists) is ok with no change, and
// cache_valid_time alone refreshes a cache older than it.
func TestAptNothingToDoIsOK(t *testing.T) {
	for _, args := range []map[string]any{{}, {"name": []any{}}, {"name": []any{}, "state": "present"}} {
		m, err := modules.New("apt", args)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		d, err := m.Check(context.Background(), nil) // nothing to look at: no host call
		if err != nil || !d.Empty() {
			t.Errorf("%v: diff %+v, err %v", args, d, err)
		}
	}
	m, err := modules.New("apt", map[string]any{"cache_valid_time": 14400})
	if err != nil {
		t.Fatal(err)
	}
	if a := m.(*Apt); !a.UpdateCache || a.CacheValidTime != 4*time.Hour {
		t.Errorf("cache_valid_time alone: update_cache %v, valid %v", a.UpdateCache, a.CacheValidTime)
	}
}
