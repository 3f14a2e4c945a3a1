package generic_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/internal/ansibletest"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// ansible-core's find and gpuctl's on one tree: the same files, in the
// same order, with the same fields (atime aside).
func TestFindLikeAnsible(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.tar.gz"), "archive", 0o644)
	write(t, filepath.Join(dir, ".hidden.tar.gz"), "h", 0o600)
	write(t, filepath.Join(dir, "sub", "b.tar.gz"), "needle here\n", 0o640)
	write(t, filepath.Join(dir, "sub", "deep", "c.conf"), "x = needle\n", 0o644)
	write(t, filepath.Join(dir, "big.bin"), string(make([]byte, 4096)), 0o644)
	old := time.Now().Add(-72 * time.Hour)
	if err := os.Chtimes(filepath.Join(dir, "a.tar.gz"), old, old); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("sub", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	h := moduletest.Local()
	for _, args := range []map[string]any{
		{"paths": dir},
		{"paths": dir, "patterns": "*.tar.gz", "recurse": true, "hidden": true},
		{"paths": []any{dir}, "file_type": "any", "recurse": true, "excludes": "*.conf"},
		{"paths": dir, "age": "2d", "recurse": true},
		{"paths": dir, "size": "-1k", "recurse": true, "get_checksum": true},
		{"paths": dir, "contains": "needle", "recurse": true},
		{"paths": dir, "patterns": `^[ab]\.`, "use_regex": true, "recurse": true, "depth": 2},
		{"paths": dir, "file_type": "directory", "recurse": true},
		{"paths": dir, "file_type": "link"},
		{"paths": []any{dir, filepath.Join(dir, "a.tar.gz")}},
	} {
		t.Run(fmt.Sprint(args), func(t *testing.T) {
			want := ansibletest.Run(t, "find", args, false)
			m := moduletest.New(t, "ansible.builtin.find", args)
			d, err := modules.CheckOnly(t.Context(), m, h)
			if err != nil || !d.Empty() {
				t.Fatalf("%v %+v", err, d.Changes)
			}
			got := moduletest.Result(m)
			for _, k := range []string{"matched", "examined", "msg"} {
				if !ansibletest.Same(got[k], want[k]) {
					t.Errorf("%s: %v, ansible %v", k, got[k], want[k])
				}
			}
			gf, wf := got["files"].([]any), want["files"].([]any)
			if len(gf) != len(wf) {
				t.Fatalf("files: %d, ansible %d", len(gf), len(wf))
			}
			for i := range wf {
				g, w := gf[i].(map[string]any), wf[i].(map[string]any)
				if ansibletest.Keys(g) != ansibletest.Keys(w) {
					t.Fatalf("keys %s, ansible %s", ansibletest.Keys(g), ansibletest.Keys(w))
				}
				for k := range w {
					if k != "atime" && !ansibletest.Same(g[k], w[k]) {
						t.Errorf("%s %s: %v, ansible %v", w["path"], k, g[k], w[k])
					}
				}
			}
		})
	}
}

func TestFindHost(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	before := r.TH.Hash(t)
	res := r.NoChange(t, "find", map[string]any{"paths": "/etc/ssh", "patterns": "ssh_host_*_key", "get_checksum": true})
	if res["matched"] != 1 || r.TH.Hash(t) != before {
		t.Errorf("result %v", res)
	}
	f := res["files"].([]any)[0].(map[string]any)
	if f["path"] != "/etc/ssh/ssh_host_ed25519_key" || f["mode"] != "0600" || f["checksum"] != r.Run(t, "sha1sum /etc/ssh/ssh_host_ed25519_key | cut -d' ' -f1") {
		t.Errorf("file %v", f)
	}
}

func TestFindBadArgs(t *testing.T) {
	moduletest.BadArgs(t, "find", map[string]any{}, `missing required argument "paths"`)
	moduletest.BadArgs(t, "find", map[string]any{"paths": "/x", "age": "2 days"}, "expected a number with an optional unit")
	moduletest.BadArgs(t, "find", map[string]any{"paths": "/x", "size": "big"}, "expected a number")
	moduletest.BadArgs(t, "find", map[string]any{"paths": "/x", "patterns": "[", "use_regex": true}, "pattern")
	moduletest.BadArgs(t, "find", map[string]any{"paths": "rel"}, "must be an absolute path")
	moduletest.BadArgs(t, "find", map[string]any{"paths": "/x", "file_type": "socket"}, "expected one of any")
}
