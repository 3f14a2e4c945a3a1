package ssh

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
)

// The host lock keeps two gpuctl runs from changing one host at once. It
// is a flock(2) on /run/lock/gpuctl/gpuctl.lock, taken by a shell on the host at
// connect time and held by the cat it then becomes, reading the session's
// stdin, for as long as the connection lives. The kernel, not a
// timestamp, says who holds it: when the controller exits or is killed,
// its TCP connection closes, sshd closes the session, cat reads EOF and
// the lock is free. With the command server (cmdserver.go), the server is
// the holder instead of cat, and ends the same way. The holder writes who
// it is into the lock file, so a refused run can name the run that holds
// the host.
//
// A connection that dies silently (a cut link) leaves its holder until
// the host's sshd drops the connection. A run from the same controller
// sees that the holder's process is gone and ends the orphan; from
// elsewhere the message says which process to end.
//
// The file sits in a directory of its own, world-writable without the
// sticky bit: in the sticky /run/lock, fs.protected_regular (2 on Debian)
// refuses an open with O_CREAT, which the shell's <> uses, of a file
// another user created, so a run as root after one as deploy could not
// take the lock. One that still cannot write the file locks it read-only.
const lockScript = `d=/run/lock/gpuctl; [ -d /run/lock ] && [ -w /run/lock ] || d=/tmp/gpuctl-lock
command -v flock >/dev/null 2>&1 || { echo gpuctl-lock-none; exit 0; }
[ -d "$d" ] || { umask 000; mkdir -m 0777 "$d"; } 2>/dev/null
f=$d/gpuctl.lock
[ -e "$f" ] || { umask 000; true >>"$f"; } 2>/dev/null
[ -r "$f" ] || { echo gpuctl-lock-none; exit 0; }
w=; if [ -w "$f" ] && { command exec 9<>"$f"; } 2>/dev/null; then w=1; else exec 9<"$f"; fi
if flock -n 9; then
  [ -n "$w" ] && printf '%-` + lockRecordWidth + `s\n' "$1 hostpid=$$" >&9
  if [ -n "$2" ] && command -v perl >/dev/null 2>&1; then echo "gpuctl-lock-held $f cmdserver"; exec perl -e "$2"; fi
  echo "gpuctl-lock-held $f"
  exec cat >/dev/null
fi
echo "gpuctl-lock-busy $f"; head -c 1000 "$f"`

// lockRecordWidth pads every record to one width, so a holder overwrites
// the last one in place through the descriptor it locked: opening with
// truncation would erase the record before the lock is ours, and the
// shell's builtins then write it without starting truncate or dd (the
// lock costs the connection two processes: flock and the cat that holds it).
const lockRecordWidth = "480"

// ErrHostLocked is matched (errors.Is) by a *LockedError.
var ErrHostLocked = errors.New("another gpuctl run holds this host")

// LockedError is a host whose lock another run holds.
type LockedError struct {
	Host   string
	Path   string // the lock file on the host
	Holder lockOwner
}

func (e *LockedError) Error() string {
	h := e.Holder
	return fmt.Sprintf("ssh: %s: %v: gpuctl pid %s of user %s on controller %s, started %s (lock %s on the host). "+
		"Wait for it to finish; if it is gone (its link was cut), the lock is freed when the host's sshd drops its connection, "+
		"or end process %s on the host", e.Host, ErrHostLocked, h.PID, h.User, h.Controller, h.Started, e.Path, h.HostPID)
}

func (e *LockedError) Is(target error) bool { return target == ErrHostLocked }

// lockOwner is one run, as the lock file records it.
type lockOwner struct {
	Controller, PID, User, Started, Ticks, HostPID string
}

// selfOwner describes this process. Ticks (its start time since boot) tells
// a live run from a later process that got the same pid.
func selfOwner() lockOwner {
	o := lockOwner{PID: strconv.Itoa(os.Getpid()), User: "?", Controller: "?", Started: "?", Ticks: "0"}
	if h, err := os.Hostname(); err == nil {
		o.Controller = h
	}
	if u, err := user.Current(); err == nil {
		o.User = u.Username
	}
	if t, ok := procTicks(os.Getpid()); ok {
		o.Ticks = t
		if s, ok := procStarted(t); ok {
			o.Started = s.UTC().Format(time.RFC3339)
		}
	}
	return o
}

func (o lockOwner) record() string {
	return fmt.Sprintf("gpuctl controller=%s pid=%s user=%s started=%s ticks=%s", o.Controller, o.PID, o.User, o.Started, o.Ticks)
}

func parseOwner(s string) lockOwner {
	var o lockOwner
	// Only the first line is the holder's: what follows may be the tail of
	// an older, longer record.
	s, _, _ = strings.Cut(s, "\n")
	for _, f := range strings.Fields(s) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "controller":
			o.Controller = v
		case "pid":
			o.PID = v
		case "user":
			o.User = v
		case "started":
			o.Started = v
		case "ticks":
			o.Ticks = v
		case "hostpid":
			o.HostPID = v
		}
	}
	return o
}

// sameRun: another connection of this very run (a reconnect after a
// reboot task, delegate_to) shares the lock.
func (o lockOwner) sameRun(me lockOwner) bool {
	return o.Controller == me.Controller && o.PID == me.PID && o.Ticks == me.Ticks
}

// gone: the holder is a run of this controller whose process no longer
// runs, so its holder on the host is an orphan of a dead connection.
func (o lockOwner) gone(me lockOwner) bool {
	if o.Controller != me.Controller || o.PID == "" {
		return false
	}
	pid, err := strconv.Atoi(o.PID)
	if err != nil {
		return false
	}
	t, alive := procTicks(pid)
	return !alive || t != o.Ticks
}

// lockHost takes the host's lock for the connection's lifetime. A host
// without flock(1) is not locked. The session holding it takes one of the
// connection's session slots for good.
func (c *Conn) lockHost(ctx context.Context) error {
	me := selfOwner()
	for attempt := 0; ; attempt++ {
		held, busy, err := c.tryLock(ctx, me)
		if err != nil || held {
			return err
		}
		if busy.Holder.sameRun(me) {
			return nil
		}
		if attempt > 0 || !busy.Holder.gone(me) || busy.Holder.HostPID == "" {
			return busy
		}
		// The holder's run died with its connection cut: end the orphan.
		// Its holder is cat, or perl when it is the command server.
		kill := fmt.Sprintf(`p=%s; case "$(cat /proc/$p/comm 2>/dev/null)" in cat|perl) kill $p;; esac; sleep 0.2`, conn.Quote(busy.Holder.HostPID))
		if _, err := c.Run(ctx, kill); err != nil {
			return err
		}
		c.cfg.Logger.Warn("ended the host lock of a gpuctl run that is gone", "host", c.cfg.name(), "pid", busy.Holder.PID, "started", busy.Holder.Started)
	}
}

// tryLock runs the lock script once: held, or the holder's LockedError.
func (c *Conn) tryLock(ctx context.Context, me lockOwner) (bool, *LockedError, error) {
	sess, _, err := c.session(ctx)
	if err != nil {
		return false, nil, err
	}
	stdin, err := sess.StdinPipe()
	if err != nil {
		sess.Close()
		return false, nil, c.lost("host lock", err)
	}
	out, err := sess.StdoutPipe()
	if err != nil {
		sess.Close()
		return false, nil, c.lost("host lock", err)
	}
	server := ""
	if c.cfg.CommandServer {
		server = serverScript
	}
	if err := sess.Start("exec /bin/sh -c " + conn.Quote(lockScript) + " gpuctl " + conn.Quote(me.record()) + " " + conn.Quote(server)); err != nil {
		sess.Close()
		return false, nil, c.lost("host lock", err)
	}
	r := bufio.NewReader(out)
	first, err := r.ReadString('\n')
	status, path, _ := strings.Cut(strings.TrimSpace(first), " ")
	path, how, _ := strings.Cut(path, " ")
	switch {
	case err != nil:
		sess.Close()
		return false, nil, c.lost("host lock", err)
	case status == "gpuctl-lock-held":
		// stdin stays open until the connection closes, and the slot
		// session() took is never given back.
		c.lockStdin = stdin
		if how == "cmdserver" {
			c.startCmdReader(stdin, r)
		}
		c.cfg.Logger.Debug("host lock held", "host", c.cfg.name(), "lock", path, "command server", how == "cmdserver")
		return true, nil, nil
	case status == "gpuctl-lock-none":
		sess.Wait()
		sess.Close()
		<-c.sessions
		c.cfg.Logger.Warn("host has no flock(1): running without the per-host lock", "host", c.cfg.name())
		return true, nil, nil
	case status == "gpuctl-lock-busy":
		rest, _ := r.ReadString(0)
		sess.Wait()
		sess.Close()
		<-c.sessions
		return false, &LockedError{Host: c.cfg.name(), Path: path, Holder: parseOwner(rest)}, nil
	}
	sess.Close()
	<-c.sessions
	return false, nil, fmt.Errorf("ssh: %s: host lock: unexpected reply %q", c.cfg.name(), first)
}

// procTicks is a process's start time in clock ticks since boot (field 22
// of /proc/PID/stat); ok is false when the process does not exist.
func procTicks(pid int) (string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", false
	}
	s := string(b)
	// The command name (field 2) may hold spaces; fields restart after it.
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 20 {
		return "", false
	}
	return f[19], true
}

// procStarted turns start ticks into a time, assuming the usual 100 Hz.
func procStarted(ticks string) (time.Time, bool) {
	t, err := strconv.ParseInt(ticks, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			boot, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, false
			}
			return time.Unix(boot+t/100, 0), true
		}
	}
	return time.Time{}, false
}
