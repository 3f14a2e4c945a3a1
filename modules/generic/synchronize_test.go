package generic_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/internal/ansibletest"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// syncSource is a tree with what rsync's archive mode keeps: nested
// directories, modes, a symlink, an executable, set modification times.
func syncSource(t *testing.T) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	for p, c := range map[string]string{
		"bin/kubeadm":       "#!/bin/sh\necho kubeadm\n",
		"etc/conf.yaml":     "a: 1\n",
		"etc/skip.tmp":      "scratch\n",
		"etc/deep/x/y.txt":  "deep\n",
		"README":            "readme\n",
		"etc/empty/.keep":   "",
		"bin/helper.sh":     "#!/bin/sh\n",
		"etc/deep/z.conf":   "z\n",
		"etc/deep/x/q.conf": "q\n",
	} {
		full := filepath.Join(src, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(src, "bin/kubeadm"), 0o755)
	os.Chmod(filepath.Join(src, "etc/conf.yaml"), 0o600)
	os.Chmod(filepath.Join(src, "etc/deep"), 0o750)
	if err := os.Symlink("conf.yaml", filepath.Join(src, "etc/current")); err != nil {
		t.Fatal(err)
	}
	stamp := time.Date(2024, 5, 1, 12, 0, 0, 123456789, time.UTC)
	filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			os.Chtimes(p, stamp, stamp)
		}
		return nil
	})
	return src
}

// syncTree lists a directory for comparison: relative path, type, mode, size,
// content and the modification time of files (seconds), link targets.
func syncTree(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		line := fmt.Sprintf("%s %v", rel, fi.Mode())
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			line += " -> " + l
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			line += fmt.Sprintf(" %q %d", b, fi.ModTime().Unix())
		}
		lines = append(lines, line)
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// The module's contract (check changes nothing, apply, check after apply
// and a second run find nothing) for rsync's path rules and options, on
// this machine (controller and host are the same local connection).
func TestSynchronizeTimeline(t *testing.T) {
	h := moduletest.Local()
	for _, c := range []struct {
		name string
		args func(src, dest string) map[string]any
		want []string // paths under dest that must exist
		not  []string // and must not
	}{
		{"contents (src/)", func(src, dest string) map[string]any { return map[string]any{"src": src + "/", "dest": dest} },
			[]string{"bin/kubeadm", "etc/current", "etc/deep/x/y.txt"}, []string{"src"}},
		{"directory itself", func(src, dest string) map[string]any { return map[string]any{"src": src, "dest": dest} },
			[]string{"src/bin/kubeadm", "src/etc/empty/.keep"}, nil},
		{"one file into a directory", func(src, dest string) map[string]any {
			return map[string]any{"src": src + "/bin/kubeadm", "dest": dest + "/"}
		}, []string{"kubeadm"}, nil},
		{"excludes", func(src, dest string) map[string]any {
			return map[string]any{"src": src + "/", "dest": dest, "rsync_opts": []any{"--exclude=*.tmp", "--exclude", "deep"}}
		}, []string{"etc/conf.yaml"}, []string{"etc/skip.tmp", "etc/deep"}},
		{"no archive", func(src, dest string) map[string]any {
			return map[string]any{"src": src + "/", "dest": dest, "archive": false, "recursive": true}
		}, []string{"etc/deep/z.conf"}, []string{"etc/current"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := syncSource(t)
			dest := filepath.Join(t.TempDir(), "dest")
			os.MkdirAll(dest, 0o755)
			moduletest.Timeline(t, h, dest, "ansible.posix.synchronize", c.args(src, dest))
			for _, p := range c.want {
				if _, err := os.Lstat(filepath.Join(dest, p)); err != nil {
					t.Errorf("%s: %v", p, err)
				}
			}
			for _, p := range c.not {
				if _, err := os.Lstat(filepath.Join(dest, p)); err == nil {
					t.Errorf("%s exists", p)
				}
			}
		})
	}
}

// delete removes what the source lacks; existing_only updates without
// creating; a changed file is sent again.
func TestSynchronizeDeleteAndUpdate(t *testing.T) {
	h := moduletest.Local()
	src := syncSource(t)
	dest := filepath.Join(t.TempDir(), "dest")
	os.MkdirAll(filepath.Join(dest, "stale/dir"), 0o755)
	os.WriteFile(filepath.Join(dest, "stale/dir/old"), []byte("old"), 0o644)
	os.WriteFile(filepath.Join(dest, "README"), []byte("changed on the host\n"), 0o644)
	d := moduletest.Timeline(t, h, dest, "synchronize", map[string]any{"src": src + "/", "dest": dest, "delete": true})
	if !moduletest.HasChange(d, "file:"+filepath.Join(dest, "stale"), "") || !moduletest.HasChange(d, "file:"+filepath.Join(dest, "README"), "content") {
		t.Errorf("plan lacks the deletion or the update:\n%s", moduletest.Describe(d))
	}
	if _, err := os.Stat(filepath.Join(dest, "stale")); err == nil {
		t.Error("stale/ not deleted")
	}

	dest2 := filepath.Join(t.TempDir(), "dest2")
	os.MkdirAll(filepath.Join(dest2, "etc"), 0o755)
	os.WriteFile(filepath.Join(dest2, "etc/conf.yaml"), []byte("old\n"), 0o644)
	moduletest.Timeline(t, h, dest2, "synchronize", map[string]any{"src": src + "/", "dest": dest2, "existing_only": true})
	if b, _ := os.ReadFile(filepath.Join(dest2, "etc/conf.yaml")); string(b) != "a: 1\n" {
		t.Errorf("existing file not updated: %q", b)
	}
	if _, err := os.Stat(filepath.Join(dest2, "README")); err == nil {
		t.Error("existing_only created README")
	}
}

func TestSynchronizeBadArgs(t *testing.T) {
	moduletest.BadArgs(t, "synchronize", map[string]any{"src": "a"}, `missing required argument "dest"`)
	moduletest.BadArgs(t, "synchronize", map[string]any{"src": "a", "dest": "b", "mode": "sideways"}, "sideways")
	moduletest.BadArgs(t, "synchronize", map[string]any{"src": "a", "dest": "b", "rsync_opts": []any{"--inplace"}}, `"--inplace" is not supported`)
	moduletest.BadArgs(t, "synchronize", map[string]any{"src": "a", "dest": "b", "link_dest": []any{"/x"}}, "link_dest is not supported")
}

// The same trees as ansible.posix.synchronize (rsync) leaves, from the same
// source, for the path rules and options gpuctl follows.
func TestSynchronizeLikeAnsible(t *testing.T) {
	if _, err := exec.LookPath("rsync"); err != nil {
		if os.Getenv("GPUCTL_TEST_HOSTS") == "require" {
			t.Fatal("rsync not installed (GPUCTL_TEST_HOSTS=require)")
		}
		t.Skip("rsync not installed")
	}
	for _, c := range []struct {
		name string
		args func(src, dest string) map[string]any
	}{
		{"contents", func(src, dest string) map[string]any { return map[string]any{"src": src + "/", "dest": dest} }},
		{"directory", func(src, dest string) map[string]any { return map[string]any{"src": src, "dest": dest} }},
		{"file into dir", func(src, dest string) map[string]any {
			return map[string]any{"src": src + "/bin/kubeadm", "dest": dest + "/"}
		}},
		{"file as name", func(src, dest string) map[string]any {
			return map[string]any{"src": src + "/README", "dest": dest + "/renamed"}
		}},
		{"delete", func(src, dest string) map[string]any {
			return map[string]any{"src": src + "/", "dest": dest, "delete": true}
		}},
		{"excludes", func(src, dest string) map[string]any {
			return map[string]any{"src": src + "/", "dest": dest, "rsync_opts": []any{"--exclude=*.tmp", "--exclude=deep"}}
		}},
		{"existing only", func(src, dest string) map[string]any {
			return map[string]any{"src": src + "/", "dest": dest, "existing_only": true}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := syncSource(t)
			dests := [2]string{}
			for i := range dests {
				dests[i] = filepath.Join(t.TempDir(), "dest")
				os.MkdirAll(filepath.Join(dests[i], "stale"), 0o755)
				os.WriteFile(filepath.Join(dests[i], "stale/old"), []byte("old"), 0o644)
				os.MkdirAll(filepath.Join(dests[i], "etc"), 0o755)
				os.WriteFile(filepath.Join(dests[i], "etc/conf.yaml"), []byte("old\n"), 0o644)
			}
			res := ansibletest.Run(t, "ansible.posix.synchronize", c.args(src, dests[0]), false)
			if res["failed"] == true {
				t.Fatalf("ansible: %v", res)
			}
			h := moduletest.Local()
			m := moduletest.New(t, "synchronize", c.args(src, dests[1]))
			d, err := m.Check(context.Background(), h)
			if err == nil && !d.Empty() {
				err = m.Apply(context.Background(), h, d)
			}
			if err != nil {
				t.Fatal(err)
			}
			if a, g := syncTree(t, dests[0]), syncTree(t, dests[1]); a != g {
				t.Errorf("trees differ:\nansible:\n%s\ngpuctl:\n%s", a, g)
			}
			if changed := !d.Empty(); changed != (res["changed"] == true) {
				t.Errorf("changed: gpuctl %v, ansible %v", changed, res["changed"])
			}
		})
	}
}

// Over SSH to a real host: a push of a tree (as root, so owners are kept),
// then a pull of a file back to the controller, each with the contract.
func TestSynchronizeRemote(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	src := syncSource(t)
	moduletest.TimelineSnap(t, r.Host, func() string { return r.TH.Snapshot(t, "/srv") }, "synchronize",
		map[string]any{"src": src + "/", "dest": "/srv/sync", "delete": true})
	got := r.TH.Run(t, "cd /srv/sync && stat -c '%n %a %s %Y' bin/kubeadm etc/conf.yaml etc/deep && readlink etc/current")
	want := fmt.Sprintf("bin/kubeadm 755 23 %[1]d\netc/conf.yaml 600 5 %[1]d\netc/deep 750 4096", time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC).Unix())
	if !strings.HasPrefix(got, want) || !strings.HasSuffix(got, "conf.yaml") {
		t.Errorf("on the host:\n%s\nwant:\n%s ... conf.yaml", got, want)
	}
	local := filepath.Join(t.TempDir(), "pulled")
	moduletest.Timeline(t, r.Host, filepath.Dir(local), "synchronize",
		map[string]any{"mode": "pull", "src": "/srv/sync/etc/conf.yaml", "dest": local})
	if b, err := os.ReadFile(local); err != nil || string(b) != "a: 1\n" {
		t.Errorf("pulled: %q %v", b, err)
	}
}
