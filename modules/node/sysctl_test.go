package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/internal/ansibletest"
	"github.com/gpuctl/gpuctl/internal/testhosts"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// The file edits of ansible.posix.sysctl, run by ansible-core and by
// gpuctl on copies of the same file (runtime off): same file, same
// changed.
func TestSysctlFileLikeAnsible(t *testing.T) {
	const messy = "# kernel tuning\n  ; old style comment\nvm.swappiness = 60\nnet.ipv4.ip_forward=0\n\nvm.swappiness=30\nnot a setting\nfs.file-max =  100000 \n"
	for _, tc := range []struct {
		name string
		file string // "" for a missing file
		args map[string]any
	}{
		{"replace, normalise, drop duplicates", messy, map[string]any{"name": "vm.swappiness", "value": 10}},
		{"same value is no change", messy, map[string]any{"name": "vm.swappiness", "value": "30"}},
		{"append", messy, map[string]any{"name": "kernel.pid_max", "value": "4194304"}},
		{"bool words", messy, map[string]any{"name": "net.ipv4.ip_forward", "value": "yes"}},
		{"absent", messy, map[string]any{"name": "vm.swappiness", "state": "absent"}},
		{"absent and missing", messy, map[string]any{"name": "vm.nothing", "state": "absent"}},
		{"new file", "", map[string]any{"key": "net.ipv4.ip_local_port_range", "val": "32768 60999"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := [2]string{}
			results := [2]bool{}
			for i := range files {
				files[i] = filepath.Join(t.TempDir(), "99-test.conf")
				if tc.file != "" {
					if err := os.WriteFile(files[i], []byte(tc.file), 0o640); err != nil {
						t.Fatal(err)
					}
				}
				args := map[string]any{"sysctl_file": files[i], "reload": false}
				for k, v := range tc.args {
					args[k] = v
				}
				if i == 0 {
					results[i] = ansibletest.Run(t, "ansible.posix.sysctl", args, false)["changed"] == true
					continue
				}
				h := moduletest.Local()
				d, _, err := moduletest.Apply(t, h, "ansible.posix.sysctl", args)
				if err != nil {
					t.Fatal(err)
				}
				results[i] = !d.Empty()
				moduletest.NoChange(t, h, "sysctl", args)
			}
			want, got := readOr(t, files[0]), readOr(t, files[1])
			if got != want || results[0] != results[1] {
				t.Errorf("gpuctl changed=%v:\n%s\nansible changed=%v:\n%s", results[1], got, results[0], want)
			}
			if tc.file != "" && perm(t, files[1]) != 0o640 {
				t.Errorf("mode %v, want the file's own 0640", perm(t, files[1]))
			}
		})
	}
}

func readOr(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if os.IsNotExist(err) {
		return "(missing)"
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func perm(t *testing.T, p string) os.FileMode {
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// The running kernel needs a VM: containers share this machine's kernel.
func TestSysctlVM(t *testing.T) {
	h := moduletest.Start(t, 1, testhosts.VM())[0]
	set := map[string]any{"name": "vm.swappiness", "value": "10", "sysctl_file": "/etc/sysctl.d/90-test.conf", "sysctl_set": true}
	t.Run("file and kernel", func(t *testing.T) {
		d := h.Timeline(t, "ansible.posix.sysctl", set)
		if !moduletest.HasChange(d, "sysctl:vm.swappiness", "value") || !moduletest.HasChange(d, "file:/etc/sysctl.d/90-test.conf", "content") {
			t.Errorf("diff:\n%s", moduletest.Describe(d))
		}
		if out := h.TH.Run(t, "cat /proc/sys/vm/swappiness /etc/sysctl.d/90-test.conf"); out != "10\nvm.swappiness=10" {
			t.Errorf("host %q", out)
		}
	})
	t.Run("kernel drifted: reload puts it back", func(t *testing.T) {
		h.TH.Run(t, "sysctl -qw vm.swappiness=60")
		d := h.Timeline(t, "sysctl", map[string]any{"name": "vm.swappiness", "value": "10", "sysctl_file": "/etc/sysctl.d/90-test.conf"})
		if len(d.Changes) != 1 || !moduletest.HasChange(d, "sysctl:vm.swappiness", "value") {
			t.Errorf("diff:\n%s", moduletest.Describe(d))
		}
	})
	t.Run("multi-word value", func(t *testing.T) {
		h.Timeline(t, "sysctl", map[string]any{"name": "net.ipv4.ip_local_port_range", "value": "20000 40000", "sysctl_file": "/etc/sysctl.d/90-test.conf", "sysctl_set": true})
		if out := h.TH.Run(t, "sysctl -n net.ipv4.ip_local_port_range"); strings.Join(strings.Fields(out), " ") != "20000 40000" {
			t.Errorf("kernel %q", out)
		}
	})
	t.Run("unknown key", func(t *testing.T) {
		args := map[string]any{"name": "net.bridge.bridge-nf-call-arptables", "value": "1", "sysctl_file": "/etc/sysctl.d/91-br.conf"}
		if _, _, err := h.Apply(t, "sysctl", args); err == nil || !strings.Contains(err.Error(), "bridge-nf-call-arptables") {
			t.Errorf("apply without br_netfilter: %v", err)
		}
		args["ignoreerrors"] = true
		moduletest.NoChange(t, h, "sysctl", args) // the file was written by the failed run; the key cannot be set
	})
}

// Without a kernel to touch (reload: false), a container host gets the
// file only, over SSH.
func TestSysctlFileHost(t *testing.T) {
	h := moduletest.Start(t, 1)[0]
	args := map[string]any{"name": "fs.inotify.max_user_watches", "value": 524288, "reload": false}
	d := h.Timeline(t, "ansible.posix.sysctl", args)
	if len(d.Changes) != 1 || !moduletest.HasChange(d, "file:/etc/sysctl.conf", "content") {
		t.Errorf("diff:\n%s", moduletest.Describe(d))
	}
	if out := h.TH.Run(t, "tail -n1 /etc/sysctl.conf; stat -c %a /etc/sysctl.conf"); out != "fs.inotify.max_user_watches=524288\n644" {
		t.Errorf("host %q", out)
	}
}

func TestSysctlBadArgs(t *testing.T) {
	for want, args := range map[string]map[string]any{
		`missing required argument "name"`: {"value": 1},
		"needs a value":                    {"name": "vm.swappiness"},
		"expected a dotted key":            {"name": "swappiness", "value": 1},
		"expected one of present, absent":  {"name": "vm.swappiness", "value": 1, "state": "gone"},
		"must be an absolute path":         {"name": "vm.swappiness", "value": 1, "sysctl_file": "sysctl.conf"},
		`"name" is given twice`:            {"name": "vm.swappiness", "key": "vm.x", "value": 1},
		"not a boolean":                    {"name": "vm.swappiness", "value": 1, "reload": "maybe"},
		"spans several lines":              {"name": "vm.swappiness", "value": "1\n2"},
	} {
		_, err := modules.New("ansible.posix.sysctl", args)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want %q", args, err, want)
		}
	}
}
