// Package integration runs the gpuctl binary end to end against throwaway
// Debian hosts (internal/testhosts) over real SSH. The tests skip unless the
// host fixture is available (root, image built by test/hosts/build.sh);
// GPUCTL_TEST_HOSTS=require turns the skip into a failure, as CI sets it.
package integration

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/internal/gpuctltest"
	"github.com/gpuctl/gpuctl/internal/testhosts"
)

var gpuctlBin string

func TestMain(m *testing.M) {
	code := func() int {
		flag.Parse()
		if testing.Short() {
			return m.Run()
		}
		bin, cleanup, err := gpuctltest.Build("gpuctl-it-")
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

// result is one gpuctl invocation.
type result struct {
	code   int
	stdout string
	stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s\n--- stderr\n%s", r.code, r.stdout, r.stderr)
}

func gpuctl(t *testing.T, ctx context.Context, dir string, args ...string) result {
	t.Helper()
	if ctx == nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, gpuctlBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "HOME="+dir)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("gpuctl %v: %v", args, err)
	}
	return r
}

// inventory writes an inventory for hosts, with per-host extra vars.
func inventory(t *testing.T, dir string, hosts []testhosts.Host, extra map[string]map[string]string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("all:\n  vars:\n    ansible_user: root\n  hosts:\n")
	for _, h := range hosts {
		fmt.Fprintf(&b, "    %s:\n      ansible_host: %s\n      ansible_port: %d\n      ansible_ssh_private_key_file: %s\n      gpuctl_known_hosts: %s\n",
			h.Name, h.Addr, h.Port, h.KeyFile, h.KnownHostsFile)
		for k, v := range extra[h.Name] {
			fmt.Fprintf(&b, "      %s: %q\n", k, v)
		}
	}
	p := filepath.Join(dir, "hosts.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// hashAll fingerprints what a run could touch on every host.
func hashAll(t *testing.T, hosts []testhosts.Host) []string {
	t.Helper()
	var out []string
	for _, h := range hosts {
		out = append(out, h.Hash(t, "/etc", "/opt", "/usr/local", "/srv", "/root"))
	}
	return out
}

func gpuctlCmd(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, gpuctlBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NO_COLOR=1", "HOME="+dir)
	return cmd
}
