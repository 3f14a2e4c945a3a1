package ssh_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/conn/ssh/sshtest"
)

// TestFileOps runs conn's file functions over a real SFTP session and, for
// the fallbacks, over the local connection, which has no FileOps and uses
// commands: both must leave the same result.
func TestFileOps(t *testing.T) {
	srv := sshtest.Start(t)
	for name, c := range map[string]conn.Conn{"sftp": dial(t, config(srv, "root")), "commands": local.New()} {
		t.Run(name, func(t *testing.T) { testFileOps(t, c) })
	}
}

func testFileOps(t *testing.T, c conn.Conn) {
	ctx := context.Background()
	dir := t.TempDir()
	deep := filepath.Join(dir, "a", "b", "c")

	created, err := conn.MkdirAll(ctx, c, deep)
	if want := []string{filepath.Join(dir, "a"), filepath.Join(dir, "a", "b"), deep}; err != nil || !slices.Equal(created, want) {
		t.Fatalf("MkdirAll = %v, %v; want %v", created, err, want)
	}
	if created, err := conn.MkdirAll(ctx, c, deep); err != nil || len(created) != 0 {
		t.Fatalf("MkdirAll again = %v, %v; want nothing created", created, err)
	}
	f := filepath.Join(deep, "f")
	os.WriteFile(f, []byte("x"), 0o644)
	if _, err := conn.MkdirAll(ctx, c, filepath.Join(f, "sub")); err == nil {
		t.Error("MkdirAll through a file succeeded")
	}

	if err := conn.Chmod(ctx, c, f, 0o600|fs.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(f); fi.Mode() != 0o600|fs.ModeSetgid {
		t.Errorf("mode after Chmod = %v", fi.Mode())
	}
	if err := conn.Chown(ctx, c, f, "nobody", ""); err != nil {
		t.Fatal(err)
	}
	if st := stat(t, f); st.Uid != 65534 || st.Gid != 0 {
		t.Errorf("owner after Chown = %d:%d, want 65534:0", st.Uid, st.Gid)
	}

	// A symlink replaces a file in one rename; its own owner changes, not
	// its target's.
	link := filepath.Join(dir, "link")
	os.WriteFile(link, []byte("old"), 0o644)
	if err := conn.Symlink(ctx, c, "a/b/c/f", link); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.Readlink(link); got != "a/b/c/f" {
		t.Errorf("link = %q", got)
	}
	if err := conn.Chown(ctx, c, link, "", "daemon"); err != nil {
		t.Fatal(err)
	}
	if st, lst := stat(t, f), lstat(t, link); lst.Gid != 1 || st.Gid != 0 {
		t.Errorf("group of link %d, of target %d; want 1 and 0", lst.Gid, st.Gid)
	}

	when := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := conn.Chtimes(ctx, c, f, when, when); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(f); !fi.ModTime().Equal(when) {
		t.Errorf("mtime = %v", fi.ModTime())
	}

	if err := conn.Remove(ctx, c, filepath.Join(dir, "a")); err == nil {
		t.Error("Remove of a directory that is not empty succeeded")
	}
	if err := conn.Remove(ctx, c, link); err != nil {
		t.Fatal(err)
	}
	// A tree past the walk's budget goes to rm -rf; both must empty it.
	for i := range 300 {
		os.WriteFile(filepath.Join(deep, fmt.Sprint("many-", i)), nil, 0o644)
	}
	for _, p := range []string{filepath.Join(dir, "a"), filepath.Join(dir, "missing")} {
		if err := conn.RemoveAll(ctx, c, p); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still there after RemoveAll", p)
		}
	}
	os.MkdirAll(filepath.Join(dir, "small", "x"), 0o755)
	os.Symlink("/etc", filepath.Join(dir, "small", "etc"))
	if err := conn.RemoveAll(ctx, c, filepath.Join(dir, "small")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/etc/passwd"); err != nil {
		t.Fatal("RemoveAll followed a symlink out of the tree")
	}
}

func stat(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t)
}

func lstat(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t)
}

// TestBecomeFileServer: under become, files are served by sudo sftp-server
// with root's rights; a wrong password fails at once with ErrBecome rather
// than leaving sudo waiting on the stream that SFTP was to use.
func TestBecomeFileServer(t *testing.T) {
	srv := sshtest.Start(t)
	if _, err := os.Stat("/usr/bin/sudo"); err != nil {
		t.Skip("sudo is not installed")
	}
	alice := sshtest.AddUser(t, "ALL=(ALL:ALL) ALL")
	login := dial(t, config(srv, alice.Name))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	bad := conn.Become(login, conn.BecomeOptions{Password: "not-her-password"})
	start := time.Now()
	if _, err := bad.Stat(ctx, "/root"); !errors.Is(err, conn.ErrBecome) {
		t.Fatalf("wrong password: %v, want ErrBecome", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("wrong password took %s to fail", d)
	}

	// Each task wraps the login anew; they share one server.
	dir, err := os.MkdirTemp("/root", "gpuctl-become-fs-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o700)
	for i := range 3 {
		c := conn.Become(login, conn.BecomeOptions{Password: alice.Password})
		p := filepath.Join(dir, fmt.Sprint("d", i), "f")
		if _, err := conn.MkdirAll(ctx, c, filepath.Dir(p)); err != nil {
			t.Fatal(err)
		}
		if err := c.WriteFile(ctx, p, []byte("secret"), conn.FileAttrs{Mode: 0o600, Owner: "nobody"}); err != nil {
			t.Fatal(err)
		}
		fi, err := c.Stat(ctx, p)
		if err != nil || fi.Owner != "nobody" || fi.Mode.Perm() != 0o600 || fi.UID != "65534" {
			t.Fatalf("Stat = %+v, %v", fi, err)
		}
		if b, err := c.ReadFile(ctx, p); err != nil || string(b) != "secret" {
			t.Fatalf("ReadFile = %q, %v", b, err)
		}
	}
	if _, err := login.Stat(ctx, filepath.Join(dir, "d0")); !errors.Is(err, fs.ErrPermission) {
		t.Errorf("the login user reached root's directory: %v", err)
	}
}
