package generic

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/plan"
)

func init() {
	modules.Register(modules.Info{
		Name:    "reboot",
		Summary: "Reboot the host and wait until it is back and answers commands",
		CheckMode: "Reports that the host would reboot (action run). Nothing is run. " +
			"Use `when:` on a registered result or fact to reboot only when needed.",
		Example: `- name: Reboot into the new kernel
  reboot:
    reboot_timeout: 900
  when: kernel_changed is changed`,
		New: func() modules.Module { return &Reboot{} },
	})
}

// Reboot restarts the host; the engine's Host must implement modules.Reconnector.
type Reboot struct {
	RebootTimeout   int    `yaml:"reboot_timeout" default:"600" doc:"seconds to wait for the host to go down, come back and pass test_command"`
	ConnectTimeout  int    `yaml:"connect_timeout" default:"10" doc:"seconds each reconnection attempt may take"`
	PreRebootDelay  int    `yaml:"pre_reboot_delay" doc:"seconds between issuing the reboot and the host going down"`
	PostRebootDelay int    `yaml:"post_reboot_delay" doc:"seconds to wait after the host is back before the task succeeds"`
	Msg             string `yaml:"msg" default:"Reboot initiated by gpuctl" doc:"message broadcast to logged-in users"`
	TestCommand     string `yaml:"test_command" default:"whoami" doc:"command that must succeed after the reboot for the host to count as up"`
	RebootCommand   string `yaml:"reboot_command" doc:"command that reboots; default: shutdown -r with the delay and msg"`
	BootTimeCommand string `yaml:"boot_time_command" doc:"command whose output changes with every boot; default: the boot id (/proc/sys/kernel/random/boot_id, read without starting a process)"`

	elapsed time.Duration
}

const bootIDPath = "/proc/sys/kernel/random/boot_id"

func (m *Reboot) Validate() error {
	switch {
	case m.RebootTimeout <= 0 || m.ConnectTimeout <= 0:
		return errors.New("reboot_timeout and connect_timeout must be positive")
	case m.PreRebootDelay < 0 || m.PostRebootDelay < 0:
		return errors.New("pre_reboot_delay and post_reboot_delay must not be negative")
	case strings.TrimSpace(m.TestCommand) == "":
		return errors.New("test_command must not be empty")
	}
	return nil
}

func (m *Reboot) Unverified() bool { return true }

func (m *Reboot) Result() map[string]any {
	return map[string]any{"rebooted": m.elapsed > 0, "elapsed": int(m.elapsed.Seconds())}
}

func (m *Reboot) Check(ctx context.Context, h modules.Host) (plan.Diff, error) {
	var d plan.Diff
	d.Add(plan.Change{Resource: "host:" + h.Name(), Action: plan.Run, Field: "boot", After: "reboot"})
	return d, nil
}

func (m *Reboot) Apply(ctx context.Context, h modules.Host, d plan.Diff) error {
	if d.Empty() {
		return nil // Check found nothing to do
	}
	if _, ok := h.Conn().(*local.Conn); ok {
		return errors.New("refusing to reboot the machine gpuctl runs on (connection: local)")
	}
	rc, ok := h.(modules.Reconnector)
	if !ok {
		return errors.New("reboot needs the engine to reconnect to the host, and this engine cannot (no Reconnector)")
	}
	start := time.Now()
	bootID, err := m.bootID(ctx, h.Conn())
	if err != nil {
		return err
	}
	cmd := m.RebootCommand
	if cmd == "" {
		// shutdown's delay is in minutes; seconds come from a sleep.
		cmd = fmt.Sprintf("sleep %d; shutdown -r now %s", m.PreRebootDelay, conn.Quote(m.Msg))
	}
	// Detached so the command returns before the connection drops.
	bg := fmt.Sprintf("nohup sh -c %s >/dev/null 2>&1 &", conn.Quote("sleep 1; "+cmd))
	if _, err := h.Conn().Run(ctx, bg); err != nil && !errors.Is(err, conn.ErrConnLost) {
		return fmt.Errorf("issue reboot: %w", err)
	}
	deadline := start.Add(time.Duration(m.RebootTimeout+m.PreRebootDelay) * time.Second)
	if err := sleep(ctx, time.Duration(m.PreRebootDelay)*time.Second+2*time.Second); err != nil {
		return err
	}
	for {
		err := m.back(ctx, h, rc, bootID)
		if err == nil {
			m.elapsed = time.Since(start)
			return sleep(ctx, time.Duration(m.PostRebootDelay)*time.Second)
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("host did not come back within %ds: %w", m.RebootTimeout, err)
		}
		if err := sleep(ctx, time.Second); err != nil {
			return err
		}
	}
}

// back reconnects and reports nil once the host runs a new boot and
// passes the test command.
func (m *Reboot) back(ctx context.Context, h modules.Host, rc modules.Reconnector, oldID string) error {
	cctx, cancel := context.WithTimeout(ctx, time.Duration(m.ConnectTimeout)*time.Second)
	defer cancel()
	if err := rc.Reconnect(cctx); err != nil {
		return fmt.Errorf("reconnect: %w", err)
	}
	id, err := m.bootID(cctx, h.Conn())
	if err != nil {
		return err
	}
	if id == oldID {
		return errors.New("host has not gone down yet")
	}
	if _, err := conn.Output(cctx, h.Conn(), m.TestCommand); err != nil {
		return fmt.Errorf("test_command: %w", err)
	}
	return nil
}

// bootID identifies the running boot: boot_time_command's output, or the
// kernel's boot id (systemd-nspawn gives each container boot its own).
func (m *Reboot) bootID(ctx context.Context, c conn.Conn) (string, error) {
	if m.BootTimeCommand != "" {
		out, err := conn.Output(ctx, c, m.BootTimeCommand)
		if err != nil {
			return "", fmt.Errorf("boot_time_command: %w", err)
		}
		return strings.TrimSpace(out), nil
	}
	b, err := c.ReadFile(ctx, bootIDPath)
	if err != nil {
		return "", fmt.Errorf("read boot id: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

var (
	_ modules.Module     = (*Reboot)(nil)
	_ modules.Unverified = (*Reboot)(nil)
	_ modules.Resulter   = (*Reboot)(nil)
)
