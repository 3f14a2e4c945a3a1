package device

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryBuildsNoThirdPartyCgo keeps a first `go build` of gpuctl quiet:
// cgo packages from other modules are compiled on the user's machine with
// whatever warnings their C headers raise (go-nvml's nvml.h printed pages of
// -Wdeprecated-declarations), and a module cannot pass CFLAGS to a
// dependency. Our own cgo (this package, runtime/backend/cuda) is built
// here and kept warning-free.
func TestBinaryBuildsNoThirdPartyCgo(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go tool not on PATH")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if .CgoFiles}}{{if not .Standard}}{{.ImportPath}}{{end}}{{end}}", "github.com/gpuctl/gpuctl").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, p := range strings.Fields(string(out)) {
		if !strings.HasPrefix(p, "github.com/gpuctl/gpuctl/") {
			t.Errorf("gpuctl's binary compiles C from %s: its warnings reach every first build", p)
		}
	}
}
