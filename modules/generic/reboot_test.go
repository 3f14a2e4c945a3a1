package generic_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// bootConn is a local connection that reports a chosen boot id, so the
// reboot module's wait loop can be tested without rebooting anything.
type bootConn struct {
	*local.Conn
	id   string
	cmds *[]string
}

func (c bootConn) ReadFile(ctx context.Context, p string) ([]byte, error) {
	if p == "/proc/sys/kernel/random/boot_id" {
		return []byte(c.id + "\n"), nil
	}
	return c.Conn.ReadFile(ctx, p)
}

func (c bootConn) Run(ctx context.Context, cmd string, opts ...conn.ExecOption) (conn.Result, error) {
	*c.cmds = append(*c.cmds, cmd)
	if strings.Contains(cmd, "shutdown") || strings.Contains(cmd, "REBOOT") {
		return conn.Result{}, nil // never run a real reboot
	}
	return c.Conn.Run(ctx, cmd, opts...)
}

func TestRebootWaitsForNewBoot(t *testing.T) {
	if testing.Short() {
		t.Skip("waits a few seconds")
	}
	var cmds []string
	h := moduletest.Local()
	h.C = bootConn{local.New(), "old", &cmds}
	var dials atomic.Int32
	h.Redial = func(ctx context.Context) (conn.Conn, error) {
		switch dials.Add(1) {
		case 1:
			return nil, errors.New("connection refused") // host is down
		case 2:
			return bootConn{local.New(), "old", &cmds}, nil // not gone down yet
		default:
			return bootConn{local.New(), "new", &cmds}, nil
		}
	}
	m := moduletest.New(t, "reboot", map[string]any{"reboot_timeout": 30, "reboot_command": "REBOOT", "test_command": "true"})
	d, _ := m.Check(context.Background(), h)
	if err := m.Apply(context.Background(), h, d); err != nil {
		t.Fatal(err)
	}
	if dials.Load() != 3 {
		t.Errorf("reconnected %d times; want 3", dials.Load())
	}
	if res := m.(modules.Resulter).Result(); res["rebooted"] != true {
		t.Errorf("result %v", res)
	}
	if len(cmds) < 2 || !strings.Contains(cmds[0], "REBOOT") || cmds[len(cmds)-1] != "true" {
		t.Errorf("commands %q", cmds)
	}
}

func TestRebootTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("waits a few seconds")
	}
	var cmds []string
	h := moduletest.Local()
	h.C = bootConn{local.New(), "old", &cmds}
	h.Redial = func(ctx context.Context) (conn.Conn, error) { return nil, errors.New("no route to host") }
	m := moduletest.New(t, "reboot", map[string]any{"reboot_timeout": 1, "reboot_command": "REBOOT"})
	d, _ := m.Check(context.Background(), h)
	err := m.Apply(context.Background(), h, d)
	if err == nil || !strings.Contains(err.Error(), "did not come back") || !strings.Contains(err.Error(), "no route") {
		t.Errorf("timeout: %v", err)
	}
}

// boot_time_command replaces the boot id as the sign of a new boot, as in
// Ansible (for hosts whose boot id does not change, such as some containers).
func TestRebootBootTimeCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("waits a few seconds")
	}
	marker := filepath.Join(t.TempDir(), "boot")
	if err := os.WriteFile(marker, []byte("boot-1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var cmds []string
	h := moduletest.Local()
	h.C = bootConn{local.New(), "same", &cmds}
	var dials atomic.Int32
	h.Redial = func(ctx context.Context) (conn.Conn, error) {
		if dials.Add(1) == 2 {
			os.WriteFile(marker, []byte("boot-2\n"), 0o644) // the host came back
		}
		return bootConn{local.New(), "same", &cmds}, nil
	}
	cmd := "cat " + marker
	m := moduletest.New(t, "reboot", map[string]any{"reboot_timeout": 30, "reboot_command": "REBOOT", "test_command": "true", "boot_time_command": cmd})
	d, _ := m.Check(context.Background(), h)
	if err := m.Apply(context.Background(), h, d); err != nil {
		t.Fatal(err)
	}
	if dials.Load() != 2 {
		t.Errorf("reconnected %d times; want 2 (the boot id alone never changes here)", dials.Load())
	}
	if !slices.Contains(cmds, cmd) {
		t.Errorf("boot_time_command not run: %q", cmds)
	}
}
