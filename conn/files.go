package conn

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"time"
)

// FileOps is the optional interface of a connection that changes files
// without starting a process on the host: an SSH connection's SFTP session,
// or an SFTP server running as the become user. Starting a process costs a
// fork and exec of a login shell on the host, which on a loaded node or
// behind a slow PAM stack is the whole cost of an idempotent run; a file
// operation is one round trip. A method that cannot do the job on some path
// returns an error matching ErrNotSupported, and the functions below then
// fall back to a command.
type FileOps interface {
	// Mkdir creates one directory with the server's default mode; it
	// fails with fs.ErrExist when p exists.
	Mkdir(ctx context.Context, p string) error
	// Chmod sets permission and setuid/setgid/sticky bits, following a
	// final symlink as chmod(1) does.
	Chmod(ctx context.Context, p string, mode fs.FileMode) error
	// Chown sets owner and group ("" keeps one) of p itself, never of a
	// symlink's target.
	Chown(ctx context.Context, p, owner, group string) error
	// Symlink creates link pointing at target; it fails when link exists.
	Symlink(ctx context.Context, target, link string) error
	// Rename moves from over to, replacing to atomically.
	Rename(ctx context.Context, from, to string) error
	// Remove removes a file, a symlink or an empty directory.
	Remove(ctx context.Context, p string) error
	// ReadDir lists a directory's entries with their own (lstat) info,
	// without . and .., in no particular order.
	ReadDir(ctx context.Context, p string) ([]FileInfo, error)
	// Chtimes sets access and modification times, following symlinks.
	Chtimes(ctx context.Context, p string, atime, mtime time.Time) error
}

// Files is everything a connection can do to files: Conn's reads and
// writes and FileOps. Become's root file server is one.
type Files interface {
	ReadFile(ctx context.Context, p string) ([]byte, error)
	Stat(ctx context.Context, p string) (FileInfo, error)
	WriteFile(ctx context.Context, p string, data []byte, attrs FileAttrs) error
	FileOps
}

// ops returns c's FileOps, or nil when it has none.
func ops(c Conn) FileOps {
	o, _ := c.(FileOps)
	return o
}

// fallBack reports whether err asks for the command fallback.
func fallBack(err error) bool { return errors.Is(err, ErrNotSupported) }

// MkdirAll creates p and any missing parents, like mkdir -p, and returns
// the directories it created, outermost first, so a caller can give them
// their mode and owner.
func MkdirAll(ctx context.Context, c Conn, p string) ([]string, error) {
	var missing []string
	for d := path.Clean(p); d != "/" && d != "."; d = path.Dir(d) {
		fi, err := c.Stat(ctx, d)
		if err == nil {
			if !fi.IsDir() && !(fi.IsLink() && isDirLink(ctx, c, d)) {
				return nil, fmt.Errorf("mkdir %s: %s exists and is not a directory", p, d)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("mkdir %s: %w", p, err)
		}
		missing = append([]string{d}, missing...)
	}
	if len(missing) == 0 {
		return nil, nil
	}
	if o := ops(c); o != nil {
		if err := o.Mkdir(ctx, missing[0]); !fallBack(err) {
			for i, d := range missing {
				if i > 0 {
					err = o.Mkdir(ctx, d)
				}
				// Another run or task may create it at the same moment.
				if err != nil && !errors.Is(err, fs.ErrExist) {
					return missing[:i], fmt.Errorf("mkdir %s: %w", d, err)
				}
			}
			return missing, nil
		}
	}
	_, err := Output(ctx, c, Join("mkdir", "-p", "--", p))
	return missing, err
}

// isDirLink reports whether the symlink p leads to a directory.
func isDirLink(ctx context.Context, c Conn, p string) bool {
	for range 16 {
		fi, err := c.Stat(ctx, p)
		if err != nil {
			return false
		}
		if !fi.IsLink() {
			return fi.IsDir()
		}
		if path.IsAbs(fi.Link) {
			p = fi.Link
		} else {
			p = path.Join(path.Dir(p), fi.Link)
		}
	}
	return false
}

// Chmod sets p's mode, over FileOps when c has them.
func Chmod(ctx context.Context, c Conn, p string, mode fs.FileMode) error {
	if o := ops(c); o != nil {
		if err := o.Chmod(ctx, p, mode); !fallBack(err) {
			return err
		}
	}
	_, err := Output(ctx, c, fmt.Sprintf("chmod %04o -- %s", chmodBits(mode), Quote(p)))
	return err
}

// Chown sets p's owner and group ("" keeps one), of a symlink itself.
func Chown(ctx context.Context, c Conn, p, owner, group string) error {
	if owner == "" && group == "" {
		return nil
	}
	if o := ops(c); o != nil {
		if err := o.Chown(ctx, p, owner, group); !fallBack(err) {
			return err
		}
	}
	who := owner
	if group != "" {
		who += ":" + group
	}
	_, err := Output(ctx, c, Join("chown", "-h", who, "--", p))
	return err
}

// Symlink makes link point at target, replacing whatever link is (but a
// directory) in one rename, so link is never missing in between.
func Symlink(ctx context.Context, c Conn, target, link string) error {
	tmp := TempName(link)
	if o := ops(c); o != nil {
		err := o.Symlink(ctx, target, tmp)
		if err == nil {
			if err = o.Rename(ctx, tmp, link); err != nil {
				o.Remove(context.WithoutCancel(ctx), tmp)
			}
			return err
		}
		if !fallBack(err) {
			return err
		}
	}
	_, err := Output(ctx, c, fmt.Sprintf("ln -s -- %s %s && mv -Tf -- %s %s", Quote(target), Quote(tmp), Quote(tmp), Quote(link)))
	return err
}

// Remove removes a file, a symlink or an empty directory.
func Remove(ctx context.Context, c Conn, p string) error {
	if o := ops(c); o != nil {
		if err := o.Remove(ctx, p); !fallBack(err) {
			return err
		}
	}
	_, err := Output(ctx, c, "if [ -d "+Quote(p)+" ] && [ ! -L "+Quote(p)+" ]; then rmdir -- "+Quote(p)+"; else rm -f -- "+Quote(p)+"; fi")
	return err
}

// RemoveAll removes p and everything under it, like rm -rf; a missing p is
// not an error. Over FileOps it walks the tree, a round trip per entry and
// no process: right for what playbooks remove (a stale config, a link, a
// small directory). A tree past removeAllMax entries goes to one rm -rf,
// which is then cheaper than thousands of round trips.
func RemoveAll(ctx context.Context, c Conn, p string) error {
	if o := ops(c); o != nil {
		budget := removeAllMax
		if err := removeAll(ctx, c, o, p, &budget); !fallBack(err) {
			return err
		}
	}
	_, err := Output(ctx, c, "rm -rf -- "+Quote(p))
	return err
}

const removeAllMax = 256

func removeAll(ctx context.Context, c Conn, o FileOps, p string, budget *int) error {
	fi, err := c.Stat(ctx, p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.IsDir() {
		entries, err := o.ReadDir(ctx, p)
		if err != nil {
			return err
		}
		if *budget -= len(entries); *budget < 0 {
			return fmt.Errorf("remove %s: a large tree: %w", p, ErrNotSupported)
		}
		for _, e := range entries {
			if err := removeAll(ctx, c, o, path.Join(p, path.Base(e.Path)), budget); err != nil {
				return err
			}
		}
	}
	if err := o.Remove(ctx, p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// ReadDir lists p's entries over FileOps; without them it fails with
// ErrNotSupported, and the caller uses a command of its own.
func ReadDir(ctx context.Context, c Conn, p string) ([]FileInfo, error) {
	if o := ops(c); o != nil {
		return o.ReadDir(ctx, p)
	}
	return nil, fmt.Errorf("read directory %s: %w", p, ErrNotSupported)
}

// Chtimes sets p's access and modification times.
func Chtimes(ctx context.Context, c Conn, p string, atime, mtime time.Time) error {
	if o := ops(c); o != nil {
		if err := o.Chtimes(ctx, p, atime, mtime); !fallBack(err) {
			return err
		}
	}
	_, err := Output(ctx, c, fmt.Sprintf("touch -a -d @%d.%09d -- %s && touch -m -d @%d.%09d -- %s",
		atime.Unix(), atime.Nanosecond(), Quote(p), mtime.Unix(), mtime.Nanosecond(), Quote(p)))
	return err
}
