package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/gpuctl/gpuctl/conn"
)

// fileServers are the SFTP servers a connection started as commands (sudo
// sftp-server for become), by key, for the connection's lifetime.
type fileServers struct {
	mu sync.Mutex
	m  map[string]*fileServer
}

type fileServer struct {
	fs   *sftpFS
	err  error         // a server that did not start (sudo refused): kept, so later tasks fail alike without a process
	gone chan struct{} // closed when a started server went away
}

var _ conn.FileServer = (*Conn)(nil)

// ServeFiles runs cmd (through the login shell, like the sftp subsystem),
// writes head to its stdin, then speaks SFTP over its stdin and stdout. One
// server per key serves every later call until it or the connection ends:
// the engine wraps the connection in Become per task, and a process per
// task is what this avoids. A server that never answers gives a
// *conn.ServeError, kept for the key too.
func (c *Conn) ServeFiles(ctx context.Context, key, cmd string, head []byte, ready conn.ReadyFunc) (conn.Files, error) {
	c.servers.mu.Lock()
	defer c.servers.mu.Unlock()
	if s := c.servers.m[key]; s != nil {
		select {
		case <-s.gone:
		default:
			if s.err != nil {
				return nil, s.err
			}
			return s.fs, nil
		}
	}
	s, err := c.startServer(ctx, cmd, head, ready)
	var se *conn.ServeError
	if err != nil && !errors.As(err, &se) {
		return nil, err // cancelled, or the connection is gone: try again next time
	}
	if c.servers.m == nil {
		c.servers.m = map[string]*fileServer{}
	}
	c.servers.m[key] = s
	if s.err != nil {
		return nil, s.err
	}
	return s.fs, nil
}

func (c *Conn) startServer(ctx context.Context, cmd string, head []byte, ready conn.ReadyFunc) (*fileServer, error) {
	// Like the sftp subsystem, a server holds no MaxSessions slot: it
	// lives for the run and would starve commands of one.
	sess, err := c.client.NewSession()
	if err != nil {
		return nil, c.lost("start file server", err)
	}
	stdin, err1 := sess.StdinPipe()
	stdout, err2 := sess.StdoutPipe()
	stderrPipe, err3 := sess.StderrPipe()
	if err := errors.Join(err1, err2, err3); err != nil {
		sess.Close()
		return nil, c.lost("start file server", err)
	}
	if err := sess.Start(cmd); err != nil {
		sess.Close()
		return nil, c.lost("start file server", err)
	}
	stderr := newStderrTail(stderrPipe)
	failed := func(err error) (*fileServer, error) {
		stdin.Close() // a sudo still reading a password gets EOF and exits
		code := exitCode(sess)
		sess.Close()
		if c.isDead() {
			return nil, c.lost("start file server", err)
		}
		return &fileServer{err: &conn.ServeError{Stderr: stderr.String(), ExitCode: code, Err: err}}, nil
	}
	if _, err := stdin.Write(head); err != nil {
		return failed(err)
	}
	if err := stderr.await(ctx, ready); err != nil {
		if ctx.Err() != nil {
			sess.Close()
			return nil, ctx.Err()
		}
		return failed(err)
	}
	type started struct {
		cl  *sftp.Client
		err error
	}
	ch := make(chan started, 1)
	go func() {
		cl, err := sftp.NewClientPipe(stdout, stdin, sftp.UseConcurrentWrites(true))
		ch <- started{cl, err}
	}()
	var st started
	select {
	case st = <-ch:
	case <-ctx.Done():
		sess.Close()
		return nil, ctx.Err()
	}
	if st.err != nil {
		return failed(st.err)
	}
	s := &fileServer{gone: make(chan struct{})}
	s.fs = &sftpFS{c: c, client: func() (*sftp.Client, error) {
		select {
		case <-s.gone:
			return nil, fmt.Errorf("ssh: %s: file server ended: %w", c.cfg.name(), io.ErrUnexpectedEOF)
		default:
			return st.cl, nil
		}
	}}
	go func() {
		st.cl.Wait()
		close(s.gone)
		sess.Close()
	}()
	return s, nil
}

// exitCode waits briefly for a failed server's exit status.
func exitCode(sess *ssh.Session) int {
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case err := <-done:
		var ee *ssh.ExitError
		if errors.As(err, &ee) {
			return ee.ExitStatus()
		}
		if err == nil {
			return 0
		}
	case <-time.After(5 * time.Second):
	}
	return -1
}

// stderrTail drains a server's stderr, keeping its last 8 KiB, and tells
// await about every piece that arrives.
type stderrTail struct {
	mu   sync.Mutex
	b    []byte
	more chan struct{} // a token per arrival, for await
	eof  chan struct{}
}

func newStderrTail(r io.Reader) *stderrTail {
	t := &stderrTail{more: make(chan struct{}, 1), eof: make(chan struct{})}
	go func() {
		defer close(t.eof)
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				t.mu.Lock()
				t.b = append(t.b, buf[:n]...)
				if len(t.b) > 8<<10 {
					t.b = t.b[len(t.b)-8<<10:]
				}
				t.mu.Unlock()
				select {
				case t.more <- struct{}{}:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return t
}

func (t *stderrTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// await waits until ready accepts what the command printed on stderr (sudo
// let it in), ready fails it (a password refused: sudo would now wait for
// another on a stdin that SFTP is about to use), or stderr ends.
func (t *stderrTail) await(ctx context.Context, ready conn.ReadyFunc) error {
	if ready == nil {
		return nil
	}
	for {
		ok, err := ready(t.String())
		if ok || err != nil {
			return err
		}
		select {
		case <-t.more:
		case <-t.eof:
			if ok, err := ready(t.String()); ok || err != nil {
				return err
			}
			return io.ErrUnexpectedEOF
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
