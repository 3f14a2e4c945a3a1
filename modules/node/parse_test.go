package node

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// Recorded from apt 2.6.1 on Debian 12.
const simInstall = `NOTE: This is only a simulation!
      apt-get needs root privileges for real execution.
Reading package lists...
The following NEW packages will be installed:
  apt-utils containerd runc
0 upgraded, 3 newly installed, 0 to remove and 66 not upgraded.
Inst apt-utils (2.6.1 Debian:12.14/oldstable [amd64])
Inst runc (1.1.5+ds1-1+deb12u1 Debian:12.14/oldstable, Debian-Security:12/oldstable-security [amd64])
Inst containerd (1.6.20~ds1-1+deb12u3 Debian:12.14/oldstable [amd64])
Inst kubelet [1.34.3-1.1] (1.34.4-1.1 isv:kubernetes:core:stable:v1.34:pkgs.k8s.io [amd64]) []
Conf apt-utils (2.6.1 Debian:12.14/oldstable [amd64])
Remv containerd.io [1.7.27-1]
Purg docker-ce [5:28.0.1-1~debian.12~bookworm]
`

func TestParseSimulation(t *testing.T) {
	got := parseSimulation(simInstall)
	want := []simOp{
		{"Inst", "apt-utils", "", "2.6.1", "Debian:12.14/oldstable"},
		{"Inst", "runc", "", "1.1.5+ds1-1+deb12u1", "Debian:12.14/oldstable, Debian-Security:12/oldstable-security"},
		{"Inst", "containerd", "", "1.6.20~ds1-1+deb12u3", "Debian:12.14/oldstable"},
		{"Inst", "kubelet", "1.34.3-1.1", "1.34.4-1.1", "isv:kubernetes:core:stable:v1.34:pkgs.k8s.io"},
		{"Remv", "containerd.io", "1.7.27-1", "", ""},
		{"Purg", "docker-ce", "5:28.0.1-1~debian.12~bookworm", "", ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
	if c := got[3].change(); c.Action != "update" || c.Before != "1.34.3-1.1" || c.After != "1.34.4-1.1" {
		t.Fatalf("%+v", c)
	}
	if c := got[0].change(); c.Action != "create" || c.Resource != "package:apt-utils" {
		t.Fatalf("%+v", c)
	}
	if c := got[4].change(); c.Action != "delete" {
		t.Fatalf("%+v", c)
	}
}

func TestParseDpkgQuery(t *testing.T) {
	got := parseDpkgQuery("apt\t2.6.1\tii \nkubelet\t1.34.4-1.1\thi \nold\t1.0\trc \nlibc6\t2.36\tii \nlibc6\t2.36\tun \n")
	want := map[string]pkgStatus{
		"apt":     {Version: "2.6.1", Installed: true},
		"kubelet": {Version: "1.34.4-1.1", Installed: true, Held: true},
		"old":     {Config: true},
		"libc6":   {Version: "2.36", Installed: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v", got)
	}
}

func TestSpecs(t *testing.T) {
	s := parseSpec("kubelet=1.34.4-*")
	if s.Name != "kubelet" || !s.glob() || !s.matches("1.34.4-1.1") || s.matches("1.34.3-1.1") {
		t.Fatalf("%+v", s)
	}
	if !parseSpec("curl").matches("7.88") || parseSpec("curl").matches("") {
		t.Fatal("unpinned spec")
	}
	if err := validateSpecs([]string{"kubelet=1.34.4-1.1", "containerd.io", "libc6:amd64"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"Bad_Name", "x=", "a; rm -rf /", "k=1 2"} {
		if validateSpecs([]string{bad}) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Lock messages are parsed in modules/internal/apt (TestLockHolder there).
func TestNotLocatable(t *testing.T) {
	if !notLocatable("E: Unable to locate package nope") || !notLocatable("E: Version '9' for 'kubelet' was not found") {
		t.Error("notLocatable")
	}
}

func TestParseMadison(t *testing.T) {
	out := "containerd | 1.6.20~ds1-1+deb12u3 | http://deb.debian.org/debian bookworm/main amd64 Packages\n" +
		"containerd | 1.6.20~ds1-1+deb12u2 | http://deb.debian.org/debian-security bookworm-security/main amd64 Packages\n" +
		"containerd | 1.6.20~ds1-1+deb12u2 | http://mirror/ bookworm/main amd64 Packages\n"
	if got := parseMadison(out); !reflect.DeepEqual(got, []string{"1.6.20~ds1-1+deb12u3", "1.6.20~ds1-1+deb12u2"}) {
		t.Fatal(got)
	}
}

func TestUpdateErrors(t *testing.T) {
	out := "Hit:1 http://deb.debian.org/debian bookworm InRelease\nErr:2 http://127.0.0.1:1/deb ./ InRelease\n  Connection refused\nReading package lists...\n"
	if got := updateErrors(out); !strings.Contains(got, "Err:2") {
		t.Fatal(got)
	}
	if updateErrors("Hit:1 x\n") != "" {
		t.Fatal("false positive")
	}
}

func TestParseProcSwaps(t *testing.T) {
	in := "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n/swap.img                               file\t\t2097148\t\t0\t\t-2\n/dev/sda3 partition 1000 0 -3\n/my\\040swap file 10 0 -4\n"
	got := parseProcSwaps(in)
	want := []swapEntry{{"/swap.img", "file"}, {"/dev/sda3", "partition"}, {"/my swap", "file"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%+v", got)
	}
	if len(parseProcSwaps("Filename Type Size Used Priority\n")) != 0 {
		t.Fatal("header counted")
	}
}

func TestDisableFstabSwap(t *testing.T) {
	in := "# /etc/fstab\nUUID=abc / ext4 defaults 0 1\n/swap.img\tnone\tswap\tsw\t0\t0\n#/old none swap sw 0 0\nUUID=def none swap sw 0 0\n"
	out, disabled := disableFstabSwap(in)
	if !reflect.DeepEqual(disabled, []string{"/swap.img", "UUID=def"}) {
		t.Fatal(disabled)
	}
	if !strings.Contains(out, "#/swap.img\tnone\tswap") || !strings.Contains(out, "UUID=abc / ext4") {
		t.Fatal(out)
	}
	again, d2 := disableFstabSwap(out)
	if again != out || len(d2) != 0 {
		t.Fatal("second pass changed the file")
	}
}

func TestParseSwapUnits(t *testing.T) {
	units := "swap.img.swap loaded active active /swap.img\n● dev-sda3.swap masked inactive dead dev-sda3.swap\n"
	files := "swap.img.swap generated -\ndev-sda3.swap masked enabled\nfoo.service enabled enabled\n"
	got := parseSwapUnits(units, files)
	want := []swapUnit{{"swap.img.swap", false}, {"dev-sda3.swap", true}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%+v", got)
	}
}

func TestParseOSRelease(t *testing.T) {
	d := parseOSRelease("PRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nID=ubuntu\nUBUNTU_CODENAME=jammy\n")
	if d.ID != "ubuntu" || d.VersionID != "22.04" || d.Codename != "jammy" || d.Supported() != nil {
		t.Fatalf("%+v", d)
	}
	for _, bad := range []string{"ID=ubuntu\nVERSION_ID=\"20.04\"\n", "ID=fedora\nVERSION_ID=40\n", ""} {
		if parseOSRelease(bad).Supported() == nil {
			t.Errorf("%q supported", bad)
		}
	}
	if d := parseOSRelease("ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n"); d.Supported() != nil || d.dockerRepoURL() != "https://download.docker.com/linux/debian" {
		t.Fatalf("%+v", d)
	}
}

func TestListeningPorts(t *testing.T) {
	tcp := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:192B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0016 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1
   0: 00000000000000000000000000000000:2802 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0
`
	got := listeningPorts(tcp)
	if !got[6443] || !got[10242] || got[22] {
		t.Fatalf("%v", got)
	}
}

func TestFirstVersion(t *testing.T) {
	for in, want := range map[string]string{
		"containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3": "1.6.20~ds1",
		"containerd containerd.io v1.7.27 05044ec0a9a75232cad458027ca83437aae3f4da":   "1.7.27",
		"Kubernetes v1.34.4": "1.34.4",
		"v1.34.4":            "1.34.4",
		"":                   "",
	} {
		if got := firstVersion(in); got != want {
			t.Errorf("%q: %q", in, got)
		}
	}
}

func TestParseNodeFacts(t *testing.T) {
	sec := splitSections("@@@os\nID=debian\nVERSION_ID=\"12\"\n@@@kernel\n6.1.0-50-amd64\n@@@cgroupfs\ncgroup2fs\n@@@swaps\nFilename Type Size Used Priority\n/swap.img file 1 0 -2\n" +
		"@@@containerd\ncontainerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3\n@@@ctrdcfg\nversion = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\nSystemdCgroup = true\n" +
		"@@@kubeadm\nv1.34.4\n@@@cp\nkube-apiserver.yaml\netcd.yaml\n")
	f := parseNodeFacts(sec)
	if f["cgroup_version"] != "v2" || !f.Bool("swap_active") || !f.Bool("containerd_systemd_cgroup") || f["kubeadm_version"] != "1.34.4" ||
		!f.Bool("control_plane_initialized") || f["kubelet_version"] != "" || !f.Bool("os_supported") || f["containerd_version"] != "1.6.20~ds1" {
		t.Fatalf("%v", f)
	}
}

func TestPreflightEvaluate(t *testing.T) {
	good := preflightInput{
		osRelease: "ID=ubuntu\nVERSION_ID=\"24.04\"\n", swaps: "Filename Type\n", bridgeNF: "1", ipForward: "1",
		ctrdConfig:  "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc.options]\nSystemdCgroup = true\n",
		ctrdPresent: true, ctrdPlugins: "TYPE ID PLATFORMS STATUS\nio.containerd.grpc.v1 cri linux/amd64 ok\n",
		meminfo: "MemTotal:       16318436 kB\n", cpus: 8, hostname: "gpu-1", resolves: true, hostTime: float64(time.Unix(1000, 0).Unix()),
	}
	p := &Preflight{Role: "control-plane", CgroupDriver: "systemd"}
	if failed, passed := p.evaluate(good, time.Unix(1000, 0)); len(failed) != 0 || len(passed) != len(preflightChecks) {
		t.Fatalf("failed %v passed %v", failed, passed)
	}
	bad := good
	bad.osRelease = "ID=centos\nVERSION_ID=9\n"
	bad.swaps = "Filename Type\n/swap.img file 1 0 -2\n"
	bad.bridgeNF = ""
	bad.ipForward = "0"
	bad.ctrdConfig = "version = 2\ndisabled_plugins = [\"cri\"]\n"
	bad.listening = "0: 00000000:192B 00000000:0000 0A\n"
	bad.meminfo = "MemTotal: 1048576 kB\n"
	bad.cpus = 1
	bad.resolves = false
	bad.kubeletCfg = "cgroupDriver: systemd\n"
	failed, _ := p.evaluate(bad, time.Unix(1100, 0))
	var names []string
	for _, f := range failed {
		names = append(names, strings.SplitN(f, ":", 2)[0])
	}
	if want := preflightChecks; !reflect.DeepEqual(names, want) {
		t.Fatalf("failed %v\n%s", names, strings.Join(failed, "\n"))
	}
	p.Skip = []string{"clock", "ports"}
	failed, _ = p.evaluate(bad, time.Unix(1100, 0))
	if len(failed) != len(preflightChecks)-2 {
		t.Fatal(failed)
	}
	// A runtime drop-in that replaced containerd 1.x's whole CRI table: the
	// file says systemd, what containerd runs with says cgroupfs.
	clobbered := good
	clobbered.ctrdDump = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.nvidia.options]\nBinaryName = \"x\"\n"
	if failed, _ := p.evaluate(clobbered, time.Unix(1000, 0)); len(failed) != 1 || !strings.HasPrefix(failed[0], "cgroup_driver: containerd uses the cgroupfs") {
		t.Fatalf("clobbered drop-in not seen: %v", failed)
	}
	// A worker only needs the kubelet port and less memory.
	w := &Preflight{Role: "worker", CgroupDriver: "systemd"}
	wi := good
	wi.listening = "0: 00000000:192B 00000000:0000 0A\n"
	wi.meminfo = "MemTotal: 1200000 kB\n"
	wi.cpus = 1
	if failed, _ := w.evaluate(wi, time.Unix(1000, 0)); len(failed) != 0 {
		t.Fatal(failed)
	}
	// A worker that has joined: its own kubelet holds 10250, so a re-run passes.
	wi.listening = "0: 00000000:280A 00000000:0000 0A\n"
	if failed, _ := w.evaluate(wi, time.Unix(1000, 0)); len(failed) != 1 || !strings.HasPrefix(failed[0], "ports:") {
		t.Fatalf("kubelet port in use on a fresh worker: %v", failed)
	}
	wi.joined = true
	if failed, _ := w.evaluate(wi, time.Unix(1000, 0)); len(failed) != 0 {
		t.Fatalf("joined worker: %v", failed)
	}
}

func FuzzParseSimulation(f *testing.F) {
	f.Add(simInstall)
	f.Fuzz(func(t *testing.T, s string) {
		for _, op := range parseSimulation(s) {
			if op.Name == "" {
				t.Fatal("empty name")
			}
			op.change()
		}
	})
}

func FuzzDisableFstabSwap(f *testing.F) {
	f.Add("/swap.img none swap sw 0 0\nUUID=x / ext4 defaults 0 1\n")
	f.Fuzz(func(t *testing.T, s string) {
		out, _ := disableFstabSwap(s)
		again, d := disableFstabSwap(out)
		if again != out || len(d) != 0 {
			t.Fatalf("not idempotent on %q", s)
		}
	})
}

func FuzzParseProcSwaps(f *testing.F) {
	f.Add("Filename Type Size Used Priority\n/swap.img file 1 0 -2\n/a\\040b file 1 0 -2\n")
	f.Fuzz(func(t *testing.T, s string) { parseProcSwaps(s) })
}

func FuzzContainerdConfig(f *testing.F) {
	f.Add("version = 2\ndisabled_plugins = [\"cri\"]\n")
	f.Fuzz(func(t *testing.T, s string) {
		out, _, err := buildContainerdConfig([]byte(s), ctrdSettings{SandboxImage: "p", SystemdCgroup: true}, "")
		if err != nil {
			return
		}
		v, err := viewContainerdConfig(out)
		if err != nil || !v.SystemdCgroup || v.CRIDisabled {
			t.Fatalf("%q -> %q: %+v %v", s, out, v, err)
		}
	})
}
