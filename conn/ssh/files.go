package ssh

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path"
	"strings"
	"syscall"

	"github.com/pkg/sftp"

	"github.com/gpuctl/gpuctl/conn"
)

// sftpClient returns the connection's SFTP client, opening it on first use
// and again after the subsystem went away.
func (c *Conn) sftpClient() (*sftp.Client, error) {
	c.sftpMu.Lock()
	defer c.sftpMu.Unlock()
	if c.sftp != nil {
		return c.sftp, nil
	}
	if c.isClosed() {
		return nil, fmt.Errorf("ssh: %s: sftp: %w", c.cfg.name(), net.ErrClosed)
	}
	cl, err := sftp.NewClient(c.client, sftp.UseConcurrentWrites(true))
	if err != nil {
		return nil, c.lost("start sftp", err)
	}
	c.sftp = cl
	go func() {
		cl.Wait()
		c.sftpMu.Lock()
		if c.sftp == cl {
			c.sftp = nil
		}
		c.sftpMu.Unlock()
	}()
	return cl, nil
}

// fileErr wraps an SFTP failure: missing files and permission problems are
// reported as such, anything else may be a lost connection.
func (c *Conn) fileErr(op, p string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("ssh: %s: %s %s: %w", c.cfg.name(), op, p, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("ssh: %s: %s %s: %w", c.cfg.name(), op, p, err)
	}
	return c.lost(op+" "+p, err)
}

// ReadFile reads path over SFTP.
func (c *Conn) ReadFile(ctx context.Context, p string) ([]byte, error) {
	return c.files().ReadFile(ctx, p)
}

// Stat describes path without following a final symlink.
func (c *Conn) Stat(ctx context.Context, p string) (conn.FileInfo, error) {
	return c.files().Stat(ctx, p)
}

// WriteFile replaces path atomically over SFTP (see sftpFS.WriteFile).
func (c *Conn) WriteFile(ctx context.Context, p string, data []byte, attrs conn.FileAttrs) error {
	return c.files().WriteFile(ctx, p, data, attrs)
}

// ReadFile reads path over SFTP.
func (f *sftpFS) ReadFile(ctx context.Context, p string) ([]byte, error) {
	c := f.c
	cl, err := f.client()
	if err != nil {
		return nil, err
	}
	fh, err := cl.Open(p)
	if err != nil {
		return nil, c.fileErr("read", p, err)
	}
	stop := context.AfterFunc(ctx, func() { fh.Close() })
	defer stop()
	defer fh.Close()
	var buf bytes.Buffer
	if _, err := fh.WriteTo(&buf); err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, c.fileErr("read", p, err)
	}
	return buf.Bytes(), nil
}

// Stat describes path without following a final symlink.
func (f *sftpFS) Stat(ctx context.Context, p string) (conn.FileInfo, error) {
	c := f.c
	cl, err := f.client()
	if err != nil {
		return conn.FileInfo{}, err
	}
	fi, err := cl.Lstat(p)
	if err != nil {
		return conn.FileInfo{}, c.fileErr("stat", p, err)
	}
	info, err := f.info(ctx, p, fi)
	if err != nil {
		return conn.FileInfo{}, err
	}
	if info.IsLink() {
		if info.Link, err = cl.ReadLink(p); err != nil {
			return conn.FileInfo{}, c.fileErr("readlink", p, err)
		}
	}
	return info, nil
}

// WriteFile uploads data to a temporary file beside path, verifies its
// checksum, applies attrs and renames it over path. The rename is the only
// step that touches path, so a failure or a lost connection at any point
// leaves path as it was.
func (f *sftpFS) WriteFile(ctx context.Context, p string, data []byte, attrs conn.FileAttrs) (err error) {
	c := f.c
	cl, err := f.client()
	if err != nil {
		return err
	}
	tmp := conn.TempName(p)
	fh, err := cl.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return c.fileErr("write", p, f.explain(cl, p, len(data), err))
	}
	defer func() {
		if err != nil && !c.isDead() {
			cl.Remove(tmp)
		}
	}()
	// Secrets must not sit world-readable while they upload.
	if err := fh.Chmod(0o600); err != nil {
		fh.Close()
		return c.fileErr("write", p, err)
	}
	if _, err := fh.ReadFrom(ctxReader{ctx, bytes.NewReader(data)}); err != nil {
		fh.Close()
		return c.fileErr("write", p, f.explain(cl, p, len(data), err))
	}
	if err := fh.Sync(); err != nil && !isUnsupported(err) {
		fh.Close()
		return c.fileErr("write", p, f.explain(cl, p, len(data), err))
	}
	if err := fh.Close(); err != nil {
		return c.fileErr("write", p, f.explain(cl, p, len(data), err))
	}
	if err := f.verify(ctx, tmp, data); err != nil {
		return fmt.Errorf("ssh: %s: write %s: %w", c.cfg.name(), p, err)
	}
	if attrs.Owner != "" || attrs.Group != "" {
		uid, gid, err := c.ids.resolveOwner(ctx, c, attrs.Owner, attrs.Group)
		if err != nil {
			return fmt.Errorf("ssh: %s: write %s: %w", c.cfg.name(), p, err)
		}
		if uid < 0 || gid < 0 {
			fi, err := cl.Lstat(tmp)
			if err != nil {
				return c.fileErr("write", p, err)
			}
			st := fi.Sys().(*sftp.FileStat)
			if uid < 0 {
				uid = int(st.UID)
			}
			if gid < 0 {
				gid = int(st.GID)
			}
		}
		if err := cl.Chown(tmp, uid, gid); err != nil {
			return c.fileErr("chown", p, err)
		}
	}
	// After chown, which clears setuid bits.
	if err := cl.Chmod(tmp, fileMode(attrs.Mode)); err != nil {
		return c.fileErr("chmod", p, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ssh: %s: write %s: %w", c.cfg.name(), p, err)
	}
	// As late as can be: a file someone else wrote since the task checked
	// it is not replaced blindly.
	if err := f.unchanged(ctx, cl, p, attrs.Planned); err != nil {
		return fmt.Errorf("ssh: %s: write %s: %w", c.cfg.name(), p, err)
	}
	if _, ok := cl.HasExtension("posix-rename@openssh.com"); ok {
		err = cl.PosixRename(tmp, p)
	} else if f.asLogin {
		err = c.mustRun(ctx, conn.Join("mv", "-fT", "--", tmp, p))
	} else {
		err = fmt.Errorf("the SFTP server cannot replace a file atomically: %w", conn.ErrNotSupported)
	}
	if err != nil {
		return c.fileErr("rename into", p, err)
	}
	f.removeTemps(ctx, cl, p, tmp)
	return nil
}

// verify compares the uploaded file's SHA-256 with data's.
func (f *sftpFS) verify(ctx context.Context, tmp string, data []byte) error {
	want := sha256.Sum256(data)
	got, err := f.sum(ctx, tmp, int64(len(data)))
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("uploaded data does not match: sha256 %x on the host, %x sent", got, want)
	}
	return nil
}

// sum is the SHA-256 of the file p of the given size. Small files are
// read back, which costs less than starting a command; large ones are
// hashed on the host when sha256sum exists and runs as the file's writer.
func (f *sftpFS) sum(ctx context.Context, p string, size int64) (sum [32]byte, err error) {
	// The login user may not read what a become server wrote.
	if size > readBackMax && f.asLogin {
		res, err := f.c.Run(ctx, "LC_ALL=C sha256sum -- "+conn.Quote(p))
		if err != nil {
			return sum, err
		}
		switch res.ExitCode {
		case 0:
			h, _, _ := strings.Cut(res.Stdout, " ")
			if b, err := hex.DecodeString(h); err == nil && len(b) == len(sum) {
				copy(sum[:], b)
				return sum, nil
			}
			return sum, fmt.Errorf("sha256sum %s: unexpected output %q", p, res.Stdout)
		case 127:
		default:
			return sum, fmt.Errorf("sha256sum %s: %s", p, strings.TrimSpace(res.Stderr))
		}
	}
	back, err := f.ReadFile(ctx, p)
	if err != nil {
		return sum, err
	}
	return sha256.Sum256(back), nil
}

// unchanged fails with a *conn.ChangedError when p is no longer what the
// caller planned against (attrs.Planned); nil planned checks nothing.
func (f *sftpFS) unchanged(ctx context.Context, cl *sftp.Client, p string, planned *conn.Planned) error {
	if planned == nil {
		return nil
	}
	fi, err := cl.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return conn.CheckPlanned(p, planned, nil)
	}
	if err != nil {
		return f.c.fileErr("stat", p, err)
	}
	now, err := f.sum(ctx, p, fi.Size())
	if err != nil {
		return err
	}
	return conn.CheckPlanned(p, planned, &now)
}

// removeTemps removes what cut-off writes of p left beside it. It reads
// bare names (no owner lookups, no readlink), one round trip per hundred
// entries, and only after a write: an idempotent run never pays for it.
func (f *sftpFS) removeTemps(ctx context.Context, cl *sftp.Client, p, keep string) {
	entries, err := cl.ReadDirContext(ctx, path.Dir(p))
	if err != nil {
		return
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	conn.RemoveTemps(ctx, names, p, keep, func(_ context.Context, t string) error { return cl.Remove(t) })
}

// readBackMax is the largest upload verified by reading it back.
const readBackMax = 1 << 20

func (c *Conn) mustRun(ctx context.Context, cmd string) error {
	_, err := conn.Output(ctx, c, cmd)
	return err
}

// fileMode turns FileAttrs.Mode into the bits to chmod, 0 meaning 0644.
func fileMode(m fs.FileMode) fs.FileMode {
	if m == 0 {
		return 0o644
	}
	return m & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

// explain adds the likely cause to an SFTP server's bare "Failure": OpenSSH's
// sftp-server reports a full disk and a read-only filesystem (ENOSPC,
// EROFS) with that one status, which tells the user nothing. The
// filesystem's own numbers (statvfs@openssh.com) tell which it was. Other
// errors, and servers without the extension, pass through.
func (f *sftpFS) explain(cl *sftp.Client, p string, size int, err error) error {
	var se *sftp.StatusError
	if !errors.As(err, &se) || se.FxCode() != sftp.ErrSSHFxFailure {
		return err
	}
	if _, ok := cl.HasExtension("statvfs@openssh.com"); !ok {
		return err
	}
	dir := path.Dir(p)
	st, serr := cl.StatVFS(dir)
	if serr != nil {
		return err
	}
	const stRdonly = 1 // ST_RDONLY in statvfs(3)'s f_flag
	switch {
	case st.Flag&stRdonly != 0:
		return fmt.Errorf("%w: %s is on a read-only filesystem (%w)", syscall.EROFS, dir, err)
	case st.Frsize*st.Bavail < uint64(size)+st.Frsize || st.Files > 0 && st.Favail == 0:
		return fmt.Errorf("%w: %d bytes free on the filesystem of %s, %d to write, %d inodes free (%w)",
			syscall.ENOSPC, st.Frsize*st.Bavail, dir, size, st.Favail, err)
	}
	return err
}

func isUnsupported(err error) bool {
	var se *sftp.StatusError
	return errors.As(err, &se) && se.FxCode() == sftp.ErrSSHFxOpUnsupported
}

// ctxReader stops an upload when ctx ends; Len lets pkg/sftp still pipeline
// the writes.
type ctxReader struct {
	ctx context.Context
	r   *bytes.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}

func (r ctxReader) Len() int { return r.r.Len() }
