// Package e2e is the real-cluster end-to-end test: gpuctl's bundled
// site.yaml builds a kubeadm cluster, fully offline, on throwaway node
// containers (internal/clustertest), and the test checks that cluster for
// real with kubectl. It skips unless root and the artifacts of
// test/cluster/build.sh are there; GPUCTL_E2E=require makes that a failure.
//
//	test/cluster/build.sh && go test -v -timeout 40m ./test/e2e/
package e2e

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/internal/clustertest"
	"github.com/gpuctl/gpuctl/internal/gpuctltest"
)

var gpuctlBin string

func TestMain(m *testing.M) {
	code := func() int {
		flag.Parse()
		if clustertest.Available() != "" {
			return m.Run() // the test skips (or fails under GPUCTL_E2E=require) with the reason
		}
		bin, cleanup, err := gpuctltest.Build("gpuctl-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer cleanup()
		gpuctlBin = bin
		return m.Run()
	}()
	os.Exit(code)
}

// result is one command's outcome.
type result struct {
	code   int
	stdout string
	stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s\n--- stderr\n%s", r.code, r.stdout, r.stderr)
}

func run(t *testing.T, timeout time.Duration, dir string, env []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
		if ctx.Err() != nil {
			t.Fatalf("%s %v: timed out after %s\n%s", name, args, timeout, r)
		}
	default:
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return r
}

// timings collects how long each phase took, printed as a table at the end.
type timings struct {
	t     *testing.T
	start time.Time
	last  time.Time
	rows  []string
}

func newTimings(t *testing.T) *timings {
	tm := &timings{t: t, start: time.Now(), last: time.Now()}
	t.Cleanup(func() {
		var b strings.Builder
		b.WriteString("phase timings (seconds):\n")
		for _, r := range tm.rows {
			b.WriteString(r + "\n")
		}
		fmt.Fprintf(&b, "  %-58s %7.1f\n", "total", time.Since(tm.start).Seconds())
		t.Log(b.String())
	})
	return tm
}

func (tm *timings) mark(phase string) {
	now := time.Now()
	tm.rows = append(tm.rows, fmt.Sprintf("  %-58s %7.1f", phase, now.Sub(tm.last).Seconds()))
	tm.t.Logf("[%6.1fs] %s done", now.Sub(tm.start).Seconds(), phase)
	tm.last = now
}
