package generic_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/gpuctl/gpuctl/internal/ansibletest"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// statOf runs gpuctl's stat in check mode (where it must work too) and
// returns what it registers under stat.
func statOf(t *testing.T, h modules.Host, args map[string]any) map[string]any {
	t.Helper()
	m := moduletest.New(t, "stat", args)
	d, err := modules.CheckOnly(context.Background(), m, h)
	if err != nil {
		t.Fatal(err)
	}
	if !d.Empty() {
		t.Fatalf("stat reported changes: %+v", d.Changes)
	}
	return moduletest.Result(m)["stat"].(map[string]any)
}

// The same files, stat'ed by ansible-core and by gpuctl: every key and
// value is the same (atime aside: reading a file for its checksum may
// move it).
func TestStatLikeAnsible(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "app.conf")
	write(t, f, "a=1\n", 0o4640)
	if err := os.Symlink("app.conf", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("gone", filepath.Join(dir, "dangling")); err != nil {
		t.Fatal(err)
	}
	h := moduletest.Local()
	for _, args := range []map[string]any{
		{"path": f},
		{"path": f, "checksum_algorithm": "sha256", "get_md5": true},
		{"path": filepath.Join(dir, "link")},
		{"path": filepath.Join(dir, "link"), "follow": true},
		{"path": filepath.Join(dir, "dangling"), "follow": true},
		{"path": "/dev/null", "get_mime": false, "get_attributes": false},
	} {
		t.Run(fmt.Sprint(args), func(t *testing.T) {
			want := ansibletest.Run(t, "stat", args, false)["stat"].(map[string]any)
			got := statOf(t, h, args)
			if ansibletest.Keys(got) != ansibletest.Keys(want) {
				t.Fatalf("keys:\n got %s\nwant %s", ansibletest.Keys(got), ansibletest.Keys(want))
			}
			for k, w := range want {
				if k == "atime" {
					continue
				}
				if !ansibletest.Same(got[k], w) {
					t.Errorf("%s: got %v (%T), want %v (%T)", k, got[k], got[k], w, w)
				}
			}
		})
	}
}

// On a real Debian host over SSH: check mode and a run change nothing,
// and the values are the host's.
func TestStatHost(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	r.Run(t, "mkdir -p /srv/s && printf 'x\\n' > /srv/s/f && chmod 0600 /srv/s/f && chown nobody:nogroup /srv/s/f && ln -s f /srv/s/l")
	before := r.TH.Hash(t, "/srv")
	st := statOf(t, r.Host, map[string]any{"path": "/srv/s/f", "checksum_algorithm": "sha256"})
	if st["exists"] != true || st["mode"] != "0600" || st["pw_name"] != "nobody" || st["gr_name"] != "nogroup" ||
		st["size"] != int64(2) || st["checksum"] != r.Run(t, "sha256sum /srv/s/f | cut -d' ' -f1") || st["isreg"] != true {
		t.Errorf("stat %v", st)
	}
	res := r.NoChange(t, "stat", map[string]any{"path": "/srv/s/l"})["stat"].(map[string]any)
	if res["islnk"] != true || res["lnk_target"] != "f" || res["lnk_source"] != "/srv/s/f" || res["checksum"] != nil {
		t.Errorf("link %v", res)
	}
	if r.TH.Hash(t, "/srv") != before {
		t.Error("stat changed the host")
	}
	if st := statOf(t, r.Host, map[string]any{"path": "/nope"}); len(st) != 1 || st["exists"] != false {
		t.Errorf("missing %v", st)
	}
}

func TestStatBadArgs(t *testing.T) {
	moduletest.BadArgs(t, "stat", map[string]any{}, `missing required argument "path"`)
	moduletest.BadArgs(t, "stat", map[string]any{"path": "rel"}, "must be an absolute path")
	moduletest.BadArgs(t, "stat", map[string]any{"path": "/x", "checksum_algorithm": "crc"}, "expected one of md5")
	moduletest.BadArgs(t, "ansible.builtin.stat", map[string]any{"path": "/x", "name": "/y"}, "given twice")
	moduletest.BadArgs(t, "stat", map[string]any{"path": "/x", "bogus": 1}, "unknown argument")
}
