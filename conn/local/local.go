// Package local implements conn.Conn on the machine gpuctl runs on, for
// `connection: local` hosts and for the controller side of transfers.
package local

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/gpuctl/gpuctl/conn"
)

// Conn runs commands with /bin/sh and touches files directly.
type Conn struct{}

// New returns a local connection.
func New() *Conn { return &Conn{} }

var _ conn.Conn = (*Conn)(nil)

func (c *Conn) Run(ctx context.Context, cmd string, opts ...conn.ExecOption) (conn.Result, error) {
	cfg := conn.NewExecConfig(opts)
	sh := exec.CommandContext(ctx, "/bin/sh", "-c", cmd)
	sh.Dir = cfg.Dir
	if cfg.Env != nil {
		sh.Env = os.Environ()
		for k, v := range cfg.Env {
			sh.Env = append(sh.Env, k+"="+v)
		}
	}
	sh.Stdin = cfg.Stdin
	var stdout, stderr bytes.Buffer
	sh.Stdout = &stdout
	if cfg.Stream != nil {
		sh.Stdout = io.MultiWriter(&stdout, cfg.Stream)
	}
	sh.Stderr = &stderr
	// A process group lets cancellation kill the whole pipeline, not only sh.
	sh.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	sh.Cancel = func() error { return syscall.Kill(-sh.Process.Pid, syscall.SIGKILL) }
	err := sh.Run()
	res := conn.Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		return res, ctx.Err()
	case errors.As(err, &exitErr):
		res.ExitCode = exitErr.ExitCode()
		if res.ExitCode < 0 {
			res.ExitCode = 128 + int(exitErr.Sys().(syscall.WaitStatus).Signal())
		}
	default:
		return res, fmt.Errorf("local: run: %w", err)
	}
	return res, nil
}

func (c *Conn) ReadFile(ctx context.Context, path string) ([]byte, error) {
	return os.ReadFile(path)
}

func (c *Conn) Stat(ctx context.Context, path string) (conn.FileInfo, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return conn.FileInfo{}, err
	}
	info := conn.FileInfo{Path: path, Mode: fi.Mode(), Size: fi.Size(), ModTime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		info.UID, info.GID = strconv.Itoa(int(st.Uid)), strconv.Itoa(int(st.Gid))
		info.Owner = lookupUser(st.Uid)
		info.Group = lookupGroup(st.Gid)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		info.Link, _ = os.Readlink(path)
	}
	return info, nil
}

func (c *Conn) WriteFile(ctx context.Context, path string, data []byte, attrs conn.FileAttrs) error {
	return WriteAtomic(path, data, attrs)
}

func (c *Conn) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

func (c *Conn) Close() error { return nil }

// WriteAtomic writes data to a temporary file beside path, syncs and
// verifies it, applies attrs, and renames it over path.
func WriteAtomic(path string, data []byte, attrs conn.FileAttrs) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".gpuctl-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			os.Remove(name)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	got, err := os.ReadFile(name)
	if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
		return fmt.Errorf("write %s: verification of temporary file failed", path)
	}
	mode := attrs.Mode.Perm()
	if attrs.Mode == 0 {
		mode = 0o644
	}
	if err := os.Chmod(name, mode|attrs.Mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if attrs.Owner != "" || attrs.Group != "" {
		uid, gid := -1, -1
		if attrs.Owner != "" {
			if uid, err = resolveUser(attrs.Owner); err != nil {
				return fmt.Errorf("write %s: %w", path, err)
			}
		}
		if attrs.Group != "" {
			if gid, err = resolveGroup(attrs.Group); err != nil {
				return fmt.Errorf("write %s: %w", path, err)
			}
		}
		if err := os.Chown(name, uid, gid); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if err := unchanged(path, attrs.Planned); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(name, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		if names, err := d.Readdirnames(-1); err == nil {
			conn.RemoveTemps(context.Background(), names, path, name, func(_ context.Context, t string) error { return os.Remove(t) })
		}
		d.Sync()
		d.Close()
	}
	return nil
}

// unchanged fails with a *conn.ChangedError when path is no longer what
// the caller planned against.
func unchanged(path string, planned *conn.Planned) error {
	if planned == nil {
		return nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return conn.CheckPlanned(path, planned, nil)
	}
	if err != nil {
		return err
	}
	sum := sha256.Sum256(data)
	return conn.CheckPlanned(path, planned, &sum)
}

func lookupUser(uid uint32) string {
	if u, err := user.LookupId(strconv.Itoa(int(uid))); err == nil {
		return u.Username
	}
	return strconv.Itoa(int(uid))
}

func lookupGroup(gid uint32) string {
	if g, err := user.LookupGroupId(strconv.Itoa(int(gid))); err == nil {
		return g.Name
	}
	return strconv.Itoa(int(gid))
}

func resolveUser(name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		return n, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return 0, fmt.Errorf("unknown user %q", name)
	}
	return strconv.Atoi(u.Uid)
}

func resolveGroup(name string) (int, error) {
	if n, err := strconv.Atoi(name); err == nil {
		return n, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, fmt.Errorf("unknown group %q", name)
	}
	return strconv.Atoi(g.Gid)
}
