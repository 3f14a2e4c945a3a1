package integration

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/internal/testhosts"
)

// TestFrozenHostIsUnreachableWithinKeepalive freezes one host (every
// process stopped, as a hung kernel or a paused VM leaves it) in the middle
// of a slow task. With a 2s x 3 keepalive budget from the inventory, gpuctl
// must report it unreachable with a message that says what happened, finish
// the other host, and a re-run after the host thaws must converge.
func TestFrozenHostIsUnreachableWithinKeepalive(t *testing.T) {
	hosts := testhosts.Start(t, 2)
	dir := t.TempDir()
	ka := map[string]string{"gpuctl_ssh_keepalive_interval": "2", "gpuctl_ssh_keepalive_count_max": "3"}
	inv := inventory(t, dir, hosts, map[string]map[string]string{hosts[0].Name: ka, hosts[1].Name: ka})
	cmd, out := startSlowPlay(t, dir, inv, 15, 3*time.Minute, hosts[1])
	hosts[1].Freeze(t)
	frozen := time.Now()
	thawed := false
	defer func() {
		if !thawed {
			hosts[1].Thaw(t)
		}
	}()
	err := cmd.Wait()
	took := time.Since(frozen)
	t.Logf("run ended %s after the freeze:\n%s", took, out.String())
	if err == nil {
		t.Fatal("run with a frozen host exited 0")
	}
	// The frozen host bounds the run: its 6s keepalive budget, then up to
	// 30s of gpuctl_lost_probe_timeout dialling it to tell a reboot from a
	// freeze, plus slack for a loaded machine.
	if took > 75*time.Second {
		t.Errorf("run took %s after the freeze", took)
	}
	for _, want := range []string{"unreachable", hosts[1].Name, "stopped answering"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if got := hosts[0].Run(t, "ls /opt | tr '\\n' ' '"); strings.TrimSpace(got) != "step1 step2 step3" {
		t.Errorf("healthy host did not finish: %q", got)
	}

	hosts[1].Thaw(t)
	thawed = true
	// The frozen run's sleep resumes on thaw; the re-run's "creates" copes
	// either way.
	r := gpuctl(t, nil, dir, "run", "pb.yaml", "-i", inv)
	if r.code != 0 {
		t.Fatalf("re-run after thaw: %s", r)
	}
	for _, h := range hosts {
		if got := h.Run(t, "ls -a /opt | tr '\\n' ' '"); strings.TrimSpace(got) != ". .. step1 step2 step3" {
			t.Errorf("%s after re-run: %q", h.Name, got)
		}
	}
}

// slowPlay copies step1, runs a "slow step" (pb.yaml:5) that sleeps, then
// copies step3: a fault injected during the sleep lands mid-task.
const slowPlay = `
- hosts: all
  tasks:
    - copy: {dest: /opt/step1, content: "1\n"}
    - name: slow step
      shell: {cmd: "sleep %d && touch /opt/step2", creates: /opt/step2}
    - copy: {dest: /opt/step3, content: "3\n"}
`

// startSlowPlay writes slowPlay with a sleep of sleep seconds, starts gpuctl
// on it in the background (killed after limit) and returns once the slow
// step sleeps on h; out collects the run's output.
func startSlowPlay(t *testing.T, dir, inv string, sleep int, limit time.Duration, h testhosts.Host) (*exec.Cmd, *strings.Builder) {
	t.Helper()
	writeFile(t, dir, "pb.yaml", fmt.Sprintf(slowPlay, sleep))
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	t.Cleanup(cancel)
	cmd := gpuctlCmd(ctx, dir, "run", "pb.yaml", "-i", inv)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, func() bool {
		return h.Run(t, "pgrep -x sleep >/dev/null && echo y || echo n") == "y"
	})
	return cmd, out
}

func waitFor(t *testing.T, limit time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestDpkgLockHeldForAMinute holds dpkg's frontend lock for 60 s (an fcntl
// write lock, as dpkg and unattended-upgrades take it) while gpuctl installs
// a local .deb. The apt task must wait, say so on the default log level,
// and finish once the lock is released; a re-run changes nothing.
func TestDpkgLockHeldForAMinute(t *testing.T) {
	hosts := testhosts.Start(t, 1)
	h := hosts[0]
	dir := t.TempDir()
	inv := inventory(t, dir, hosts, nil)
	h.Run(t, `set -e; d=$(mktemp -d); mkdir -p $d/DEBIAN $d/opt/gpuctl-faults
printf 'Package: gpuctl-faults\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.com>\nDescription: test\n' > $d/DEBIAN/control
echo hi > $d/opt/gpuctl-faults/hi; dpkg-deb -b $d /root/gpuctl-faults.deb >/dev/null; rm -rf $d`)
	writeFile(t, dir, "pb.yaml", "- hosts: all\n  tasks:\n    - name: local package\n      apt: {deb: /root/gpuctl-faults.deb}\n")
	holder := `perl -e 'use Fcntl; open(my $f, ">>", "/var/lib/dpkg/lock-frontend") or die; ` +
		`my $s = pack("s s x4 q q l x4", F_WRLCK, 0, 0, 0, 0); fcntl($f, F_SETLKW, $s) or die "lock: $!"; sleep 60'`
	go h.Output(testhosts.UserRoot, holder)
	waitFor(t, 30*time.Second, func() bool {
		return h.Run(t, "pgrep -f 'sleep 60' >/dev/null && echo y || echo n") == "y"
	})
	held := time.Now()
	r := gpuctl(t, nil, dir, "run", "pb.yaml", "-i", inv)
	took := time.Since(held)
	t.Logf("run took %s after the lock was taken:\n%s", took, r)
	if r.code != 0 {
		t.Fatalf("apt under a held dpkg lock: %s", r)
	}
	if !strings.Contains(r.stderr, "waiting for the apt/dpkg lock") || !strings.Contains(r.stderr, "perl") {
		t.Errorf("the wait is not shown:\n%s", r.stderr)
	}
	if took < 50*time.Second {
		t.Errorf("finished %s after the lock was taken: it did not wait for the 60 s holder", took)
	}
	if got := h.Run(t, "dpkg-query -W -f '${Status}' gpuctl-faults; cat /opt/gpuctl-faults/hi"); got != "install ok installedhi" {
		t.Errorf("package state %q", got)
	}
	r = gpuctl(t, nil, dir, "run", "pb.yaml", "-i", inv, "--detailed-exitcode")
	if r.code != 0 {
		t.Fatalf("re-run: %s", r)
	}
}
