package facts_test

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/conn/local"
	"github.com/gpuctl/gpuctl/facts"
)

func TestParseOSRelease(t *testing.T) {
	h200, err := os.ReadFile("../modules/nvidia/testdata/h200-ubuntu2404-580/os-release.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in                                    string
		id, version, codename, distro, family string
	}{
		{string(h200), "ubuntu", "24.04", "noble", "Ubuntu", "Debian"},
		{"# comment\nID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n", "debian", "12", "bookworm", "Debian", "Debian"},
		{"ID=ubuntu\nVERSION_ID='22.04'\nUBUNTU_CODENAME=jammy\n", "ubuntu", "22.04", "jammy", "Ubuntu", "Debian"},
		{"ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\n", "rocky", "9.3", "", "Rocky", "RedHat"},
		{"ID=pop\nID_LIKE=\"ubuntu debian\"\nNAME=\"Pop!_OS \\\"x\\\"\"\n", "pop", "", "", "Pop!_OS", "Debian"},
	} {
		o := facts.ParseOSRelease(tc.in)
		if o.ID != tc.id || o.VersionID != tc.version || o.Codename != tc.codename || o.Distribution() != tc.distro || o.Family() != tc.family {
			t.Errorf("%q: got %+v %s %s", tc.in, o, o.Distribution(), o.Family())
		}
	}
	if o := facts.ParseOSRelease("NAME=\"Pop!_OS \\\"x\\\"\"\n"); o.Name != `Pop!_OS "x"` {
		t.Errorf("escapes: %q", o.Name)
	}
}

// The test host's recording: the typed facts read back as the host was.
func TestRecordedTestHost(t *testing.T) {
	h := loadRecorded(t, "testhost-debian12")
	ctx := context.Background()
	name, _ := os.ReadFile("testdata/testhost-debian12/hostname.txt")
	if n, err := facts.Get(ctx, h, facts.Nodename); err != nil || n != strings.TrimSpace(string(name)) {
		t.Errorf("nodename %q %v, want %q", n, err, name)
	}
	v, err := facts.AnsibleVars(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	af := v["ansible_facts"].(map[string]any)
	want := map[string]any{
		"distribution": "Debian", "distribution_major_version": "12", "distribution_release": "bookworm",
		"os_family": "Debian", "pkg_mgr": "apt", "service_mgr": "systemd", "virtualization_type": "systemd-nspawn",
		"virtualization_role": "guest", "user_id": "root", "user_uid": 0, "user_dir": "/root", "architecture": "x86_64",
	}
	for k, w := range want {
		if af[k] != w {
			t.Errorf("%s = %#v, want %#v", k, af[k], w)
		}
	}
	local := af["local"].(map[string]any)
	if local["node"].(map[string]any)["role"] != "gpu" || local["dyn"].(map[string]any)["exec"] != true ||
		local["place"].(map[string]any)["general"].(map[string]any)["rack"] != "r12" {
		t.Errorf("local facts: %#v", local)
	}
	// The test hosts have no Python (test/hosts/build.sh): Ansible could not
	// gather there, so the python facts are left out rather than guessed.
	for _, k := range []string{"python", "python_version"} {
		if _, ok := af[k]; ok {
			t.Errorf("%s = %#v on a host without Python", k, af[k])
		}
	}
	d4 := af["default_ipv4"].(map[string]any)
	if d4["address"] == "" || d4["gateway"] == "" || d4["interface"] == "" || d4["netmask"] == "" {
		t.Errorf("default_ipv4: %#v", d4)
	}
}

type countConn struct {
	conn.Conn
	runs, reads atomic.Int64
}

func (c *countConn) Run(ctx context.Context, cmd string, o ...conn.ExecOption) (conn.Result, error) {
	c.runs.Add(1)
	return c.Conn.Run(ctx, cmd, o...)
}
func (c *countConn) ReadFile(ctx context.Context, p string) ([]byte, error) {
	c.reads.Add(1)
	return c.Conn.ReadFile(ctx, p)
}

type cachedHost struct {
	c     conn.Conn
	cache *facts.Cache
}

func (h cachedHost) Conn() conn.Conn         { return h.c }
func (h cachedHost) FactCache() *facts.Cache { return h.cache }

// The base facts cost one process for the commands and a file read (SFTP,
// no process) for each of the 7 file facts; reading them after is free;
// Invalidate makes the next read measure again (a file fact: no process).
func TestGatherOneProcessThenCache(t *testing.T) {
	c := &countConn{Conn: local.New()}
	h := cachedHost{c, facts.NewCache()}
	ctx := context.Background()
	if err := facts.Gather(ctx, h, facts.Base...); err != nil {
		t.Fatal(err)
	}
	if _, err := facts.AnsibleVars(ctx, h); err != nil {
		t.Fatal(err)
	}
	if err := facts.Gather(ctx, h, facts.Base...); err != nil {
		t.Fatal(err)
	}
	if c.runs.Load() != 1 || c.reads.Load() != 7 {
		t.Fatalf("runs %d reads %d, want 1 process and 7 file reads", c.runs.Load(), c.reads.Load())
	}
	h.cache.Invalidate()
	if _, err := facts.Get(ctx, h, facts.Nodename); err != nil {
		t.Fatal(err)
	}
	if c.runs.Load() != 1 || c.reads.Load() != 8 {
		t.Fatalf("after Invalidate: runs %d reads %d, want one more file read", c.runs.Load(), c.reads.Load())
	}
}

// ParsePython reads what the Python fact's script prints, for Python 3 and
// 2, and an empty output as no Python.
func TestParsePython(t *testing.T) {
	p, err := facts.ParsePython([]byte("/usr/bin/python2.7\n2 7 18 final 0\nCPython\n1\n2.7.18\n"))
	if err != nil || !p.Found() || p.Major != 2 || p.Micro != 18 || p.Type != "CPython" || p.Version != "2.7.18" || !p.HasSSL {
		t.Errorf("python 2: %+v %v", p, err)
	}
	if p, err := facts.ParsePython(nil); err != nil || p.Found() {
		t.Errorf("no output: %+v %v", p, err)
	}
	if _, err := facts.ParsePython([]byte("/usr/bin/python3\n3 x 2 final 0\ncpython\n1\n3.11.2\n")); err == nil {
		t.Error("a bad version_info parses")
	}
}

func FuzzParseOSRelease(f *testing.F) {
	f.Add("ID=debian\nVERSION_ID=\"12\"\n")
	f.Add("NAME='x'\n#c\nA=\"\\\\\"")
	f.Fuzz(func(t *testing.T, s string) {
		o := facts.ParseOSRelease(s)
		_ = o.Family()
		_ = o.Distribution()
	})
}

func FuzzParsers(f *testing.F) {
	for _, d := range []string{"local-debian12", "testhost-debian12"} {
		if b, err := os.ReadFile("testdata/" + d + "/base.txt"); err == nil {
			for _, s := range facts.Split(string(b)) {
				f.Add([]byte(s))
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		facts.ParseMeminfo(b)
		facts.ParseCPU(b)
		facts.ParseNetwork(b)
		facts.ParseLocal(b)
		facts.ParseAccount(b)
		facts.ParseClock(b)
		facts.ParseEnv(b)
		facts.ParseVirt(b)
		facts.ParseServiceMgr(b)
		facts.ParsePython(b)
	})
}
