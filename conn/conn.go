// Package conn defines how gpuctl reaches a host. Transports (ssh, local)
// implement Conn; privilege escalation is a decorator (Become) over any Conn,
// so modules never branch on how they are connected.
package conn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"
	"time"
)

// Conn runs commands and moves files on one host. Implementations must be
// safe for concurrent use: a host's tasks are sequential, but kube modules
// dial through the same connection while commands run.
type Conn interface {
	// Run executes cmd with /bin/sh -c. A non-zero exit status is reported
	// in Result, not as an error; the error is for transport failures.
	Run(ctx context.Context, cmd string, opts ...ExecOption) (Result, error)
	// ReadFile returns the file's contents; a missing file gives an error
	// matching fs.ErrNotExist.
	ReadFile(ctx context.Context, path string) ([]byte, error)
	// Stat describes path without following a final symlink; a missing
	// file gives an error matching fs.ErrNotExist.
	Stat(ctx context.Context, path string) (FileInfo, error)
	// WriteFile replaces path atomically: the data goes to a temporary file
	// in the same directory, is verified, gets its mode and owner, and is
	// renamed into place. A failure at any point leaves path untouched.
	WriteFile(ctx context.Context, path string, data []byte, attrs FileAttrs) error
	// Dial opens a network connection from the host (for the kube API,
	// port forwards, wait_for).
	Dial(ctx context.Context, network, addr string) (net.Conn, error)
	Close() error
}

// Result is the outcome of a command.
type Result struct {
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
	ExitCode int    `json:"rc"`
}

// OK reports a zero exit status.
func (r Result) OK() bool { return r.ExitCode == 0 }

// FileInfo is what modules need to know about a path.
type FileInfo struct {
	Path    string
	Mode    fs.FileMode // permission bits and type
	Size    int64
	Owner   string
	Group   string
	UID     string // numeric owner and group, "" when the transport
	GID     string // cannot tell (they settle owner: 0 against root)
	ModTime time.Time
	Link    string // target, when the path is a symlink
}

// IsDir and IsLink read the type bits.
func (f FileInfo) IsDir() bool  { return f.Mode.IsDir() }
func (f FileInfo) IsLink() bool { return f.Mode&fs.ModeSymlink != 0 }

// FileAttrs are applied to a written file before it is renamed into place.
// Empty owner/group keep the connection user's; zero Mode means 0644.
type FileAttrs struct {
	Mode  fs.FileMode
	Owner string
	Group string
	// Planned, when set, is what the caller saw at the path when it
	// decided to write. WriteFile looks again right before the rename and,
	// when the file changed since (someone else wrote it between check and
	// apply), fails with a *ChangedError and leaves it as it is.
	Planned *Planned
}

// ExecOption adjusts one command.
type ExecOption func(*ExecConfig)

// ExecConfig is the resolved set of options; transports read it.
type ExecConfig struct {
	Stdin  io.Reader
	Env    map[string]string
	Dir    string
	Redact []string  // strings never to show in errors or logs
	Stream io.Writer // receives stdout as it arrives, besides Result.Stdout
}

func Stdin(r io.Reader) ExecOption  { return func(c *ExecConfig) { c.Stdin = r } }
func Dir(dir string) ExecOption     { return func(c *ExecConfig) { c.Dir = dir } }
func Stream(w io.Writer) ExecOption { return func(c *ExecConfig) { c.Stream = w } }
func Redact(secrets ...string) ExecOption {
	return func(c *ExecConfig) { c.Redact = append(c.Redact, secrets...) }
}
func Env(env map[string]string) ExecOption { return func(c *ExecConfig) { c.Env = env } }

// NewExecConfig applies opts.
func NewExecConfig(opts []ExecOption) ExecConfig {
	var c ExecConfig
	for _, o := range opts {
		o(&c)
	}
	return c
}

// Sentinel errors. Transports wrap them with %w so callers can use errors.Is.
var (
	ErrUnreachable  = errors.New("host unreachable")
	ErrAuth         = errors.New("authentication failed")
	ErrHostKey      = errors.New("host key verification failed")
	ErrBecome       = errors.New("privilege escalation failed")
	ErrConnLost     = errors.New("connection lost")
	ErrNotSupported = errors.New("not supported by this connection")
)

// Output runs cmd and returns its trimmed stdout, or an error holding stderr
// when the command fails. It is the common case for fact gathering.
func Output(ctx context.Context, c Conn, cmd string, opts ...ExecOption) (string, error) {
	r, err := c.Run(ctx, cmd, opts...)
	if err != nil {
		return "", err
	}
	if r.ExitCode != 0 {
		return r.Stdout, &ExitError{Cmd: cmd, Result: r, redact: NewExecConfig(opts).Redact}
	}
	return trimNL(r.Stdout), nil
}

// ExitError is a command that ran and failed.
type ExitError struct {
	Cmd    string
	Result Result
	redact []string
}

func (e *ExitError) Error() string {
	msg := trimNL(e.Result.Stderr)
	if msg == "" {
		msg = trimNL(e.Result.Stdout)
	}
	if len(msg) > 2000 {
		msg = "…" + msg[len(msg)-2000:]
	}
	if msg != trimNL(e.Result.Stdout) {
		if lines := errorLines(e.Result.Stdout); lines != "" {
			msg += "\n(stdout) " + lines
		}
	}
	return redactAll(fmt.Sprintf("%q exited %d: %s", e.Cmd, e.Result.ExitCode, msg), e.redact)
}

// errorLines picks the lines of a command's stdout that report an error,
// with the indented lines that continue them. Some tools print the cause
// there while stderr only says that they failed: apt-get relays dpkg's
// "error processing archive ... (No space left on device)" on stdout.
func errorLines(out string) string {
	var keep []string
	cont := false
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.Contains(strings.ToLower(l), "error"):
			keep, cont = append(keep, l), true
		case cont && strings.HasPrefix(l, " "):
			keep = append(keep, l)
		default:
			cont = false
		}
		if len(keep) >= 8 {
			break
		}
	}
	return strings.Join(keep, "\n")
}

func trimNL(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}
