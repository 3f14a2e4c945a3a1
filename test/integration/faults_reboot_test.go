package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/internal/testhosts"
)

// rebootPlaybook is the usual pattern: an update leaves
// /run/reboot-required (gone after a reboot: /run is a tmpfs), the reboot
// task runs only then, and the play goes on after it.
const rebootPlaybook = `
- hosts: all
  tasks:
    - name: kernel update
      shell: {cmd: "touch /run/reboot-required && echo 1 > /opt/updated", creates: /opt/updated}
    - stat: {path: /run/reboot-required}
      register: rr
    - name: reboot
      reboot: {reboot_timeout: 240, msg: "gpuctl test reboot"}
      when: rr.stat.exists
      register: rebooted
    - name: after the reboot
      shell: {cmd: "cat /proc/sys/kernel/random/boot_id > /opt/after", creates: /opt/after}
`

// TestRebootModuleContinuesThePlay reboots real nspawn hosts (systemd-nspawn
// restarts a container that reboots; every process and the boot id are new)
// with the reboot module: gpuctl must reconnect, run the rest of the play on
// the new boot, and a re-run must change nothing.
func TestRebootModuleContinuesThePlay(t *testing.T) {
	hosts := testhosts.Start(t, 2)
	dir := t.TempDir()
	inv := inventory(t, dir, hosts, nil)
	writeFile(t, dir, "site.yml", rebootPlaybook)
	var before []string
	for _, h := range hosts {
		before = append(before, h.Run(t, "cat /proc/sys/kernel/random/boot_id"))
	}
	start := time.Now()
	r := gpuctl(t, nil, dir, "run", "site.yml", "-i", inv)
	t.Logf("run with reboots took %s:\n%s", time.Since(start).Round(time.Second), r)
	if r.code != 0 {
		t.Fatalf("run with reboot: %s", r)
	}
	for i, h := range hosts {
		now := h.Run(t, "cat /proc/sys/kernel/random/boot_id")
		if now == before[i] {
			t.Errorf("%s: boot id unchanged: it did not reboot", h.Name)
		}
		if after := h.Run(t, "cat /opt/after"); after != now {
			t.Errorf("%s: the task after the reboot ran on boot %q, host is on %q", h.Name, after, now)
		}
	}
	r = gpuctl(t, nil, dir, "run", "site.yml", "-i", inv, "--detailed-exitcode")
	if r.code != 0 {
		t.Fatalf("re-run: %s", r)
	}
}

// TestUnexpectedRebootFailsOnlyThatHost reboots a host from outside while a
// slow task runs on it: that host must fail with a message naming it and
// the task, the other host must finish the play, and a re-run of that host
// alone (--retry-failed) once it is back must converge.
func TestUnexpectedRebootFailsOnlyThatHost(t *testing.T) {
	hosts := testhosts.Start(t, 2)
	dir := t.TempDir()
	victim := hosts[1]
	// The verdict needs the host back within the probe's budget: a test
	// host's reboot took over 30 s (the default) on a loaded 2-core
	// machine under -race.
	inv := inventory(t, dir, hosts, map[string]map[string]string{victim.Name: {"gpuctl_lost_probe_timeout": "150"}})
	cmd, out := startSlowPlay(t, dir, inv, 40, 4*time.Minute, victim)
	oldBoot := victim.Run(t, "cat /proc/sys/kernel/random/boot_id")
	// The reboot may close this session before it returns; the boot id
	// checked below proves it happened.
	victim.Output(testhosts.UserRoot, "systemctl reboot --no-block")
	err := cmd.Wait()
	t.Logf("run:\n%s", out.String())
	if err == nil {
		t.Fatal("run whose host rebooted mid-task exited 0")
	}
	// gpuctl dials the host again and compares boot ids, so the user reads
	// "rebooted", not just "connection lost" (engine/lost.go).
	for _, want := range []string{victim.Name, `"slow step"`, "pb.yaml:5", "the host rebooted during the task (boot id "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if got := hosts[0].Run(t, "ls /opt | tr '\\n' ' '"); strings.TrimSpace(got) != "step1 step2 step3" {
		t.Errorf("the other host did not finish: %q", got)
	}
	waitFor(t, 3*time.Minute, func() bool {
		b, err := victim.Output(testhosts.UserRoot, "cat /proc/sys/kernel/random/boot_id")
		return err == nil && strings.TrimSpace(b) != oldBoot
	})
	r := gpuctl(t, nil, dir, "run", "pb.yaml", "-i", inv, "--retry-failed")
	if r.code != 0 || !strings.Contains(r.stderr, "running 1 host(s) that failed last time: "+victim.Name+` (unreachable at task "slow step")`) {
		t.Fatalf("re-run of the rebooted host: %s", r)
	}
	for _, h := range hosts {
		if got := h.Run(t, "ls -a /opt | tr '\\n' ' '"); strings.TrimSpace(got) != ". .. step1 step2 step3" {
			t.Errorf("%s after re-run: %q", h.Name, got)
		}
	}
}
