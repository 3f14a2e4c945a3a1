package generic_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/conn/ssh"
	"github.com/gpuctl/gpuctl/conn/ssh/sshtest"
	"github.com/gpuctl/gpuctl/modules/moduletest"
	"github.com/gpuctl/gpuctl/plan"
)

// sshHost reaches this machine through a real sshd as root, so the
// modules' file work goes over SFTP and their commands over SSH sessions.
func sshHost(t *testing.T) *moduletest.Host {
	t.Helper()
	srv := sshtest.Start(t) // skips without root/sshd and with -short
	return sshHostAs(t, srv, "root")
}

func sshHostAs(t *testing.T, srv *sshtest.Server, user string) *moduletest.Host {
	t.Helper()
	c, err := ssh.Dial(context.Background(), ssh.Config{
		Host: srv.Host, Port: srv.Port, User: user,
		KeyFiles: []string{srv.ClientKey}, NoAgent: true,
		KnownHostsFiles: []string{srv.KnownHosts}, NoUserKnownHosts: true,
		ConnectTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	h := moduletest.Local()
	h.HostName, h.C = "ssh-localhost", c
	return h
}

func owner(t *testing.T, p string) (uint32, uint32) {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid
}

func TestOverSSH(t *testing.T) {
	h := sshHost(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "etc", "app.conf")
	write(t, conf, "a=1\n", 0o644)

	t.Run("copy owner", func(t *testing.T) {
		d := moduletest.Timeline(t, h, dir, "copy", map[string]any{"dest": conf, "content": "a=2\n", "owner": "nobody", "group": "nogroup", "mode": "0600"})
		hasChange(t, d, plan.Update, "owner")
		if uid, gid := owner(t, conf); uid != 65534 || gid != 65534 || perm(t, conf) != 0o600 || read(t, conf) != "a=2\n" {
			t.Errorf("owner %d:%d mode %v", uid, gid, perm(t, conf))
		}
		// Numeric ids match the names the host reports.
		moduletest.Timeline(t, h, dir, "copy", map[string]any{"dest": conf, "content": "a=3\n", "owner": "65534", "group": "65534"})
		if uid, _ := owner(t, conf); uid != 65534 {
			t.Error("an edit without owner changed the owner")
		}
	})
	t.Run("attrs only", func(t *testing.T) {
		d := moduletest.Timeline(t, h, dir, "copy", map[string]any{"dest": conf, "content": "a=3\n", "owner": "root"})
		if got := fields(d); len(got) != 1 || got[0] != "update owner" {
			t.Errorf("diff %v", got)
		}
	})
	t.Run("copy dir", func(t *testing.T) {
		src := t.TempDir()
		write(t, filepath.Join(src, "x", "y.conf"), "y\n", 0o644)
		moduletest.Timeline(t, h, dir, "copy", map[string]any{"src": src + "/", "dest": filepath.Join(dir, "tree"), "owner": "nobody"})
		if uid, _ := owner(t, filepath.Join(dir, "tree", "x", "y.conf")); uid != 65534 || read(t, filepath.Join(dir, "tree", "x", "y.conf")) != "y\n" {
			t.Error("tree over ssh")
		}
	})
	t.Run("lineinfile", func(t *testing.T) {
		moduletest.Timeline(t, h, dir, "lineinfile", map[string]any{"path": conf, "regexp": "^a=", "line": "a=4", "backup": true})
		if read(t, conf) != "a=4\n" || perm(t, conf) != 0o600 {
			t.Errorf("%q %v", read(t, conf), perm(t, conf))
		}
	})
	t.Run("replace", func(t *testing.T) {
		moduletest.Timeline(t, h, dir, "replace", map[string]any{"path": conf, "regexp": `^a=(\d)$`, "replace": `b=\1`})
		if read(t, conf) != "b=4\n" {
			t.Errorf("%q", read(t, conf))
		}
	})
	t.Run("template", func(t *testing.T) {
		pb := t.TempDir()
		write(t, filepath.Join(pb, "t.j2"), "{% for n in nodes %}{{ n }}\n{% endfor %}", 0o644)
		h.V["playbook_dir"], h.V["nodes"] = pb, []any{"gpu-1", "gpu-2"}
		out := filepath.Join(dir, "nodes")
		moduletest.Timeline(t, h, dir, "template", map[string]any{"src": "t.j2", "dest": out})
		if read(t, out) != "gpu-1\ngpu-2\n" {
			t.Errorf("%q", read(t, out))
		}
	})
	t.Run("file", func(t *testing.T) {
		d := filepath.Join(dir, "var", "lib", "models")
		moduletest.Timeline(t, h, dir, "file", map[string]any{"path": d, "state": "directory", "owner": "nobody", "mode": "0750"})
		if uid, _ := owner(t, d); uid != 65534 {
			t.Error("directory owner")
		}
		moduletest.Timeline(t, h, dir, "file", map[string]any{"path": d, "state": "directory", "recurse": true, "owner": "root"})
		l := filepath.Join(dir, "models")
		// follow: false owns the link itself; the default (follow) what
		// it points to, as in Ansible.
		moduletest.Timeline(t, h, dir, "file", map[string]any{"path": l, "state": "link", "src": d, "owner": "nobody", "follow": false})
		if uid, _ := owner(t, l); uid != 65534 {
			t.Error("link owner")
		}
		moduletest.Timeline(t, h, dir, "file", map[string]any{"path": l, "state": "link", "src": d, "owner": "daemon"})
		if uid, _ := owner(t, l); uid != 65534 {
			t.Error("link owner changed with follow")
		}
		if uid, _ := owner(t, d); uid != 1 {
			t.Errorf("target owner %d, want daemon", uid)
		}
		moduletest.Timeline(t, h, dir, "file", map[string]any{"path": filepath.Join(dir, "var"), "state": "absent"})
	})
	t.Run("command", func(t *testing.T) {
		moduletest.Timeline(t, h, dir, "shell", map[string]any{"cmd": "id -un > whoami", "chdir": dir, "creates": "whoami"})
		if read(t, filepath.Join(dir, "whoami")) != "root\n" {
			t.Error("shell over ssh")
		}
	})
	t.Run("wait_for port", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		m := moduletest.New(t, "wait_for", map[string]any{"port": port, "timeout": 10, "sleep": 0})
		d, err := m.Check(context.Background(), h)
		if err != nil || d.Empty() {
			t.Fatalf("closed port: %v %v", err, d)
		}
		time.AfterFunc(300*time.Millisecond, func() {
			ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", itoa(port)))
			if err == nil {
				t.Cleanup(func() { ln.Close() })
			}
		})
		if err := m.Apply(context.Background(), h, d); err != nil {
			t.Fatal(err)
		}
	})
}

// An unprivileged user edits a file it owns but whose group it is not in:
// the owner cannot be kept by chown, so the file is written as the user,
// as Ansible does, instead of failing.
func TestUnprivilegedEdit(t *testing.T) {
	srv := sshtest.Start(t)
	u := sshtest.AddUser(t, "")
	h := sshHostAs(t, srv, u.Name)
	p := filepath.Join(u.Home, "app.conf")
	write(t, p, "a=1\n", 0o664)
	if err := os.Chown(p, uidOf(t, u.Home), 0); err != nil {
		t.Fatal(err)
	}
	moduletest.Timeline(t, h, u.Home, "lineinfile", map[string]any{"path": p, "line": "b=2"})
	if read(t, p) != "a=1\nb=2\n" || perm(t, p) != 0o664 {
		t.Errorf("%q %v", read(t, p), perm(t, p))
	}
	if uid, _ := owner(t, p); int(uid) != uidOf(t, u.Home) {
		t.Errorf("owner %d", uid)
	}
}

func uidOf(t *testing.T, p string) int {
	uid, _ := owner(t, p)
	return int(uid)
}
