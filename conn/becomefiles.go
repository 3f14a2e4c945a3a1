package conn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// FileServer is a transport that can start an SFTP server as a command and
// serve files through it. Become starts `sudo sftp-server` this way, once
// per connection and user, so a task under become reads and writes the
// host's files without a process of its own.
type FileServer interface {
	// ServeFiles runs cmd, writes head to its stdin, waits until ready
	// accepts what cmd printed on stderr, and from then on speaks SFTP over
	// its stdin and stdout. The same key gets the same server (or the same
	// *ServeError) for the connection's lifetime.
	ServeFiles(ctx context.Context, key, cmd string, head []byte, ready ReadyFunc) (Files, error)
}

// ReadyFunc reads a starting server's stderr so far: ok once the server
// is about to speak, an error when it never will.
type ReadyFunc func(stderr string) (ok bool, err error)

// ServeError is a file server that exited instead of answering.
type ServeError struct {
	Stderr   string
	ExitCode int
	Err      error
}

func (e *ServeError) Error() string {
	return fmt.Sprintf("file server exited %d: %s: %v", e.ExitCode, strings.TrimSpace(e.Stderr), e.Err)
}

func (e *ServeError) Unwrap() error { return e.Err }

// sftpServer execs the host's SFTP server from wherever the distribution
// keeps it (Debian, RHEL, Arch, Alpine), or exits 127.
const sftpServer = `for p in /usr/lib/openssh/sftp-server /usr/libexec/openssh/sftp-server /usr/lib/ssh/sftp-server /usr/libexec/sftp-server /usr/lib/sftp-server; do if [ -x "$p" ]; then exec "$p"; fi; done; echo "no sftp-server on this host" >&2; exit 127`

// markerPrefix starts every become marker. A file server's key outlives
// the becomeConn (and token) that started it, so its cached error is read
// by prefix.
const markerPrefix = "gpuctl-become-ok-"

// files returns the file server running as the target user, or nil when
// the transport cannot start one or the host has none: then the file
// methods fall back to commands under sudo. A sudo that refuses is an
// error, as it is for Run.
func (b *becomeConn) files(ctx context.Context) (Files, error) {
	srv, ok := b.c.(FileServer)
	if !ok {
		return nil, nil
	}
	var head []byte
	if b.opts.Password != "" {
		head = []byte(b.opts.Password + "\n" + b.sentinel() + "\n")
	}
	// A refused password is kept under its key: the key names the
	// password (by hash) so that another one gets its own try.
	key := sha256.Sum256([]byte(b.opts.Password))
	f, err := srv.ServeFiles(ctx, "become "+b.opts.User+" "+hex.EncodeToString(key[:8]), b.sudoLine(sftpServer), head, b.serverReady)
	var se *ServeError
	if !errors.As(err, &se) {
		return f, err
	}
	i := strings.Index(se.Stderr, markerPrefix)
	if i < 0 {
		return nil, b.failure(Result{ExitCode: se.ExitCode, Stderr: se.Stderr}, se.Stderr)
	}
	return nil, nil // sudo let us in; no server to exec
}

// serverReady accepts the server once the marker shows sudo let it in, and
// gives up when sudo prompts a second time: the password was wrong.
func (b *becomeConn) serverReady(stderr string) (bool, error) {
	if strings.Contains(stderr, b.marker()+"\n") {
		return true, nil
	}
	if b.opts.Password != "" && strings.Count(stderr, b.prompt()) > 1 {
		return false, errors.New("sudo asked for the password again")
	}
	return false, nil
}

// becomeFiles picks what serves a file operation: the transport itself
// when no sudo is needed, the file server, or nil for commands.
func (b *becomeConn) becomeFiles(ctx context.Context) (Files, error) {
	direct, err := b.direct(ctx)
	if err != nil {
		return nil, err
	}
	if direct {
		f, _ := b.c.(Files)
		return f, nil
	}
	return b.files(ctx)
}

func (b *becomeConn) withFiles(ctx context.Context, op string, do func(Files) error) error {
	f, err := b.becomeFiles(ctx)
	if err != nil {
		return err
	}
	if f == nil {
		return fmt.Errorf("%s: %s as %s: %w", b.where(), op, b.opts.User, ErrNotSupported)
	}
	return do(f)
}

func (b *becomeConn) Mkdir(ctx context.Context, p string) error {
	return b.withFiles(ctx, "mkdir", func(f Files) error { return f.Mkdir(ctx, p) })
}

func (b *becomeConn) Chmod(ctx context.Context, p string, mode fs.FileMode) error {
	return b.withFiles(ctx, "chmod", func(f Files) error { return f.Chmod(ctx, p, mode) })
}

func (b *becomeConn) Chown(ctx context.Context, p, owner, group string) error {
	return b.withFiles(ctx, "chown", func(f Files) error { return f.Chown(ctx, p, owner, group) })
}

func (b *becomeConn) Symlink(ctx context.Context, target, link string) error {
	return b.withFiles(ctx, "symlink", func(f Files) error { return f.Symlink(ctx, target, link) })
}

func (b *becomeConn) Rename(ctx context.Context, from, to string) error {
	return b.withFiles(ctx, "rename", func(f Files) error { return f.Rename(ctx, from, to) })
}

func (b *becomeConn) Remove(ctx context.Context, p string) error {
	return b.withFiles(ctx, "remove", func(f Files) error { return f.Remove(ctx, p) })
}

func (b *becomeConn) ReadDir(ctx context.Context, p string) (out []FileInfo, err error) {
	err = b.withFiles(ctx, "read directory", func(f Files) error {
		out, err = f.ReadDir(ctx, p)
		return err
	})
	return out, err
}

func (b *becomeConn) Chtimes(ctx context.Context, p string, atime, mtime time.Time) error {
	return b.withFiles(ctx, "chtimes", func(f Files) error { return f.Chtimes(ctx, p, atime, mtime) })
}

var _ FileOps = (*becomeConn)(nil)
