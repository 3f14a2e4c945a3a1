package integration

import (
	"bufio"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/internal/testhosts"
)

// aliasInventory names one host n times, as many inventory entries behind
// one sshd do (hosts behind one bastion, or a NAT address).
func aliasInventory(t *testing.T, dir string, h testhosts.Host, n int) string {
	var b strings.Builder
	b.WriteString("all:\n  vars:\n    ansible_user: root\n")
	fmt.Fprintf(&b, "    ansible_host: %s\n    ansible_port: %d\n    ansible_ssh_private_key_file: %s\n    gpuctl_known_hosts: %s\n  hosts:\n",
		h.Addr, h.Port, h.KeyFile, h.KnownHostsFile)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "    alias%02d: {}\n", i)
	}
	return writeFile(t, dir, "hosts.yaml", b.String())
}

// TestDialLimitKeepsUnderMaxStartups: an sshd that refuses every
// connection past 4 unauthenticated ones (MaxStartups 4:100:4) serves 16
// inventory hosts dialed at once (--forks 16) when gpuctl keeps 2
// handshakes in flight to it; without the limit the same run loses hosts. The 16-host output is one summary line per task.
func TestDialLimitKeepsUnderMaxStartups(t *testing.T) {
	h := testhosts.Start(t, 1)[0]
	h.Run(t, "echo 'MaxStartups 4:100:4' >> /etc/ssh/sshd_config && systemctl reload ssh")
	waitForBanner(t, h)
	dir := t.TempDir()
	inv := aliasInventory(t, dir, h, 16)
	writeFile(t, dir, "pb.yaml", "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: hello\n      command: 'true'\n")

	r := gpuctl(t, nil, dir, "run", filepath.Join(dir, "pb.yaml"), "-i", inv, "--forks", "16", "--max-handshakes", "2")
	if r.code != 0 || strings.Contains(r.stdout, "unreachable:") {
		t.Fatalf("with the dial limit: want every alias reached\n%s", r)
	}
	if !strings.Contains(r.stdout, "TASK [hello] ok=0 changed=16 failed=0 skipped=0 unreachable=0") || strings.Contains(r.stdout, "[alias01] hello") {
		t.Fatalf("16 hosts: want one summary line for the task, not one per host\n%s", r)
	}

	r = gpuctl(t, nil, dir, "run", filepath.Join(dir, "pb.yaml"), "-i", inv, "--forks", "16", "--max-handshakes", "0")
	// Without the limit sshd drops most of them (12 of 16 in every run here):
	// the test would catch a limiter that does nothing.
	if n := strings.Count(r.stdout, "unreachable:  ["); r.code == 0 || n == 0 {
		t.Fatalf("without the limit: want refused handshakes, got exit %d and %d unreachable\n%s", r.code, n, r)
	}
}

// waitForBanner waits until the host's sshd, reloaded, greets again.
func waitForBanner(t *testing.T, h testhosts.Host) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(h.Addr, strconv.Itoa(h.Port)), time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(2 * time.Second))
			line, rerr := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if rerr == nil && strings.HasPrefix(line, "SSH-") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd of %s did not come back after reload: %v", h.Name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
