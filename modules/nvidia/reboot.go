package nvidia

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/modules"
)

// Reconnector is implemented by engine hosts that can drop and re-dial
// their connection (the same method set as generic.Reconnector; declared
// here so this package does not depend on the generic modules).
type Reconnector interface {
	Reconnect(ctx context.Context) error
}

// Rebooter is implemented by hosts that can reboot and wait for the host to
// answer again themselves. When a host offers it, nvidia_driver uses it
// rather than its own reboot-and-reconnect loop.
type Rebooter interface {
	Reboot(ctx context.Context, reason string) error
}

const bootIDPath = "/proc/sys/kernel/random/boot_id"

func bootID(ctx context.Context, h modules.Host) (string, error) {
	b, err := h.Conn().ReadFile(ctx, bootIDPath)
	return strings.TrimSpace(string(b)), err
}

// rebootBlocker says why gpuctl must not reboot h, or "" when it may.
func rebootBlocker(ctx context.Context, h modules.Host) string {
	_, rb := h.(Rebooter)
	_, rc := h.(Reconnector)
	if !rb && !rc {
		return "this connection cannot reconnect after a reboot"
	}
	// A host reached through the local connection is the machine gpuctl
	// runs on: rebooting it would end the run.
	remote, err1 := bootID(ctx, h)
	here, err2 := h.Local().ReadFile(ctx, bootIDPath)
	if err1 == nil && err2 == nil && remote == strings.TrimSpace(string(here)) {
		return "the host is the machine gpuctl runs on"
	}
	return ""
}

// reboot restarts the host and waits until it answers with a new boot ID.
func reboot(ctx context.Context, h modules.Host, reason string, timeout time.Duration) error {
	if r, ok := h.(Rebooter); ok {
		return r.Reboot(ctx, reason)
	}
	rc, ok := h.(Reconnector)
	if !ok {
		return fmt.Errorf("%s: reboot required (%s) but this connection cannot reconnect", h.Name(), reason)
	}
	before, err := bootID(ctx, h)
	if err != nil {
		return fmt.Errorf("%s: read boot id: %w", h.Name(), err)
	}
	h.Log().Info("rebooting", "reason", reason)
	// Detached and delayed so the command returns before the connection dies.
	if _, err := h.Conn().Run(ctx, "nohup sh -c 'sleep 2; systemctl reboot || reboot' >/dev/null 2>&1 &"); err != nil {
		return fmt.Errorf("%s: start reboot: %w", h.Name(), err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	select {
	case <-time.After(5 * time.Second):
	case <-ctx.Done():
		return ctx.Err()
	}
	err = waitFor(ctx, timeout, func() error {
		if err := rc.Reconnect(ctx); err != nil {
			return err
		}
		id, err := bootID(ctx, h)
		if err != nil {
			return err
		}
		if id == before {
			return errors.New("host has not rebooted yet")
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: waiting for the host to come back after reboot: %w", h.Name(), err)
	}
	return nil
}
