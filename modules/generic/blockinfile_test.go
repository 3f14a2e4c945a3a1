package generic_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/gpuctl/gpuctl/internal/ansibletest"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
	"github.com/gpuctl/gpuctl/plan"
)

// The same edits by ansible-core and gpuctl on copies of one file: same
// file, same changed, same msg.
func TestBlockInFileLikeAnsible(t *testing.T) {
	const hosts = "127.0.0.1 localhost\n# BEGIN ANSIBLE MANAGED BLOCK\n10.0.0.1 old\n# END ANSIBLE MANAGED BLOCK\n::1 localhost"
	const plain = "[a]\nx=1\n[b]\ny=2\n"
	for _, tc := range []struct {
		name, file string
		args       map[string]any
	}{
		{"replace between markers", hosts, map[string]any{"block": "10.0.0.10 cp-1\n10.0.0.11 gpu-1"}},
		{"same block", hosts, map[string]any{"block": "10.0.0.1 old\n"}},
		{"remove", hosts, map[string]any{"state": "absent"}},
		{"empty block removes", hosts, map[string]any{"content": ""}},
		{"insertafter regexp", plain, map[string]any{"block": "z=3", "insertafter": `^\[a\]`, "marker": "; {mark} gpuctl"}},
		{"insertbefore BOF and mode", plain, map[string]any{"block": "top", "insertbefore": "BOF", "mode": "0600"}},
		{"create", "", map[string]any{"block": "k=v", "create": true, "marker_begin": "START", "marker_end": "STOP"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var files [2]string
			var res [2]map[string]any
			for i := range files {
				files[i] = filepath.Join(t.TempDir(), "f")
				if tc.file != "" {
					write(t, files[i], tc.file, 0o644)
				}
				args := map[string]any{"path": files[i]}
				for k, v := range tc.args {
					args[k] = v
				}
				if i == 0 {
					res[i] = ansibletest.Run(t, "blockinfile", args, false)
					continue
				}
				m := moduletest.New(t, "ansible.builtin.blockinfile", args)
				h := moduletest.Local()
				d, err := m.Check(context.Background(), h)
				if err == nil && !d.Empty() {
					err = m.Apply(context.Background(), h, d)
				}
				if err != nil {
					t.Fatal(err)
				}
				res[i] = moduletest.Result(m)
				res[i]["changed"] = !d.Empty()
			}
			got, want := read(t, files[1]), read(t, files[0])
			if got != want || res[1]["changed"] != res[0]["changed"] || res[1]["msg"] != res[0]["msg"] {
				t.Errorf("gpuctl %v:\n%s\nansible %v %v:\n%s", res[1], got, res[0]["changed"], res[0]["msg"], want)
			}
			if perm(t, files[1]) != perm(t, files[0]) {
				t.Errorf("mode %v, ansible %v", perm(t, files[1]), perm(t, files[0]))
			}
		})
	}
}

func TestBlockInFileHost(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	args := map[string]any{"path": "/etc/hosts", "marker": "# {mark} gpuctl cluster", "block": "10.0.0.10 cp-1\n", "backup": true}
	d := r.Timeline(t, "blockinfile", args)
	hasChange(t, d, plan.Update, "content")
	if got := r.Run(t, "tail -n3 /etc/hosts; ls /etc/hosts.*~ | wc -l"); got != "# BEGIN gpuctl cluster\n10.0.0.10 cp-1\n# END gpuctl cluster\n1" {
		t.Errorf("host:\n%s", got)
	}
	args["state"] = "absent"
	r.Timeline(t, "blockinfile", args)
	if got := r.Run(t, "grep -c gpuctl /etc/hosts || true"); got != "0" {
		t.Errorf("block left: %s", got)
	}
	_, err := modules.CheckOnly(context.Background(), moduletest.New(t, "blockinfile", map[string]any{"path": "/etc/nope", "block": "x"}), r.Host)
	if err == nil {
		t.Error("missing file without create: no error")
	}
}

func TestBlockInFileBadArgs(t *testing.T) {
	moduletest.BadArgs(t, "blockinfile", map[string]any{"block": "x"}, `missing required argument "path"`)
	moduletest.BadArgs(t, "blockinfile", map[string]any{"path": "/x", "insertafter": "a", "insertbefore": "b"}, "mutually exclusive")
	moduletest.BadArgs(t, "blockinfile", map[string]any{"path": "/x", "insertafter": "(["}, "insertafter/insertbefore")
	moduletest.BadArgs(t, "blockinfile", map[string]any{"path": "/x", "block": "a", "content": "b"}, "given twice")
	moduletest.BadArgs(t, "blockinfile", map[string]any{"path": "/x", "validate": "visudo"}, "must contain %s")
}
