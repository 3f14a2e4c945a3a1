package integration

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/internal/testhosts"
)

// Faults in the middle of a task that runs a command. The playbook writes
// /opt/step1, runs a 10 s command that writes /opt/step2 (with creates:, as
// a command that must not run twice is written), then writes /opt/step3.
// Every case checks what the user sees, what is left, and that a re-run
// converges to step1 step2 step3 and a second re-run changes nothing.

const taskPlaybook = `
- hosts: all
  tasks:
    - copy: {dest: /opt/step1, content: "1\n"}
    - name: slow step
      shell: {cmd: "sleep 10 && echo 2 > /opt/step2", creates: /opt/step2}
    - copy: {dest: /opt/step3, content: "3\n"}
`

func (r *faultRig) waitSleep(t *testing.T) {
	t.Helper()
	waitFor(t, 60*time.Second, func() bool {
		out, _ := r.h.Output(testhosts.UserRoot, "pgrep -x sleep >/dev/null && echo y")
		return strings.TrimSpace(out) == "y"
	})
}

// taskConverges re-runs until the host is whole: the interrupted command
// may still be running on the host (it is the host's process), and the
// re-run's creates: copes with either outcome.
func (r *faultRig) taskConverges(t *testing.T, pb string) {
	t.Helper()
	res := gpuctl(t, nil, r.dir, "run", pb, "-i", r.direct)
	if res.code != 0 {
		t.Fatalf("re-run: %s", res)
	}
	if got := r.h.Run(t, "ls -a /opt | tr '\\n' ' '"); strings.TrimSpace(got) != ". .. step1 step2 step3" {
		t.Errorf("after re-run /opt holds %q", got)
	}
	if got := r.h.Run(t, "cat /opt/step1 /opt/step2 /opt/step3 | tr -d '\\n'"); got != "123" {
		t.Errorf("after re-run the steps hold %q", got)
	}
	res = gpuctl(t, nil, r.dir, "run", pb, "-i", r.direct, "--detailed-exitcode")
	if res.code != 0 {
		t.Errorf("second re-run is not a no-op: %s", res)
	}
}

func TestFaultsMidTask(t *testing.T) {
	r := newFaultRig(t)
	pb := writeFile(t, r.dir, "task.yaml", taskPlaybook)
	reset := func(t *testing.T) {
		t.Helper()
		r.h.Run(t, "pkill -x sleep; rm -rf /opt/* /opt/.[!.]*; true")
		r.proxy.heal()
		r.proxy.setRate(0)
	}
	left := func(t *testing.T) {
		t.Helper()
		t.Logf("left on the host: /opt: %q; sleep running: %q", r.h.Run(t, "ls /opt | tr '\\n' ' '"),
			r.h.Run(t, "pgrep -a sleep || true"))
	}

	t.Run("controller SIGKILL", func(t *testing.T) {
		reset(t)
		b := startRun(t, r.dir, "run", pb, "-i", r.proxied)
		r.waitSleep(t)
		b.cmd.Process.Signal(syscall.SIGKILL)
		_, out := b.wait(t)
		t.Logf("killed run's output:\n%s", out)
		left(t)
		r.taskConverges(t, pb)
	})

	t.Run("sshd killed", func(t *testing.T) {
		reset(t)
		b := startRun(t, r.dir, "run", pb, "-i", r.proxied)
		r.waitSleep(t)
		r.h.Output(testhosts.UserRoot, "pkill -KILL -x sshd")
		code, out := b.wait(t)
		t.Logf("run's output:\n%s", out)
		if code == 0 {
			t.Error("run exited 0 after sshd was killed mid-task")
		}
		for _, want := range []string{r.h.Name, "slow step"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		waitFor(t, 30*time.Second, func() bool { _, err := r.h.Output(testhosts.UserRoot, "true"); return err == nil })
		left(t)
		r.taskConverges(t, pb)
	})

	t.Run("link cut", func(t *testing.T) {
		reset(t)
		b := startRun(t, r.dir, "run", pb, "-i", r.proxied)
		r.waitSleep(t)
		r.proxy.cutLink()
		cut := time.Now()
		code, out := b.wait(t)
		t.Logf("run ended %s after the cut:\n%s", time.Since(cut), out)
		if code == 0 {
			t.Error("run exited 0 with the link cut mid-task")
		}
		for _, want := range []string{r.h.Name, "slow step", "stopped answering"} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		left(t)
		r.proxy.heal()
		r.taskConverges(t, pb)
	})
}
