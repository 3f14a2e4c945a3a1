package generic_test

import (
	"testing"

	"github.com/gpuctl/gpuctl/modules/moduletest"
	"github.com/gpuctl/gpuctl/plan"
)

// `systemd: daemon-reload: true` with no unit, as roles write it after
// changing a unit file: a reload when a loaded unit's file changed, none
// after.
func TestDaemonReloadNoUnit(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	r.Run(t, "printf '%s' '"+unit+"' > /etc/systemd/system/gpuctl-dr.service && systemctl daemon-reload && systemctl start gpuctl-dr && "+
		"sed -i 's/gpuctl test service/changed/' /etc/systemd/system/gpuctl-dr.service")
	d := r.Timeline(t, "ansible.builtin.systemd", map[string]any{"daemon-reload": true})
	c := hasChange(t, d, plan.Update, "daemon_reload")
	if c.Before != "unit files changed on disk: gpuctl-dr.service" {
		t.Errorf("change %+v", c)
	}
	if got := r.Run(t, "systemctl show -p NeedDaemonReload,Description gpuctl-dr"); got != "Description=changed\nNeedDaemonReload=no" {
		t.Errorf("host: %q", got)
	}
	if m := moduletest.New(t, "systemd", map[string]any{"daemon_reexec": true}); m == nil {
		t.Error("daemon_reexec")
	}
	moduletest.BadArgs(t, "systemd", map[string]any{"state": "started"}, `missing required argument "name"`)
	moduletest.BadArgs(t, "systemd", map[string]any{"daemon_reload": true, "daemon-reload": true}, "given twice")
}
