package generic_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/gpuctl/gpuctl/internal/ansibletest"
	"github.com/gpuctl/gpuctl/modules/moduletest"
	"github.com/gpuctl/gpuctl/plan"
)

// The same edits by community.general.ini_file and gpuctl on copies of one
// file: same file, changed and msg.
func TestIniFileLikeAnsible(t *testing.T) {
	const conf = "; pip\n[global]\ntimeout = 60\n#index-url = old\nextra=1\nextra=2\n\n[install]\nuser=false"
	for _, tc := range []struct {
		name, file string
		args       map[string]any
	}{
		{"uncomment and set", conf, map[string]any{"section": "global", "option": "index-url", "value": "https://pypi.internal/simple"}},
		{"same value", conf, map[string]any{"section": "global", "option": "timeout", "value": "60"}},
		{"exclusive values", conf, map[string]any{"section": "global", "option": "extra", "values": []any{"2", "3"}, "no_extra_spaces": true}},
		{"new section", conf, map[string]any{"section": "new", "option": "a", "value": "b", "mode": "0600"}},
		{"remove option", conf, map[string]any{"section": "global", "option": "extra", "state": "absent"}},
		{"remove section", conf, map[string]any{"section": "install", "state": "absent"}},
		{"no section", conf, map[string]any{"option": "top", "value": "1"}},
		{"create", "", map[string]any{"section": "s", "option": "o", "value": "v"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var files [2]string
			var res [2]map[string]any
			for i := range files {
				files[i] = filepath.Join(t.TempDir(), "pip.conf")
				if tc.file != "" {
					write(t, files[i], tc.file, 0o644)
				}
				args := map[string]any{"path": files[i]}
				for k, v := range tc.args {
					args[k] = v
				}
				if i == 0 {
					res[i] = ansibletest.Run(t, "community.general.ini_file", args, false)
					continue
				}
				m := moduletest.New(t, "community.general.ini_file", args)
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
				if d2, err := moduletest.New(t, "ini_file", args).Check(context.Background(), h); err != nil || !d2.Empty() {
					t.Errorf("second run: %v %+v", err, d2.Changes)
				}
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

func TestIniFileHost(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	d := r.Timeline(t, "ini_file", map[string]any{"path": "/etc/pip.conf", "section": "global", "option": "index-url", "value": "https://pypi.internal/simple", "mode": "0644"})
	hasChange(t, d, plan.Create, "content")
	if got := r.Run(t, "cat /etc/pip.conf"); got != "[global]\nindex-url = https://pypi.internal/simple" {
		t.Errorf("host: %q", got)
	}
}

func TestIniFileBadArgs(t *testing.T) {
	moduletest.BadArgs(t, "ini_file", map[string]any{"path": "/x", "section": "s", "option": "o"}, "value(s) must be given")
	moduletest.BadArgs(t, "ini_file", map[string]any{"path": "/x", "option": "o", "value": "1", "values": []any{"2"}}, "mutually exclusive")
	moduletest.BadArgs(t, "ini_file", map[string]any{"dest": "x", "option": "o", "value": "1"}, "must be an absolute path")
}
