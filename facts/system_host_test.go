package facts_test

import (
	"context"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/ssh"
	"github.com/gpuctl/gpuctl/facts"
	"github.com/gpuctl/gpuctl/internal/testhosts"
)

// dialRoot connects to a test host as root over gpuctl's SSH.
func dialRoot(t *testing.T, th testhosts.Host) conn.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := ssh.Dial(ctx, ssh.Config{
		Host: th.Addr, Port: th.Port, User: testhosts.UserRoot,
		KeyFiles: []string{th.KeyFile}, NoAgent: true,
		KnownHostsFiles: []string{th.KnownHostsFile}, NoUserKnownHosts: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

type sshHost struct {
	c     conn.Conn
	cache *facts.Cache
}

func (h sshHost) Conn() conn.Conn         { return h.c }
func (h sshHost) FactCache() *facts.Cache { return h.cache }

// On a Debian 12 test host over SSH (no Python, an nspawn container: no
// DMI of its own, no lsb_release, no capsh), every new fact is there with
// Ansible's type; and the gathering's time with and without them.
func TestSystemFactsOnTestHost(t *testing.T) {
	th := testhosts.Start(t, 1)[0]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := dialRoot(t, th)
	h := sshHost{c, facts.NewCache()}
	if err := facts.Gather(ctx, h, facts.Base...); err != nil {
		t.Fatal(err)
	}
	vars, err := facts.AnsibleVars(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	af := jsonRoundTrip(t, vars)["ansible_facts"].(map[string]any)
	kinds := map[string][]string{
		"string": {"bios_date", "bios_vendor", "bios_version", "board_asset_tag", "board_name", "board_serial",
			"board_vendor", "board_version", "chassis_asset_tag", "chassis_serial", "chassis_vendor", "chassis_version",
			"form_factor", "product_name", "product_serial", "product_uuid", "product_version", "system_vendor",
			"distribution_file_path", "distribution_file_variety", "hostnqn", "iscsi_iqn", "userspace_architecture",
			"userspace_bits", "ssh_host_key_ed25519_public", "ssh_host_key_ed25519_public_keytype",
			"system_capabilities_enforced", "lvm"},
		"bool":   {"distribution_file_parsed", "fips", "is_chroot", "selinux_python_present", "module_setup"},
		"number": {"effective_group_id", "effective_user_id", "real_group_id", "real_user_id", "uptime_seconds"},
		"object": {"apparmor", "cmdline", "proc_cmdline", "device_links", "devices", "dns", "loadavg", "lsb", "selinux"},
		"list":   {"fibre_channel_wwn", "gather_subset"},
	}
	for kind, keys := range kinds {
		for _, k := range keys {
			v, ok := af[k]
			if !ok {
				t.Errorf("%s missing", k)
				continue
			}
			var good bool
			switch kind {
			case "string":
				_, good = v.(string)
			case "bool":
				_, good = v.(bool)
			case "number":
				_, good = v.(float64)
			case "object":
				_, good = v.(map[string]any)
			case "list":
				_, good = v.([]any)
			}
			if !good {
				t.Errorf("%s = %#v, want a %s", k, v, kind)
			}
		}
	}
	want := map[string]any{
		"distribution_file_path": "/etc/os-release", "distribution_file_variety": "Debian", "distribution_file_parsed": true,
		"userspace_bits": "64", "userspace_architecture": "x86_64", "real_user_id": 0.0, "effective_user_id": 0.0,
		"selinux_python_present": true, "fips": false, "is_chroot": false, "module_setup": true,
		// The image has neither lsb_release nor /etc/lsb-release, nor LVM
		// tools: Ansible's values for that.
		"lvm":     "N/A",
		"hostnqn": "", "iscsi_iqn": "",
	}
	for k, w := range want {
		if af[k] != w {
			t.Errorf("%s = %#v, want %#v", k, af[k], w)
		}
	}
	// capsh (libcap2-bin, which systemd pulls in): an nspawn container's
	// root lacks some capabilities, so Ansible lists them as enforced.
	if th.Run(t, "command -v capsh || true") != "" {
		if _, ok := af["system_capabilities"].([]any); !ok || af["system_capabilities_enforced"] != "True" {
			t.Errorf("capabilities %v, enforced %v", af["system_capabilities"], af["system_capabilities_enforced"])
		}
	} else if af["system_capabilities"] != "N/A" || af["system_capabilities_enforced"] != "N/A" {
		t.Errorf("capabilities without capsh: %v, enforced %v", af["system_capabilities"], af["system_capabilities_enforced"])
	}
	if s := af["selinux"].(map[string]any); s["status"] != "disabled" {
		t.Errorf("selinux: %v", s)
	}
	if l := af["lsb"].(map[string]any); len(l) != 0 {
		t.Errorf("lsb on a host without lsb_release or /etc/lsb-release: %v", l)
	}
	if ns := af["dns"].(map[string]any)["nameservers"]; ns == nil {
		t.Errorf("dns: %v", af["dns"])
	}
	if key := th.Run(t, "cut -d' ' -f2 /etc/ssh/ssh_host_ed25519_key.pub"); af["ssh_host_key_ed25519_public"] != key {
		t.Errorf("ed25519 key %v, want %s", af["ssh_host_key_ed25519_public"], key)
	}
	if len(af["devices"].(map[string]any)) == 0 {
		t.Errorf("devices: none")
	}
	if u := af["uptime_seconds"].(float64); u <= 0 {
		t.Errorf("uptime_seconds %v", u)
	}

	// The gathering's cost: the base facts without the new ones, as before
	// them, and with them; fresh caches, median of rounds.
	old := slices.DeleteFunc(slices.Clone(facts.Base), func(d facts.Def) bool {
		return slices.Contains([]facts.Def{facts.SysFiles, facts.Probe, facts.Devices, facts.LVM}, d)
	})
	gather := func(defs []facts.Def) time.Duration {
		start := time.Now()
		if err := facts.Gather(ctx, sshHost{c, facts.NewCache()}, defs...); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	var olds, news []time.Duration
	for range 11 { // interleaved, so the machine's load falls on both alike
		olds, news = append(olds, gather(old)), append(news, gather(facts.Base))
	}
	median := func(ds []time.Duration) time.Duration {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[len(ds)/2]
	}
	before, after := median(olds), median(news)
	t.Logf("gather over SSH, median of 11: before %v, after %v", before, after)
}
