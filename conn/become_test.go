package conn_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/local"
)

// fakeSudo imitates sudo's password protocol: -n fails when a password is
// needed, -S reads it from stdin one line at a time with three tries, and
// "cached" mode skips the password like a fresh timestamp or NOPASSWD.
const fakeSudo = `#!/bin/sh
prompt="Password: "; n=
while [ $# -gt 0 ]; do
  case "$1" in
    -H|-S) shift;;
    -u) shift 2;;
    -n) n=1; shift;;
    -p) prompt="$2"; shift 2;;
    --) shift; break;;
    *) break;;
  esac
done
if [ "$FAKE_SUDO_MODE" = password ]; then
  if [ -n "$n" ]; then echo "sudo: a password is required" >&2; exit 1; fi
  tries=0
  while [ $tries -lt 3 ]; do
    printf '%s' "$prompt" >&2
    IFS= read -r pw || { echo "sudo: no password was provided" >&2; exit 1; }
    [ "$pw" = "$FAKE_SUDO_PW" ] && exec "$@"
    tries=$((tries+1))
    [ $tries -lt 3 ] && echo "Sorry, try again." >&2
  done
  echo "sudo: 3 incorrect password attempts" >&2
  exit 1
fi
exec "$@"
`

// recorder is a local connection that claims a non-root login user and
// remembers every command line, to prove what reaches a process list.
type recorder struct {
	*local.Conn
	mu   sync.Mutex
	cmds []string
}

func (r *recorder) Run(ctx context.Context, cmd string, opts ...conn.ExecOption) (conn.Result, error) {
	r.mu.Lock()
	r.cmds = append(r.cmds, cmd)
	r.mu.Unlock()
	if cmd == "id -u; id -un" {
		return conn.Result{Stdout: "1000\ndeploy\n"}, nil
	}
	return r.Conn.Run(ctx, cmd, opts...)
}

func withFakeSudo(t *testing.T, mode, password string) *recorder {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sudo"), []byte(fakeSudo), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+":"+os.Getenv("PATH"))
	t.Setenv("FAKE_SUDO_MODE", mode)
	t.Setenv("FAKE_SUDO_PW", password)
	return &recorder{Conn: local.New()}
}

func TestBecomeRun(t *testing.T) {
	ctx := context.Background()
	const pw = "s3cret pass'word"
	tests := []struct {
		name     string
		mode     string // fake sudo behaviour
		password string // given to Become
		wantErr  string // substring of an ErrBecome error, "" for success
	}{
		{name: "nopasswd", mode: "nopasswd"},
		{name: "password", mode: "password", password: pw},
		{name: "password not asked", mode: "cached", password: pw},
		{name: "password required", mode: "password", wantErr: "none was given"},
		{name: "wrong password", mode: "password", password: "nope", wantErr: "wrong sudo password for deploy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := withFakeSudo(t, tt.mode, pw)
			c := conn.Become(rec, conn.BecomeOptions{Password: tt.password})
			res, err := c.Run(ctx, `printf '%s|%s|' "$GREETING" "$(pwd)"; cat; echo warn >&2; exit 4`,
				conn.Stdin(strings.NewReader("line one\nline two\n")),
				conn.Env(map[string]string{"GREETING": "hi there"}), conn.Dir("/usr"))
			if tt.wantErr != "" {
				if !errors.Is(err, conn.ErrBecome) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrBecome with %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), pw) || strings.Contains(err.Error(), "gpuctl-sudo-") {
					t.Errorf("error shows the password or the prompt: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// The command's stdin is exactly what it was given: no password.
			if want := "hi there|/usr|line one\nline two\n"; res.Stdout != want {
				t.Errorf("stdout = %q, want %q", res.Stdout, want)
			}
			if res.Stderr != "warn\n" || res.ExitCode != 4 {
				t.Errorf("stderr %q rc %d", res.Stderr, res.ExitCode)
			}
			for _, cmd := range rec.cmds {
				if strings.Contains(cmd, pw) {
					t.Errorf("password on a command line: %s", cmd)
				}
			}
		})
	}
}

func TestBecomeRootPassthrough(t *testing.T) {
	root := rootConn{local.New()}
	if got := conn.Become(root, conn.BecomeOptions{}); got != conn.Conn(root) {
		t.Error("Become wrapped a root connection")
	}
	if got := conn.Become(root, conn.BecomeOptions{User: "postgres"}); got == conn.Conn(root) {
		t.Error("Become must still sudo to another user")
	}
	if os.Geteuid() == 0 {
		// Without User(), the login identity is asked for once; as root no
		// sudo is involved, so this works even where sudo is missing.
		t.Setenv("PATH", "/nonexistent:/usr/bin:/bin")
		c := conn.Become(local.New(), conn.BecomeOptions{})
		if out, err := conn.Output(context.Background(), c, "echo $((1+1))"); err != nil || out != "2" {
			t.Fatalf("%q %v", out, err)
		}
	}
}

type rootConn struct{ *local.Conn }

func (rootConn) User() string { return "root" }

func TestBecomeFiles(t *testing.T) {
	if _, err := exec.LookPath("stat"); err != nil {
		t.Skip("needs GNU coreutils")
	}
	ctx := context.Background()
	for _, mode := range []string{"nopasswd", "password"} {
		t.Run(mode, func(t *testing.T) {
			rec := withFakeSudo(t, mode, "pw")
			pw := ""
			if mode == "password" {
				pw = "pw"
			}
			c := conn.Become(rec, conn.BecomeOptions{Password: pw})
			dir := t.TempDir()
			p := filepath.Join(dir, "f.conf")

			if _, err := c.ReadFile(ctx, p); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("ReadFile missing: %v", err)
			}
			if _, err := c.Stat(ctx, p); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Stat missing: %v", err)
			}
			if err := c.WriteFile(ctx, filepath.Join(dir, "no", "f"), []byte("x"), conn.FileAttrs{}); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("WriteFile in a missing dir: %v", err)
			}
			data := append([]byte("binary\x00\xff\n"), bytes.Repeat([]byte("z"), 1<<20)...)
			if err := c.WriteFile(ctx, p, data, conn.FileAttrs{Mode: 0o640}); err != nil {
				t.Fatal(err)
			}
			got, err := c.ReadFile(ctx, p)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("ReadFile: %d bytes, %v", len(got), err)
			}
			fi, err := c.Stat(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode != 0o640 || fi.Size != int64(len(data)) || fi.IsDir() {
				t.Errorf("Stat = %+v", fi)
			}
			if os.Geteuid() == 0 {
				if err := c.WriteFile(ctx, p, []byte("y"), conn.FileAttrs{Mode: 0o755 | fs.ModeSetgid, Owner: "nobody", Group: "daemon"}); err != nil {
					t.Fatal(err)
				}
				fi, _ = c.Stat(ctx, p)
				if fi.Owner != "nobody" || fi.Group != "daemon" || fi.Mode != 0o755|fs.ModeSetgid {
					t.Errorf("owner/mode: %+v", fi)
				}
			}
			if err := c.WriteFile(ctx, p, []byte("z"), conn.FileAttrs{Owner: "no-such-user-gpuctl"}); err == nil {
				t.Error("unknown owner accepted")
			}
			if got, _ := os.ReadFile(p); len(got) != 1 && !bytes.Equal(got, data) {
				t.Errorf("failed write changed the file")
			}
			os.Symlink("f.conf", filepath.Join(dir, "link"))
			fi, err = c.Stat(ctx, filepath.Join(dir, "link"))
			if err != nil || !fi.IsLink() || fi.Link != "f.conf" {
				t.Errorf("link: %+v %v", fi, err)
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.Contains(e.Name(), ".gpuctl-") {
					t.Errorf("temporary file left: %s", e.Name())
				}
			}
		})
	}
}

func TestBecomeOptionsValidate(t *testing.T) {
	for _, o := range []conn.BecomeOptions{{Method: "su"}, {Password: "a\nb"}, {User: "x; rm"}} {
		if o.Validate() == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	if err := (conn.BecomeOptions{User: "postgres", Password: "p w", Method: "sudo"}).Validate(); err != nil {
		t.Error(err)
	}
}

// The command fallback (no file server) guards the plan and cleans up
// what cut-off writes left, as the SFTP path does.
func TestBecomeWriteGuard(t *testing.T) {
	if _, err := exec.LookPath("sha256sum"); err != nil {
		t.Skip("needs GNU coreutils")
	}
	ctx := context.Background()
	c := conn.Become(withFakeSudo(t, "nopasswd", ""), conn.BecomeOptions{})
	dir := t.TempDir()
	p := filepath.Join(dir, "f.conf")
	leftover := conn.TempName(p)
	os.WriteFile(leftover, []byte("half"), 0o600)
	if err := c.WriteFile(ctx, p, []byte("v1"), conn.FileAttrs{Planned: conn.PlannedFrom(nil, false)}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftover); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("leftover of a cut-off write survived: %v", err)
	}
	os.WriteFile(p, []byte("theirs"), 0o644)
	err := c.WriteFile(ctx, p, []byte("v2"), conn.FileAttrs{Planned: conn.PlannedFrom([]byte("v1"), true)})
	var ce *conn.ChangedError
	if !errors.As(err, &ce) || ce.Now != *conn.PlannedFrom([]byte("theirs"), true) {
		t.Fatalf("write over a changed file: %v", err)
	}
	if got, _ := os.ReadFile(p); string(got) != "theirs" {
		t.Errorf("changed file replaced: %q", got)
	}
	if err := c.WriteFile(ctx, p, []byte("v2"), conn.FileAttrs{Planned: conn.PlannedFrom([]byte("theirs"), true)}); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("dir holds %d entries, want f.conf only", len(entries))
	}
}

// A command that reports its cause on stdout (apt-get relaying dpkg) shows
// that cause in its error.
func TestExitErrorShowsStdoutErrors(t *testing.T) {
	e := &conn.ExitError{Cmd: "apt-get install x", Result: conn.Result{ExitCode: 100,
		Stdout: "Unpacking x (1.0) ...\ndpkg: error processing archive x.deb (--unpack):\n cannot copy extracted data for './srv/f' to '/srv/f.dpkg-new': failed to write (No space left on device)\nErrors were encountered\nok\n",
		Stderr: "E: Sub-process /usr/bin/dpkg returned an error code (1)\n"}}
	msg := e.Error()
	for _, want := range []string{"E: Sub-process", "/srv/f.dpkg-new", "No space left on device", "Errors were encountered"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "Unpacking") || strings.Contains(msg, "\nok") {
		t.Errorf("message carries stdout beyond the errors:\n%s", msg)
	}
}
