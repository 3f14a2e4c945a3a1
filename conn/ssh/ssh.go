package ssh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"

	"github.com/gpuctl/gpuctl/conn"
)

// Conn is one SSH connection to a host, shared by every operation on it.
// It is safe for concurrent use.
type Conn struct {
	cfg     *resolved
	client  *ssh.Client
	bastion *Conn
	release func() // agent socket

	sessions chan struct{} // semaphore of MaxSessions

	dead     chan struct{} // closed when the transport is gone
	deadOnce sync.Once
	deadErr  error // why, set before dead is closed
	closed   chan struct{}
	stopOnce sync.Once

	sftpMu sync.Mutex
	sftp   *sftp.Client

	ids     idCache
	servers fileServers // serve.go

	lockStdin io.WriteCloser // the host lock holder's stdin (hostlock.go)

	// server runs commands when the host has one (cmdserver.go); set
	// while dialling, before the Conn is shared.
	server      *cmdServer
	serverStdin io.WriteCloser // its session's stdin, when the lock holder is not the server
}

var _ conn.Conn = (*Conn)(nil)

// Dial connects and authenticates to cfg.Host, through cfg.Bastion when
// set. Errors match conn.ErrUnreachable, conn.ErrAuth or conn.ErrHostKey.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	rc, err := resolve(cfg)
	if err != nil {
		return nil, err
	}
	var bastion *Conn
	if rc.Bastion != nil {
		if bastion, err = Dial(ctx, *rc.Bastion); err != nil {
			return nil, fmt.Errorf("ssh: %s: via bastion: %w", rc.name(), err)
		}
	}
	c, err := dial(ctx, rc, bastion)
	if err == nil && cfg.HostLock {
		if err = c.lockHost(ctx); err != nil {
			c.Close()
			c = nil
		}
	}
	if err == nil && cfg.CommandServer && c.server == nil {
		if err = c.startCmdServer(ctx); err != nil {
			c.Close()
			c = nil
		}
	}
	if err != nil {
		if bastion != nil {
			bastion.Close()
		}
		return nil, err
	}
	return c, nil
}

func dial(ctx context.Context, cfg *resolved, bastion *Conn) (*Conn, error) {
	methods, release, err := authMethods(cfg)
	if err != nil {
		return nil, err
	}
	check, algos, err := hostKeyChecker(cfg)
	if err != nil {
		release()
		return nil, err
	}
	var hostKeyErr error
	clientCfg := &ssh.ClientConfig{
		User: cfg.User,
		Auth: methods,
		HostKeyCallback: func(h string, r net.Addr, k ssh.PublicKey) error {
			hostKeyErr = check(h, r, k)
			return hostKeyErr
		},
		HostKeyAlgorithms: algos,
		Timeout:           cfg.ConnectTimeout,
	}

	ctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout)
	defer cancel()
	var tcp net.Conn
	if bastion != nil {
		tcp, err = bastion.client.DialContext(ctx, "tcp", cfg.addr())
	} else {
		tcp, err = (&net.Dialer{}).DialContext(ctx, "tcp", cfg.addr())
	}
	if err != nil {
		release()
		return nil, fmt.Errorf("ssh: %s: %w: %w", cfg.name(), conn.ErrUnreachable, err)
	}

	// The handshake has no context of its own: a deadline bounds it, and
	// closing the socket aborts it on cancellation.
	tcp.SetDeadline(time.Now().Add(cfg.ConnectTimeout))
	stop := context.AfterFunc(ctx, func() { tcp.Close() })
	sc, chans, reqs, err := ssh.NewClientConn(tcp, cfg.addr(), clientCfg)
	stopped := stop()
	if err == nil && !stopped {
		sc.Close()
		err = ctx.Err()
	}
	if err != nil {
		tcp.Close()
		release()
		return nil, classifyHandshake(ctx, cfg, err, hostKeyErr)
	}
	tcp.SetDeadline(time.Time{})

	c := &Conn{
		cfg:      cfg,
		client:   ssh.NewClient(sc, chans, reqs),
		bastion:  bastion,
		release:  release,
		sessions: make(chan struct{}, cfg.MaxSessions),
		dead:     make(chan struct{}),
		closed:   make(chan struct{}),
	}
	go func() {
		err := c.client.Wait()
		c.markDead(err)
	}()
	if cfg.KeepAliveInterval > 0 {
		go c.keepAlive()
	}
	cfg.Logger.Debug("ssh connected", "host", cfg.name(), "server", string(sc.ServerVersion()))
	return c, nil
}

func classifyHandshake(ctx context.Context, cfg *resolved, err, hostKeyErr error) error {
	switch {
	case hostKeyErr != nil:
		return fmt.Errorf("ssh: %s: %w", cfg.name(), hostKeyErr)
	case strings.Contains(err.Error(), "unable to authenticate"):
		return fmt.Errorf("ssh: %s: %w: the server accepted none of the offered keys or password (%w)", cfg.name(), conn.ErrAuth, err)
	case ctx.Err() != nil:
		return fmt.Errorf("ssh: %s: %w: handshake did not finish within %s: %w", cfg.name(), conn.ErrUnreachable, cfg.ConnectTimeout, err)
	default:
		return fmt.Errorf("ssh: %s: %w: handshake: %w", cfg.name(), conn.ErrUnreachable, err)
	}
}

// User is the login user; Become reads it to skip sudo for root.
func (c *Conn) User() string { return c.cfg.User }

// String names the connection as user@host:port.
func (c *Conn) String() string { return c.cfg.name() }

// keepAlive probes the server so a silently dead peer (a rebooted host, a
// dropped NAT entry) is noticed and every waiting operation fails with
// conn.ErrConnLost instead of hanging.
func (c *Conn) keepAlive() {
	t := time.NewTicker(c.cfg.KeepAliveInterval)
	defer t.Stop()
	missed := 0
	for {
		select {
		case <-c.dead:
			return
		case <-c.closed:
			return
		case <-t.C:
		}
		if c.probe(c.cfg.KeepAliveInterval) == nil {
			missed = 0
			continue
		}
		missed++
		if missed >= c.cfg.KeepAliveCountMax {
			c.markDead(fmt.Errorf("the host stopped answering: no reply to %d keepalives %s apart (%s); it may be down, frozen or cut off, "+
				"or its sshd stalls longer than that (raise gpuctl_ssh_keepalive_interval or gpuctl_ssh_keepalive_count_max)",
				missed, c.cfg.KeepAliveInterval, time.Duration(missed)*c.cfg.KeepAliveInterval))
			c.client.Close()
			return
		}
	}
}

// probe sends one keepalive and waits at most timeout for the reply.
func (c *Conn) probe(timeout time.Duration) error {
	done := make(chan error, 1)
	go func() {
		_, _, err := c.client.SendRequest("keepalive@openssh.com", true, nil)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		return errors.New("keepalive timed out")
	case <-c.dead:
		return c.deadErr
	}
}

// errClosedByHost says what a bare EOF means: the server end went away.
var errClosedByHost = errors.New("the host closed the connection: its sshd exited or was killed, or the host went down")

func (c *Conn) markDead(err error) {
	c.deadOnce.Do(func() {
		// A bare EOF, or SFTP's "connection lost", tells the user nothing.
		if err == nil || errors.Is(err, io.EOF) || errors.Is(err, sftp.ErrSSHFxConnectionLost) {
			err = errClosedByHost
		}
		c.deadErr = err
		close(c.dead)
	})
}

func (c *Conn) isDead() bool {
	select {
	case <-c.dead:
		return true
	default:
		return false
	}
}

// lost turns an operation's error into conn.ErrConnLost when the transport
// is gone. A session error can arrive just before the transport notices, so
// an unexplained failure gets a short probe to tell the two apart.
func (c *Conn) lost(op string, err error) error {
	if c.isClosed() {
		return fmt.Errorf("ssh: %s: %s: connection closed: %w", c.cfg.name(), op, net.ErrClosed)
	}
	if !c.isDead() {
		if c.probe(2*time.Second) == nil {
			return fmt.Errorf("ssh: %s: %s: %w", c.cfg.name(), op, err)
		}
		c.markDead(err)
		c.client.Close()
	}
	return fmt.Errorf("ssh: %s: %s: %w: %w", c.cfg.name(), op, conn.ErrConnLost, c.deadErr)
}

func (c *Conn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// session opens a command session, waiting for a free slot under
// MaxSessions. The returned func releases the slot.
func (c *Conn) session(ctx context.Context) (*ssh.Session, func(), error) {
	select {
	case c.sessions <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	case <-c.dead:
		return nil, nil, c.lost("open session", c.deadErr)
	}
	release := func() { <-c.sessions }
	type opened struct {
		s   *ssh.Session
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		s, err := c.client.NewSession()
		ch <- opened{s, err}
	}()
	select {
	case o := <-ch:
		if o.err != nil {
			release()
			return nil, nil, c.lost("open session", o.err)
		}
		return o.s, release, nil
	case <-ctx.Done():
		go func() {
			if o := <-ch; o.s != nil {
				o.s.Close()
			}
			release()
		}()
		return nil, nil, ctx.Err()
	}
}

// Dial opens a connection from the host through a direct-tcpip channel
// (or direct-streamlocal for "unix").
func (c *Conn) Dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var nc net.Conn
	var err error
	switch network {
	case "tcp", "tcp4", "tcp6":
		nc, err = c.client.DialContext(ctx, network, addr)
	case "unix":
		nc, err = c.client.Dial(network, addr)
	default:
		return nil, fmt.Errorf("ssh: %s: dial %s %s: %w", c.cfg.name(), network, addr, conn.ErrNotSupported)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if c.isDead() {
			return nil, c.lost("dial "+addr, err)
		}
		return nil, fmt.Errorf("ssh: %s: dial %s from the host: %w", c.cfg.name(), addr, err)
	}
	return nc, nil
}

// Close ends the connection and its bastion's.
func (c *Conn) Close() error {
	var err error
	c.stopOnce.Do(func() {
		close(c.closed)
		c.sftpMu.Lock()
		if c.sftp != nil {
			c.sftp.Close()
		}
		c.sftpMu.Unlock()
		if c.lockStdin != nil {
			c.lockStdin.Close() // the holder ends and frees the host lock
		}
		if c.serverStdin != nil {
			c.serverStdin.Close()
		}
		err = c.client.Close()
		if errors.Is(err, net.ErrClosed) || c.isDead() {
			err = nil
		}
		c.release()
		if c.bastion != nil {
			c.bastion.Close()
		}
	})
	return err
}
