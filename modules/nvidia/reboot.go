package nvidia

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/generic"
)

const bootIDPath = "/proc/sys/kernel/random/boot_id"

func bootID(ctx context.Context, h modules.Host) (string, error) {
	b, err := h.Conn().ReadFile(ctx, bootIDPath)
	return strings.TrimSpace(string(b)), err
}

// rebootBlocker says why gpuctl must not reboot h, or "" when it may.
func rebootBlocker(ctx context.Context, h modules.Host) string {
	_, rb := h.(modules.Rebooter)
	_, rc := h.(modules.Reconnector)
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

// reboot restarts the host and waits until it answers with a new boot ID,
// through the host's Rebooter when it has one, else the generic reboot
// module (which needs the engine's Reconnect).
func reboot(ctx context.Context, h modules.Host, reason string, timeout time.Duration) error {
	if r, ok := h.(modules.Rebooter); ok {
		return r.Reboot(ctx, reason)
	}
	h.Log().Info("rebooting", "reason", reason)
	r := &generic.Reboot{
		RebootTimeout:  int(timeout.Seconds()),
		ConnectTimeout: 10,
		Msg:            "gpuctl nvidia_driver: " + reason,
		TestCommand:    "true",
	}
	d, err := r.Check(ctx, h)
	if err != nil {
		return fmt.Errorf("%s: reboot (%s): %w", h.Name(), reason, err)
	}
	if err := r.Apply(ctx, h, d); err != nil {
		return fmt.Errorf("%s: reboot (%s): %w", h.Name(), reason, err)
	}
	return nil
}
