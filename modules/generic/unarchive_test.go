package generic_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/internal/ansibletest"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// tgz builds app-1.0/{bin/app (0755), etc/app.conf, README, link -> README}.
func tgz(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	mt := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, e := range []struct {
		name, body, link string
		mode             int64
		typ              byte
	}{
		{"app-1.0/", "", "", 0o755, tar.TypeDir},
		{"app-1.0/bin/", "", "", 0o755, tar.TypeDir},
		{"app-1.0/bin/app", "#!/bin/sh\necho app\n", "", 0o755, tar.TypeReg},
		{"app-1.0/etc/", "", "", 0o755, tar.TypeDir},
		{"app-1.0/etc/app.conf", "port=80\n", "", 0o640, tar.TypeReg},
		{"app-1.0/README", "read me\n", "", 0o644, tar.TypeReg},
		{"app-1.0/link", "", "README", 0o777, tar.TypeSymlink},
	} {
		h := &tar.Header{Name: e.name, Mode: e.mode, Typeflag: e.typ, Size: int64(len(e.body)), Linkname: e.link, ModTime: mt, Uname: "root", Gname: "root"}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// ansible-core's unarchive and gpuctl's on the same archive from the
// controller: the same tree (names, types, modes, contents, mtimes) and the
// same changed, then no change on a second run.
func TestUnarchiveLikeAnsible(t *testing.T) {
	archive := filepath.Join(t.TempDir(), "app.tgz")
	if err := os.WriteFile(archive, tgz(t), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []map[string]any{
		{},
		{"extra_opts": []any{"--strip-components=1"}},
		{"exclude": []any{"app-1.0/etc/app.conf"}},
		{"mode": "0750"},
		{"mode": "o-r", "extra_opts": []any{"--strip-components=1"}},
	} {
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
				h := moduletest.Local()
				d := moduletest.Timeline(t, h, dests[i], "unarchive", args)
				changed[1] = !d.Empty()
			}
			if a, g := tree(t, dests[0]), tree(t, dests[1]); a != g || changed[0] != changed[1] {
				t.Errorf("gpuctl changed=%v:\n%s\nansible changed=%v:\n%s", changed[1], g, changed[0], a)
			}
		})
	}
}

// tree lists dir relative to itself: type, mode, mtime, content or target.
func tree(t *testing.T, dir string) string {
	var b bytes.Buffer
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(&b, "%s %v", rel, fi.Mode())
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			fmt.Fprintf(&b, " -> %s", l)
		case fi.Mode().IsRegular():
			c, _ := os.ReadFile(p)
			fmt.Fprintf(&b, " %s %q", fi.ModTime().UTC().Format(time.RFC3339), c)
		}
		b.WriteString("\n")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// On a real host: a controller archive streamed in, a host archive
// (remote_src), creates, list_files, and a member changed on the host is
// put back.
func TestUnarchiveHost(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	archive := filepath.Join(t.TempDir(), "app.tgz")
	data := tgz(t)
	if err := os.WriteFile(archive, data, 0o644); err != nil {
		t.Fatal(err)
	}
	r.Run(t, "mkdir -p /opt/app /opt/app2")
	r.Timeline(t, "ansible.builtin.unarchive", map[string]any{"src": archive, "dest": "/opt/app", "extra_opts": "--strip-components=1"})
	if out := r.Run(t, "/opt/app/bin/app; stat -c '%a %U' /opt/app/etc/app.conf; readlink /opt/app/link; find /tmp -name '*.tgz' | wc -l"); out != "app\n640 root\nREADME\n0" {
		t.Errorf("host:\n%s", out)
	}
	r.Run(t, "echo changed > /opt/app/README")
	d := r.Timeline(t, "unarchive", map[string]any{"src": archive, "dest": "/opt/app", "extra_opts": "--strip-components=1"})
	if len(d.Changes) != 1 || d.Changes[0].Resource != "file:/opt/app/README" {
		t.Errorf("changes %+v", d.Changes)
	}
	if err := r.C.WriteFile(context.Background(), "/root/app.tgz", data, conn.FileAttrs{Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	r.Timeline(t, "unarchive", map[string]any{"src": "/root/app.tgz", "dest": "/opt/app2", "remote_src": true})
	res := r.NoChange(t, "unarchive", map[string]any{"src": "/root/app.tgz", "dest": "/opt/app2", "copy": false, "list_files": true})
	if files, _ := res["files"].([]string); len(files) != 7 || files[2] != "app-1.0/bin/app" {
		t.Errorf("files %v", res["files"])
	}
	// mode: a mode-only difference is found in check (Ansible's check misses it).
	r.Timeline(t, "unarchive", map[string]any{"src": "/root/app.tgz", "dest": "/opt/app2", "remote_src": true, "mode": "0755"})
	r.Run(t, "chmod 600 /opt/app2/app-1.0/README")
	d = r.Timeline(t, "unarchive", map[string]any{"src": "/root/app.tgz", "dest": "/opt/app2", "remote_src": true, "mode": "0755"})
	if len(d.Changes) != 1 || d.Changes[0].Resource != "file:/opt/app2/app-1.0/README" || d.Changes[0].Before != "0600" {
		t.Errorf("mode changes %+v", d.Changes)
	}
	if out := r.Run(t, "stat -c %a /opt/app2/app-1.0 /opt/app2/app-1.0/etc/app.conf /opt/app2/app-1.0/README"); out != "755\n755\n755" {
		t.Errorf("modes:\n%s", out)
	}
	res = r.NoChange(t, "unarchive", map[string]any{"src": "/root/missing.tgz", "dest": "/opt/app2", "remote_src": true, "creates": "/opt/app2/app-1.0"})
	if res["msg"] != "skipped, since /opt/app2/app-1.0 exists" {
		t.Errorf("creates: %v", res)
	}
}

func TestUnarchiveBadArgs(t *testing.T) {
	moduletest.BadArgs(t, "unarchive", map[string]any{"dest": "/x"}, `missing required argument "src"`)
	moduletest.BadArgs(t, "unarchive", map[string]any{"src": "a.tgz", "dest": "/x", "mode": "rwx"}, "mode")
	moduletest.BadArgs(t, "unarchive", map[string]any{"src": "a.tgz", "dest": "x"}, "must be an absolute path")
	moduletest.BadArgs(t, "unarchive", map[string]any{"src": "a.tgz", "dest": "/x", "remote_src": true}, "must be an absolute path")
	moduletest.BadArgs(t, "unarchive", map[string]any{"src": "/a.tgz", "dest": "/x", "extra_opts": "strip"}, "expected tar options")
}
