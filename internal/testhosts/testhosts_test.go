package testhosts

import (
	"bufio"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseEnv(t *testing.T) {
	h, err := parseEnv([]byte("NAME=a\nMODE=vm\nADDR=127.0.0.1\nPORT=22005\nDIR=/d\nKEY=/k\nKNOWN_HOSTS=/kh\nHOSTKEY=ssh-ed25519 AAAA\nIMAGE=/i\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Host{Name: "a", Addr: "127.0.0.1", Port: 22005, KeyFile: "/k", KnownHostsFile: "/kh", HostKeyLine: "ssh-ed25519 AAAA", VM: true, Dir: "/d"}
	if h != want {
		t.Errorf("parseEnv = %+v, want %+v", h, want)
	}
	if got := h.KnownHostsLine(); got != "[127.0.0.1]:22005 ssh-ed25519 AAAA" {
		t.Errorf("KnownHostsLine = %q", got)
	}
	if _, err := parseEnv([]byte("NAME=a\n")); err == nil {
		t.Error("parseEnv accepted incomplete output")
	}
}

// banner reads the SSH server's greeting within d: it tells a running, a frozen and a dead sshd apart
// without the client's own timeouts.
func banner(h Host, d time.Duration) (string, error) {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(h.Addr, strconv.Itoa(h.Port)), d)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(d))
	return bufio.NewReader(c).ReadString('\n')
}

func TestThreeHosts(t *testing.T) {
	t0 := time.Now()
	hosts := Start(t, 3)
	t.Logf("3 hosts started in %v", time.Since(t0).Round(10*time.Millisecond))

	keys := map[string]bool{}
	addrs := map[string]bool{}
	for _, h := range hosts {
		keys[h.HostKeyLine] = true
		addrs[h.Addr] = true
		if got := h.Run(t, "hostname"); got != h.Name {
			t.Errorf("%s: hostname = %q", h.Name, got)
		}
		kh, err := os.ReadFile(h.KnownHostsFile)
		if err != nil || strings.TrimSpace(string(kh)) != h.KnownHostsLine() {
			t.Errorf("%s: known_hosts = %q (%v), want %q", h.Name, kh, err, h.KnownHostsLine())
		}
	}
	if len(keys) != 3 || len(addrs) != 3 {
		t.Errorf("hosts share host keys or addresses: %+v", hosts)
	}

	t.Run("users", func(t *testing.T) {
		var wg sync.WaitGroup
		for _, h := range hosts {
			wg.Go(func() { checkUsers(t, h) })
		}
		wg.Wait()
	})

	t.Run("isolated", func(t *testing.T) {
		hosts[0].Run(t, "echo one > /etc/gpuctl-isolation")
		if out, err := hosts[1].Output(UserRoot, "cat /etc/gpuctl-isolation"); err == nil {
			t.Errorf("file written on %s visible on %s: %q", hosts[0].Name, hosts[1].Name, out)
		}
	})

	t.Run("hash", func(t *testing.T) {
		h := hosts[2]
		before := h.Hash(t)
		if again := h.Hash(t); again != before {
			t.Fatalf("hash of an idle host changed:\n%s", h.Snapshot(t))
		}
		h.Run(t, "mkdir -p /var/lib/gpuctl-test && echo x > /var/lib/gpuctl-test/f")
		if h.Hash(t) == before {
			t.Error("hash did not change after a file was written")
		}
		if s := h.Snapshot(t, "/nonexistent"); s != "/nonexistent missing" {
			t.Errorf("snapshot of a missing path = %q", s)
		}
	})

	t.Run("regen host key", func(t *testing.T) {
		h := hosts[1]
		nh := h.RegenHostKey(t)
		if nh.HostKeyLine == h.HostKeyLine || nh.KnownHostsFile == h.KnownHostsFile {
			t.Fatalf("key not changed: %+v", nh)
		}
		if got := nh.Run(t, "cat /etc/ssh/ssh_host_ed25519_key.pub | cut -d' ' -f1,2"); got != nh.HostKeyLine {
			t.Errorf("host serves %q, want %q", got, nh.HostKeyLine)
		}
		args := append([]string{"-o", "UserKnownHostsFile=" + h.KnownHostsFile}, h.sshArgs(UserRoot)...)
		out, err := exec.Command("ssh", append(args, "true")...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "IDENTIFICATION HAS CHANGED") {
			t.Errorf("ssh with the old known_hosts: err=%v out=%s", err, out)
		}
	})

	t.Run("freeze", func(t *testing.T) {
		h := hosts[0]
		h.Freeze(t)
		if b, err := banner(h, time.Second); err == nil {
			t.Errorf("frozen host sent a banner %q", b)
		}
		h.Thaw(t)
		if b, err := banner(h, 5*time.Second); err != nil || !strings.HasPrefix(b, "SSH-2.0-") {
			t.Errorf("thawed host: banner %q, %v", b, err)
		}
	})

	t.Run("kill and stop", func(t *testing.T) {
		h := hosts[0]
		h.Kill(t)
		if b, err := banner(h, 2*time.Second); err == nil {
			t.Errorf("killed host sent a banner %q", b)
		}
		t0 := time.Now()
		for _, h := range hosts {
			h.Stop(t)
		}
		t.Logf("3 hosts stopped in %v", time.Since(t0).Round(10*time.Millisecond))
		for _, h := range hosts {
			checkGone(t, h)
		}
	})
}

func checkUsers(t *testing.T, h Host) {
	if got := h.Run(t, "id -un"); got != UserRoot {
		t.Errorf("%s: root is %q", h.Name, got)
	}
	if got := h.RunAs(t, UserDeploy, "sudo -n id -u"); got != "0" {
		t.Errorf("%s: deploy sudo -n: %q", h.Name, got)
	}
	if _, err := h.Output(UserAlice, "sudo -n true"); err == nil || !strings.Contains(err.Error(), "password is required") {
		t.Errorf("%s: alice sudo without password: %v", h.Name, err)
	}
	if got := h.RunAs(t, UserAlice, "echo '"+AlicePassword+"' | sudo -S -p '' id -u"); got != "0" {
		t.Errorf("%s: alice sudo with password: %q", h.Name, got)
	}
	if _, err := h.Output(UserAlice, "echo wrong | sudo -S -p '' true"); err == nil {
		t.Errorf("%s: alice sudo accepted a wrong password", h.Name)
	}
	if got := h.Run(t, "systemctl is-system-running || true"); got != "running" {
		t.Errorf("%s: system state %q; failed units: %s", h.Name, got, h.Run(t, "systemctl --failed --no-legend"))
	}
}

// checkGone proves a stopped host left nothing behind: no state dir, mount, process or cgroup.
func checkGone(t *testing.T, h Host) {
	if _, err := os.Stat(h.Dir); !os.IsNotExist(err) {
		t.Errorf("%s: state dir %s still there (%v)", h.Name, h.Dir, err)
	}
	mounts, _ := os.ReadFile("/proc/mounts")
	if strings.Contains(string(mounts), h.Dir+"/") {
		t.Errorf("%s: mounts left under %s", h.Name, h.Dir)
	}
	cgs, _ := filepath.Glob("/sys/fs/cgroup/*/gpuctl-hosts/" + h.Name)
	more, _ := filepath.Glob("/sys/fs/cgroup/*/*/*/gpuctl-hosts/" + h.Name)
	if len(cgs)+len(more) > 0 {
		t.Errorf("%s: cgroups left: %v", h.Name, append(cgs, more...))
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cgroup")
	for _, p := range procs {
		b, _ := os.ReadFile(p)
		if strings.Contains(string(b), "/gpuctl-hosts/"+h.Name+"/") || strings.Contains(string(b), "/gpuctl-hosts/"+h.Name+"\n") {
			t.Errorf("%s: process %s left", h.Name, filepath.Dir(p))
		}
	}
}

func TestVM(t *testing.T) {
	t0 := time.Now()
	hosts := Start(t, 1, VM())
	t.Logf("VM started in %v", time.Since(t0).Round(10*time.Millisecond))
	h := hosts[0]
	// Every SSH login costs seconds under TCG: one command checks what containers cannot do (a swap
	// file, a kernel module, a kernel setting), the clone's clock and sudo.
	out := h.RunAs(t, UserDeploy, `set -e
sudo -n sh -c 'dd if=/dev/zero of=/swapfile bs=1M count=16 status=none; chmod 600 /swapfile; mkswap -q /swapfile; swapon /swapfile'
sudo -n modprobe br_netfilter
sudo -n sysctl -qw net.bridge.bridge-nf-call-iptables=1 net.ipv4.ip_forward=1
/sbin/swapon --noheadings --show=NAME; /sbin/sysctl -n net.ipv4.ip_forward; date +%s; hostname`)
	f := strings.Fields(out)
	if len(f) != 4 || f[0] != "/swapfile" || f[1] != "1" || f[3] != h.Name {
		t.Fatalf("VM: got %q, want swap file, ip_forward 1, clock, hostname %s", out, h.Name)
	}
	if d, _ := strconv.ParseInt(f[2], 10, 64); d < time.Now().Unix()-60 {
		t.Errorf("VM clock %d is behind this machine's", d)
	}
	t0 = time.Now()
	h.Stop(t)
	t.Logf("VM stopped in %v", time.Since(t0).Round(10*time.Millisecond))
	checkGone(t, h)
}

func TestPrivateNetwork(t *testing.T) {
	hosts := Start(t, 2, PrivateNetwork())
	a, b := hosts[0], hosts[1]
	if !strings.HasPrefix(a.Addr, "10.88.0.") || a.Port != 22 {
		t.Errorf("private host at %s:%d", a.Addr, a.Port)
	}
	// the hosts see each other on the bridge
	if got := b.Run(t, "exec 3<>/dev/tcp/"+a.Addr+"/22 && head -c 8 <&3"); got != "SSH-2.0-" {
		t.Errorf("%s -> %s:22: %q", b.Name, a.Addr, got)
	}
}
