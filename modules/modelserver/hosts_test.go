package modelserver

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/conn/ssh"
	"github.com/gpuctl/gpuctl/internal/testhosts"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

// sshHost is a real Debian test host reached over SSH, as the engine
// would give it to a module.
type sshHost struct {
	fakeHost
	th testhosts.Host
}

// startHost starts one test host (skipping without the fixture) and dials
// it as root over SSH.
func startHost(t *testing.T) *sshHost {
	t.Helper()
	th := testhosts.Start(t, 1)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := ssh.Dial(ctx, ssh.Config{
		Host: th.Addr, Port: th.Port, User: testhosts.UserRoot,
		KeyFiles: []string{th.KeyFile}, NoAgent: true,
		KnownHostsFiles: []string{th.KnownHostsFile}, NoUserKnownHosts: true,
	})
	if err != nil {
		t.Fatalf("dial %s: %v", th.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return &sshHost{fakeHost: fakeHost{name: th.Name, c: c, log: testLog(t)}, th: th}
}

var (
	serveOnce sync.Once
	serveBin  string
	serveErr  error
)

// serveBinary builds the standalone server (static, CPU path) once per
// test binary: the binary model_server ships in these tests.
func serveBinary(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go toolchain to build gpuctl-serve")
	}
	serveOnce.Do(func() {
		dir, err := osMkdirTemp()
		if err != nil {
			serveErr = err
			return
		}
		serveBin = filepath.Join(dir, "gpuctl-serve")
		cmd := exec.Command("go", "build", "-trimpath", "-o", serveBin, "github.com/gpuctl/gpuctl/runtime/cmd/gpuctl-serve")
		cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			serveErr = &buildError{err: err, out: string(out)}
		}
	})
	if serveErr != nil {
		t.Fatal(serveErr)
	}
	return serveBin
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "go build gpuctl-serve: " + e.err.Error() + "\n" + e.out }

// freePort finds a port free on addr; test hosts share this machine's
// network namespace.
func freePort(t *testing.T, addr string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// timeline runs check mode (must find changes and leave the host as it
// was), apply, then a fresh check that must be empty. It returns the
// check-mode diff and the applied module.
func timeline(t *testing.T, h *sshHost, name string, args map[string]any, snapshot ...string) (plan.Diff, modules.Module) {
	t.Helper()
	ctx := context.Background()
	before := h.th.Hash(t, snapshot...)
	h.check = true
	d, err := modules.CheckOnly(ctx, newModule(t, name, args), h)
	h.check = false
	if err != nil {
		t.Fatalf("%s: check: %v", name, err)
	}
	if d.Empty() {
		t.Fatalf("%s: first check found nothing to do", name)
	}
	if after := h.th.Hash(t, snapshot...); after != before {
		t.Fatalf("%s: check mode changed the host", name)
	}
	t.Logf("%s: check-mode diff:\n%s", name, describe(d))
	m := newModule(t, name, args)
	d2, err := m.Check(ctx, h)
	if err != nil {
		t.Fatalf("%s: check: %v", name, err)
	}
	start := time.Now()
	if err := m.Apply(ctx, h, d2); err != nil {
		t.Fatalf("%s: apply: %v", name, err)
	}
	t.Logf("%s: apply took %s", name, time.Since(start).Round(time.Millisecond))
	noChange(t, h, name, args)
	return d, m
}

// noChange checks that a module has nothing to do: a second run's check.
func noChange(t *testing.T, h modules.Host, name string, args map[string]any) {
	t.Helper()
	start := time.Now()
	d, err := newModule(t, name, args).Check(context.Background(), h)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if !d.Empty() {
		t.Fatalf("%s: expected no change, got:\n%s", name, describe(d))
	}
	t.Logf("%s: no-change check took %s", name, time.Since(start).Round(time.Millisecond))
}
