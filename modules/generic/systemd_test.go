package generic_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/ssh"
	"github.com/gpuctl/gpuctl/internal/testhosts"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
	"github.com/gpuctl/gpuctl/plan"
)

// remote dials a test host as root and returns a Host that can reconnect.
func remote(t *testing.T, th testhosts.Host) *moduletest.Host {
	t.Helper()
	cfg := ssh.Config{
		Host: th.Addr, Port: th.Port, User: testhosts.UserRoot,
		KeyFiles: []string{th.KeyFile}, NoAgent: true,
		KnownHostsFiles: []string{th.KnownHostsFile}, NoUserKnownHosts: true,
		ConnectTimeout: 5 * time.Second,
	}
	dial := func(ctx context.Context) (conn.Conn, error) { return ssh.Dial(ctx, cfg) }
	c, err := dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h := moduletest.Local()
	h.HostName, h.C, h.Redial = th.Name, c, dial
	t.Cleanup(func() { h.C.Close() })
	return h
}

const unit = `[Unit]
Description=gpuctl test service

[Service]
ExecStart=/bin/sleep infinity
ExecReload=/bin/true

[Install]
WantedBy=multi-user.target
`

// TestServiceSystemd runs service and wait_for against real systemd on a
// Debian container reached over SSH.
func TestServiceSystemd(t *testing.T) {
	th := testhosts.Start(t, 1)[0] // skips without root, image or with -short
	h := remote(t, th)
	ctx := context.Background()
	// What check must leave alone: unit files and the units' state.
	state := func() string {
		out, err := conn.Output(ctx, h.Conn(), "find /etc/systemd /usr/local/lib/systemd -printf '%p %m %s %T@ %l\n' | sort; "+
			"find /etc/systemd /usr/local/lib/systemd -type f -exec sha256sum {} + | sort; "+
			"systemctl show gpuctl-test -p ActiveState,UnitFileState,MainPID,NeedDaemonReload")
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// Under /usr/local/lib, not /etc, so that mask can put its link in /etc.
	unitFile := "/usr/local/lib/systemd/system/gpuctl-test.service"
	th.Run(t, "mkdir -p /usr/local/lib/systemd/system")
	moduletest.TimelineSnap(t, h, state, "copy", map[string]any{"dest": unitFile, "content": unit})

	d := moduletest.TimelineSnap(t, h, state, "service", map[string]any{"name": "gpuctl-test", "state": "started", "enabled": true, "daemon_reload": true})
	hasChange(t, d, plan.Update, "state")
	hasChange(t, d, plan.Update, "enabled")
	if got := th.Run(t, "systemctl is-active gpuctl-test; systemctl is-enabled gpuctl-test"); got != "active\nenabled" {
		t.Fatalf("unit: %q", got)
	}

	// A changed unit file needs daemon-reload, and only then.
	moduletest.TimelineSnap(t, h, state, "copy", map[string]any{"dest": unitFile, "content": strings.Replace(unit, "test service", "test service v2", 1)})
	d = moduletest.TimelineSnap(t, h, state, "systemd", map[string]any{"name": "gpuctl-test", "state": "started", "daemon_reload": true})
	if c := hasChange(t, d, plan.Update, "daemon_reload"); c.Resource != "service:gpuctl-test" {
		t.Errorf("change %+v", c)
	}

	// restarted acts every time: a new main process.
	pid := th.Run(t, "systemctl show -p MainPID --value gpuctl-test")
	m := moduletest.New(t, "service", map[string]any{"name": "gpuctl-test", "state": "restarted"})
	d, err := m.Check(ctx, h)
	if err != nil || d.Empty() {
		t.Fatal(err, d)
	}
	if err := m.Apply(ctx, h, d); err != nil {
		t.Fatal(err)
	}
	if now := th.Run(t, "systemctl show -p MainPID --value gpuctl-test"); now == pid || now == "0" {
		t.Errorf("MainPID %s -> %s", pid, now)
	}

	// wait_for: sshd's port is open and greets; a file appears later.
	if d, err := moduletest.New(t, "wait_for", map[string]any{"host": th.Addr, "port": th.Port, "search_regex": "OpenSSH"}).Check(ctx, h); err != nil || !d.Empty() {
		t.Errorf("port 22: %v %+v", err, d)
	}
	wf := moduletest.New(t, "wait_for", map[string]any{"path": "/run/gpuctl-ready", "timeout": 20, "sleep": 0})
	d, err = wf.Check(ctx, h)
	if err != nil || d.Empty() {
		t.Fatal(err, d)
	}
	th.Run(t, "nohup sh -c 'sleep 1; touch /run/gpuctl-ready' >/dev/null 2>&1 &")
	if err := wf.Apply(ctx, h, d); err != nil {
		t.Fatal(err)
	}

	// stop, disable and mask; then unmask.
	moduletest.TimelineSnap(t, h, state, "service", map[string]any{"name": "gpuctl-test", "state": "stopped", "enabled": false})
	moduletest.TimelineSnap(t, h, state, "service", map[string]any{"name": "gpuctl-test", "masked": true})
	if got, _ := th.Output(testhosts.UserRoot, "systemctl is-enabled gpuctl-test"); strings.TrimSpace(got) != "masked" {
		t.Errorf("masked: %q", got)
	}
	moduletest.TimelineSnap(t, h, state, "service", map[string]any{"name": "gpuctl-test", "masked": false})

	// A unit nobody installed is an error, or unknown in check mode.
	m = moduletest.New(t, "service", map[string]any{"name": "kubelet", "state": "started"})
	if _, err := m.Check(ctx, h); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("missing unit: %v", err)
	}
}

// TestRebootVM reboots a QEMU test host and waits for it to come back.
func TestRebootVM(t *testing.T) {
	th := testhosts.Start(t, 1, testhosts.VM())[0]
	h := remote(t, th)
	before := th.Run(t, "cat /proc/sys/kernel/random/boot_id")
	m := moduletest.New(t, "reboot", map[string]any{"reboot_timeout": 300})
	d, err := m.Check(context.Background(), h)
	if err != nil || d.Empty() {
		t.Fatal(err, d)
	}
	start := time.Now()
	if err := m.Apply(context.Background(), h, d); err != nil {
		t.Fatal(err)
	}
	t.Logf("rebooted in %v", time.Since(start).Round(time.Second))
	if after := th.Run(t, "cat /proc/sys/kernel/random/boot_id"); after == before {
		t.Error("boot id unchanged")
	}
	if h.Reconnects == 0 {
		t.Error("never reconnected")
	}
	if out, err := conn.Output(context.Background(), h.Conn(), "systemctl is-system-running --wait"); err != nil && out != "degraded" {
		t.Errorf("after reboot: %q %v", out, err)
	}
	if res := m.(modules.Resulter).Result(); res["rebooted"] != true {
		t.Errorf("result %v", res)
	}
}
