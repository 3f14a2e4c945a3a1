package generic_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
	"github.com/gpuctl/gpuctl/plan"
)

// fakeSystemctl keeps a unit's state in files and answers the systemctl
// calls the service module makes. It tests the module's decisions fast;
// the real systemd is exercised in TestServiceSystemd.
const fakeSystemctl = `#!/bin/sh
S=${FAKE_SYSTEMD:?}
echo "$*" >> "${FAKE_SYSTEMD_LOG:?}"
get() { cat "$S/$1" 2>/dev/null || echo "$2"; }
case "$1" in
show)
  if [ ! -e "$S/exists" ]; then echo LoadState=not-found; echo ActiveState=inactive; echo UnitFileState=; exit 0; fi
  echo LoadState=loaded
  echo ActiveState=$(get active inactive)
  echo SubState=dead
  echo UnitFileState=$(get ufs disabled)
  echo NeedDaemonReload=$(get reload no) ;;
daemon-reload) [ -e "$S/pending" ] && mv "$S/pending" "$S/exists"; echo no > "$S/reload" ;;
start|restart|reload) echo active > "$S/active" ;;
stop) echo inactive > "$S/active" ;;
enable) echo enabled > "$S/ufs" ;;
disable) echo disabled > "$S/ufs" ;;
mask) echo masked > "$S/ufs" ;;
unmask) echo disabled > "$S/ufs" ;;
*) echo "fake systemctl: $*" >&2; exit 1 ;;
esac
`

func fakeSystemd(t *testing.T) (state string, log func() []string) {
	t.Helper()
	bin := t.TempDir()
	state = t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(fakeSystemctl), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	t.Setenv("FAKE_SYSTEMD", state)
	logFile := filepath.Join(bin, "log")
	t.Setenv("FAKE_SYSTEMD_LOG", logFile)
	return state, func() []string {
		b, _ := os.ReadFile(logFile)
		os.Remove(logFile)
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if l != "" && !strings.HasPrefix(l, "show ") {
				out = append(out, l)
			}
		}
		return out
	}
}

func TestServiceDecisions(t *testing.T) {
	state, log := fakeSystemd(t)
	h := moduletest.Local()
	ctx := context.Background()
	set := func(k, v string) { os.WriteFile(filepath.Join(state, k), []byte(v+"\n"), 0o644) }
	set("exists", "")

	d := moduletest.Timeline(t, h, state, "service", map[string]any{"name": "containerd", "state": "started", "enabled": true})
	if c := hasChange(t, d, plan.Update, "state"); c.Resource != "service:containerd" || c.Before != "inactive" || c.After != "active" {
		t.Errorf("change %+v", c)
	}
	hasChange(t, d, plan.Update, "enabled")
	if got := strings.Join(log(), ";"); got != "enable containerd.service;start containerd.service" {
		t.Errorf("calls %q", got)
	}

	// Files changed on disk: daemon-reload first, only when needed.
	set("reload", "yes")
	moduletest.Timeline(t, h, state, "systemd", map[string]any{"name": "containerd", "state": "started", "daemon_reload": true})
	if got := strings.Join(log(), ";"); got != "daemon-reload" {
		t.Errorf("calls %q", got)
	}

	// restarted always acts and cannot be verified.
	m := moduletest.New(t, "service", map[string]any{"name": "containerd", "state": "restarted"})
	d, err := m.Check(ctx, h)
	if err != nil || len(d.Changes) != 1 || d.Changes[0].Action != plan.Run || !m.(modules.Unverified).Unverified() {
		t.Fatalf("restarted: %v %+v", err, d)
	}
	m.Apply(ctx, h, d)
	if got := strings.Join(log(), ";"); got != "restart containerd.service" {
		t.Errorf("calls %q", got)
	}

	// stop + mask, in Ansible's order (mask before state).
	moduletest.Timeline(t, h, state, "service", map[string]any{"name": "containerd", "state": "stopped", "masked": true})
	if got := strings.Join(log(), ";"); got != "mask containerd.service;stop containerd.service" {
		t.Errorf("calls %q", got)
	}
	// A masked unit is not enabled or disabled.
	moduletest.Timeline(t, h, state, "service", map[string]any{"name": "containerd", "masked": false, "enabled": false})
	if got := strings.Join(log(), ";"); got != "unmask containerd.service" {
		t.Errorf("calls %q", got)
	}

	// static units cannot be enabled: a note, no change.
	set("ufs", "static")
	m = moduletest.New(t, "service", map[string]any{"name": "containerd", "enabled": true})
	if d, err := m.Check(ctx, h); err != nil || !d.Empty() || len(d.Notes) != 1 {
		t.Errorf("static: %v %+v", err, d)
	}
}

func TestServiceMissingUnit(t *testing.T) {
	state, log := fakeSystemd(t)
	h := moduletest.Local()
	ctx := context.Background()
	m := moduletest.New(t, "service", map[string]any{"name": "kubelet", "state": "started"})
	if _, err := m.Check(ctx, h); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("missing unit: %v", err)
	}
	// In check mode an earlier task may be installing it.
	if d, err := modules.CheckOnly(ctx, m, h); err != nil || !strings.Contains(d.Unknown, "known after apply") {
		t.Errorf("check mode: %v %+v", err, d)
	}
	// With daemon_reload the new unit is picked up and then started.
	os.WriteFile(filepath.Join(state, "pending"), nil, 0o644)
	log()
	moduletest.Timeline(t, h, state, "service", map[string]any{"name": "kubelet", "state": "started", "daemon_reload": true})
	if got := strings.Join(log(), ";"); got != "daemon-reload;start kubelet.service" {
		t.Errorf("calls %q", got)
	}
}
