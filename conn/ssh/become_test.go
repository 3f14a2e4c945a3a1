package ssh_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/ssh"
	"github.com/gpuctl/gpuctl/conn/ssh/sshtest"
	"github.com/gpuctl/gpuctl/internal/testhosts"
)

// sudoHost is a host with a user who may sudo without a password and one
// whom sudo asks for a password, reached as config(user).
type sudoHost struct {
	config   func(user string) ssh.Config
	nopasswd string
	pwUser   string
	password string
}

// TestBecomeLocalSSHD runs real sudo on this machine through the test sshd,
// with throwaway users.
func TestBecomeLocalSSHD(t *testing.T) {
	srv := sshtest.Start(t)
	if _, err := os.Stat("/usr/bin/sudo"); err != nil {
		t.Skip("sudo is not installed")
	}
	deploy := sshtest.AddUser(t, "ALL=(ALL:ALL) NOPASSWD: ALL")
	alice := sshtest.AddUser(t, "ALL=(ALL:ALL) ALL")
	testBecome(t, sudoHost{
		config:   func(user string) ssh.Config { return config(srv, user) },
		nopasswd: deploy.Name, pwUser: alice.Name, password: alice.Password,
	})

	t.Run("connection lost during write", func(t *testing.T) {
		srv := sshtest.Start(t) // its own, as all its sessions get killed
		dir, err := os.MkdirTemp("", "gpuctl-become-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		target := dir + "/target"
		os.WriteFile(target, []byte("original"), 0o644)
		login := dial(t, config(srv, alice.Name))
		c := conn.Become(login, conn.BecomeOptions{Password: alice.Password})
		errc := make(chan error, 1)
		go func() { errc <- c.WriteFile(context.Background(), target, make([]byte, 512<<20), conn.FileAttrs{}) }()
		time.Sleep(time.Second)
		srv.DropConnections()
		if err := <-errc; !errors.Is(err, conn.ErrConnLost) {
			t.Fatalf("err = %v, want ErrConnLost", err)
		}
		if got, _ := os.ReadFile(target); string(got) != "original" {
			t.Errorf("target changed to %d bytes", len(got))
		}
		// Under become the write goes through root's SFTP server, which dies
		// with the connection and may leave its temporary file (the shell
		// fallback's trap would remove it); either way the next write of the
		// same target removes what the cut-off one left.
		again := conn.Become(dial(t, config(srv, alice.Name)), conn.BecomeOptions{Password: alice.Password})
		if err := again.WriteFile(context.Background(), target, []byte("new"), conn.FileAttrs{}); err != nil {
			t.Fatal(err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("left in %s after the next write: %v", dir, entries)
		}
		if got, _ := os.ReadFile(target); string(got) != "new" {
			t.Errorf("target = %q after the next write", got)
		}
	})
}

// TestBecomeTestHosts runs the same against a throwaway Debian host.
func TestBecomeTestHosts(t *testing.T) {
	if testing.Short() {
		t.Skip("test hosts are not started with -short")
	}
	h := testhosts.Start(t, 1)[0]
	testBecome(t, sudoHost{
		config: func(user string) ssh.Config {
			return ssh.Config{
				Host: h.Addr, Port: h.Port, User: user, KeyFiles: []string{h.KeyFile}, NoAgent: true,
				KnownHostsFiles: []string{h.KnownHostsFile}, NoUserKnownHosts: true,
				ConnectTimeout: 10 * time.Second,
			}
		},
		nopasswd: testhosts.UserDeploy, pwUser: testhosts.UserAlice, password: testhosts.AlicePassword,
	})
}

func testBecome(t *testing.T, h sudoHost) {
	ctx := context.Background()
	root := dial(t, h.config("root"))
	if conn.Become(root, conn.BecomeOptions{}) != conn.Conn(root) {
		t.Error("Become wrapped a root login")
	}
	// A directory only root may enter proves the file operations use sudo.
	dir, err := conn.Output(ctx, root, "mktemp -d /tmp/gpuctl-become-XXXXXX")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Output(context.Background(), root, conn.Join("rm", "-rf", dir)) })

	cases := []struct {
		name, user, password string
	}{
		{"passwordless", h.nopasswd, ""},
		{"password", h.pwUser, h.password},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			login := dial(t, h.config(tc.user))
			if _, err := login.ReadFile(ctx, dir+"/x"); !errors.Is(err, fs.ErrPermission) {
				t.Fatalf("login user can read the root-only dir: %v", err)
			}
			c := conn.Become(login, conn.BecomeOptions{Password: tc.password})

			res, err := c.Run(ctx, `id -un; echo "$HOME"; cat`, conn.Stdin(strings.NewReader("input\n")))
			if err != nil {
				t.Fatal(err)
			}
			if res.Stdout != "root\n/root\ninput\n" || res.Stderr != "" {
				t.Errorf("run: %+v", res)
			}

			p := dir + "/" + tc.name + ".conf"
			if _, err := c.Stat(ctx, p); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("stat missing: %v", err)
			}
			data := bytes.Repeat([]byte("data\n"), 100000)
			if err := c.WriteFile(ctx, p, data, conn.FileAttrs{Mode: 0o640, Owner: "root", Group: "daemon"}); err != nil {
				t.Fatal(err)
			}
			got, err := c.ReadFile(ctx, p)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes: %v", len(got), err)
			}
			fi, err := c.Stat(ctx, p)
			if err != nil || fi.Mode != 0o640 || fi.Owner != "root" || fi.Group != "daemon" || fi.Size != int64(len(data)) {
				t.Errorf("stat: %+v %v", fi, err)
			}
			if out, _ := conn.Output(ctx, root, "ls -a "+dir); strings.Contains(out, ".gpuctl-") {
				t.Errorf("temporary file left: %s", out)
			}

			other, err := conn.Output(ctx, conn.Become(login, conn.BecomeOptions{User: "nobody", Password: tc.password}), "id -un")
			if err != nil || other != "nobody" {
				t.Errorf("become nobody: %q %v", other, err)
			}
		})
	}

	t.Run("password never in the process list", func(t *testing.T) {
		login := dial(t, h.config(h.pwUser))
		c := conn.Become(login, conn.BecomeOptions{Password: h.password})
		done := make(chan error, 1)
		go func() {
			_, err := c.Run(ctx, "sleep 4")
			done <- err
		}()
		// Look until the command shows up, so sudo and the shells around
		// it were all there to be seen.
		seen := false
		for deadline := time.Now().Add(4 * time.Second); !seen && time.Now().Before(deadline); {
			ps, err := conn.Output(ctx, root, "ps -eo args; cat /proc/[0-9]*/cmdline | tr '\\0' ' '")
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(ps, h.password) {
				t.Fatal("the sudo password is visible in the process list")
			}
			seen = strings.Contains(ps, "sleep 4")
		}
		if !seen {
			t.Errorf("the command never showed up in the process list")
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		login := dial(t, h.config(h.nopasswd))
		c := conn.Become(login, conn.BecomeOptions{})
		marker := dir + "/cancelled-but-ran"
		cctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		defer cancel()
		if _, err := c.Run(cctx, "sleep 3; touch "+marker); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v", err)
		}
		time.Sleep(3500 * time.Millisecond)
		if _, err := root.Stat(ctx, marker); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("the cancelled command under sudo kept running (stat: %v)", err)
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		login := dial(t, h.config(h.pwUser))
		_, err := conn.Become(login, conn.BecomeOptions{Password: "not-" + h.password}).Run(ctx, "true")
		if !errors.Is(err, conn.ErrBecome) || !strings.Contains(err.Error(), "wrong sudo password for "+h.pwUser) {
			t.Fatalf("err = %v", err)
		}
		if strings.Contains(err.Error(), h.password) {
			t.Error("password in error")
		}
	})
	t.Run("password required", func(t *testing.T) {
		login := dial(t, h.config(h.pwUser))
		_, err := conn.Become(login, conn.BecomeOptions{}).Run(ctx, "true")
		if !errors.Is(err, conn.ErrBecome) || !strings.Contains(err.Error(), "none was given") {
			t.Fatalf("err = %v", err)
		}
	})
}
