package nvidia

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
	"github.com/gpuctl/gpuctl/modules/moduletest"
)

// fakeHost answers the probe, dpkg-query and apt-cache from canned text,
// for the driver decisions no test machine here can show (nouveau loaded,
// Debian's single branch, a driver installed but not loaded).
type fakeHost struct {
	probe      string
	installed  map[string]string // package -> version
	candidates map[string]string
	files      map[string]string
	ran        []string
	reconnect  bool
	bootID     string
	// locked is how many apt-get/apt-mark runs fail as apt does while
	// unattended-upgrades holds the dpkg lock.
	locked int
}

func (h *fakeHost) Run(ctx context.Context, cmd string, opts ...conn.ExecOption) (conn.Result, error) {
	h.ran = append(h.ran, cmd)
	switch {
	case h.locked > 0 && (strings.HasPrefix(cmd, "apt-get ") || strings.HasPrefix(cmd, "apt-mark ")):
		h.locked--
		return conn.Result{ExitCode: 100, Stderr: "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (unattended-upgr)\n"}, nil
	case strings.Contains(cmd, "shutdown -r"):
		h.bootID = "after-reboot"
	case cmd == probeScript:
		return conn.Result{Stdout: h.probe}, nil
	case strings.HasPrefix(cmd, "LC_ALL=C dpkg-query"):
		var b strings.Builder
		for p, v := range h.installed {
			if strings.Contains(cmd, " "+p) {
				b.WriteString(p + " " + v + " ii \n")
			}
		}
		return conn.Result{Stdout: b.String()}, nil
	case strings.HasPrefix(cmd, "LC_ALL=C apt-cache policy "):
		p := strings.TrimPrefix(cmd, "LC_ALL=C apt-cache policy ")
		c := h.candidates[p]
		if c == "" {
			c = "(none)"
		}
		return conn.Result{Stdout: p + ":\n  Installed: (none)\n  Candidate: " + c + "\n"}, nil
	}
	return conn.Result{}, nil
}

func (h *fakeHost) ReadFile(ctx context.Context, p string) ([]byte, error) {
	if p == bootIDPath {
		return []byte(h.bootID), nil
	}
	if s, ok := h.files[p]; ok {
		return []byte(s), nil
	}
	return nil, fs.ErrNotExist
}
func (h *fakeHost) Stat(ctx context.Context, p string) (conn.FileInfo, error) {
	return conn.FileInfo{}, fs.ErrNotExist
}
func (h *fakeHost) WriteFile(ctx context.Context, p string, data []byte, a conn.FileAttrs) error {
	h.files[p] = string(data)
	return nil
}
func (h *fakeHost) Dial(ctx context.Context, n, a string) (net.Conn, error) {
	return nil, conn.ErrNotSupported
}
func (h *fakeHost) Close() error { return nil }

// host views fakeHost as a modules.Host; with reconnect set it is also a
// Reconnector on another machine (its boot ID differs from ours).
type fakeModHost struct{ *fakeHost }

func (h fakeModHost) Name() string                    { return "gpu-1" }
func (h fakeModHost) Conn() conn.Conn                 { return h.fakeHost }
func (h fakeModHost) Local() conn.Conn                { return moduletest.Local().C }
func (h fakeModHost) Facts() modules.Facts            { return nil }
func (h fakeModHost) Vars() map[string]any            { return nil }
func (h fakeModHost) Eval(string) (any, error)        { return nil, nil }
func (h fakeModHost) Render(s string) (string, error) { return s, nil }
func (h fakeModHost) CheckMode() bool                 { return false }
func (h fakeModHost) Log() *slog.Logger               { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type reconnectingHost struct{ fakeModHost }

func (reconnectingHost) Reconnect(ctx context.Context) error { return nil }

func asHost(f *fakeHost) modules.Host {
	if f.files == nil {
		f.files = map[string]string{}
	}
	if f.reconnect {
		return reconnectingHost{fakeModHost{f}}
	}
	return fakeModHost{f}
}

// probeOf assembles probe output; sections map name -> body.
func probeOf(sections map[string]string) string {
	var b strings.Builder
	for _, name := range []string{"pci", "pci_drivers", "proc_modules", "sys_module", "proc_version", "sys_module_version", "kernel", "headers", "nouveau_blacklist", "secureboot_mokutil", "secureboot_efivar", "os_release"} {
		b.WriteString("@@ " + name + "\n" + sections[name])
	}
	for _, name := range []string{"smi_query", "smi_q"} {
		if body, ok := sections[name]; ok {
			rc := sections[name+"_rc"]
			if rc == "" {
				rc = "0"
			}
			b.WriteString("@@ " + name + "\n" + body + "@@rc " + rc + "\n")
		}
	}
	return b.String()
}

// recordedH200 is the probe built from the outputs recorded on the H200.
func recordedH200(t *testing.T) string {
	return probeOf(map[string]string{
		"pci":          read(t, h200+"/pci-sysfs.txt"),
		"pci_drivers":  "0000:00:06.0 nvidia\n",
		"proc_modules": read(t, h200+"/proc-modules.txt"),
		"sys_module":   read(t, h200+"/sys-module-list.txt"),
		"proc_version": read(t, h200+"/proc-driver-nvidia-version.txt"),
		"kernel":       read(t, h200+"/uname-r.txt"),
		"headers":      "missing\n",
		"os_release":   read(t, h200+"/os-release.txt"),
		"smi_query":    read(t, h200+"/query-gpu.csv"),
		"smi_q":        read(t, h200+"/nvidia-smi-q.txt"),
	})
}

const ubuntu2204 = "ID=ubuntu\nVERSION_ID=\"22.04\"\nNAME=\"Ubuntu\"\nVERSION_CODENAME=jammy\n"
const debian12 = "ID=debian\nVERSION_ID=\"12\"\nNAME=\"Debian GNU/Linux\"\nVERSION_CODENAME=bookworm\n"
const a100PCI = "/sys/bus/pci/devices/0000:07:00.0/vendor:0x10de\n/sys/bus/pci/devices/0000:07:00.0/device:0x20b0\n/sys/bus/pci/devices/0000:07:00.0/class:0x030200\n"

func TestRecordedH200Facts(t *testing.T) {
	// Once assembled from the single recorded outputs, once the probe's own
	// output recorded on the same kind of machine by scripts/gpu-modules.sh.
	for _, probe := range []string{recordedH200(t), read(t, h200+"/probe.txt")} {
		checkH200Facts(t, ParseProbe(probe))
	}
}

func checkH200Facts(t *testing.T, f Facts) {
	t.Helper()
	facts := f.ToFacts()
	for k, want := range map[string]any{
		"gpu_present": true, "gpu_count": 1, "gpu_driver_loaded": "nvidia", "gpu_driver_working": true,
		"gpu_driver_version": "580.159.04", "gpu_driver_branch": "580", "gpu_kernel_modules": "open",
		"gpu_cuda_version": "13.0", "gpu_memory_total_mib": 143771, "gpu_kernel_headers": false,
		"gpu_nouveau_loaded": false, "gpu_secure_boot": "",
	} {
		if facts[k] != want {
			t.Errorf("%s = %v, want %v", k, facts[k], want)
		}
	}
}

func TestDriverRecordedH200NoChange(t *testing.T) {
	fh := &fakeHost{probe: read(t, h200+"/probe.txt")}
	d, err := moduletest.New(t, "nvidia_driver", map[string]any{"branch": "580"}).Check(context.Background(), asHost(fh))
	if err != nil || !d.Empty() {
		t.Fatalf("want no change, got %+v %v", d, err)
	}
	for _, c := range fh.ran {
		if strings.Contains(c, "apt") || strings.Contains(c, "dpkg") {
			t.Errorf("a working driver needs no package queries: %s", c)
		}
	}
}

func TestDriverOtherBranchNeedsReboot(t *testing.T) {
	fh := &fakeHost{probe: recordedH200(t), candidates: map[string]string{
		"nvidia-headless-570-open": "570.195.03-0ubuntu0.24.04.1", "nvidia-utils-570": "570.195.03-0ubuntu0.24.04.1",
		"linux-headers-6.18.44-fc-v657-gpu": "6.18.44"}}
	m := moduletest.New(t, "nvidia_driver", map[string]any{"branch": "570"})
	d, err := m.Check(context.Background(), asHost(fh))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(d.Resources(), " ")
	for _, want := range []string{"package:nvidia-headless-570-open", "package:nvidia-utils-570", "package:linux-headers-6.18.44-fc-v657-gpu"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %s in %s", want, got)
		}
	}
	if len(d.Notes) == 0 || !strings.Contains(d.Notes[0], "reboot required: driver 580.159.04 is loaded") {
		t.Errorf("notes: %q", d.Notes)
	}
	if m.(*Driver).Result()["reboot_required"] != true {
		t.Error("reboot_required not set")
	}
}

func TestDriverNouveauUbuntu(t *testing.T) {
	probe := map[string]string{
		"pci": a100PCI, "pci_drivers": "0000:07:00.0 nouveau\n", "proc_modules": "nouveau 2424832 0 - Live 0x0\n",
		"sys_module": "nouveau\n", "kernel": "5.15.0-126-generic\n", "headers": "present\n", "os_release": ubuntu2204,
	}
	fh := &fakeHost{probe: probeOf(probe), installed: map[string]string{}, candidates: map[string]string{
		"nvidia-headless-580-open": "580.95.05-0ubuntu0.22.04.1", "nvidia-utils-580": "580.95.05-0ubuntu0.22.04.1"}}
	h := asHost(fh)
	ctx := context.Background()
	m := moduletest.New(t, "nvidia_driver", map[string]any{})
	d, err := m.Check(ctx, h)
	if err != nil {
		t.Fatal(err)
	}
	want := "package:nvidia-headless-580-open package:nvidia-utils-580 file:" + BlacklistPath + " command:update-initramfs -u"
	if got := strings.Join(d.Resources(), " "); got != want {
		t.Errorf("resources:\n got %s\nwant %s", got, want)
	}
	if err := m.Apply(ctx, h, d); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(fh.files[BlacklistPath], "blacklist nouveau") {
		t.Error("blacklist not written")
	}
	ranAll := strings.Join(fh.ran, "\n")
	if !strings.Contains(ranAll, "apt-get install -y --no-install-recommends nvidia-headless-580-open nvidia-utils-580") || !strings.Contains(ranAll, "update-initramfs -u") {
		t.Errorf("commands:\n%s", ranAll)
	}
	// The host after apply, before the reboot: packages in, blacklist in,
	// nouveau still loaded. Nothing more to change; a reboot is pending.
	fh.installed = map[string]string{"nvidia-headless-580-open": "580.95.05", "nvidia-utils-580": "580.95.05"}
	probe["nouveau_blacklist"] = "blacklist nouveau\n"
	probe["smi_query"], probe["smi_query_rc"] = "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.\n", "9"
	fh.probe = probeOf(probe)
	d2, err := moduletest.New(t, "nvidia_driver", map[string]any{}).Check(ctx, h)
	if err != nil || !d2.Empty() {
		t.Fatalf("check after apply: %+v %v", d2, err)
	}
	if !strings.Contains(strings.Join(d2.Notes, " "), "reboot required: nouveau is loaded") {
		t.Errorf("notes: %q", d2.Notes)
	}
	// With reboot allowed on a remote host, the reboot is part of the plan.
	fh.reconnect, fh.bootID = true, "another-machine"
	m3 := moduletest.New(t, "nvidia_driver", map[string]any{"reboot": true, "reboot_timeout": "20s"})
	d3, err := m3.Check(ctx, asHost(fh))
	if err != nil || len(d3.Changes) != 1 || d3.Changes[0].Resource != "host:gpu-1" {
		t.Fatalf("want a planned reboot, got %+v %v", d3, err)
	}
	if err := m3.Apply(ctx, asHost(fh), d3); err != nil {
		t.Fatal(err)
	}
	if fh.bootID != "after-reboot" {
		t.Error("no reboot was issued")
	}
}

func TestDriverInstalledNotLoaded(t *testing.T) {
	probe := map[string]string{
		"pci": a100PCI, "kernel": "5.15.0-126-generic\n", "headers": "present\n", "os_release": ubuntu2204,
		"smi_query": "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n", "smi_query_rc": "9",
	}
	fh := &fakeHost{probe: probeOf(probe), installed: map[string]string{"nvidia-headless-580-open": "580.95.05", "nvidia-utils-580": "580.95.05"}}
	d, err := moduletest.New(t, "nvidia_driver", map[string]any{}).Check(context.Background(), asHost(fh))
	if err != nil || len(d.Changes) != 1 || d.Changes[0].Resource != "kmod:nvidia" {
		t.Fatalf("want modprobe only, got %+v %v", d, err)
	}
	// gpu_check says what to do.
	_, err = moduletest.New(t, "gpu_check", map[string]any{}).Check(context.Background(), asHost(fh))
	if err == nil || !strings.Contains(err.Error(), "driver installed but module not loaded: reboot required") {
		t.Fatalf("gpu_check: %v", err)
	}
}

func TestDriverDebian(t *testing.T) {
	probe := probeOf(map[string]string{"pci": a100PCI, "kernel": "6.1.0-28-amd64\n", "headers": "present\n", "os_release": debian12})
	ctx := context.Background()
	fh := &fakeHost{probe: probe}
	_, err := moduletest.New(t, "nvidia_driver", map[string]any{}).Check(ctx, asHost(fh))
	if err == nil || !strings.Contains(err.Error(), "enable the contrib, non-free and non-free-firmware components") {
		t.Fatalf("no non-free: %v", err)
	}
	fh = &fakeHost{probe: probe, candidates: map[string]string{"nvidia-open-kernel-dkms": "535.216.01-1~deb12u1"}}
	_, err = moduletest.New(t, "nvidia_driver", map[string]any{"branch": "580"}).Check(ctx, asHost(fh))
	if err == nil || !strings.Contains(err.Error(), `ships driver branch 535`) {
		t.Fatalf("branch: %v", err)
	}
	fh.candidates = map[string]string{"nvidia-kernel-dkms": "535.216.01-1~deb12u1", "nvidia-smi": "535.216.01-1~deb12u1", "libcuda1": "535.216.01-1~deb12u1", "nvidia-persistenced": "535.171.04-1", "firmware-misc-nonfree": "20230210-5"}
	d, err := moduletest.New(t, "nvidia_driver", map[string]any{"branch": "535", "kernel_modules": "proprietary"}).Check(ctx, asHost(fh))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(d.Resources(), " "); got != "package:nvidia-kernel-dkms package:nvidia-smi package:libcuda1 package:nvidia-persistenced package:firmware-misc-nonfree kmod:nvidia" {
		t.Errorf("resources: %s", got)
	}
}

func TestDriverValidate(t *testing.T) {
	for _, args := range []map[string]any{{"branch": "58"}, {"branch": "latest"}, {"kernel_modules": "closed"}} {
		if _, err := modules.New("nvidia_driver", args); err == nil {
			t.Errorf("%v: want an error", args)
		}
	}
}

// The driver's packages go through the shared apt runner: a dpkg lock held
// by unattended-upgrades (a fresh Ubuntu boot) is waited for, up to
// lock_timeout, instead of failing the install at once.
func TestDriverWaitsForTheDpkgLock(t *testing.T) {
	probe := map[string]string{"pci": a100PCI, "kernel": "5.15.0-126-generic\n", "headers": "present\n", "os_release": ubuntu2204}
	fh := &fakeHost{probe: probeOf(probe), installed: map[string]string{}, candidates: map[string]string{
		"nvidia-headless-580-open": "580.95.05-0ubuntu0.22.04.1", "nvidia-utils-580": "580.95.05-0ubuntu0.22.04.1"}}
	ctx := context.Background()
	m := moduletest.New(t, "nvidia_driver", map[string]any{"lock_timeout": "1m"})
	d, err := m.Check(ctx, asHost(fh))
	if err != nil {
		t.Fatal(err)
	}
	fh.locked = 1
	if err := m.Apply(ctx, asHost(fh), d); err != nil {
		t.Fatalf("apply while the lock is held once: %v", err)
	}
	installs := 0
	for _, c := range fh.ran {
		if strings.HasPrefix(c, "apt-get install") {
			installs++
		}
	}
	if installs != 2 {
		t.Errorf("apt-get install ran %d times, want 2 (once locked, once after the wait):\n%s", installs, strings.Join(fh.ran, "\n"))
	}

	fh.locked, fh.ran = 1000, nil
	m = moduletest.New(t, "nvidia_driver", map[string]any{"lock_timeout": "1s"})
	if err := m.Apply(ctx, asHost(fh), d); err == nil || !strings.Contains(err.Error(), "still held by process 4242 (unattended-upgr)") {
		t.Fatalf("want the lock holder named after lock_timeout, got %v", err)
	}
}
