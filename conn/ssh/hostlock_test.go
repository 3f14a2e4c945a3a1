package ssh

import (
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// The lock file's record names the run; a refused run reads it back, and
// tells its own run (shared lock) and dead runs of this controller
// (orphaned holders it may end) from live ones.
func TestLockOwner(t *testing.T) {
	me := selfOwner()
	if me.Ticks == "0" || me.Started == "?" {
		t.Fatalf("own start unknown: %+v", me)
	}
	got := parseOwner(me.record() + " hostpid=77\n")
	want := me
	want.HostPID = "77"
	if got != want {
		t.Errorf("parse(record) = %+v, want %+v", got, want)
	}
	if !got.sameRun(me) || got.gone(me) {
		t.Errorf("own record: sameRun %v gone %v", got.sameRun(me), got.gone(me))
	}

	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	other := me
	other.PID = strconv.Itoa(dead.ProcessState.Pid())
	if other.sameRun(me) || !other.gone(me) {
		t.Errorf("exited process: sameRun %v gone %v", other.sameRun(me), other.gone(me))
	}
	other.Controller = "elsewhere"
	if other.gone(me) {
		t.Error("a run of another controller is taken for gone")
	}
	msg := (&LockedError{Host: "root@h:22", Path: "/run/lock/gpuctl.lock", Holder: want}).Error()
	for _, s := range []string{"root@h:22", "another gpuctl run holds this host", "pid " + me.PID, "user " + me.User, me.Started, "process 77"} {
		if !strings.Contains(msg, s) {
			t.Errorf("message lacks %q: %s", s, msg)
		}
	}
}
