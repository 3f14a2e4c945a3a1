package generic_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/internal/ansibletest"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

func target(r *moduletest.Remote) ansibletest.Target {
	return ansibletest.Target{Addr: r.TH.Addr, Port: r.TH.Port, KeyFile: r.TH.KeyFile, KnownHostsFile: r.TH.KnownHostsFile}
}

// readOnly runs a read-only module as --check does and as a real run does:
// neither reports a change; it returns what the real run registers.
func readOnly(t *testing.T, r *moduletest.Remote, name string, args map[string]any) map[string]any {
	t.Helper()
	if d, err := r.CheckOnly(t, name, args); err != nil || !d.Empty() {
		t.Fatalf("%s under --check: %v\n%s", name, err, moduletest.Describe(d))
	}
	return r.NoChange(t, name, args)
}

func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("%s differs from ansible-core's:\ngpuctl  %.2000s\nansible %.2000s", what, g, w)
	}
}

// getent and package_facts on a real host, against ansible-core's modules
// on the same host: the same facts, to the byte.
func TestGetentPackageFactsHost(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	r.Run(t, "getent group docker >/dev/null || groupadd docker; usermod -aG docker deploy; "+
		"grep -q gpuctl-twin /etc/hosts || printf '10.9.9.9 gpuctl-twin\\n10.9.9.9 gpuctl-twin2\\n' >> /etc/hosts")
	r.Run(t, "command -v python3 >/dev/null && python3 -c 'import apt' 2>/dev/null || "+
		"apt-get install -y -q python3 python3-apt >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q python3 python3-apt >/dev/null)")
	for _, args := range []map[string]any{
		{"database": "passwd"},
		{"database": "shadow"},
		{"database": "group", "key": "docker", "split": ":"},
		{"database": "hosts"},
		{"database": "services", "key": "ssh"},
		{"database": "group", "key": "nope-gpuctl", "fail_key": false},
	} {
		got := readOnly(t, r, "ansible.builtin.getent", args)
		want := ansibletest.RunOn(t, target(r), "ansible.builtin.getent", args, true)
		if w, ok := want["msg"]; ok && got["msg"] != w {
			t.Errorf("getent %v msg %q, want %q", args, got["msg"], w)
		}
		sameJSON(t, "getent "+ansibleArgs(args), got["ansible_facts"], want["ansible_facts"])
	}
	if _, err := r.CheckOnly(t, "getent", map[string]any{"database": "passwd", "key": "nope-gpuctl"}); err == nil ||
		err.Error() != "One or more supplied key could not be found in the database." {
		t.Errorf("missing key: %v", err)
	}

	got := readOnly(t, r, "ansible.builtin.package_facts", nil)["ansible_facts"].(map[string]any)["packages"].(map[string]any)
	want := ansibletest.RunOn(t, target(r), "ansible.builtin.package_facts", nil, true)["ansible_facts"].(map[string]any)["packages"].(map[string]any)
	if len(got) < 100 || len(got) != len(want) {
		t.Errorf("%d packages, ansible %d", len(got), len(want))
	}
	var diffs []string
	for _, k := range union(want, got) {
		g, _ := json.Marshal(got[k])
		w, _ := json.Marshal(want[k])
		if string(g) != string(w) {
			diffs = append(diffs, k+": gpuctl "+string(g)+", ansible "+string(w))
		}
	}
	if len(diffs) > 0 {
		t.Errorf("%d of %d packages differ:\n%s", len(diffs), len(want), strings.Join(diffs, "\n"))
	}
}

func ansibleArgs(args map[string]any) string {
	b, _ := json.Marshal(args)
	return string(b)
}

// systemd_service with only a name reads the unit's status and changes
// nothing (geerlingguy.docker registers it for status.FragmentPath); with
// state it registers the same status, read before the change, as
// ansible-core's systemd module does.
func TestSystemdStatusHost(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	r.Run(t, "mkdir -p /usr/local/lib/systemd/system && printf '[Unit]\\nDescription=gpuctl status test\\n[Service]\\n"+
		"ExecStart=/bin/sleep infinity\\n[Install]\\nWantedBy=multi-user.target\\n' > /usr/local/lib/systemd/system/gpuctl-st.service && systemctl daemon-reload")
	res := readOnly(t, r, "ansible.builtin.systemd_service", map[string]any{"name": "gpuctl-st"})
	st, _ := res["status"].(map[string]any)
	if res["name"] != "gpuctl-st" || st["FragmentPath"] != "/usr/local/lib/systemd/system/gpuctl-st.service" ||
		st["ActiveState"] != "inactive" || !strings.HasPrefix(st["ExecStart"].(string), "{ path=/bin/sleep ; argv[]=/bin/sleep infinity ;") {
		t.Errorf("result %v", res)
	}
	if _, ok := res["state"]; ok {
		t.Errorf("state without state asked: %v", res["state"])
	}
	// A unit that does not exist: its status says so; nothing fails.
	if st := readOnly(t, r, "systemd", map[string]any{"name": "gpuctl-none"})["status"].(map[string]any); st["LoadState"] != "not-found" {
		t.Errorf("missing unit: %v", st)
	}
	// With state: the status as read before starting, like Ansible's.
	d, m := r.TimelineModule(t, "systemd", map[string]any{"name": "gpuctl-st", "state": "started", "enabled": true}, "/usr/local/lib/systemd")
	if d.Empty() {
		t.Fatal("no change")
	}
	res = moduletest.Result(m)
	if res["state"] != "started" || res["enabled"] != true || res["status"].(map[string]any)["ActiveState"] != "inactive" {
		t.Errorf("result state=%v enabled=%v ActiveState=%v", res["state"], res["enabled"], res["status"].(map[string]any)["ActiveState"])
	}
	r.Run(t, "command -v python3 >/dev/null || apt-get install -y -q python3 >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q python3 >/dev/null)")
	mine := r.NoChange(t, "systemd", map[string]any{"name": "gpuctl-st", "state": "started"})
	theirs := ansibletest.RunOn(t, target(r), "ansible.builtin.systemd", map[string]any{"name": "gpuctl-st", "state": "started"}, true)
	delete(theirs, "changed")
	if ansibletest.Keys(mine) != ansibletest.Keys(theirs) {
		t.Errorf("keys %q, ansible %q", ansibletest.Keys(mine), ansibletest.Keys(theirs))
	}
	ms, ts := mine["status"].(map[string]any), theirs["status"].(map[string]any)
	if ansibletest.Keys(ms) != ansibletest.Keys(ts) {
		t.Errorf("status keys differ:\ngpuctl  %s\nansible %s", ansibletest.Keys(ms), ansibletest.Keys(ts))
	}
	for _, k := range []string{"Id", "FragmentPath", "ExecStart", "ActiveState", "SubState", "LoadState", "UnitFileState", "MainPID", "Description"} {
		if ms[k] != ts[k] {
			t.Errorf("status.%s = %q, ansible %q", k, ms[k], ts[k])
		}
	}
}

// user's password ageing: chage for min, max and warn, usermod -f for the
// inactive days, compared with /etc/shadow so a second run does nothing;
// the same shadow fields as ansible-core's user module writes.
func TestUserPasswordAgeingHost(t *testing.T) {
	r := moduletest.Start(t, 1)[0]
	tl := func(args map[string]any) {
		t.Helper()
		r.Timeline(t, "ansible.builtin.user", args, "/home")
	}
	shadow := func(user string) string {
		t.Helper()
		return r.Run(t, "getent shadow "+user+" | cut -d: -f4-7")
	}
	r.Run(t, "useradd -m ageing1")
	tl(map[string]any{"name": "ageing1", "password_expire_min": "7", "password_expire_max": 60, "password_expire_warn": 14})
	if got := shadow("ageing1"); got != "7:60:14:" {
		t.Errorf("shadow min:max:warn:inactive = %q", got)
	}
	tl(map[string]any{"name": "ageing1", "password_expire_account_disable": 30, "password_expire_max": 90})
	if got := shadow("ageing1"); got != "7:90:14:30" {
		t.Errorf("shadow = %q", got)
	}
	tl(map[string]any{"name": "ageing1", "password_expire_max": -1, "password_expire_account_disable": -1})
	if got := shadow("ageing1"); got != "7::14:" {
		t.Errorf("shadow after -1 = %q", got)
	}
	r.NoChange(t, "user", map[string]any{"name": "ageing1", "password_expire_min": 7, "password_expire_warn": 14, "password_expire_max": -1})
	// Created with ageing: useradd, then chage.
	tl(map[string]any{"name": "ageing2", "password_expire_min": 1, "password_expire_max": 30, "password_expire_account_disable": 5})
	if got := shadow("ageing2"); got != "1:30:7:5" {
		t.Errorf("new user shadow = %q", got)
	}

	// ansible-core 2.14 knows min and max: the same fields as gpuctl's.
	r.Run(t, "command -v python3 >/dev/null || apt-get install -y -q python3 >/dev/null 2>&1 || (apt-get update -q >/dev/null && apt-get install -y -q python3 >/dev/null)")
	r.Run(t, "useradd ageing3; useradd ageing4")
	args := map[string]any{"password_expire_min": 3, "password_expire_max": 45}
	with := func(name string) map[string]any {
		a := map[string]any{"name": name}
		for k, v := range args {
			a[k] = v
		}
		return a
	}
	res := ansibletest.RunOn(t, target(r), "ansible.builtin.user", with("ageing3"), false)
	if res["changed"] != true {
		t.Errorf("ansible: %v", res)
	}
	tl(with("ageing4"))
	if a, g := shadow("ageing3"), shadow("ageing4"); a != g || g != "3:45:7:" {
		t.Errorf("shadow: ansible %q, gpuctl %q", a, g)
	}
}
