package facts_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/internal/testhosts"

	"github.com/gpuctl/gpuctl/facts"
	"github.com/gpuctl/gpuctl/internal/ansibletest"
)

// The facts of ansible-core's system, hardware and network collectors that
// gpuctl gathers since (lsb, selinux, DMI, devices, ...), compared key by
// key with ones that hold the same value between two gatherings.
var systemStable = []string{
	"apparmor", "bios_date", "bios_vendor", "bios_version", "board_asset_tag", "board_name", "board_serial",
	"board_vendor", "board_version", "chassis_asset_tag", "chassis_serial", "chassis_vendor", "chassis_version",
	"cmdline", "proc_cmdline", "device_links", "devices", "distribution_file_parsed", "distribution_file_path",
	"distribution_file_variety", "dns", "effective_group_id", "effective_user_id", "real_group_id", "real_user_id",
	"fibre_channel_wwn", "fips", "form_factor", "hostnqn", "is_chroot", "iscsi_iqn", "lsb", "lvm",
	"product_name", "product_serial", "product_uuid", "product_version", "selinux", "selinux_python_present",
	"ssh_host_key_ecdsa_public", "ssh_host_key_ecdsa_public_keytype", "ssh_host_key_ed25519_public",
	"ssh_host_key_ed25519_public_keytype", "ssh_host_key_rsa_public", "ssh_host_key_rsa_public_keytype",
	"system_capabilities", "system_capabilities_enforced", "system_vendor", "userspace_architecture", "userspace_bits",
}

// TestSystemFactsLikeAnsible runs ansible-core's setup on this machine and
// gpuctl's gathering over the local connection, and compares every new fact:
// the stable ones by value (JSON), loadavg and uptime_seconds by type and
// range, gather_subset and module_setup as setup's own keys.
func TestSystemFactsLikeAnsible(t *testing.T) {
	res := ansibletest.Run(t, "setup", nil, false)
	theirs, _ := res["ansible_facts"].(map[string]any)
	ctx := context.Background()
	h := localHost{facts.NewCache()}
	start := time.Now()
	if err := facts.Gather(ctx, h, facts.Base...); err != nil {
		t.Fatal(err)
	}
	t.Logf("gpuctl gathered the base facts in %v", time.Since(start))
	vars, err := facts.AnsibleVars(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	ours := jsonRoundTrip(t, vars)
	for _, k := range systemStable {
		w, ok := theirs["ansible_"+k]
		g, mine := ours["ansible_"+k]
		if ok != mine {
			t.Errorf("ansible_%s: ansible has it %v, gpuctl %v (%v)", k, ok, mine, g)
			continue
		}
		if !ansibletest.Same(g, w) {
			gj, _ := json.Marshal(g)
			wj, _ := json.Marshal(w)
			t.Errorf("ansible_%s:\n gpuctl  %s\n ansible %s", k, gj, wj)
		}
	}
	for _, k := range []string{"gather_subset", "module_setup"} {
		if !ansibletest.Same(ours[k], theirs[k]) {
			t.Errorf("%s: gpuctl %v, ansible %v", k, ours[k], theirs[k])
		}
		if _, ok := ours["ansible_"+k]; ok {
			t.Errorf("ansible_%s is set; Ansible sets only %s", k, k)
		}
		if !ansibletest.Same(ours["ansible_facts"].(map[string]any)[k], theirs[k]) {
			t.Errorf("ansible_facts.%s: %v", k, ours["ansible_facts"].(map[string]any)[k])
		}
	}
	// Volatile: an int a few seconds apart, and three load averages near
	// Ansible's (a minute's average moves little in the seconds between).
	gu, _ := ours["ansible_uptime_seconds"].(float64)
	wu, _ := theirs["ansible_uptime_seconds"].(float64)
	if gu != math.Trunc(gu) || wu == 0 || math.Abs(gu-wu) > 120 {
		t.Errorf("uptime_seconds: gpuctl %v, ansible %v", ours["ansible_uptime_seconds"], theirs["ansible_uptime_seconds"])
	}
	gl, _ := ours["ansible_loadavg"].(map[string]any)
	wl, _ := theirs["ansible_loadavg"].(map[string]any)
	if len(gl) != 3 || len(wl) != 3 {
		t.Fatalf("loadavg: gpuctl %v, ansible %v", gl, wl)
	}
	for k, w := range wl {
		g, ok := gl[k].(float64)
		if !ok || g < 0 || math.Abs(g-w.(float64)) > 2+w.(float64) {
			t.Errorf("loadavg %s: gpuctl %v, ansible %v", k, gl[k], w)
		}
	}
}

// systemDefs are the facts behind the system facts above.
var systemDefs = []facts.Def{facts.SysFiles, facts.Probe, facts.Devices, facts.LVM, facts.OS, facts.Arch}

// GPUCTL_FACTS_RECORD=1 go test ./facts -run TestRecordSystem rewrites
// testdata/system-*: the system facts' script output on this machine (with
// what ansible-core's setup says of the same facts) and on a test host. The
// host keys of this machine are left out of both.
func TestRecordSystem(t *testing.T) {
	if os.Getenv(recordEnv) == "" {
		t.Skip("set " + recordEnv + "=1 to record")
	}
	res := ansibletest.Run(t, "setup", nil, false)
	theirs := res["ansible_facts"].(map[string]any)
	want := map[string]any{}
	for _, k := range append(slices.Clone(systemStable), "loadavg", "uptime_seconds") {
		if v, ok := theirs["ansible_"+k]; ok && !strings.HasPrefix(k, "ssh_host_key") {
			want[k] = v
		}
	}
	b, _ := json.MarshalIndent(want, "", "  ")
	writeRecording(t, "system-local", "ansible-setup.json", append(b, '\n'))
	r, err := local.New().Run(context.Background(), facts.Script(systemDefs...))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, l := range strings.SplitAfter(r.Stdout, "\n") {
		if !strings.HasPrefix(l, "/etc/ssh/ssh_host_") {
			kept = append(kept, l)
		}
	}
	writeRecording(t, "system-local", "out.txt", []byte(strings.Join(kept, "")))

	th := testhosts.Start(t, 1)[0]
	c := dialRoot(t, th)
	r, err = c.Run(context.Background(), facts.Script(systemDefs...))
	if err != nil {
		t.Fatal(err)
	}
	writeRecording(t, "system-testhost", "out.txt", []byte(r.Stdout))
}

func writeRecording(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join("testdata", dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("testdata", dir, name), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// loadSystem is a recorded host holding the system facts' recording.
func loadSystem(t *testing.T, dir string) recorded {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", dir, "out.txt"))
	if err != nil {
		t.Fatal(err)
	}
	c := facts.NewCache()
	c.Record(string(b), systemDefs...)
	return recorded{c}
}
