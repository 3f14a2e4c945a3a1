package facts_test

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/facts"
	"github.com/gpuctl/gpuctl/internal/ansibletest"
)

// systemVars is ansible_facts of a recorded host, through JSON.
func systemVars(t *testing.T, h recorded) map[string]any {
	t.Helper()
	vars, err := facts.AnsibleVars(context.Background(), h)
	if err != nil {
		t.Fatal(err)
	}
	return jsonRoundTrip(t, vars)["ansible_facts"].(map[string]any)
}

// recordedSystem is a recorded host whose base facts come from
// local-debian12 and whose system facts come from dir.
func recordedSystem(t *testing.T, dir string) recorded {
	t.Helper()
	h := loadRecorded(t, "local-debian12")
	b, err := os.ReadFile("testdata/" + dir + "/out.txt")
	if err != nil {
		t.Fatal(err)
	}
	h.cache.Record(string(b), systemDefs...)
	return h
}

// The recording of this machine against what ansible-core's setup said of
// the same facts at the same time (TestRecordSystem), without a host.
func TestRecordedSystemLikeAnsible(t *testing.T) {
	af := systemVars(t, recordedSystem(t, "system-local"))
	b, err := os.ReadFile("testdata/system-local/ansible-setup.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	for _, k := range systemStable {
		w, ok := want[k]
		if strings.HasPrefix(k, "ssh_host_key") {
			continue // left out of the recording
		}
		if g, mine := af[k]; ok != mine || !ansibletest.Same(g, w) {
			gj, _ := json.Marshal(g)
			wj, _ := json.Marshal(w)
			t.Errorf("%s:\n gpuctl  %s\n ansible %s", k, gj, wj)
		}
	}
	for _, k := range []string{"loadavg", "uptime_seconds"} {
		if shape(af[k]) != shape(want[k]) {
			t.Errorf("%s: %v, ansible %v", k, af[k], want[k])
		}
	}
}

// The test host's recording: an nspawn container on a VM without DMI, no
// lsb_release, root.
func TestRecordedSystemTestHost(t *testing.T) {
	af := systemVars(t, recordedSystem(t, "system-testhost"))
	for k, w := range map[string]any{
		"product_name": "NA", "system_vendor": "NA", "form_factor": "NA", "lvm": "N/A",
		"real_user_id": 0.0, "effective_group_id": 0.0, "userspace_bits": "64", "is_chroot": false,
		"distribution_file_variety": "Debian", "ssh_host_key_ed25519_public_keytype": "ssh-ed25519",
		"system_capabilities_enforced": "True",
	} {
		if !reflect.DeepEqual(af[k], w) {
			t.Errorf("%s = %#v, want %#v", k, af[k], w)
		}
	}
	if l := af["lsb"].(map[string]any); len(l) != 0 {
		t.Errorf("lsb: %v", l)
	}
	if _, ok := af["devices"].(map[string]any)["vda"]; !ok {
		t.Errorf("devices: %v", af["devices"])
	}
}

func TestParseCmdline(t *testing.T) {
	for _, tc := range []struct {
		in          string
		multi       bool
		wantJSON    string
		description string
	}{
		{`ro root=/dev/sda1 quiet console=tty0 console=ttyS0,115200`, false,
			`{"console":"ttyS0,115200","quiet":true,"ro":true,"root":"/dev/sda1"}`, "last value wins"},
		{`ro console=tty0 console=ttyS0 console=hvc0`, true,
			`{"console":["tty0","ttyS0","hvc0"],"ro":true}`, "repeated keys gather"},
		{`a="b c" "quoted word"x`, false, `{"\"quoted word\"":true,"a":"\"b","c\"":true,"x":true}`,
			"shlex non-posix: quotes open only at a word's start"},
		{`a=1 "unclosed`, false, `{}`, "shlex fails: empty"},
	} {
		b, _ := json.Marshal(facts.ParseCmdline(tc.in, tc.multi))
		if string(b) != tc.wantJSON {
			t.Errorf("%s: %s, want %s", tc.description, b, tc.wantJSON)
		}
	}
}

func TestParseResolvConf(t *testing.T) {
	got := facts.ParseResolvConf("# c\n; c\nnameserver 1.1.1.1\nnameserver 9.9.9.9 8.8.8.8\ndomain example.org\n" +
		"search a.example b.example\noptions ndots:2 rotate\nsortlist 10.0.0.0/8\n")
	b, _ := json.Marshal(got)
	want := `{"domain":"example.org","nameservers":["1.1.1.1","9.9.9.9","8.8.8.8"],"options":{"ndots":"2","rotate":true},"search":["a.example","b.example"],"sortlist":["10.0.0.0/8"]}`
	if string(b) != want {
		t.Errorf("%s\nwant %s", b, want)
	}
}

func TestSSHHostKeysStopRule(t *testing.T) {
	fs, _ := facts.ParseFileSet([]byte("/etc/ssh/ssh_host_rsa_key.pub:ssh-rsa AAAArsa root@h\n" +
		"/etc/openssh/ssh_host_dsa_key.pub:ssh-dss AAAAdsa\n/etc/openssh/ssh_host_ed25519_key.pub:ssh-ed25519 AAAAed\n"))
	got := facts.SSHHostKeys(fs)
	// /etc/openssh's dsa fills the gap; its rsa stops the search before
	// its ed25519.
	want := map[string]any{"ssh_host_key_rsa_public": "AAAArsa", "ssh_host_key_rsa_public_keytype": "ssh-rsa",
		"ssh_host_key_dsa_public": "AAAAdsa", "ssh_host_key_dsa_public_keytype": "ssh-dss"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%v", got)
	}
}

func TestParseFileSetStrips(t *testing.T) {
	fs, _ := facts.ParseFileSet([]byte("/a:  x\n/a:y  \n/b:\n/b: \n/c:k=v:w\n"))
	if v, _ := fs.Get("/a"); v != "x\ny" {
		t.Errorf("/a %q", v)
	}
	if _, ok := fs.Get("/b"); ok {
		t.Errorf("blank file read as a value")
	}
	if v, _ := fs.Get("/c"); v != "k=v:w" {
		t.Errorf("/c %q", v)
	}
}

// A synthetic probe and file set: lsb from /etc/lsb-release (Ubuntu without
// a working lsb_release), capsh's =ep, SELinux enforcing, DMI rack server,
// a non-root user (is_chroot by the root inode).
func TestSystemFactsSynthetic(t *testing.T) {
	out := "\n@@gpuctl-fact sysfiles\n" + strings.Join([]string{
		"/proc/self/status:Uid:\t1000\t1000\t1000\t1000", "/proc/self/status:Gid:\t1001\t1002\t1001\t1001",
		"/etc/lsb-release:DISTRIB_ID=Ubuntu", "/etc/lsb-release:DISTRIB_RELEASE=24.04",
		"/etc/lsb-release:DISTRIB_CODENAME=noble", `/etc/lsb-release:DISTRIB_DESCRIPTION="Ubuntu 24.04.1 LTS"`,
		"/sys/fs/selinux/enforce:1", "/sys/fs/selinux/policyvers:33",
		"/etc/selinux/config:SELINUX=permissive", "/etc/selinux/config:SELINUXTYPE=targeted",
		"/sys/devices/virtual/dmi/id/chassis_type:23", "/sys/devices/virtual/dmi/id/sys_vendor:Dell Inc.",
		"/sys/devices/virtual/dmi/id/product_name:PowerEdge R750",
		"/proc/sys/crypto/fips_enabled:1", "/etc/iscsi/initiatorname.iscsi:## comment",
		"/etc/iscsi/initiatorname.iscsi:InitiatorName=iqn.1993-08.org.debian:01:abc",
		"/sys/class/fc_host/host1/port_name:0x21000014ff52a9bb",
		"/etc/os-release:NAME=\"Ubuntu\"", "/etc/os-release:ID=ubuntu",
		"/proc/loadavg:0.50 0.25 0.10 1/100 42", "/proc/uptime:1234.56 4000.00",
	}, "\n") +
		"\n@@gpuctl-fact probe\n@@capsh_found\n@@capsh\nCurrent: =ep\n@@chroot\n1 2\n@@rootfs\next2/ext3\n" +
		"@@long_bit\n64\n@@exists\n/sys/kernel/security/apparmor\n/sys/devices/virtual/dmi/id/product_name\n" +
		"\n@@gpuctl-fact lvm\n@@vgs\n  vg0,1,2,0,wz--n-,100.00,20.00\n@@lvs\n  root,vg0,-wi-ao----,50.00\n" +
		"@@pvs\n  /dev/dm-3,vg0,lvm2,a--,100.00,20.00\n@@dm\ndm-3,crypt\n" +
		"\n@@gpuctl-fact os_release\nID=ubuntu\nNAME=\"Ubuntu\"\n\n@@gpuctl-fact architecture\nx86_64\n"
	h := loadRecorded(t, "local-debian12")
	h.cache.Record(out, systemDefs...)
	af := systemVars(t, h)
	want := map[string]string{
		"lsb":                          `{"codename":"noble","description":"Ubuntu 24.04.1 LTS","id":"Ubuntu","major_release":"24","release":"24.04"}`,
		"selinux":                      `{"config_mode":"permissive","mode":"enforcing","policyvers":33,"status":"enabled","type":"targeted"}`,
		"system_capabilities":          `[]`,
		"system_capabilities_enforced": `"False"`,
		"is_chroot":                    `false`,
		"apparmor":                     `{"status":"enabled"}`,
		"form_factor":                  `"Rack Mount Chassis"`,
		"system_vendor":                `"Dell Inc."`,
		"bios_vendor":                  `"NA"`,
		"real_user_id":                 `1000`,
		"effective_group_id":           `1001`,
		"fips":                         `true`,
		"iscsi_iqn":                    `"iqn.1993-08.org.debian:01:abc"`,
		"fibre_channel_wwn":            `["21000014ff52a9bb"]`,
		"distribution_file_variety":    `"Debian"`,
		"userspace_architecture":       `"x86_64"`,
		"loadavg":                      `{"15m":0.1,"1m":0.5,"5m":0.25}`,
		"uptime_seconds":               `1234`,
		"lvm":                          `{"lvs":{"root":{"size_g":"50.00","vg":"vg0"}},"pvs":{"/dev/mapper/crypt":{"free_g":"20.00","size_g":"100.00","vg":"vg0"}},"vgs":{"vg0":{"free_g":"20.00","num_lvs":"2","num_pvs":"1","size_g":"100.00"}}}`,
	}
	for k, w := range want {
		if b, _ := json.Marshal(af[k]); string(b) != w {
			t.Errorf("%s = %s, want %s", k, b, w)
		}
	}
}

// A disk with two partitions, one held by device-mapper, its by-id, wwn,
// by-uuid and label links, and a PCI host from lspci.
func TestAnsibleDevicesSynthetic(t *testing.T) {
	out := "@@links\n/sys/block\tsda\t../devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sda\n" +
		"/sys/block\tdm-0\t../devices/virtual/block/dm-0\n" +
		"/dev/disk/by-id\tata-DISK_123\t../../sda\n/dev/disk/by-id\twwn-0x5000c500a1b2c3d4\t../../sda\n" +
		"/dev/disk/by-uuid\t1111-2222\t../../sda1\n/dev/disk/by-label\troot\t../../dm-0\n" +
		"@@slaves\n/sys/block/dm-0/slaves/sda2\n" +
		"@@lspci\n0000:00:1f.2 SATA controller: Intel Corporation C600 SATA\n" +
		"@@entries sda\nalignment_offset\ndevice\nholders\nqueue\nsda1\nsda2\nsize\n" +
		"@@holders sda\nsda2/holders/dm-0\n" +
		"@@entries dm-0\nholders\nqueue\nsize\nslaves\n@@holders dm-0\n" +
		"@@files\n/sys/block/sda/device/vendor:ATA     \n/sys/block/sda/device/model:DISK\n/sys/block/sda/removable:0\n" +
		"/sys/block/sda/queue/rotational:1\n/sys/block/sda/queue/scheduler:mq-deadline [none] kyber\n" +
		"/sys/block/sda/size:2097152\n/sys/block/sda/queue/logical_block_size:512\n" +
		"/sys/block/sda/sda1/start:2048\n/sys/block/sda/sda1/size:1024\n/sys/block/sda/sda2/start:4096\n" +
		"/sys/block/sda/sda2/size:2000000\n/sys/block/sda/sda2/holders/dm-0/dm/name:vg0-root\n" +
		"/sys/block/dm-0/size:0\n"
	bd, err := facts.ParseDevices([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	devs, links := facts.AnsibleDevices(bd)
	b, _ := json.Marshal(devs["sda"])
	want := `{"holders":[],"host":"SATA controller: Intel Corporation C600 SATA","links":{"ids":["ata-DISK_123","wwn-0x5000c500a1b2c3d4"],"labels":[],"masters":[],"uuids":[]},"model":"DISK",` +
		`"partitions":{"sda1":{"holders":[],"links":{"ids":[],"labels":[],"masters":[],"uuids":["1111-2222"]},"sectors":"1024","sectorsize":512,"size":"512.00 KB","start":"2048","uuid":"1111-2222"},` +
		`"sda2":{"holders":["vg0-root"],"links":{"ids":[],"labels":[],"masters":["dm-0"],"uuids":[]},"sectors":"2000000","sectorsize":512,"size":"976.56 MB","start":"4096","uuid":null}},` +
		`"removable":"0","rotational":"1","sas_address":null,"sas_device_handle":null,"scheduler_mode":"none","sectors":"2097152","sectorsize":"512","size":"1.00 GB","support_discard":null,"vendor":"ATA","virtual":1,"wwn":"0x5000c500a1b2c3d4"}`
	if string(b) != want {
		t.Errorf("sda:\n%s\nwant\n%s", b, want)
	}
	lb, _ := json.Marshal(links)
	wantLinks := `{"ids":{"sda":["ata-DISK_123","wwn-0x5000c500a1b2c3d4"]},"labels":{"dm-0":["root"]},"masters":{"sda2":["dm-0"]},"uuids":{"sda1":["1111-2222"]}}`
	if string(lb) != wantLinks {
		t.Errorf("links %s\nwant %s", lb, wantLinks)
	}
	if d := devs["dm-0"].(map[string]any); d["sectors"] != "0" || d["sectorsize"] != 512 || d["size"] != "0.00 Bytes" {
		t.Errorf("dm-0: %v", d)
	}
	if devs, links := facts.AnsibleDevices(facts.BlockDevices{NoSys: true}); len(devs) != 0 || links != nil {
		t.Errorf("no /sys/block: %v %v", devs, links)
	}
}

func TestBytesToHuman(t *testing.T) {
	for in, want := range map[float64]string{0: "0.00 Bytes", 1023: "1023.00 Bytes", 1024: "1.00 KB", 274877906944: "256.00 GB", 1 << 50: "1.00 PB"} {
		if got := facts.BytesToHuman(in); got != want {
			t.Errorf("%v: %s, want %s", in, got, want)
		}
	}
}
