package apt

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/local"
)

func TestLockHolder(t *testing.T) {
	for _, tc := range []struct{ in, lock, holder string }{
		{"E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 1234 (unattended-upgr)\nE: Unable to acquire", "/var/lib/dpkg/lock-frontend", "process 1234 (unattended-upgr)"},
		{"E: Could not get lock /var/lib/apt/lists/lock. It is held by process 99\n", "/var/lib/apt/lists/lock", "process 99"},
		{"E: Could not get lock /var/lib/dpkg/lock - open (11: Resource temporarily unavailable)", "/var/lib/dpkg/lock", "another process"},
	} {
		lock, holder, ok := LockHolder(tc.in)
		if !ok || lock != tc.lock || holder != tc.holder {
			t.Errorf("%q: %q %q %v", tc.in, lock, holder, ok)
		}
	}
	if _, _, ok := LockHolder("E: Unable to locate package nope"); ok {
		t.Error("not a lock error")
	}
}

// lockedOnce is a shell command that fails as apt does while another
// process holds the dpkg lock the first time it runs, then succeeds.
func lockedOnce(t *testing.T) string {
	mark := filepath.Join(t.TempDir(), "ran")
	return `if [ -e ` + mark + ` ]; then echo "installed $DEBIAN_FRONTEND $LC_ALL"; else touch ` + mark +
		`; echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (unattended-upgr)" >&2; exit 100; fi`
}

func TestRunnerWaitsWhileTheLockIsHeld(t *testing.T) {
	r := NewRunner(local.New(), nil, time.Minute)
	r.Poll = 10 * time.Millisecond
	out, err := r.Must(context.Background(), lockedOnce(t))
	if err != nil {
		t.Fatal(err)
	}
	if out != "installed noninteractive C\n" {
		t.Errorf("output %q: want the retried command's, run without questions in the C locale", out)
	}
}

func TestRunnerGivesUpAfterLockTimeout(t *testing.T) {
	r := NewRunner(local.New(), nil, 50*time.Millisecond)
	r.Poll = 10 * time.Millisecond
	held := `echo "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (unattended-upgr)" >&2; exit 100`
	_, err := r.Must(context.Background(), held)
	if err == nil || !strings.Contains(err.Error(), "still held by process 4242 (unattended-upgr) after 50ms") {
		t.Fatalf("want the holder and the timeout in the error, got %v", err)
	}
}

func TestMustReportsOtherFailuresAtOnce(t *testing.T) {
	r := NewRunner(local.New(), nil, time.Minute)
	_, err := r.Must(context.Background(), `echo "E: Unable to locate package nope" >&2; exit 100`)
	var ee *conn.ExitError
	if !errors.As(err, &ee) || !strings.Contains(err.Error(), "Unable to locate package nope") {
		t.Fatalf("want an ExitError with apt's message, got %v", err)
	}
}

func TestNewRunnerDefaultsTheLockTimeout(t *testing.T) {
	if r := NewRunner(local.New(), nil, 0); r.LockTimeout != DefaultLockTimeout {
		t.Errorf("lock timeout %s, want %s", r.LockTimeout, DefaultLockTimeout)
	}
}
