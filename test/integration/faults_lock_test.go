package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/internal/testhosts"
)

// TestSecondRunIsRefusedByTheHostLock starts a run with a 10 s task and,
// while it runs, a second run against the same host. The second must be
// refused at once with a message naming the first (pid, user, start); the
// first must finish untouched; once it has, a run goes through. An
// inventory may turn the lock off (gpuctl_host_lock: false).
func TestSecondRunIsRefusedByTheHostLock(t *testing.T) {
	h := testhosts.Start(t, 1)[0]
	r := &faultRig{h: h, dir: t.TempDir()}
	r.direct = inventory(t, r.dir, []testhosts.Host{h}, nil)
	pb := writeFile(t, r.dir, "task.yaml", taskPlaybook)

	first := startRun(t, r.dir, "run", pb, "-i", r.direct)
	r.waitSleep(t)
	start := time.Now()
	second := gpuctl(t, nil, r.dir, "run", pb, "-i", r.direct)
	took := time.Since(start)
	t.Logf("second run (%s):\n%s", took, second)
	if second.code == 0 {
		t.Fatal("second run against a busy host exited 0")
	}
	out := second.stdout + second.stderr
	for _, want := range []string{h.Name, "another gpuctl run holds this host", fmt.Sprintf("gpuctl pid %d ", first.cmd.Process.Pid), "of user root", "/run/lock/gpuctl/gpuctl.lock"} {
		if !strings.Contains(out, want) {
			t.Errorf("refusal lacks %q", want)
		}
	}
	code, fout := first.wait(t)
	if code != 0 {
		t.Fatalf("first run: exit %d\n%s", code, fout)
	}
	r.taskConverges(t, pb)

	// Off: both runs go ahead.
	free := inventory(t, t.TempDir(), []testhosts.Host{h}, map[string]map[string]string{h.Name: {"gpuctl_host_lock": "false"}})
	h.Run(t, "rm -f /opt/step2")
	first = startRun(t, r.dir, "run", pb, "-i", free)
	r.waitSleep(t)
	if res := gpuctl(t, nil, r.dir, "run", "--check", pb, "-i", free); strings.Contains(res.stdout+res.stderr, "holds this host") {
		t.Errorf("lock taken with gpuctl_host_lock false: %s", res)
	}
	if code, out := first.wait(t); code != 0 {
		t.Errorf("first unlocked run: exit %d\n%s", code, out)
	}
}
