package ssh

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"
	"time"

	"github.com/pkg/sftp"

	"github.com/gpuctl/gpuctl/conn"
)

// sftpFS is the file side of a host: an SFTP session, either the login
// user's own (the sftp subsystem) or a server started as the become user
// (serve.go). Every operation is a round trip on an open channel; none
// starts a process on the host.
type sftpFS struct {
	c      *Conn
	client func() (*sftp.Client, error)
	// asLogin: the server runs as the login user, so commands (sha256sum,
	// mv) may stand in for what it lacks. A become server's files may be
	// out of the login user's reach.
	asLogin bool
}

var (
	_ conn.Files = (*sftpFS)(nil)
	_ conn.Files = (*Conn)(nil)
)

// files is the connection's own SFTP session.
func (c *Conn) files() *sftpFS { return &sftpFS{c: c, client: c.sftpClient, asLogin: true} }

// info turns an SFTP stat into a FileInfo with owner and group names.
func (f *sftpFS) info(ctx context.Context, p string, fi os.FileInfo) (conn.FileInfo, error) {
	info := conn.FileInfo{Path: p, Mode: fi.Mode(), Size: fi.Size(), ModTime: fi.ModTime()}
	if st, ok := fi.Sys().(*sftp.FileStat); ok {
		info.UID, info.GID = strconv.FormatUint(uint64(st.UID), 10), strconv.FormatUint(uint64(st.GID), 10)
		var err error
		if info.Owner, err = f.c.ids.userName(ctx, f.c, st.UID); err != nil {
			return conn.FileInfo{}, err
		}
		if info.Group, err = f.c.ids.groupName(ctx, f.c, st.GID); err != nil {
			return conn.FileInfo{}, err
		}
	}
	return info, nil
}

// Mkdir creates one directory.
func (f *sftpFS) Mkdir(ctx context.Context, p string) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	if err := cl.Mkdir(p); err != nil {
		// SFTP v3 has no "exists" status: sftp-server answers a plain
		// failure, so look before calling it an error.
		if fi, serr := cl.Lstat(p); serr == nil {
			return fmt.Errorf("ssh: %s: mkdir %s: %w (a %s)", f.c.cfg.name(), p, fs.ErrExist, fi.Mode().Type())
		}
		return f.c.fileErr("mkdir", p, err)
	}
	return nil
}

// Chmod sets the mode bits, following a final symlink.
func (f *sftpFS) Chmod(ctx context.Context, p string, mode fs.FileMode) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	if err := cl.Chmod(p, mode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
		return f.c.fileErr("chmod", p, err)
	}
	return nil
}

// Chown sets owner and group. SFTP's setstat follows symlinks, so a
// symlink's own owner is left to chown -h (conn.Chown falls back).
func (f *sftpFS) Chown(ctx context.Context, p, owner, group string) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	fi, err := cl.Lstat(p)
	if err != nil {
		return f.c.fileErr("chown", p, err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("ssh: %s: chown symlink %s: %w", f.c.cfg.name(), p, conn.ErrNotSupported)
	}
	uid, gid, err := f.c.ids.resolveOwner(ctx, f.c, owner, group)
	if err != nil {
		return fmt.Errorf("ssh: %s: chown %s: %w", f.c.cfg.name(), p, err)
	}
	st, _ := fi.Sys().(*sftp.FileStat)
	if uid < 0 && st != nil {
		uid = int(st.UID)
	}
	if gid < 0 && st != nil {
		gid = int(st.GID)
	}
	if err := cl.Chown(p, uid, gid); err != nil {
		return f.c.fileErr("chown", p, err)
	}
	return nil
}

// Symlink creates link pointing at target.
func (f *sftpFS) Symlink(ctx context.Context, target, link string) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	if err := cl.Symlink(target, link); err != nil {
		return f.c.fileErr("symlink", link, err)
	}
	return nil
}

// Rename replaces to with from atomically (posix-rename@openssh.com).
func (f *sftpFS) Rename(ctx context.Context, from, to string) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	if _, ok := cl.HasExtension("posix-rename@openssh.com"); !ok {
		return fmt.Errorf("ssh: %s: rename %s: the SFTP server has no atomic rename: %w", f.c.cfg.name(), to, conn.ErrNotSupported)
	}
	if err := cl.PosixRename(from, to); err != nil {
		return f.c.fileErr("rename "+from+" to", to, err)
	}
	return nil
}

// Remove removes a file, a symlink or an empty directory.
func (f *sftpFS) Remove(ctx context.Context, p string) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	fi, err := cl.Lstat(p)
	if err != nil {
		return f.c.fileErr("remove", p, err)
	}
	if fi.IsDir() {
		err = cl.RemoveDirectory(p)
	} else {
		err = cl.Remove(p)
	}
	if err != nil {
		return f.c.fileErr("remove", p, err)
	}
	return nil
}

// ReadDir lists a directory; READDIR answers carry each entry's lstat, so
// a directory of a hundred entries is one or two round trips.
func (f *sftpFS) ReadDir(ctx context.Context, p string) ([]conn.FileInfo, error) {
	cl, err := f.client()
	if err != nil {
		return nil, err
	}
	entries, err := cl.ReadDirContext(ctx, p)
	if err != nil {
		return nil, f.c.fileErr("read directory", p, err)
	}
	out := make([]conn.FileInfo, 0, len(entries))
	for _, e := range entries {
		full := path.Join(p, e.Name())
		info, err := f.info(ctx, full, e)
		if err != nil {
			return nil, err
		}
		if info.IsLink() {
			if info.Link, err = cl.ReadLink(full); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, f.c.fileErr("readlink", full, err)
			}
		}
		out = append(out, info)
	}
	return out, nil
}

// Chtimes sets access and modification times.
func (f *sftpFS) Chtimes(ctx context.Context, p string, atime, mtime time.Time) error {
	cl, err := f.client()
	if err != nil {
		return err
	}
	if err := cl.Chtimes(p, atime, mtime); err != nil {
		return f.c.fileErr("chtimes", p, err)
	}
	return nil
}

// The connection's own SFTP session does FileOps for the login user.

func (c *Conn) Mkdir(ctx context.Context, p string) error { return c.files().Mkdir(ctx, p) }
func (c *Conn) Chmod(ctx context.Context, p string, mode fs.FileMode) error {
	return c.files().Chmod(ctx, p, mode)
}
func (c *Conn) Chown(ctx context.Context, p, owner, group string) error {
	return c.files().Chown(ctx, p, owner, group)
}
func (c *Conn) Symlink(ctx context.Context, target, link string) error {
	return c.files().Symlink(ctx, target, link)
}
func (c *Conn) Rename(ctx context.Context, from, to string) error {
	return c.files().Rename(ctx, from, to)
}
func (c *Conn) Remove(ctx context.Context, p string) error { return c.files().Remove(ctx, p) }
func (c *Conn) ReadDir(ctx context.Context, p string) ([]conn.FileInfo, error) {
	return c.files().ReadDir(ctx, p)
}
func (c *Conn) Chtimes(ctx context.Context, p string, atime, mtime time.Time) error {
	return c.files().Chtimes(ctx, p, atime, mtime)
}
