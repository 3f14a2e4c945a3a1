package generic_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/generic"
	"github.com/gpuctl/gpuctl/modules/moduletest"
	"github.com/gpuctl/gpuctl/plan"
)

func write(t *testing.T, p, s string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func perm(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode() & (os.ModePerm | os.ModeSetgid | os.ModeSetuid | os.ModeSticky)
}

func fields(d plan.Diff) []string {
	var out []string
	for _, c := range d.Changes {
		out = append(out, string(c.Action)+" "+c.Field)
	}
	return out
}

func hasChange(t *testing.T, d plan.Diff, action plan.Action, field string) plan.Change {
	t.Helper()
	for _, c := range d.Changes {
		if c.Action == action && c.Field == field {
			return c
		}
	}
	t.Fatalf("no %s %s change in %v", action, field, fields(d))
	return plan.Change{}
}

func TestCopyTimeline(t *testing.T) {
	dir := t.TempDir()
	h := moduletest.Local()
	dest := filepath.Join(dir, "etc", "app.conf")
	write(t, dest, "old\n", 0o600)

	d := moduletest.Timeline(t, h, dir, "copy", map[string]any{"dest": dest, "content": "new\n", "mode": "0640", "backup": true})
	c := hasChange(t, d, plan.Update, "content")
	if c.Resource != "file:"+dest || c.Before != "old\n" || c.After != "new\n" || !c.Content {
		t.Errorf("content change %+v", c)
	}
	hasChange(t, d, plan.Update, "mode")
	if read(t, dest) != "new\n" || perm(t, dest) != 0o640 {
		t.Errorf("dest %q %v", read(t, dest), perm(t, dest))
	}
	backups, _ := filepath.Glob(dest + ".*~")
	if len(backups) != 1 || read(t, backups[0]) != "old\n" {
		t.Errorf("backups %v", backups)
	}

	// A new file from src on the controller, into a directory dest.
	src := filepath.Join(t.TempDir(), "files", "motd")
	write(t, src, "hello\n", 0o644)
	h.V["playbook_dir"] = filepath.Dir(filepath.Dir(src))
	d = moduletest.Timeline(t, h, dir, "copy", map[string]any{"src": "motd", "dest": filepath.Join(dir, "etc") + "/"})
	hasChange(t, d, plan.Create, "content")
	if read(t, filepath.Join(dir, "etc", "motd")) != "hello\n" {
		t.Error("src not copied")
	}

	// Only the mode differs: the contents are left alone.
	if err := os.Chmod(dest, 0o600); err != nil {
		t.Fatal(err)
	}
	d = moduletest.Timeline(t, h, dir, "copy", map[string]any{"dest": dest, "content": "new\n", "mode": "u=rw,g=r"})
	if got := fields(d); len(got) != 1 || got[0] != "update mode" {
		t.Errorf("diff %v", got)
	}

	// force: false leaves differing contents alone.
	m := moduletest.New(t, "copy", map[string]any{"dest": dest, "content": "other\n", "force": false})
	if d, err := m.Check(context.Background(), h); err != nil || !d.Empty() {
		t.Errorf("force=false: %v %+v", err, d)
	}

	// Binary content is summarised, not diffed.
	bin := filepath.Join(dir, "bin")
	d = moduletest.Timeline(t, h, dir, "copy", map[string]any{"dest": bin, "content": "a\x00b"})
	if c := hasChange(t, d, plan.Create, "content"); c.Content || !strings.Contains(c.After, "binary, 3 bytes") {
		t.Errorf("binary change %+v", c)
	}
}

func TestCopyDirectory(t *testing.T) {
	dir := t.TempDir()
	h := moduletest.Local()
	pb := t.TempDir()
	h.V["playbook_dir"] = pb
	write(t, filepath.Join(pb, "files", "conf.d", "a.conf"), "a\n", 0o644)
	write(t, filepath.Join(pb, "files", "conf.d", "sub", "b.conf"), "b\n", 0o600)
	dest := filepath.Join(dir, "etc", "app")
	// Trailing slash: the contents go into dest.
	d := moduletest.Timeline(t, h, dir, "copy", map[string]any{"src": "conf.d/", "dest": dest, "mode": "0640", "directory_mode": "0750"})
	if got := d.Paths(); len(got) != 4 {
		t.Errorf("paths %v", got)
	}
	if read(t, filepath.Join(dest, "sub", "b.conf")) != "b\n" || perm(t, filepath.Join(dest, "a.conf")) != 0o640 || perm(t, filepath.Join(dest, "sub"))&0o777 != 0o750 {
		t.Error("tree not copied")
	}
	// A changed file in the tree is the only change; extra files stay.
	write(t, filepath.Join(pb, "files", "conf.d", "a.conf"), "a2\n", 0o644)
	write(t, filepath.Join(dest, "extra"), "keep", 0o644)
	d = moduletest.Timeline(t, h, dir, "copy", map[string]any{"src": "conf.d/", "dest": dest, "mode": "0640"})
	if got := fields(d); len(got) != 1 || got[0] != "update content" {
		t.Errorf("diff %v", got)
	}
	// Without the slash, the directory itself is copied into dest.
	moduletest.Timeline(t, h, dir, "copy", map[string]any{"src": filepath.Join(pb, "files", "conf.d"), "dest": dest})
	if read(t, filepath.Join(dest, "conf.d", "a.conf")) != "a2\n" || read(t, filepath.Join(dest, "extra")) != "keep" {
		t.Error("directory not copied into dest")
	}
}

func TestCopyValidate(t *testing.T) {
	dir := t.TempDir()
	h := moduletest.Local()
	dest := filepath.Join(dir, "sudoers")
	write(t, dest, "good\n", 0o644)
	m := moduletest.New(t, "copy", map[string]any{"dest": dest, "content": "bad\n", "validate": "grep -q good %s"})
	d, err := m.Check(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(context.Background(), h, d); err == nil || !strings.Contains(err.Error(), "validate") {
		t.Fatalf("apply: %v", err)
	}
	if read(t, dest) != "good\n" {
		t.Error("invalid file replaced dest")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	moduletest.Timeline(t, h, dir, "copy", map[string]any{"dest": dest, "content": "good too\n", "validate": "grep -q good %s"})
}

func TestTemplateTimeline(t *testing.T) {
	dir := t.TempDir()
	h := moduletest.Local()
	pb := t.TempDir()
	write(t, filepath.Join(pb, "templates", "kubeadm.yaml.j2"), "name: {{ node }}\nversion: {{ v }}\n", 0o644)
	h.V["playbook_dir"] = pb
	h.V["node"] = "gpu-1"
	h.V["v"] = "1.34"
	d := moduletest.Timeline(t, h, dir, "template", map[string]any{"src": "kubeadm.yaml.j2", "dest": dir, "mode": "0600"})
	dest := filepath.Join(dir, "kubeadm.yaml")
	if c := hasChange(t, d, plan.Create, "content"); c.Resource != "file:"+dest {
		t.Errorf("change %+v", c)
	}
	if read(t, dest) != "name: gpu-1\nversion: 1.34\n" || perm(t, dest) != 0o600 {
		t.Errorf("rendered %q %v", read(t, dest), perm(t, dest))
	}
	h.V["v"] = "1.35"
	d = moduletest.Timeline(t, h, dir, "template", map[string]any{"src": "kubeadm.yaml.j2", "dest": dest})
	if c := hasChange(t, d, plan.Update, "content"); c.After != "name: gpu-1\nversion: 1.35\n" {
		t.Errorf("change %+v", c)
	}
	if perm(t, dest) != 0o600 {
		t.Error("mode of an updated file was not kept")
	}
	delete(h.V, "v")
	m := moduletest.New(t, "template", map[string]any{"src": "kubeadm.yaml.j2", "dest": dest})
	if _, err := m.Check(context.Background(), h); err == nil || !strings.Contains(err.Error(), "undefined") {
		t.Errorf("undefined variable: %v", err)
	}
}

func TestLineInFileTimeline(t *testing.T) {
	dir := t.TempDir()
	h := moduletest.Local()
	p := filepath.Join(dir, "sshd_config")
	write(t, p, "Port 22\n#PermitRootLogin yes\n", 0o640)
	d := moduletest.Timeline(t, h, dir, "lineinfile", map[string]any{"path": p, "regexp": "^#?PermitRootLogin", "line": "PermitRootLogin no", "backup": true})
	if c := hasChange(t, d, plan.Update, "content"); c.After != "Port 22\nPermitRootLogin no\n" {
		t.Errorf("change %+v", c)
	}
	if perm(t, p) != 0o640 {
		t.Errorf("mode changed to %v", perm(t, p))
	}
	moduletest.Timeline(t, h, dir, "lineinfile", map[string]any{"path": p, "line": "# managed", "insertbefore": "BOF"})
	moduletest.Timeline(t, h, dir, "lineinfile", map[string]any{"dest": p, "regexp": "^Port", "state": "absent"})
	if got := read(t, p); got != "# managed\nPermitRootLogin no\n" {
		t.Errorf("file %q", got)
	}
	// A link is followed and its target edited, as Ansible does.
	target := filepath.Join(dir, "run", "stub-resolv.conf")
	write(t, target, "nameserver 127.0.0.53\n", 0o644)
	link := filepath.Join(dir, "resolv.conf")
	if err := os.Symlink("run/stub-resolv.conf", link); err != nil {
		t.Fatal(err)
	}
	d = moduletest.Timeline(t, h, dir, "lineinfile", map[string]any{"path": link, "line": "options edns0"})
	if c := hasChange(t, d, plan.Update, "content"); c.Resource != "file:"+link {
		t.Errorf("change %+v", c)
	}
	moduletest.Timeline(t, h, dir, "replace", map[string]any{"path": link, "regexp": "edns0", "replace": "trust-ad"})
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 || read(t, target) != "nameserver 127.0.0.53\noptions trust-ad\n" {
		t.Errorf("link replaced or target not edited: %q", read(t, target))
	}
	created := filepath.Join(dir, "conf.d", "new.conf")
	d = moduletest.Timeline(t, h, dir, "lineinfile", map[string]any{"path": created, "line": "x=1", "create": true, "mode": "0600"})
	hasChange(t, d, plan.Create, "content")
	if read(t, created) != "x=1\n" || perm(t, created) != 0o600 {
		t.Error("created file")
	}
	m := moduletest.New(t, "lineinfile", map[string]any{"path": filepath.Join(dir, "missing"), "line": "x"})
	if _, err := m.Check(context.Background(), h); err == nil || !strings.Contains(err.Error(), "create") {
		t.Errorf("missing file: %v", err)
	}
	if r := m.(modules.Reader).Reads(); len(r) != 1 || r[0] != filepath.Join(dir, "missing") {
		t.Errorf("Reads %v", r)
	}
}

func TestReplaceTimeline(t *testing.T) {
	dir := t.TempDir()
	h := moduletest.Local()
	p := filepath.Join(dir, "fstab")
	write(t, p, "UUID=1 / ext4 defaults 0 1\n/swap.img none swap sw 0 0\n", 0o644)
	d := moduletest.Timeline(t, h, dir, "replace", map[string]any{"path": p, "regexp": `^([^#]\S*\s+\S+\s+swap\s.*)$`, "replace": `# \1`})
	if c := hasChange(t, d, plan.Update, "content"); !strings.Contains(c.After, "# /swap.img") {
		t.Errorf("change %+v", c)
	}
	if res := hosttestResult(t, "replace", map[string]any{"path": p, "regexp": "nomatch"}, h); res["msg"] != "0 replacements made" {
		t.Errorf("result %v", res)
	}
}

func hosttestResult(t *testing.T, name string, args map[string]any, h *moduletest.Host) map[string]any {
	t.Helper()
	m := moduletest.New(t, name, args)
	if _, err := m.Check(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	return m.(modules.Resulter).Result()
}

func TestFileTimeline(t *testing.T) {
	dir := t.TempDir()
	h := moduletest.Local()
	deep := filepath.Join(dir, "a", "b", "c")
	d := moduletest.Timeline(t, h, dir, "file", map[string]any{"path": deep, "state": "directory", "mode": "0750"})
	hasChange(t, d, plan.Create, "state")
	for _, p := range []string{filepath.Join(dir, "a"), filepath.Join(dir, "a", "b"), deep} {
		if perm(t, p) != os.ModeDir|0o750 && perm(t, p) != 0o750 {
			t.Errorf("%s: %v", p, perm(t, p))
		}
	}
	// touch, with times preserved so the timeline can verify it.
	f := filepath.Join(deep, "flag")
	d = moduletest.Timeline(t, h, dir, "file", map[string]any{"path": f, "state": "touch", "mode": "0600",
		"modification_time": "preserve", "access_time": "preserve"})
	hasChange(t, d, plan.Create, "state")
	if perm(t, f) != 0o600 || read(t, f) != "" {
		t.Error("touch")
	}
	// touch on an existing file updates times every run, as in Ansible.
	m := moduletest.New(t, "file", map[string]any{"path": f, "state": "touch"})
	if d, err := m.Check(context.Background(), h); err != nil || len(d.Changes) != 1 || !m.(modules.Unverified).Unverified() {
		t.Errorf("touch existing: %v %v", err, fields(d))
	}
	// state=file manages attributes only; missing files are an error.
	moduletest.Timeline(t, h, dir, "file", map[string]any{"path": f, "mode": "u+x"})
	if perm(t, f) != 0o700 {
		t.Errorf("mode %v", perm(t, f))
	}
	m = moduletest.New(t, "file", map[string]any{"path": filepath.Join(dir, "nope"), "state": "file"})
	if _, err := m.Check(context.Background(), h); err == nil {
		t.Error("state=file on a missing file")
	}
	// link, relink, replace with force.
	l := filepath.Join(dir, "current")
	moduletest.Timeline(t, h, dir, "file", map[string]any{"path": l, "state": "link", "src": "a/b"})
	if got, _ := os.Readlink(l); got != "a/b" {
		t.Errorf("link -> %q", got)
	}
	d = moduletest.Timeline(t, h, dir, "file", map[string]any{"path": l, "state": "link", "src": deep})
	hasChange(t, d, plan.Update, "link")
	m = moduletest.New(t, "file", map[string]any{"path": l, "state": "link", "src": "missing"})
	if _, err := m.Check(context.Background(), h); err == nil || !strings.Contains(err.Error(), "force") {
		t.Errorf("link to missing src: %v", err)
	}
	plain := filepath.Join(dir, "plain")
	write(t, plain, "x", 0o644)
	m = moduletest.New(t, "file", map[string]any{"path": plain, "state": "link", "src": deep})
	if _, err := m.Check(context.Background(), h); err == nil {
		t.Error("replacing a file with a link without force")
	}
	d = moduletest.Timeline(t, h, dir, "file", map[string]any{"path": plain, "state": "link", "src": deep, "force": true})
	hasChange(t, d, plan.Replace, "link")
	// state=directory follows a link to a directory and manages the target.
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	via := filepath.Join(dir, "via")
	if err := os.Symlink("data", via); err != nil {
		t.Fatal(err)
	}
	d = moduletest.Timeline(t, h, dir, "file", map[string]any{"path": via, "state": "directory", "mode": "0755"})
	if c := hasChange(t, d, plan.Update, "mode"); c.Before != "0700" {
		t.Errorf("change %+v", c)
	}
	if fi, _ := os.Lstat(via); fi.Mode()&os.ModeSymlink == 0 || perm(t, data)&0o777 != 0o755 {
		t.Error("link not followed")
	}
	// absent removes trees and links.
	d = moduletest.Timeline(t, h, dir, "file", map[string]any{"path": filepath.Join(dir, "a"), "state": "absent"})
	hasChange(t, d, plan.Delete, "state")
	moduletest.Timeline(t, h, dir, "file", map[string]any{"path": l, "state": "absent"})
	if _, err := os.Lstat(filepath.Join(dir, "a")); !errors.Is(err, os.ErrNotExist) {
		t.Error("tree not removed")
	}
}

func TestFileRecurse(t *testing.T) {
	dir := t.TempDir()
	h := moduletest.Local()
	root := filepath.Join(dir, "models")
	write(t, filepath.Join(root, "m1", "w.bin"), "x", 0o600)
	write(t, filepath.Join(root, "m2"), "y", 0o644)
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	d := moduletest.Timeline(t, h, dir, "file", map[string]any{"path": root, "state": "directory", "recurse": true, "mode": "u=rwX,g=rX,o=", "owner": me.Uid})
	hasChange(t, d, plan.Update, "mode (inside)")
	if perm(t, filepath.Join(root, "m1", "w.bin")) != 0o640 || perm(t, filepath.Join(root, "m1"))&0o777 != 0o750 {
		t.Errorf("modes %v %v", perm(t, filepath.Join(root, "m1", "w.bin")), perm(t, filepath.Join(root, "m1")))
	}
	if fi, _ := os.Stat("/etc/passwd"); fi.Mode().Perm() != 0o644 {
		t.Fatal("recurse followed a symlink out of the tree")
	}
}

func TestCommandTimeline(t *testing.T) {
	dir := t.TempDir()
	h := moduletest.Local()
	marker := filepath.Join(dir, "done")
	// creates: the command runs once, then is skipped.
	d := moduletest.Timeline(t, h, dir, "command", map[string]any{"cmd": "touch done", "chdir": dir, "creates": "done"})
	if c := hasChange(t, d, plan.Run, ""); c.After != "touch done" {
		t.Errorf("change %+v", c)
	}
	if p := d.Paths(); len(p) != 1 || p[0] != marker {
		t.Errorf("paths %v", p)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal(err)
	}
	res := hosttestResult(t, "command", map[string]any{"cmd": "touch done", "chdir": dir, "creates": "done"}, h)
	if res["rc"] != 0 || !strings.Contains(res["stdout"].(string), "skipped") {
		t.Errorf("skip result %v", res)
	}
	// removes with a glob.
	d = moduletest.Timeline(t, h, dir, "command", map[string]any{"argv": []any{"rm", marker}, "removes": dir + "/do*"})
	hasChange(t, d, plan.Run, "")

	// No shell: $HOME and | are passed literally.
	m := moduletest.New(t, "command", map[string]any{"cmd": `echo "$HOME" | x`, "stdin": "ignored"})
	if !m.(modules.Unverified).Unverified() {
		t.Error("command without creates must be unverified")
	}
	d, err := m.Check(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(context.Background(), h, d); err != nil {
		t.Fatal(err)
	}
	res = m.(modules.Resulter).Result()
	if res["stdout"] != "$HOME | x" || res["rc"] != 0 || len(res["stdout_lines"].([]string)) != 1 {
		t.Errorf("result %v", res)
	}

	// A failing command returns a CommandError carrying the result.
	m = moduletest.New(t, "command", map[string]any{"argv": []any{"sh", "-c", "echo out; echo err >&2; exit 3"}})
	if d, err = m.Check(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	err = m.Apply(context.Background(), h, d)
	var ce *generic.CommandError
	if !errors.As(err, &ce) || ce.RC != 3 || ce.Result()["stdout"] != "out" || ce.Result()["stderr"] != "err" {
		t.Fatalf("error %#v", err)
	}
	if !strings.Contains(err.Error(), "exited 3: err") {
		t.Error(err)
	}
}

func TestShellTimeline(t *testing.T) {
	dir := t.TempDir()
	h := moduletest.Local()
	out := filepath.Join(dir, "out")
	d := moduletest.Timeline(t, h, dir, "shell", map[string]any{"cmd": "echo $((1+2)) | tr 3 x > " + out, "creates": out, "executable": "/bin/bash"})
	if c := hasChange(t, d, plan.Run, ""); c.After != "echo $((1+2)) | tr 3 x > "+out {
		t.Errorf("run change %+v", c)
	}
	if c := hasChange(t, d, plan.Create, "state"); c.Resource != "file:"+out {
		t.Errorf("creates change %+v", c)
	}
	if read(t, out) != "x\n" {
		t.Errorf("out %q", read(t, out))
	}
	m := moduletest.New(t, "shell", map[string]any{"cmd": "cat; echo [[ ok ]]", "stdin": "in", "executable": "/bin/bash"})
	d, err := m.Check(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Apply(context.Background(), h, d); err != nil {
		t.Fatal(err)
	}
	if got := m.(modules.Resulter).Result()["stdout_lines"].([]string); len(got) != 2 || got[0] != "in" {
		t.Errorf("stdout_lines %q", got)
	}
}

func TestWaitForPathAndPort(t *testing.T) {
	dir := t.TempDir()
	h := moduletest.Local()
	p := filepath.Join(dir, "ready")
	m := moduletest.New(t, "wait_for", map[string]any{"path": p, "timeout": 5, "sleep": 0})
	d, err := m.Check(context.Background(), h)
	if err != nil || d.Empty() {
		t.Fatalf("check: %v %v", err, d)
	}
	go os.WriteFile(p, []byte("started ok\n"), 0o644)
	if err := m.Apply(context.Background(), h, d); err != nil {
		t.Fatal(err)
	}
	if d, err := m.Check(context.Background(), h); err != nil || !d.Empty() {
		t.Fatalf("recheck: %v %v", err, d)
	}
	m = moduletest.New(t, "wait_for", map[string]any{"path": p, "search_regex": "^never$", "timeout": 0, "msg": "no luck"})
	d, _ = m.Check(context.Background(), h)
	if err := m.Apply(context.Background(), h, d); err == nil || err.Error() != "no luck" {
		t.Errorf("timeout: %v", err)
	}

	// A port: open already, then waited for until it closes.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("SSH-2.0-test\r\n"))
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	m = moduletest.New(t, "wait_for", map[string]any{"port": port, "search_regex": "^SSH-2"})
	if d, err := m.Check(context.Background(), h); err != nil || !d.Empty() {
		t.Fatalf("open port: %v %v", err, d)
	}
	m = moduletest.New(t, "wait_for", map[string]any{"port": port, "state": "stopped", "timeout": 10, "sleep": 0})
	d, err = m.Check(context.Background(), h)
	if err != nil || d.Empty() {
		t.Fatalf("check stopped: %v %v", err, d)
	}
	hasChange(t, d, plan.Update, "state")
	time.AfterFunc(300*time.Millisecond, func() { ln.Close() })
	if err := m.Apply(context.Background(), h, d); err != nil {
		t.Fatal(err)
	}
	if d, err := m.Check(context.Background(), h); err != nil || !d.Empty() {
		t.Fatalf("recheck stopped: %v %v", err, d)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// Apply with an empty diff does nothing, even for a command.
func TestApplyEmptyDiff(t *testing.T) {
	dir := t.TempDir()
	h := moduletest.Local()
	marker := filepath.Join(dir, "ran")
	for _, tc := range []struct {
		name string
		args map[string]any
	}{
		{"command", map[string]any{"argv": []any{"touch", marker}}},
		{"shell", map[string]any{"cmd": "touch " + marker}},
		{"copy", map[string]any{"dest": marker, "content": "x"}},
		{"file", map[string]any{"path": marker, "state": "touch"}},
		{"reboot", map[string]any{}},
	} {
		if err := moduletest.New(t, tc.name, tc.args).Apply(context.Background(), h, plan.Diff{}); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("an empty diff was applied")
	}
}
