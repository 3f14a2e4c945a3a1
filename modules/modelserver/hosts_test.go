package modelserver

import (
	"net"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

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
