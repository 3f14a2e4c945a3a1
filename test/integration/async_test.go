package integration

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/internal/testhosts"
)

// Async jobs and ignore_unreachable on a real host over SSH.

// TestAsyncJobSurvivesController: an async job runs on the host detached
// from the SSH connection, so a controller killed while it polls leaves it
// running to the end, with its result where async_status finds it.
func TestAsyncJobSurvivesController(t *testing.T) {
	h := testhosts.Start(t, 1)[0]
	dir := t.TempDir()
	inv := inventory(t, dir, []testhosts.Host{h}, nil)
	pb := writeFile(t, dir, "async.yaml", `
- hosts: all
  gather_facts: false
  tasks:
    - name: slow job
      shell: sleep 6 && echo done > /opt/async-done && echo finished
      async: 120
      poll: 2
`)
	h.Run(t, "rm -rf /opt/async-done /root/.ansible_async")
	b := startRun(t, dir, "run", pb, "-i", inv)
	waitFor(t, 60*time.Second, func() bool {
		out, _ := h.Output(testhosts.UserRoot, "pgrep -x sleep >/dev/null && echo y")
		return strings.TrimSpace(out) == "y"
	})
	b.cmd.Process.Signal(syscall.SIGKILL)
	b.wait(t)
	waitFor(t, 30*time.Second, func() bool {
		out, _ := h.Output(testhosts.UserRoot, "cat /opt/async-done 2>/dev/null")
		return strings.TrimSpace(out) == "done"
	})
	// The job wrote the command module's result for async_status.
	waitFor(t, 10*time.Second, func() bool {
		out, _ := h.Output(testhosts.UserRoot, "cat /root/.ansible_async/j* 2>/dev/null")
		return strings.Contains(out, `"rc": 0`) && strings.Contains(out, `"stdout": "finished"`)
	})
	if left := h.Run(t, "pgrep -af '[g]puctl-async' || true"); strings.TrimSpace(left) != "" {
		t.Errorf("job processes left behind: %s", left)
	}
}

// TestAsyncStatusAndIgnoreUnreachable: poll: 0 and async_status until
// finished over SSH, then a task that drops its own SSH connection under
// ignore_unreachable: the host stays in play, the next task dials it again
// and sees the registered result.
func TestAsyncStatusAndIgnoreUnreachable(t *testing.T) {
	h := testhosts.Start(t, 1)[0]
	dir := t.TempDir()
	inv := inventory(t, dir, []testhosts.Host{h}, map[string]map[string]string{h.Name: {"gpuctl_lost_probe_timeout": "0"}})
	pb := writeFile(t, dir, "status.yaml", `
- hosts: all
  gather_facts: false
  tasks:
    - shell: sleep 2; echo hi; exit 4
      async: 60
      poll: 0
      register: j
    - async_status: {jid: "{{ j.ansible_job_id }}"}
      register: s
      until: s.finished
      retries: 30
      delay: 1
      ignore_errors: true
    - async_status: {jid: "{{ j.ansible_job_id }}", mode: cleanup}
    - name: drop the connection
      shell: "pkill -KILL -f '^sshd: root@'; sleep 5"
      ignore_unreachable: true
      register: u
    - copy:
        dest: /opt/async-status
        content: "{{ [s.stdout, s.rc, s.failed, u.unreachable] | to_json }}"
`)
	h.Run(t, "rm -rf /opt/async-status /root/.ansible_async")
	res := gpuctl(t, nil, dir, "run", pb, "-i", inv)
	if res.code != 0 {
		t.Fatalf("run: %s", res)
	}
	if !strings.Contains(res.stdout, "ignore_unreachable") {
		t.Errorf("output does not say the host was unreachable and ignored:\n%s", res.stdout)
	}
	if got := h.Run(t, "cat /opt/async-status"); got != `["hi", 4, true, true]` {
		t.Errorf("/opt/async-status = %q", got)
	}
	if got := h.Run(t, "ls -A /root/.ansible_async"); strings.TrimSpace(got) != "" {
		t.Errorf("cleanup left %q", got)
	}
}
