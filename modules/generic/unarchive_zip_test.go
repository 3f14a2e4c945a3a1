package generic_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/internal/ansibletest"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

type zipEntry struct {
	name, body string
	mode       fs.FileMode
}

// appZip is tgz's tree as a zip made on Unix: app-1.0/{bin/app (0755),
// etc/app.conf (0640), README, link -> README}.
var appZip = []zipEntry{
	{"app-1.0/", "", fs.ModeDir | 0o755},
	{"app-1.0/bin/", "", fs.ModeDir | 0o755},
	{"app-1.0/bin/app", "#!/bin/sh\necho app\n", 0o755},
	{"app-1.0/etc/", "", fs.ModeDir | 0o755},
	{"app-1.0/etc/app.conf", "port=80\n", 0o640},
	{"app-1.0/README", "read me\n", 0o644},
	{"app-1.0/link", "README", fs.ModeSymlink | 0o777},
}

func makeZip(t *testing.T, entries []zipEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	mt := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: mt}
		h.SetMode(e.mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeZip(t *testing.T, entries []zipEntry) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "app.zip")
	if err := os.WriteFile(p, makeZip(t, entries), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A controller zip on the local host: the timeline, the tree as the
// archive has it (contents, modes, mtimes, the link), then one changed
// member is one change, and a touched one only its mtime.
func TestUnarchiveZip(t *testing.T) {
	archive := writeZip(t, appZip)
	dest := t.TempDir()
	h := moduletest.Local()
	args := map[string]any{"src": archive, "dest": dest, "list_files": true}
	d, m := moduletest.TimelineModule(t, h, func() string { return moduletest.Snapshot(t, dest) }, "unarchive", args)
	if len(d.Changes) != 7 {
		t.Errorf("first check: %d changes, want one per member:\n%s", len(d.Changes), moduletest.Describe(d))
	}
	want := "app-1.0 drwxr-xr-x\n" +
		"app-1.0/README -rw-r--r-- 2025-03-01T12:00:00Z \"read me\\n\"\n" +
		"app-1.0/bin drwxr-xr-x\n" +
		"app-1.0/bin/app -rwxr-xr-x 2025-03-01T12:00:00Z \"#!/bin/sh\\necho app\\n\"\n" +
		"app-1.0/etc drwxr-xr-x\n" +
		"app-1.0/etc/app.conf -rw-r----- 2025-03-01T12:00:00Z \"port=80\\n\"\n" +
		"app-1.0/link Lrwxrwxrwx -> README\n"
	if got := tree(t, dest); got != want {
		t.Errorf("tree:\n%s\nwant:\n%s", got, want)
	}
	res := moduletest.Result(m)
	if files, _ := res["files"].([]string); len(files) != 7 || files[2] != "app-1.0/bin/app" || res["handler"] != "ZipArchive" {
		t.Errorf("result %v", res)
	}
	conf := filepath.Join(dest, "app-1.0/etc/app.conf")
	if err := os.WriteFile(conf, []byte("port=81\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	d = moduletest.Timeline(t, h, dest, "unarchive", args)
	if len(d.Changes) != 1 || d.Changes[0].Field != "sha256" || d.Changes[0].Resource != "file:"+conf {
		t.Errorf("changed member:\n%s", moduletest.Describe(d))
	}
	now := time.Now()
	if err := os.Chtimes(conf, now, now); err != nil {
		t.Fatal(err)
	}
	d = moduletest.Timeline(t, h, dest, "unarchive", args)
	if len(d.Changes) != 1 || d.Changes[0].Field != "mtime" {
		t.Errorf("touched member:\n%s", moduletest.Describe(d))
	}
	// keep_newer: the host's newer file stays.
	if err := os.WriteFile(conf, []byte("mine\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	moduletest.NoChange(t, h, "unarchive", map[string]any{"src": archive, "dest": dest, "keep_newer": true})
}

// include, exclude (fnmatch: * matches /), mode and a zip without folder
// entries (their folders are made, and get mode as Ansible's top folders do).
func TestUnarchiveZipSelect(t *testing.T) {
	archive := writeZip(t, appZip[2:])
	for _, tc := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"include": []any{"*/bin/*"}}, "app-1.0 drwxr-xr-x\napp-1.0/bin drwxr-xr-x\napp-1.0/bin/app -rwxr-xr-x"},
		{map[string]any{"exclude": []any{"*.conf", "app-1.0/l?nk"}}, "app-1.0 drwxr-xr-x\napp-1.0/README -rw-r--r--\napp-1.0/bin drwxr-xr-x\napp-1.0/bin/app -rwxr-xr-x\napp-1.0/etc drwxr-xr-x"},
		{map[string]any{"include": []any{"*/README"}, "mode": "0600"}, "app-1.0 drw-------\napp-1.0/README -rw-------"},
		{map[string]any{"include": []any{"*/bin/app"}, "mode": "go-rx"}, "app-1.0 drwx------\napp-1.0/bin drwx------\napp-1.0/bin/app -rwx------"},
	} {
		t.Run(fmt.Sprint(tc.args), func(t *testing.T) {
			dest := t.TempDir()
			args := map[string]any{"src": archive, "dest": dest}
			for k, v := range tc.args {
				args[k] = v
			}
			moduletest.Timeline(t, moduletest.Local(), dest, "unarchive", args)
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(tree(t, dest)), "\n") {
				f := strings.Fields(l)
				got = append(got, f[0]+" "+f[1])
			}
			if g := strings.Join(got, "\n"); g != tc.want {
				t.Errorf("tree:\n%s\nwant:\n%s", g, tc.want)
			}
		})
	}
}

// Members that would land outside dest are refused before anything is
// written.
func TestUnarchiveZipSlip(t *testing.T) {
	for _, tc := range []struct {
		entries []zipEntry
		want    string
	}{
		{[]zipEntry{{"ok", "x", 0o644}, {"../evil", "x", 0o644}}, "climbs out of dest"},
		{[]zipEntry{{"ok", "x", 0o644}, {"a/../../evil", "x", 0o644}}, "climbs out of dest"},
		{[]zipEntry{{"/tmp/evil", "x", 0o644}}, "absolute path"},
		{[]zipEntry{{`..\evil`, "x", 0o644}}, "climbs out of dest"},
		{[]zipEntry{{"l", "/tmp", fs.ModeSymlink | 0o777}, {"l/evil", "x", 0o644}}, "under the archive's symlink l"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			dest := t.TempDir()
			before := moduletest.Snapshot(t, dest)
			_, _, err := moduletest.Apply(t, moduletest.Local(), "unarchive", map[string]any{"src": writeZip(t, tc.entries), "dest": dest})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "app.zip") {
				t.Errorf("err %v, want one naming app.zip and %q", err, tc.want)
			}
			if after := moduletest.Snapshot(t, dest); after != before {
				t.Errorf("dest changed:\n%s", after)
			}
		})
	}
}

func TestUnarchiveZipBadArgs(t *testing.T) {
	// A zip not named .zip passes Validate; its contents give it away.
	unnamed := filepath.Join(t.TempDir(), "app.pkg")
	if err := os.Rename(writeZip(t, appZip), unnamed); err != nil {
		t.Fatal(err)
	}
	_, _, err := moduletest.Apply(t, moduletest.Local(), "unarchive", map[string]any{"src": unnamed, "dest": t.TempDir(), "extra_opts": "-j"})
	if err == nil || !strings.Contains(err.Error(), "extra_opts are tar options") {
		t.Errorf("extra_opts on a zip: %v", err)
	}
	_, _, err = moduletest.Apply(t, moduletest.Local(), "unarchive", map[string]any{"src": writeZip(t, appZip), "dest": "/nonexistent-gpuctl"})
	if err == nil || !strings.Contains(err.Error(), "must be an existing directory") {
		t.Errorf("missing dest: %v", err)
	}
}

// A zip on the host (remote_src) goes through the host's unzip: here the
// local machine's, when it has one.
func TestUnarchiveUnzipLocal(t *testing.T) {
	if _, err := exec.LookPath("unzip"); err != nil {
		t.Skip("no unzip on this machine")
	}
	archive := writeZip(t, appZip)
	dest := t.TempDir()
	h := moduletest.Local()
	args := map[string]any{"src": archive, "dest": dest, "remote_src": true}
	moduletest.Timeline(t, h, dest, "unarchive", args)
	if out, err := os.ReadFile(filepath.Join(dest, "app-1.0/etc/app.conf")); err != nil || string(out) != "port=80\n" {
		t.Errorf("app.conf %q %v", out, err)
	}
	if err := os.WriteFile(filepath.Join(dest, "app-1.0/README"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := moduletest.Timeline(t, h, dest, "unarchive", args)
	if len(d.Changes) != 1 || d.Changes[0].Resource != "file:"+filepath.Join(dest, "app-1.0/README") {
		t.Errorf("changes:\n%s", moduletest.Describe(d))
	}
	args["mode"] = "0750"
	args["list_files"] = true
	_, m := moduletest.TimelineModule(t, h, func() string { return moduletest.Snapshot(t, dest) }, "unarchive", args)
	if files, _ := moduletest.Result(m)["files"].([]string); len(files) != 7 {
		t.Errorf("files %v", files)
	}
	if fi, err := os.Stat(filepath.Join(dest, "app-1.0/README")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("mode %v %v", fi.Mode(), err)
	}
	_, _, err := moduletest.Apply(t, h, "unarchive", map[string]any{"src": writeZip(t, []zipEntry{{"../evil", "x", 0o644}}), "dest": dest, "remote_src": true})
	if err == nil || !strings.Contains(err.Error(), "climbs out of dest") {
		t.Errorf("zip-slip: %v", err)
	}
}

// ansible-core (with the controller's unzip, since its ZipArchive needs
// it) and gpuctl (which needs none) leave the same tree and report the
// same changed.
func TestUnarchiveZipLikeAnsible(t *testing.T) {
	archive := writeZip(t, appZip)
	for _, tc := range []map[string]any{{}, {"exclude": []any{"app-1.0/etc/app.conf"}}, {"mode": "0750"}} {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			var dests [2]string
			var changed [2]bool
			for i := range dests {
				dests[i] = t.TempDir()
				args := map[string]any{"src": archive, "dest": dests[i]}
				for k, v := range tc {
					args[k] = v
				}
				if i == 0 {
					changed[0] = ansibletest.Run(t, "unarchive", args, false)["changed"] == true
					if again := ansibletest.Run(t, "unarchive", args, false); again["changed"] != false {
						t.Errorf("ansible second run: %v", again)
					}
					continue
				}
				changed[1] = !moduletest.Timeline(t, moduletest.Local(), dests[i], "unarchive", args).Empty()
			}
			if a, g := tree(t, dests[0]), tree(t, dests[1]); a != g || changed[0] != changed[1] {
				t.Errorf("gpuctl changed=%v:\n%s\nansible changed=%v:\n%s", changed[1], g, changed[0], a)
			}
		})
	}
}

// On a real host (which has no unzip): a controller zip planned and
// written over SFTP with mode, owner and group; a changed member is one
// change; include; a zip-slip archive is refused with dest untouched; a
// zip on the host (remote_src) asks for the package unzip.
func TestUnarchiveZipHost(t *testing.T) {
	moduletest.BadArgs(t, "unarchive", map[string]any{"src": "app.zip", "dest": "/opt/x", "extra_opts": "-j"}, "is a zip")
	r := moduletest.Start(t, 1)[0]
	archive := writeZip(t, appZip)
	r.Run(t, "mkdir -p /opt/zapp /opt/zinc")
	args := map[string]any{"src": archive, "dest": "/opt/zapp", "owner": "daemon", "group": "daemon", "mode": "o-rwx"}
	r.Timeline(t, "ansible.builtin.unarchive", args, "/opt/zapp")
	out := r.Run(t, "/opt/zapp/app-1.0/bin/app; cd /opt/zapp/app-1.0 && stat -c '%n %a %U %G' . && stat -c '%n %a %U %G %y' bin/app etc/app.conf README; readlink link; command -v unzip; find /tmp -name '*.zip' | wc -l")
	want := "app\n. 750 daemon daemon\nbin/app 750 daemon daemon 2025-03-01 12:00:00.000000000 +0000\n" +
		"etc/app.conf 640 daemon daemon 2025-03-01 12:00:00.000000000 +0000\nREADME 640 daemon daemon 2025-03-01 12:00:00.000000000 +0000\nREADME\n0"
	if out != want {
		t.Errorf("host:\n%s\nwant:\n%s", out, want)
	}
	r.Run(t, "echo changed > /opt/zapp/app-1.0/README")
	d := r.Timeline(t, "unarchive", args, "/opt/zapp")
	if len(d.Changes) != 1 || d.Changes[0].Resource != "file:/opt/zapp/app-1.0/README" {
		t.Errorf("changes:\n%s", moduletest.Describe(d))
	}
	r.Run(t, "chown root /opt/zapp/app-1.0/etc/app.conf")
	d = r.Timeline(t, "unarchive", args, "/opt/zapp")
	if len(d.Changes) != 1 || d.Changes[0].Field != "owner" || d.Changes[0].Before != "root" {
		t.Errorf("owner changes:\n%s", moduletest.Describe(d))
	}
	r.Timeline(t, "unarchive", map[string]any{"src": archive, "dest": "/opt/zinc", "include": []any{"*/etc/*"}}, "/opt/zinc")
	if out := r.Run(t, "cd /opt/zinc && find . | sort"); out != ".\n./app-1.0\n./app-1.0/etc\n./app-1.0/etc/app.conf" {
		t.Errorf("include:\n%s", out)
	}
	before := r.Run(t, "ls -A /tmp /opt /opt/zinc")
	_, _, err := r.Apply(t, "unarchive", map[string]any{"src": writeZip(t, []zipEntry{{"ok", "x", 0o644}, {"../../tmp/evil", "x", 0o644}}), "dest": "/opt/zinc"})
	if err == nil || !strings.Contains(err.Error(), "zip-slip") {
		t.Errorf("zip-slip: %v", err)
	}
	if after := r.Run(t, "ls -A /tmp /opt /opt/zinc"); after != before {
		t.Errorf("zip-slip wrote something:\n%s\nbefore:\n%s", after, before)
	}
	r.Run(t, "mkdir -p /opt/zr")
	if err := r.C.WriteFile(context.Background(), "/root/app.zip", makeZip(t, appZip), conn.FileAttrs{Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	_, _, err = r.Apply(t, "unarchive", map[string]any{"src": "/root/app.zip", "dest": "/opt/zr", "remote_src": true})
	if err == nil || !strings.Contains(err.Error(), "install the package unzip") {
		t.Errorf("remote zip without unzip: %v", err)
	}
}
