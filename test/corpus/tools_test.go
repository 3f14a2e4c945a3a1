package corpus

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/internal/testhosts"
)

// run is one invocation of gpuctl or ansible-playbook.
type run struct {
	ok       bool // exit 0 (gpuctl --detailed-exitcode: 0 or 2)
	changed  int  // tasks that changed (or would change)
	failures []string
	took     time.Duration
	output   string
}

// writeInventory writes one inventory both tools read: Ansible's variables, and gpuctl's
// known_hosts, with strict host-key checking for both.
func writeInventory(t *testing.T, dir string, hosts ...testhosts.Host) string {
	t.Helper()
	kh := testhosts.WriteKnownHosts(t, hosts...)
	var b strings.Builder
	fmt.Fprintf(&b, "all:\n  vars:\n    ansible_user: root\n    ansible_python_interpreter: /usr/bin/python3\n")
	fmt.Fprintf(&b, "    ansible_ssh_common_args: \"-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes\"\n", kh)
	fmt.Fprintf(&b, "    gpuctl_known_hosts: %s\n  hosts:\n", kh)
	for _, h := range hosts {
		fmt.Fprintf(&b, "    %s:\n      ansible_host: %s\n      ansible_port: %d\n      ansible_ssh_private_key_file: %s\n", h.Name, h.Addr, h.Port, h.KeyFile)
	}
	p := filepath.Join(dir, hosts[0].Name+".yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// gpuctlRun runs `gpuctl run` with JSON output and reads the failures and the change count
// from its events.
func gpuctlRun(ctx context.Context, bin, dir string, env []string, play, inv string, args ...string) run {
	argv := append([]string{"run", play, "-i", inv, "-o", "json", "--detailed-exitcode"}, args...)
	cmd := exec.CommandContext(ctx, bin, argv...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), append(env, "NO_COLOR=1", "HOME="+dir)...)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	start := time.Now()
	err := cmd.Run()
	r := run{took: time.Since(start), output: out.String() + stderr.String()}
	var ee *exec.ExitError
	r.ok = err == nil || (errors.As(err, &ee) && ee.ExitCode() == 2)
	sc := bufio.NewScanner(&out)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var ev struct {
			Type, Task, Pos, Host, Status, Msg string
			Recap                              *struct {
				Hosts map[string]struct{ Changed, Unknown int }
			}
		}
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		if ev.Status == "failed" || ev.Status == "unreachable" {
			r.failures = append(r.failures, fmt.Sprintf("%s (task %q): %s", ev.Pos, ev.Task, ev.Msg))
		}
		if ev.Recap != nil {
			for _, c := range ev.Recap.Hosts {
				r.changed += c.Changed + c.Unknown
			}
		}
	}
	if !r.ok && len(r.failures) == 0 {
		// failed before any task ran (loading, connecting): the error is on stderr
		r.failures = []string{strings.TrimSpace(stderr.String())}
	}
	return r
}

var ansibleRecap = regexp.MustCompile(`(?m)^\S+\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)

// ansibleRun runs Debian's ansible-playbook with pipelining, as bench/ansible does.
func ansibleRun(ctx context.Context, dir string, env []string, play, inv string, args ...string) run {
	cfg := filepath.Join(dir, "ansible.cfg")
	_ = os.WriteFile(cfg, []byte("[defaults]\nhost_key_checking = True\nforks = 10\n[ssh_connection]\npipelining = True\nssh_args = -o ControlMaster=auto -o ControlPersist=60s\n"), 0o644)
	cmd := exec.CommandContext(ctx, "ansible-playbook", append([]string{"-i", inv, play}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append(env, "ANSIBLE_CONFIG="+cfg, "ANSIBLE_NOCOLOR=1", "HOME="+dir)...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	r := run{ok: err == nil, took: time.Since(start), output: string(out)}
	for _, m := range ansibleRecap.FindAllStringSubmatch(r.output, -1) {
		n, _ := strconv.Atoi(m[1])
		r.changed += n
	}
	if !r.ok {
		r.failures = []string{lastLines(r.output, 15)}
	}
	return r
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// state is what an item's end state is compared on: the listed paths (type, mode, owner,
// link target, content; not mtimes), packages, services, sysctls, users and groups.
func state(t *testing.T, h testhosts.Host, a *Apply) string {
	t.Helper()
	q := func(l []string) string {
		var out []string
		for _, s := range l {
			out = append(out, "'"+strings.ReplaceAll(s, "'", `'\''`)+"'")
		}
		return strings.Join(out, " ")
	}
	script := "set -u\n"
	if len(a.Paths) > 0 {
		script += `for p in ` + q(a.Paths) + `; do
  if [ -e "$p" ] || [ -L "$p" ]; then
    find "$p" -xdev -printf 'path %p %y %m %u:%g %l\n'
    find "$p" -xdev -type f -print0 | xargs -0 -r sha256sum | sed 's/^/content /'
  else echo "path $p missing"; fi
done
`
	}
	if len(a.Packages) > 0 {
		script += `for p in ` + q(a.Packages) + `; do echo "package $p $(dpkg-query -W -f='${Version} ${db:Status-Abbrev}' "$p" 2>/dev/null || echo absent)"; done` + "\n"
	}
	if len(a.Services) > 0 {
		script += `for s in ` + q(a.Services) + `; do echo "service $s $(systemctl is-enabled "$s" 2>&1) $(systemctl is-active "$s" 2>&1)"; done` + "\n"
	}
	if len(a.Sysctls) > 0 {
		script += `for k in ` + q(a.Sysctls) + `; do echo "sysctl $k $(sysctl -n "$k" 2>&1)"; done` + "\n"
	}
	if len(a.Users) > 0 {
		script += `for u in ` + q(a.Users) + `; do echo "user $(getent passwd "$u" || echo "$u absent")"; done` + "\n"
	}
	if len(a.Groups) > 0 {
		script += `for g in ` + q(a.Groups) + `; do echo "group $(getent group "$g" || echo "$g absent")"; done` + "\n"
	}
	return h.Run(t, "("+script+") | LC_ALL=C sort")
}
