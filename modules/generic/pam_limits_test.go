package generic_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/gpuctl/gpuctl/internal/ansibletest"
	"github.com/gpuctl/gpuctl/modules/moduletest"
	"github.com/gpuctl/gpuctl/plan"
)

// The same edits by community.general.pam_limits and gpuctl on copies of
// one file: same file, changed and msg.
func TestPamLimitsLikeAnsible(t *testing.T) {
	const conf = "# /etc/security/limits.conf\n#\n*  soft  core  0\nmongodb  -  nofile  1024 # raised\n@gpu hard memlock unlimited\n\nroot soft nproc 100\n"
	for _, tc := range []struct {
		name, file string
		args       map[string]any
	}{
		{"same value", conf, map[string]any{"domain": "*", "limit_type": "soft", "limit_item": "core", "value": "0"}},
		{"change, comment carried", conf, map[string]any{"domain": "mongodb", "limit_type": "-", "limit_item": "nofile", "value": "64000"}},
		{"append with comment", conf, map[string]any{"domain": "mongodb", "limit_type": "-", "limit_item": "nproc", "value": "64000", "comment": "mongo"}},
		{"use_max keeps larger", conf, map[string]any{"domain": "mongodb", "limit_type": "-", "limit_item": "nofile", "value": "512", "use_max": true}},
		{"use_max takes unlimited", conf, map[string]any{"domain": "mongodb", "limit_type": "-", "limit_item": "nofile", "value": "unlimited", "use_max": true}},
		{"use_min keeps smaller", conf, map[string]any{"domain": "@gpu", "limit_type": "hard", "limit_item": "memlock", "value": "65536", "use_min": true}},
		{"use_min of two unlimited", conf, map[string]any{"domain": "@gpu", "limit_type": "hard", "limit_item": "memlock", "value": "infinity", "use_min": true}},
		{"nice", conf, map[string]any{"domain": "root", "limit_type": "soft", "limit_item": "nice", "value": "-5"}},
		{"create", "", map[string]any{"domain": "*", "limit_type": "hard", "limit_item": "nofile", "value": "1048576"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var files [2]string
			var res [2]map[string]any
			for i := range files {
				files[i] = filepath.Join(t.TempDir(), "limits.conf")
				if tc.file != "" {
					write(t, files[i], tc.file, 0o644)
				}
				args := map[string]any{"dest": files[i]}
				for k, v := range tc.args {
					args[k] = v
				}
				if i == 0 {
					res[i] = ansibletest.Run(t, "community.general.pam_limits", args, false)
					continue
				}
				m := moduletest.New(t, "community.general.pam_limits", args)
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
				if d2, err := moduletest.New(t, "pam_limits", args).Check(context.Background(), h); err != nil || !d2.Empty() {
					t.Errorf("second run: %v %+v", err, d2.Changes)
				}
			}
			got, want := read(t, files[1]), read(t, files[0])
			if got != want || res[1]["changed"] != res[0]["changed"] || res[1]["msg"] != res[0]["msg"] {
				t.Errorf("gpuctl %v %q:\n%s\nansible %v %q:\n%s", res[1]["changed"], res[1]["msg"], got, res[0]["changed"], res[0]["msg"], want)
			}
		})
	}
}

// A last line without newline: Ansible glues the new line to it (and
// appends again on each run); gpuctl ends that line first.
func TestPamLimitsNoTrailingNewline(t *testing.T) {
	f := filepath.Join(t.TempDir(), "limits.conf")
	write(t, f, "root soft nproc 100", 0o644)
	args := map[string]any{"dest": f, "domain": "*", "limit_type": "-", "limit_item": "nofile", "value": "8"}
	h := moduletest.Local()
	m := moduletest.New(t, "pam_limits", args)
	d, err := m.Check(context.Background(), h)
	if err == nil {
		err = m.Apply(context.Background(), h, d)
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := read(t, f); got != "root soft nproc 100\n*\t-\tnofile\t8\n" {
		t.Fatalf("file %q", got)
	}
	if d2, err := moduletest.New(t, "pam_limits", args).Check(context.Background(), h); err != nil || !d2.Empty() {
		t.Fatalf("second run: %v %+v", err, d2.Changes)
	}
}

func TestPamLimitsHost(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	d := r.Timeline(t, "pam_limits", map[string]any{"domain": "mongodb", "limit_type": "-", "limit_item": "nofile", "value": "64000"}, "/etc/security/limits.conf")
	hasChange(t, d, plan.Update, "content")
	if got := r.Run(t, "tail -n1 /etc/security/limits.conf"); got != "mongodb\t-\tnofile\t64000" {
		t.Errorf("host: %q", got)
	}
}

func TestPamLimitsBadArgs(t *testing.T) {
	ok := map[string]any{"domain": "*", "limit_type": "soft", "limit_item": "nofile", "value": "10"}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for a, b := range ok {
			m[a] = b
		}
		m[k] = v
		return m
	}
	moduletest.BadArgs(t, "pam_limits", with("value", "lots"), "must be unlimited, infinity, -1 or a limit")
	n := with("limit_item", "nice")
	n["value"] = "30"
	moduletest.BadArgs(t, "pam_limits", n, "from -20 to 19")
	moduletest.BadArgs(t, "pam_limits", with("limit_type", "both"), "expected one of")
	moduletest.BadArgs(t, "pam_limits", with("dest", "limits.conf"), "must be an absolute path")
	m := with("use_max", true)
	m["use_min"] = true
	moduletest.BadArgs(t, "pam_limits", m, "use_min and use_max")
}
