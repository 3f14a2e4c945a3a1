package testhosts

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Processes counts the processes (and threads: the kernel hands out ids for
// both) started on the host while f runs. It reads the last id handed out in
// the container's PID namespace (/proc/sys/kernel/ns_last_pid, as seen from
// inside it) before and after f; ids there are handed out in order, so the
// difference is exact, with nothing sampled. The reading itself starts one
// process in the namespace (nsenter's child), which is subtracted. Only
// containers have a namespace of their own to read from outside; a VM fails
// the test.
func (h Host) Processes(t testing.TB, f func()) int {
	t.Helper()
	before := h.lastPID(t)
	f()
	after := h.lastPID(t)
	n := after - before - 1
	if n < 0 {
		t.Fatalf("testhosts: %s: the PID counter wrapped (%d then %d); count over a shorter span", h.Name, before, after)
	}
	return n
}

// LastPID is the last process id handed out in the host's PID namespace,
// for callers that count over spans Processes cannot wrap (a benchmark's
// phases across several hosts). Each call starts one process on the host.
func (h Host) LastPID() (int, error) {
	if h.VM {
		return 0, fmt.Errorf("host %s is a VM: its processes cannot be counted from outside", h.Name)
	}
	// init.pid is the first child start.sh saw of systemd-nspawn, which
	// under load has been a short-lived helper; nspawn's children now are
	// the fallback.
	var pids []string
	for _, f := range []string{"init.pid", "nspawn.pid"} {
		b, err := os.ReadFile(filepath.Join(h.Dir, f))
		if err != nil {
			return 0, fmt.Errorf("host %s: %w", h.Name, err)
		}
		pid := strings.TrimSpace(string(b))
		if f == "init.pid" {
			pids = append(pids, pid)
			continue
		}
		kids, _ := exec.Command("pgrep", "-P", pid).Output()
		pids = append(pids, strings.Fields(string(kids))...)
	}
	var out []byte
	var err error
	self, _ := os.Readlink("/proc/self/ns/pid")
	for _, pid := range pids {
		// Only a process in a PID namespace of its own counts the host's.
		if ns, nserr := os.Readlink("/proc/" + pid + "/ns/pid"); nserr != nil || ns == self {
			err = fmt.Errorf("host %s: process %s is not in the container's PID namespace", h.Name, pid)
			continue
		}
		cmd := exec.Command("nsenter", "-t", pid, "-p", "--", "cat", "/proc/sys/kernel/ns_last_pid")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if out, err = cmd.Output(); err == nil {
			break
		}
		err = fmt.Errorf("host %s: read its PID counter through process %s: %w: %s", h.Name, pid, err, strings.TrimSpace(stderr.String()))
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		return 0, fmt.Errorf("host %s: PID counter %q: %w", h.Name, out, err)
	}
	return n, nil
}

func (h Host) lastPID(t testing.TB) int {
	t.Helper()
	n, err := h.LastPID()
	if err != nil {
		t.Fatalf("testhosts: %v", err)
	}
	return n
}
