package ssh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/gpuctl/gpuctl/conn"
)

// wrapper runs the command ($1) under /bin/sh whatever the login shell is,
// after reporting its process id on stderr. sshd makes every session a
// process group led by that process, so cancellation can end the whole
// command tree. sshd itself relays signals only to sessions of non-root
// users (root logins run without privilege separation and sshd refuses),
// hence the group id.
const wrapper = `echo "$$" >&2; exec /bin/sh -c "$1"`

// cancelGrace is how long a cancelled command gets to exit after SIGTERM
// before its session is closed.
const cancelGrace = 2 * time.Second

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// remoteCommand builds the command line sent to sshd. Environment variables
// are exported in the script rather than sent with Setenv, which sshd
// refuses unless AcceptEnv lists them.
func remoteCommand(cmd string, cfg conn.ExecConfig) (string, error) {
	pre, err := envPrefix(cfg)
	if err != nil {
		return "", err
	}
	return "exec /bin/sh -c " + conn.Quote(pre+wrapper) + " gpuctl " + conn.Quote(cmd), nil
}

// envPrefix is the shell text that sets cfg's environment and directory.
func envPrefix(cfg conn.ExecConfig) (string, error) {
	var pre strings.Builder
	keys := make([]string, 0, len(cfg.Env))
	for k := range cfg.Env {
		if !envName.MatchString(k) {
			return "", fmt.Errorf("invalid environment variable name %q", k)
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		pre.WriteString("export " + k + "=" + conn.Quote(cfg.Env[k]) + "; ")
	}
	if cfg.Dir != "" {
		pre.WriteString("cd " + conn.Quote(cfg.Dir) + " || exit 1; ")
	}
	return pre.String(), nil
}

// serverArgv is remoteCommand for the command server: the same shells,
// less the login shell and the process-group report, which the server
// does itself.
func serverArgv(cmd string, cfg conn.ExecConfig) ([]string, error) {
	pre, err := envPrefix(cfg)
	if err != nil {
		return nil, err
	}
	if pre == "" {
		return []string{"/bin/sh", "-c", cmd}, nil
	}
	return []string{"/bin/sh", "-c", pre + `exec /bin/sh -c "$1"`, "gpuctl", cmd}, nil
}

// Run executes cmd with /bin/sh -c on the host. A non-zero exit is in the
// Result; a killed command reports 128+signal like a shell does.
func (c *Conn) Run(ctx context.Context, cmd string, opts ...conn.ExecOption) (conn.Result, error) {
	cfg := conn.NewExecConfig(opts)
	// The server feeds no stdin: such commands keep their session.
	if c.server != nil && cfg.Stdin == nil && c.server.alive() {
		argv, err := serverArgv(cmd, cfg)
		if err != nil {
			return conn.Result{}, fmt.Errorf("ssh: %s: run: %w", c.cfg.name(), err)
		}
		res, err := c.server.run(ctx, argv, cfg.Stream)
		if !errors.Is(err, errNotStarted) {
			return res, err
		}
		// The server ended before it started the command: a session runs it.
	}
	line, err := remoteCommand(cmd, cfg)
	if err != nil {
		return conn.Result{}, fmt.Errorf("ssh: %s: run: %w", c.cfg.name(), err)
	}
	sess, release, err := c.session(ctx)
	if err != nil {
		return conn.Result{}, err
	}
	defer release()
	defer sess.Close()

	var stdout, stderr bytes.Buffer
	sess.Stdout = &stdout
	if cfg.Stream != nil {
		sess.Stdout = io.MultiWriter(&stdout, cfg.Stream)
	}
	pg := &pgidWriter{w: &stderr}
	sess.Stderr = pg
	if cfg.Stdin != nil {
		// x/crypto/ssh waits for the stdin copy to finish; a reader that
		// outlives the command must not hold Run up, so feed it through a
		// pipe that Run closes.
		w, err := sess.StdinPipe()
		if err != nil {
			return conn.Result{}, c.lost("run", err)
		}
		go func() {
			io.Copy(w, cfg.Stdin)
			w.Close()
		}()
	}
	if err := sess.Start(line); err != nil {
		return conn.Result{}, c.lost("run", err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()

	var waitErr error
	select {
	case waitErr = <-done:
	case <-ctx.Done():
		if !c.cancel(sess, pg.get(), done) {
			// The output buffers may still be written to.
			return conn.Result{ExitCode: -1}, ctx.Err()
		}
		return conn.Result{Stdout: stdout.String(), Stderr: stderr.String(), ExitCode: -1}, ctx.Err()
	}
	res := conn.Result{Stdout: stdout.String(), Stderr: stderr.String()}
	var exitErr *ssh.ExitError
	switch {
	case waitErr == nil:
	case errors.As(waitErr, &exitErr):
		res.ExitCode = exitErr.ExitStatus()
		if sig := exitErr.Signal(); sig != "" {
			res.ExitCode = 128 + signalNumber(sig)
		}
	default:
		// No exit status: the session or the whole connection died.
		return res, c.lost("run", waitErr)
	}
	return res, nil
}

// cancel stops a running command: SIGTERM to its process group, SIGKILL
// after cancelGrace, then the session is closed. Both sshd's signal request
// and a kill from a side session are used, since either may be refused.
// It reports whether the session has ended.
func (c *Conn) cancel(sess *ssh.Session, pgid int, done <-chan error) bool {
	sess.Signal(ssh.SIGTERM)
	c.killGroup(pgid, "TERM")
	select {
	case <-done:
		return true
	case <-time.After(cancelGrace):
	}
	sess.Signal(ssh.SIGKILL)
	c.killGroup(pgid, "KILL")
	sess.Close()
	select {
	case <-done:
		return true
	case <-time.After(time.Second):
		return false
	}
}

// killGroup signals a process group from a new session. It bypasses the
// session limit: cancellation must not wait behind the work it cancels.
func (c *Conn) killGroup(pgid int, sig string) {
	if pgid <= 1 || c.isDead() {
		return
	}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		s, err := c.client.NewSession()
		if err != nil {
			return
		}
		defer s.Close()
		s.Run(fmt.Sprintf("kill -s %s -- -%d 2>/dev/null", sig, pgid))
	}()
	select {
	case <-finished:
	case <-time.After(cancelGrace):
	}
}

// pgidWriter takes the wrapper's first stderr line, the command's process
// group id, and passes everything else on.
type pgidWriter struct {
	mu   sync.Mutex
	w    io.Writer
	line []byte
	seen bool
	pgid int
}

func (p *pgidWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(b)
	if !p.seen {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.line = append(p.line, b...)
			return n, nil
		}
		p.line = append(p.line, b[:i+1]...)
		b = b[i+1:]
		p.seen = true
		if id, err := strconv.Atoi(string(bytes.TrimSpace(p.line))); err == nil {
			p.pgid = id
		} else {
			// Not the wrapper speaking (a broken login shell): keep it.
			p.w.Write(p.line)
		}
	}
	_, err := p.w.Write(b)
	return n, err
}

func (p *pgidWriter) get() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pgid
}

func signalNumber(sig string) int {
	n := map[string]int{"HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "ABRT": 6, "FPE": 8, "KILL": 9,
		"SEGV": 11, "PIPE": 13, "ALRM": 14, "TERM": 15, "USR1": 10, "USR2": 12}[sig]
	if n == 0 {
		return 127
	}
	return n
}
