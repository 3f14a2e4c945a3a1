package ssh_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/ssh"
	"github.com/gpuctl/gpuctl/conn/ssh/sshtest"
)

// config is a Config for srv as user that trusts only srv's known_hosts.
func config(srv *sshtest.Server, user string) ssh.Config {
	return ssh.Config{
		Host: srv.Host, Port: srv.Port, User: user,
		KeyFiles:         []string{srv.ClientKey},
		NoAgent:          true,
		KnownHostsFiles:  []string{srv.KnownHosts},
		NoUserKnownHosts: true,
		ConnectTimeout:   30 * time.Second,
	}
}

func dial(t *testing.T, cfg ssh.Config) *ssh.Conn {
	t.Helper()
	c, err := ssh.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestRun runs every case through a session per command and through the
// command server (cmdserver.go), whose results must be the same.
func TestRun(t *testing.T) {
	srv := sshtest.Start(t)
	t.Run("sessions", func(t *testing.T) { testRun(t, dial(t, config(srv, "root"))) })
	cfg := config(srv, "root")
	cfg.CommandServer = true
	t.Run("command server", func(t *testing.T) {
		c := dial(t, cfg)
		if out, err := conn.Output(context.Background(), c, "cat /proc/$PPID/comm"); err != nil || out != "perl" {
			t.Fatalf("the command's parent is %q (%v), want the server (perl)", out, err)
		}
		testRun(t, c)
	})
}

func testRun(t *testing.T, c *ssh.Conn) {
	ctx := context.Background()

	tests := []struct {
		name   string
		cmd    string
		opts   []conn.ExecOption
		stdout string
		stderr string
		rc     int
	}{
		{name: "stdout", cmd: "echo hello", stdout: "hello\n"},
		{name: "stderr and exit code", cmd: "echo oops >&2; exit 3", stderr: "oops\n", rc: 3},
		{name: "sh semantics", cmd: "x=1; [ \"$x\" = 1 ] && printf '%s' \"$0\"", stdout: "/bin/sh"},
		{name: "stdin", cmd: "tr a-z A-Z", opts: []conn.ExecOption{conn.Stdin(strings.NewReader("abc\nline two\n"))}, stdout: "ABC\nLINE TWO\n"},
		{name: "env", cmd: `printf '%s|%s' "$GREETING" "$OTHER"`, opts: []conn.ExecOption{conn.Env(map[string]string{"GREETING": "it's a \"test\" $HOME", "OTHER": ""})}, stdout: `it's a "test" $HOME|`},
		{name: "dir", cmd: "pwd", opts: []conn.ExecOption{conn.Dir("/usr/share")}, stdout: "/usr/share\n"},
		{name: "missing dir", cmd: "pwd", opts: []conn.ExecOption{conn.Dir("/nonexistent")}, rc: 1},
		{name: "killed by signal", cmd: "kill -9 $$", rc: 137},
		{name: "syntax error", cmd: "if then", rc: 2},
		{name: "quotes", cmd: `echo 'single' "double" \back`, stdout: "single double back\n"},
		{name: "heredoc", cmd: "cat <<EOF\nhere\nEOF", stdout: "here\n"},
		{name: "trailing comment", cmd: "echo x # comment", stdout: "x\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.Run(ctx, tt.cmd, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if res.ExitCode != tt.rc {
				t.Errorf("rc = %d, want %d (stderr %q)", res.ExitCode, tt.rc, res.Stderr)
			}
			if tt.stdout != "" && res.Stdout != tt.stdout {
				t.Errorf("stdout = %q, want %q", res.Stdout, tt.stdout)
			}
			if tt.stderr != "" && res.Stderr != tt.stderr {
				t.Errorf("stderr = %q, want %q", res.Stderr, tt.stderr)
			}
		})
	}

	t.Run("stream", func(t *testing.T) {
		var buf bytes.Buffer
		res, err := c.Run(ctx, "echo a; echo b", conn.Stream(&buf))
		if err != nil || res.Stdout != "a\nb\n" || buf.String() != "a\nb\n" {
			t.Fatalf("res %+v, stream %q, err %v", res, buf.String(), err)
		}
	})
	t.Run("bad env name", func(t *testing.T) {
		if _, err := c.Run(ctx, "true", conn.Env(map[string]string{"A B": "x"})); err == nil {
			t.Fatal("want error")
		}
	})
	t.Run("large stdin and stdout", func(t *testing.T) {
		data := make([]byte, 8<<20)
		rand.Read(data)
		res, err := c.Run(ctx, "cat", conn.Stdin(bytes.NewReader(data)))
		if err != nil || !bytes.Equal([]byte(res.Stdout), data) {
			t.Fatalf("got %d bytes, err %v", len(res.Stdout), err)
		}
	})
	t.Run("stdin not read", func(t *testing.T) {
		// A reader that never ends must not hold Run up once the command exits.
		pr, pw := io.Pipe()
		defer pw.Close()
		res, err := c.Run(ctx, "echo done", conn.Stdin(pr))
		if err != nil || res.Stdout != "done\n" {
			t.Fatalf("res %+v err %v", res, err)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		errs := make(chan error, 40)
		for i := 0; i < 40; i++ {
			go func() {
				res, err := c.Run(ctx, "echo ok")
				if err == nil && res.Stdout != "ok\n" {
					err = errors.New("bad output " + res.Stdout)
				}
				errs <- err
			}()
		}
		for i := 0; i < 40; i++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	})
}

// shellUser is a throwaway user whose login shell is /bin/sh. Tests that
// kill sessions use it: root's shell start-up files on a developer machine
// (pyenv rehash takes a lock) must never be killed halfway.
func shellUser(t *testing.T, srv *sshtest.Server) (ssh.Config, string) {
	u := sshtest.AddUser(t, "")
	return config(srv, u.Name), u.Home
}

func TestRunCancel(t *testing.T) {
	srv := sshtest.Start(t)
	cfg, home := shellUser(t, srv)
	t.Run("sessions", func(t *testing.T) { testRunCancel(t, dial(t, cfg), home) })
	cfg.CommandServer = true
	t.Run("command server", func(t *testing.T) { testRunCancel(t, dial(t, cfg), home) })
}

func testRunCancel(t *testing.T, c *ssh.Conn, home string) {
	marker := filepath.Join(home, "still-running")
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	// The sleep is a child of the shell: cancelling must stop it too, so
	// the touch never happens.
	_, err := c.Run(ctx, "sleep 3; touch "+marker)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	t.Logf("cancel returned after %s", time.Since(start))
	time.Sleep(3 * time.Second)
	if _, err := os.Stat(marker); err == nil {
		t.Error("the cancelled command kept running")
	}
	// The connection is still usable.
	if out, err := conn.Output(context.Background(), c, "echo alive"); err != nil || out != "alive" {
		t.Fatalf("after cancel: %q %v", out, err)
	}
}

func TestFiles(t *testing.T) {
	srv := sshtest.Start(t)
	c := dial(t, config(srv, "root"))
	ctx := context.Background()
	dir := t.TempDir()
	target := filepath.Join(dir, "file.conf")

	t.Run("missing", func(t *testing.T) {
		if _, err := c.ReadFile(ctx, target); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadFile: %v, want ErrNotExist", err)
		}
		if _, err := c.Stat(ctx, target); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat: %v, want ErrNotExist", err)
		}
	})
	t.Run("write read stat", func(t *testing.T) {
		if err := c.WriteFile(ctx, target, []byte("v1\n"), conn.FileAttrs{}); err != nil {
			t.Fatal(err)
		}
		if err := c.WriteFile(ctx, target, []byte("v2\n"), conn.FileAttrs{Mode: 0o640, Owner: "nobody", Group: "daemon"}); err != nil {
			t.Fatal(err)
		}
		got, err := c.ReadFile(ctx, target)
		if err != nil || string(got) != "v2\n" {
			t.Fatalf("ReadFile = %q, %v", got, err)
		}
		fi, err := c.Stat(ctx, target)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode != 0o640 || fi.Owner != "nobody" || fi.Group != "daemon" || fi.Size != 3 || fi.IsDir() {
			t.Errorf("Stat = %+v", fi)
		}
		assertNoTemps(t, dir)
	})
	t.Run("default mode and setuid", func(t *testing.T) {
		p := filepath.Join(dir, "tool")
		if err := c.WriteFile(ctx, p, []byte("x"), conn.FileAttrs{}); err != nil {
			t.Fatal(err)
		}
		if fi, _ := c.Stat(ctx, p); fi.Mode != 0o644 || fi.Owner != "root" {
			t.Errorf("default: %+v", fi)
		}
		if err := c.WriteFile(ctx, p, []byte("x"), conn.FileAttrs{Mode: 0o755 | fs.ModeSetuid, Owner: "root"}); err != nil {
			t.Fatal(err)
		}
		if fi, _ := c.Stat(ctx, p); fi.Mode != 0o755|fs.ModeSetuid {
			t.Errorf("setuid: %v", fi.Mode)
		}
	})
	t.Run("symlink and dir", func(t *testing.T) {
		link := filepath.Join(dir, "link")
		if err := os.Symlink("file.conf", link); err != nil {
			t.Fatal(err)
		}
		fi, err := c.Stat(ctx, link)
		if err != nil || !fi.IsLink() || fi.Link != "file.conf" {
			t.Errorf("link: %+v %v", fi, err)
		}
		fi, err = c.Stat(ctx, dir)
		if err != nil || !fi.IsDir() {
			t.Errorf("dir: %+v %v", fi, err)
		}
	})
	t.Run("unknown owner leaves target", func(t *testing.T) {
		err := c.WriteFile(ctx, target, []byte("v3\n"), conn.FileAttrs{Owner: "no-such-user-gpuctl"})
		if err == nil || !strings.Contains(err.Error(), "no-such-user-gpuctl") {
			t.Fatalf("err = %v", err)
		}
		if got, _ := os.ReadFile(target); string(got) != "v2\n" {
			t.Errorf("target changed: %q", got)
		}
		assertNoTemps(t, dir)
	})
	t.Run("missing directory", func(t *testing.T) {
		err := c.WriteFile(ctx, filepath.Join(dir, "nodir", "f"), []byte("x"), conn.FileAttrs{})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("large", func(t *testing.T) {
		p := filepath.Join(dir, "large.bin")
		data := make([]byte, 64<<20)
		rand.Read(data)
		start := time.Now()
		if err := c.WriteFile(ctx, p, data, conn.FileAttrs{Mode: 0o600}); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote 64 MiB in %s", time.Since(start))
		start = time.Now()
		got, err := c.ReadFile(ctx, p)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read back %d bytes, %v", len(got), err)
		}
		t.Logf("read 64 MiB in %s", time.Since(start))
		assertNoTemps(t, dir)
	})
	t.Run("cancelled upload", func(t *testing.T) {
		p := filepath.Join(dir, "cancelled.bin")
		os.WriteFile(p, []byte("old"), 0o644)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := c.WriteFile(cctx, p, make([]byte, 1<<20), conn.FileAttrs{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
		if got, _ := os.ReadFile(p); string(got) != "old" {
			t.Errorf("target changed")
		}
		assertNoTemps(t, dir)
	})
}

func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".gpuctl-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

func TestDialThroughTunnel(t *testing.T) {
	srv := sshtest.Start(t)
	c := dial(t, config(srv, "root"))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			s, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(s, s); s.Close() }()
		}
	}()
	nc, err := c.Dial(context.Background(), "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	io.WriteString(nc, "ping")
	buf := make([]byte, 4)
	if _, err := io.ReadFull(nc, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q %v", buf, err)
	}
	if _, err := c.Dial(context.Background(), "tcp", "127.0.0.1:1"); err == nil {
		t.Error("dial to a closed port succeeded")
	}
}

func TestBastion(t *testing.T) {
	srv := sshtest.Start(t)
	jump := config(srv, "root")
	cfg := config(srv, "root")
	cfg.Bastion = &jump
	c := dial(t, cfg)
	out, err := conn.Output(context.Background(), c, "echo $SSH_CONNECTION")
	if err != nil {
		t.Fatal(err)
	}
	// Through the bastion, the server sees the connection come from itself.
	if !strings.HasPrefix(out, "127.0.0.1 ") {
		t.Errorf("SSH_CONNECTION = %q", out)
	}
}

func TestHostKeys(t *testing.T) {
	srv := sshtest.Start(t)
	ctx := context.Background()

	t.Run("unknown host", func(t *testing.T) {
		cfg := config(srv, "root")
		cfg.KnownHostsFiles = []string{filepath.Join(t.TempDir(), "absent")}
		_, err := ssh.Dial(ctx, cfg)
		if !errors.Is(err, conn.ErrHostKey) {
			t.Fatalf("err = %v", err)
		}
		var hk *ssh.HostKeyError
		if !errors.As(err, &hk) || hk.Changed {
			t.Fatalf("want unknown-host error, got %v", err)
		}
		for _, want := range []string{"unknown", "ssh-keyscan -p", "off explicitly", "GPUCTL_HOST_KEY_CHECKING=false", "SHA256:"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("message lacks %q: %v", want, err)
			}
		}
	})
	t.Run("changed key", func(t *testing.T) {
		other, err := sshtest.WriteKey(filepath.Join(t.TempDir(), "k"))
		if err != nil {
			t.Fatal(err)
		}
		kh := filepath.Join(t.TempDir(), "known_hosts")
		line := "[127.0.0.1]:" + itoa(srv.Port) + " " + string(marshal(other))
		os.WriteFile(kh, []byte(line), 0o644)
		cfg := config(srv, "root")
		cfg.KnownHostsFiles = []string{kh}
		_, err = ssh.Dial(ctx, cfg)
		if !errors.Is(err, conn.ErrHostKey) || !strings.Contains(err.Error(), "host key for [127.0.0.1]:"+itoa(srv.Port)+" changed") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("insecure opt-out", func(t *testing.T) {
		cfg := config(srv, "root")
		cfg.KnownHostsFiles = nil
		cfg.InsecureIgnoreHostKey = true
		c := dial(t, cfg)
		c.Close()
	})
}

func TestAuthAndReachability(t *testing.T) {
	srv := sshtest.Start(t)
	ctx := context.Background()

	t.Run("wrong key", func(t *testing.T) {
		cfg := config(srv, "root")
		cfg.KeyFiles = []string{filepath.Join(t.TempDir(), "wrong")}
		if _, err := sshtest.WriteKey(cfg.KeyFiles[0]); err != nil {
			t.Fatal(err)
		}
		_, err := ssh.Dial(ctx, cfg)
		if !errors.Is(err, conn.ErrAuth) || !strings.Contains(err.Error(), "root@127.0.0.1:") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("password", func(t *testing.T) {
		u := sshtest.AddUser(t, "")
		cfg := config(srv, u.Name)
		cfg.KeyFiles = []string{filepath.Join(t.TempDir(), "wrong")}
		sshtest.WriteKey(cfg.KeyFiles[0])
		cfg.Password = u.Password
		c := dial(t, cfg)
		if out, err := conn.Output(ctx, c, "id -un"); err != nil || out != u.Name {
			t.Fatalf("id: %q %v", out, err)
		}
		cfg.Password = "wrong"
		if _, err := ssh.Dial(ctx, cfg); !errors.Is(err, conn.ErrAuth) {
			t.Fatalf("wrong password: %v", err)
		}
	})
	t.Run("closed port", func(t *testing.T) {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := l.Addr().(*net.TCPAddr)
		l.Close()
		cfg := config(srv, "root")
		cfg.Port = addr.Port
		start := time.Now()
		_, err := ssh.Dial(ctx, cfg)
		if !errors.Is(err, conn.ErrUnreachable) {
			t.Fatalf("err = %v", err)
		}
		t.Logf("refused after %s", time.Since(start))
	})
	t.Run("silent port times out", func(t *testing.T) {
		// A listener that never speaks SSH: the handshake must give up at
		// ConnectTimeout rather than hang.
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		defer l.Close()
		go func() {
			for {
				s, err := l.Accept()
				if err != nil {
					return
				}
				defer s.Close()
			}
		}()
		cfg := config(srv, "root")
		cfg.Port = l.Addr().(*net.TCPAddr).Port
		cfg.ConnectTimeout = 300 * time.Millisecond
		start := time.Now()
		_, err := ssh.Dial(ctx, cfg)
		if !errors.Is(err, conn.ErrUnreachable) {
			t.Fatalf("err = %v", err)
		}
		// Not a speed target: only proof that it gave up instead of hanging.
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("took %s with a 300ms timeout", d)
		}
	})
}

func TestConnLost(t *testing.T) {
	srv := sshtest.Start(t)
	cfg, dir := shellUser(t, srv)
	cfg.KeepAliveInterval = 200 * time.Millisecond
	c := dial(t, cfg)
	ctx := context.Background()
	target := filepath.Join(dir, "target")
	if err := c.WriteFile(ctx, target, []byte("original"), conn.FileAttrs{}); err != nil {
		t.Fatal(err)
	}

	// Kill the server while a large upload is in flight.
	data := make([]byte, 256<<20)
	errc := make(chan error, 1)
	go func() { errc <- c.WriteFile(ctx, target, data, conn.FileAttrs{}) }()
	time.Sleep(300 * time.Millisecond)
	srv.Kill()
	err := <-errc
	if !errors.Is(err, conn.ErrConnLost) {
		t.Fatalf("upload: err = %v, want ErrConnLost", err)
	}
	if got, _ := os.ReadFile(target); string(got) != "original" {
		t.Fatalf("target changed to %d bytes", len(got))
	}
	if _, err := c.Run(ctx, "true"); !errors.Is(err, conn.ErrConnLost) {
		t.Fatalf("run after loss: %v", err)
	}
}

func TestConnLostDuringRun(t *testing.T) {
	for _, server := range []bool{false, true} {
		t.Run(fmt.Sprintf("command server %v", server), func(t *testing.T) {
			srv := sshtest.Start(t)
			cfg, _ := shellUser(t, srv)
			cfg.CommandServer = server
			testConnLostDuringRun(t, srv, dial(t, cfg))
		})
	}
}

func testConnLostDuringRun(t *testing.T, srv *sshtest.Server, c *ssh.Conn) {
	errc := make(chan error, 1)
	go func() {
		_, err := c.Run(context.Background(), "sleep 30")
		errc <- err
	}()
	time.Sleep(300 * time.Millisecond)
	srv.KillSessions()
	select {
	case err := <-errc:
		if !errors.Is(err, conn.ErrConnLost) {
			t.Fatalf("err = %v, want ErrConnLost", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not notice the lost connection")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func marshal(k gossh.PublicKey) []byte { return gossh.MarshalAuthorizedKey(k) }

func sshDial(srv *sshtest.Server) (*ssh.Conn, error) {
	return ssh.Dial(context.Background(), config(srv, "root"))
}

func gosshParseRaw(pemBytes []byte) (any, error) { return gossh.ParseRawPrivateKey(pemBytes) }
