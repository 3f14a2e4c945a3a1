// Package apt runs apt-get, apt-mark and dpkg on a host for every module
// family that installs packages (node's apt and apt_repository, nvidia's
// driver and container toolkit): non-interactive, in the C locale, and
// waiting while another process holds the dpkg or lists lock instead of
// failing at once.
package apt

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
)

// Env keeps apt and dpkg from asking questions (debconf, needrestart) and
// their output in one language for the parsers.
var Env = map[string]string{"DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C", "NEEDRESTART_MODE": "a"}

// DefaultLockTimeout is how long a Runner waits for a held lock when the
// task sets no lock_timeout: unattended-upgrades on a fresh Ubuntu boot
// usually finishes within it.
const DefaultLockTimeout = 5 * time.Minute

// Runner runs apt commands on one connection, retrying while a lock is held.
type Runner struct {
	c           conn.Conn
	log         *slog.Logger
	LockTimeout time.Duration
	Poll        time.Duration // between tries while the lock is held
}

// NewRunner returns a Runner; lockTimeout <= 0 means DefaultLockTimeout.
func NewRunner(c conn.Conn, log *slog.Logger, lockTimeout time.Duration) *Runner {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if lockTimeout <= 0 {
		lockTimeout = DefaultLockTimeout
	}
	return &Runner{c: c, log: log, LockTimeout: lockTimeout, Poll: 3 * time.Second}
}

// Run executes an apt command line with Env, retrying while a lock is
// held. A non-zero exit for another reason is in the Result, not an error.
func (a *Runner) Run(ctx context.Context, cmd string) (conn.Result, error) {
	deadline := time.Now().Add(a.LockTimeout)
	logged := ""
	for {
		r, err := a.c.Run(ctx, cmd, conn.Env(Env))
		if err != nil {
			return r, err
		}
		lock, holder, held := LockHolder(r.Stderr)
		if r.ExitCode == 0 || !held {
			return r, nil
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("%s is still held by %s after %s: wait for it to finish (on a fresh Ubuntu host it is usually unattended-upgrades) or raise lock_timeout", lock, holder, a.LockTimeout)
		}
		if msg := lock + " " + holder; msg != logged {
			// Warn, so the default log level shows why the task is not moving.
			a.log.Warn("waiting for the apt/dpkg lock", "lock", lock, "holder", holder, "timeout", a.LockTimeout.String())
			logged = msg
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(a.Poll):
		}
	}
}

// Must runs cmd and turns a non-zero exit into an error with apt's message.
func (a *Runner) Must(ctx context.Context, cmd string) (string, error) {
	r, err := a.Run(ctx, cmd)
	if err != nil {
		return "", err
	}
	if r.ExitCode != 0 {
		return "", &conn.ExitError{Cmd: cmd, Result: r}
	}
	return r.Stdout, nil
}

var heldBy = regexp.MustCompile(`It is held by process (\d+)(?: \(([^)]*)\))?`)

// LockHolder recognises apt's "Could not get lock" error and says who holds
// the lock, for the waiting message.
func LockHolder(stderr string) (lock, holder string, ok bool) {
	_, rest, found := strings.Cut(stderr, "Could not get lock ")
	if !found {
		return "", "", false
	}
	if f := strings.Fields(rest); len(f) > 0 {
		lock = strings.TrimSuffix(f[0], ".")
	}
	holder = "another process"
	if m := heldBy.FindStringSubmatch(rest); m != nil {
		holder = "process " + m[1]
		if m[2] != "" {
			holder += " (" + m[2] + ")"
		}
	}
	return lock, holder, true
}
