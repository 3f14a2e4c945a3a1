package pymodule_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/internal/gpuctltest"
	"github.com/gpuctl/gpuctl/internal/testhosts"
)

// endState is what the play leaves, compared between the two tools: the
// files' type, mode, owner and content (not times), and the debconf answer.
const endState = `for p in /etc/ssh/ssh_known_hosts /srv/blob /srv/counter.json /srv/stamp /srv/registered; do
  if [ -e "$p" ]; then stat -c 'path %n %F %a %U:%G %s' "$p"; sha256sum "$p"; else echo "path $p missing"; fi
done
debconf-show tzdata | grep -F tzdata/Areas
`

// Ansible's Python modules, run by gpuctl on real hosts as a user with
// sudo (become): check mode changes nothing, apply then apply again
// changes nothing, check after apply changes nothing, and the end state is
// what ansible-playbook leaves on a twin host from the same play.
func TestPythonModulesOnHosts(t *testing.T) {
	if testing.Short() {
		t.Skip("host test")
	}
	if _, err := exec.LookPath("ansible-playbook"); err != nil {
		if os.Getenv("GPUCTL_TEST_HOSTS") == "require" {
			t.Fatal("ansible-playbook not installed (GPUCTL_TEST_HOSTS=require)")
		}
		t.Skip("ansible-playbook not installed")
	}
	hosts := testhosts.Start(t, 2)
	for _, h := range hosts {
		h.Run(t, "command -v python3 >/dev/null || apt-get install -y -q python3 >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q python3 >/dev/null)")
		h.Run(t, "mkdir -p /srv")
	}
	bin, cleanup, err := gpuctltest.Build("pymodule")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	play, err := filepath.Abs("testdata/play/site.yml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	g, a := hosts[0], hosts[1]
	invG, invA := inventory(t, dir, g), inventory(t, dir, a)

	before := g.Hash(t, "/etc/ssh", "/srv", "/var/cache/debconf")
	out := gpuctl(t, bin, dir, play, invG, "--check", "--diff")
	t.Logf("--check --diff:\n%s", out)
	if c := recap(t, out); c.failed != 0 || c.changed != 4 || c.unknown != 2 {
		t.Fatalf("--check: %+v, want 4 would change and 2 known after apply (the module without check mode, and the task reading its result):\n%s", c, out)
	}
	for _, want := range []string{"+git.example.com ssh-ed25519", `+  "gpus": 8`, "stamp does not support check mode"} {
		if !strings.Contains(out, want) {
			t.Errorf("--check --diff output lacks %q:\n%s", want, out)
		}
	}
	if after := g.Hash(t, "/etc/ssh", "/srv", "/var/cache/debconf"); after != before {
		t.Errorf("--check changed the host")
	}

	out = gpuctl(t, bin, dir, play, invG)
	if c := recap(t, out); c.failed != 0 || c.changed != 6 {
		t.Fatalf("apply: %+v, want 6 changed:\n%s", c, out)
	}
	out = gpuctl(t, bin, dir, play, invG)
	if c := recap(t, out); c.failed != 0 || c.changed != 0 {
		t.Errorf("apply again: %+v, want no change:\n%s", c, out)
	}
	out = gpuctl(t, bin, dir, play, invG, "--check")
	if c := recap(t, out); c.failed != 0 || c.changed != 0 || c.unknown != 2 {
		t.Errorf("--check after apply: %+v, want no change (and the module without check mode known after apply):\n%s", c, out)
	}
	if got := g.Run(t, "cat /srv/registered"); got != "ready" {
		t.Errorf("registered result: %q", got)
	}
	// The bundles went to the become user's private directory, not deploy's.
	if got := g.Run(t, "stat -c '%a %U' /root/.ansible/tmp/gpuctl && ls /root/.ansible/tmp/gpuctl | wc -l"); got != "700 root\n5" {
		t.Errorf("bundle cache: %q, want a 0700 directory of root's holding the 5 modules' bundles", got)
	}

	cfg := filepath.Join(dir, "ansible.cfg")
	if err := os.WriteFile(cfg, []byte("[defaults]\nhost_key_checking = True\n[ssh_connection]\npipelining = True\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, run := range []string{"first run", "re-run"} {
		cmd := exec.Command("ansible-playbook", "-i", invA, play)
		cmd.Dir, cmd.Env = dir, append(os.Environ(), "ANSIBLE_CONFIG="+cfg, "ANSIBLE_NOCOLOR=1", "HOME="+dir)
		start := time.Now()
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("ansible-playbook: %v\n%s", err, b)
		}
		t.Logf("ansible-playbook, %s: %s", run, time.Since(start).Round(time.Millisecond))
	}
	gs, as := g.Run(t, endState), a.Run(t, endState)
	if gs != as {
		t.Errorf("end state differs:\ngpuctl:\n%s\nansible-playbook:\n%s", gs, as)
	}
	if !strings.Contains(gs, "tzdata/Areas: Europe") || strings.Contains(gs, "missing") {
		t.Errorf("end state is not the play's:\n%s", gs)
	}
}

// inventory writes one inventory both tools read, for the deploy user
// (passwordless sudo) with strict host-key checking.
func inventory(t *testing.T, dir string, h testhosts.Host) string {
	t.Helper()
	kh := testhosts.WriteKnownHosts(t, h)
	inv := fmt.Sprintf(`all:
  vars:
    ansible_user: %s
    ansible_python_interpreter: /usr/bin/python3
    ansible_ssh_common_args: "-o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes"
    gpuctl_known_hosts: %s
  hosts:
    %s:
      ansible_host: %s
      ansible_port: %d
      ansible_ssh_private_key_file: %s
`, testhosts.UserDeploy, kh, kh, h.Name, h.Addr, h.Port, h.KeyFile)
	p := filepath.Join(dir, h.Name+".yaml")
	if err := os.WriteFile(p, []byte(inv), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func gpuctl(t *testing.T, bin, dir, play, inv string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"run", play, "-i", inv}, args...)...)
	cmd.Dir, cmd.Env = dir, append(os.Environ(), "NO_COLOR=1", "HOME="+dir)
	var b bytes.Buffer
	cmd.Stdout, cmd.Stderr = &b, &b
	start := time.Now()
	_ = cmd.Run() // the recap says how it went
	t.Logf("gpuctl %s: %s", strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
	return b.String()
}

type counts struct{ changed, unknown, failed int }

var recapLine = regexp.MustCompile(`(?m)^\S+\s+ok=\d+\s+(?:would )?change[d]?=(\d+)\s+unknown=(\d+)\s+failed=(\d+)`)

func recap(t *testing.T, out string) counts {
	t.Helper()
	m := recapLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no recap in:\n%s", out)
	}
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	return counts{atoi(m[1]), atoi(m[2]), atoi(m[3])}
}
