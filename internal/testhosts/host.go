package testhosts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// DefaultHashPaths are the trees Hash covers when given none: where provisioning leaves its marks.
var DefaultHashPaths = []string{"/etc", "/usr/local", "/opt", "/var/lib/gpuctl-test"}

// sshArgs are the OpenSSH client arguments for user@host. They use the host's current known_hosts (kept
// up to date by RegenHostKey) with strict checking, so a fixture mix-up fails loudly.
func (h Host) sshArgs(user string) []string {
	return []string{
		"-i", h.KeyFile, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
		"-o", "LogLevel=ERROR", "-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=/dev/null",
		"-o", "UserKnownHostsFile=" + filepath.Join(h.Dir, "known_hosts"),
		"-p", strconv.Itoa(h.Port), user + "@" + h.Addr,
	}
}

// Output runs cmd through the shell of user on the host with the OpenSSH client and returns its
// stdout. A non-zero exit is an error (an *exec.ExitError inside) that carries stderr.
func (h Host) Output(user, cmd string) (string, error) {
	c := exec.Command("ssh", append(h.sshArgs(user), "--", cmd)...)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		return stdout.String(), fmt.Errorf("host %s: %s: %q: %w: %s", h.Name, user, cmd, err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Run runs cmd as root and returns its stdout without surrounding white space; any failure fails the test.
func (h Host) Run(t testing.TB, cmd string) string {
	t.Helper()
	return h.RunAs(t, UserRoot, cmd)
}

// RunAs is Run as another user.
func (h Host) RunAs(t testing.TB, user, cmd string) string {
	t.Helper()
	out, err := h.Output(user, cmd)
	if err != nil {
		t.Fatalf("testhosts: %v", err)
	}
	return strings.TrimSpace(out)
}

// Snapshot lists every file, directory and link under paths (DefaultHashPaths when none) with type,
// mode, owner, size, mtime, link target and content sha256, one per line, sorted. Paths that do not
// exist are listed as missing. Compare two snapshots to see what changed.
func (h Host) Snapshot(t testing.TB, paths ...string) string {
	t.Helper()
	if len(paths) == 0 {
		paths = DefaultHashPaths
	}
	var q []string
	for _, p := range paths {
		q = append(q, shellQuote(p))
	}
	// find's own order is the directory's, which differs between hosts; LC_ALL=C sort is stable.
	script := `for p in ` + strings.Join(q, " ") + `; do
  if [ -e "$p" ] || [ -L "$p" ]; then
    find "$p" -xdev -printf '%p %y %m %u:%g %s %T@ %l\n'
    find "$p" -xdev -type f -print0 | xargs -0 -r sha256sum
  else echo "$p missing"; fi
done | LC_ALL=C sort`
	return h.Run(t, script)
}

// Hash is the sha256 of Snapshot: equal hashes before and after a check-mode run prove it changed nothing.
func (h Host) Hash(t testing.TB, paths ...string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(h.Snapshot(t, paths...)))
	return hex.EncodeToString(sum[:])
}

// Stop stops the host now, for tests of unreachable hosts; the cleanup Start registered is then a no-op.
func (h Host) Stop(t testing.TB) {
	t.Helper()
	h.script(t, "stop.sh", h.Name)
}

// Freeze stops every process of the host (a VM is paused): connections and new logins hang until Thaw.
func (h Host) Freeze(t testing.TB) {
	t.Helper()
	h.script(t, "ctl.sh", h.Name, "freeze")
}

// Thaw undoes Freeze.
func (h Host) Thaw(t testing.TB) {
	t.Helper()
	h.script(t, "ctl.sh", h.Name, "thaw")
}

// Kill makes the host die at once, as in a crash: open connections drop and new ones are refused.
func (h Host) Kill(t testing.TB) {
	t.Helper()
	h.script(t, "ctl.sh", h.Name, "kill")
}

// RegenHostKey gives the host's sshd a new host key and returns the host as it now is; h keeps the
// old key and its KnownHostsFile, which the host now fails to match.
func (h Host) RegenHostKey(t testing.TB) Host {
	t.Helper()
	out := h.script(t, "ctl.sh", h.Name, "regen-hostkey")
	nh, err := parseEnv([]byte(fmt.Sprintf("NAME=%s\nADDR=%s\nPORT=%d\nKEY=%s\n%s", h.Name, h.Addr, h.Port, h.KeyFile, out)))
	if err != nil {
		t.Fatalf("testhosts: regen-hostkey %s: %v", h.Name, err)
	}
	nh.VM, nh.Dir, nh.scripts = h.VM, h.Dir, h.scripts
	return nh
}

// WriteKnownHosts writes the known_hosts lines of hosts into one file in a test temp dir and returns
// its path, for an inventory covering several hosts.
func WriteKnownHosts(t testing.TB, hosts ...Host) string {
	t.Helper()
	var b strings.Builder
	for _, h := range hosts {
		b.WriteString(h.KnownHostsLine() + "\n")
	}
	p := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatalf("testhosts: %v", err)
	}
	return p
}

func (h Host) script(t testing.TB, name string, args ...string) string {
	t.Helper()
	dir := h.scripts
	if dir == "" {
		dir = scriptsDir()
	}
	out, err := exec.Command(filepath.Join(dir, name), args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("testhosts: %s %s: %v\n%s", name, strings.Join(args, " "), err, stderr)
	}
	return string(out)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
