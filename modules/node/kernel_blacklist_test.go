package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/internal/ansibletest"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// Same file and changed as community.general.kernel_blacklist.
func TestKernelBlacklistLikeAnsible(t *testing.T) {
	const conf = "# keep the GPU\nblacklist  nouveau  \n#blacklist rivafb\noptions x y=1\n"
	for _, tc := range []struct {
		name string
		args map[string]any
	}{
		{"present already", map[string]any{"name": "nouveau"}},
		{"add", map[string]any{"name": "rivafb"}},
		{"remove", map[string]any{"name": "nouveau", "state": "absent"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var files [2]string
			var changed [2]bool
			for i := range files {
				files[i] = filepath.Join(t.TempDir(), "blacklist.conf")
				if err := os.WriteFile(files[i], []byte(conf), 0o644); err != nil {
					t.Fatal(err)
				}
				args := map[string]any{"blacklist_file": files[i]}
				for k, v := range tc.args {
					args[k] = v
				}
				if i == 0 {
					changed[i] = ansibletest.Run(t, "community.general.kernel_blacklist", args, false)["changed"] == true
					continue
				}
				h := moduletest.Local()
				d, _, err := moduletest.Apply(t, h, "kernel_blacklist", args)
				if err != nil {
					t.Fatal(err)
				}
				changed[i] = !d.Empty()
				moduletest.NoChange(t, h, "kernel_blacklist", args)
			}
			if got, want := readOr(t, files[1]), readOr(t, files[0]); got != want || changed[0] != changed[1] {
				t.Errorf("gpuctl %v:\n%s\nansible %v:\n%s", changed[1], got, changed[0], want)
			}
		})
	}
}

func TestKernelBlacklistHost(t *testing.T) {
	h := moduletest.Start(t, 1)[0]
	h.Timeline(t, "community.general.kernel_blacklist", map[string]any{"name": "nouveau"})
	if out := h.TH.Run(t, "cat /etc/modprobe.d/blacklist-ansible.conf"); out != "blacklist nouveau" {
		t.Errorf("host %q", out)
	}
	h.NoChange(t, "kernel_blacklist", map[string]any{"name": "other", "state": "absent", "blacklist_file": "/etc/modprobe.d/none.conf"})
	for want, args := range map[string]map[string]any{
		"not a kernel module name": {"name": "a b"},
		"must be an absolute path": {"name": "nouveau", "blacklist_file": "x.conf"},
	} {
		if _, err := modules.New("kernel_blacklist", args); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v", args, err)
		}
	}
}
