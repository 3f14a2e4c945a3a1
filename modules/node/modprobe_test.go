package node

import (
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/internal/testhosts"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// Loading needs a real kernel: a VM. dummy is a module every Debian
// kernel ships and nothing loads by itself.
func TestModprobeVM(t *testing.T) {
	h := moduletest.Start(t, 1, testhosts.VM())[0]
	h.TH.Run(t, "printf 'options dummy numdummies=4\\n' > /etc/modprobe.d/old.conf")
	load := map[string]any{"name": "dummy", "params": "numdummies=2", "persistent": "present"}
	t.Run("load and persist", func(t *testing.T) {
		d := h.Timeline(t, "community.general.modprobe", load)
		for _, r := range []string{"kmod:dummy", "file:/etc/modules-load.d/dummy.conf", "file:/etc/modprobe.d/dummy.conf", "file:/etc/modprobe.d/old.conf"} {
			if !moduletest.HasChange(d, r, "") {
				t.Errorf("no change of %s:\n%s", r, moduletest.Describe(d))
			}
		}
		out := h.TH.Run(t, "ip -o link | grep -c dummy; cat /etc/modules-load.d/dummy.conf /etc/modprobe.d/dummy.conf /etc/modprobe.d/old.conf")
		if out != "2\ndummy\noptions dummy numdummies=2\n#options dummy numdummies=4" {
			t.Errorf("host:\n%s", out)
		}
	})
	t.Run("result", func(t *testing.T) {
		m, err := modules.New("modprobe", load)
		if err != nil {
			t.Fatal(err)
		}
		if r := m.(modules.Resulter).Result(); r["name"] != "dummy" || r["params"] != "numdummies=2" || r["state"] != "present" {
			t.Errorf("result %v", r)
		}
	})
	t.Run("unload and forget", func(t *testing.T) {
		d := h.Timeline(t, "modprobe", map[string]any{"name": "dummy", "state": "absent", "persistent": "absent"})
		if !moduletest.HasChange(d, "kmod:dummy", "loaded") {
			t.Errorf("diff:\n%s", moduletest.Describe(d))
		}
		out := h.TH.Run(t, "grep -c '^dummy ' /proc/modules || true; cat /etc/modules-load.d/dummy.conf /etc/modprobe.d/dummy.conf")
		if out != "0\n#dummy\n#options dummy numdummies=2" {
			t.Errorf("host:\n%s", out)
		}
	})
	t.Run("missing module fails under check", func(t *testing.T) {
		_, err := h.CheckOnly(t, "modprobe", map[string]any{"name": "no_such_module"})
		if err == nil || !strings.Contains(err.Error(), "no_such_module") {
			t.Errorf("check: %v", err)
		}
	})
}

func TestModprobeBadArgs(t *testing.T) {
	for want, args := range map[string]map[string]any{
		`missing required argument "name"`:  {"state": "present"},
		"not a kernel module name":          {"name": "dummy; reboot"},
		"expected one of disabled, present": {"name": "dummy", "persistent": "yes"},
		`"numdummies" is not key=value`:     {"name": "dummy", "params": "numdummies"},
	} {
		_, err := modules.New("community.general.modprobe", args)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want %q", args, err, want)
		}
	}
}
