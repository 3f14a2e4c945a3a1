package nvidia

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const h200 = "testdata/h200-ubuntu2404-580"

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParsePCISysfsRecorded(t *testing.T) {
	gpus := ParsePCISysfs(read(t, h200+"/pci-sysfs.txt"), ParsePCIDrivers(read(t, h200+"/pci-drivers.txt")))
	if len(gpus) != 1 {
		t.Fatalf("want the one H200 among 7 PCI functions, got %+v", gpus)
	}
	want := PCIDevice{Address: "0000:00:06.0", Vendor: "0x10de", DeviceID: "0x2335", Class: "0x030200", Driver: "nvidia"}
	if gpus[0] != want {
		t.Errorf("got %+v, want %+v", gpus[0], want)
	}
}

func TestParsePCISysfsFilters(t *testing.T) {
	out := `/sys/bus/pci/devices/0000:41:00.0/vendor:0x10de
/sys/bus/pci/devices/0000:41:00.0/class:0x030000
/sys/bus/pci/devices/0000:41:00.0/device:0x2684
/sys/bus/pci/devices/0000:41:00.1/vendor:0x10de
/sys/bus/pci/devices/0000:41:00.1/class:0x040300
/sys/bus/pci/devices/0000:07:00.0/vendor:0x10de
/sys/bus/pci/devices/0000:07:00.0/class:0x068000
/sys/bus/pci/devices/0000:18:00.0/vendor:0x10DE
/sys/bus/pci/devices/0000:18:00.0/class:0x030200
/sys/bus/pci/devices/0000:00:02.0/vendor:0x8086
/sys/bus/pci/devices/0000:00:02.0/class:0x030000
garbage line
`
	gpus := ParsePCISysfs(out, map[string]string{"0000:41:00.0": "nouveau"})
	if len(gpus) != 2 || gpus[0].Address != "0000:18:00.0" || gpus[1].Address != "0000:41:00.0" || gpus[1].Driver != "nouveau" {
		t.Fatalf("want the VGA and 3D functions, not audio, NVSwitch or Intel: %+v", gpus)
	}
}

func TestParseProcVersion(t *testing.T) {
	for _, tc := range []struct {
		name, in, version string
		open              bool
	}{
		{"recorded open 580", read(t, h200+"/proc-driver-nvidia-version.txt"), "580.159.04", true},
		{"proprietary 535", "NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.129.03  Thu Oct 19 18:56:32 UTC 2023\nGCC version:  gcc version 12.2.0 (Ubuntu 12.2.0-3ubuntu1)\n", "535.129.03", false},
		{"open 550 aarch64", "NVRM version: NVIDIA UNIX Open Kernel Module for aarch64  550.54.15  Release Build  (dvs-builder@U16-I3-B03-4-3)  Tue Mar  5 22:15:33 UTC 2024\n", "550.54.15", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kd, err := ParseProcVersion(tc.in)
			if err != nil || kd.Version != tc.version || kd.Open != tc.open {
				t.Fatalf("got %+v, %v; want %s open=%v", kd, err, tc.version, tc.open)
			}
		})
	}
	if _, err := ParseProcVersion(""); err == nil {
		t.Error("empty input must fail")
	}
}

func TestParseQueryGPURecorded(t *testing.T) {
	gpus, err := ParseQueryGPU(read(t, h200+"/query-gpu.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want := GPU{Index: 0, Name: "NVIDIA H200", UUID: "GPU-9b490ee9-576e-dcb4-f3d5-8498c2b0df3d", PCIBusID: "00000000:00:06.0", MemoryMiB: 143771, DriverVersion: "580.159.04", ComputeCap: "9.0"}
	if len(gpus) != 1 || gpus[0] != want {
		t.Fatalf("got %+v", gpus)
	}
}

func TestParseQueryGPUNA(t *testing.T) {
	gpus, err := ParseQueryGPU("0, NVIDIA A100-SXM4-40GB, GPU-1, 00000000:07:00.0, [N/A], 535.129.03, 8.0\n1, NVIDIA A100-SXM4-40GB, GPU-2, 00000000:0F:00.0, 40960, 535.129.03, 8.0\n")
	if err != nil || len(gpus) != 2 || gpus[0].MemoryMiB != 0 || gpus[1].MemoryMiB != 40960 || gpus[1].Index != 1 {
		t.Fatalf("got %+v, %v", gpus, err)
	}
	if _, err := ParseQueryGPU("Failed to initialize NVML: Driver/library version mismatch"); err == nil {
		t.Error("an error message is not a query row")
	}
}

func TestParseCUDAVersionRecorded(t *testing.T) {
	if v := ParseCUDAVersion(read(t, h200+"/nvidia-smi-q.txt")); v != "13.0" {
		t.Errorf("-q: got %q", v)
	}
	if v := ParseCUDAVersion(read(t, h200+"/nvidia-smi.txt")); v != "13.0" {
		t.Errorf("banner: got %q", v)
	}
}

func TestParseNVCCRecorded(t *testing.T) {
	rel, ver, ok := ParseNVCC(read(t, h200+"/nvcc-version.txt"))
	if !ok || rel != "13.0" || ver != "13.0.88" {
		t.Errorf("got %q %q %v", rel, ver, ok)
	}
}

func TestSecureBoot(t *testing.T) {
	if s := ParseMokutil("SecureBoot enabled\n"); s != "enabled" {
		t.Error(s)
	}
	if s := ParseMokutil("SecureBoot disabled\nPlatform is in Setup Mode\n"); s != "disabled" {
		t.Error(s)
	}
	if s := ParseMokutil(read(t, h200+"/mokutil.txt")); s != "" {
		t.Errorf("mokutil missing on the GPU machine: want unknown, got %q", s)
	}
	if s := ParseSecureBootEFIVar(" 06 00 00 00 01\n"); s != "enabled" {
		t.Error(s)
	}
	if s := ParseSecureBootEFIVar(" 06 00 00 00 00\n"); s != "disabled" {
		t.Error(s)
	}
}

func TestBranch(t *testing.T) {
	for in, want := range map[string]string{"580.159.04": "580", "535.129.03": "535", "": "", "abc": ""} {
		if got := Branch(in); got != want {
			t.Errorf("Branch(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSMIError(t *testing.T) {
	for in, want := range map[string]string{
		"Failed to initialize NVML: Driver/library version mismatch\nNVML library version: 580.95\n":                                                      "driver/library version mismatch",
		"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.": "not loaded",
		"Failed to initialize NVML: Unknown Error": "SystemdCgroup",
	} {
		if got := SMIError(in); !strings.Contains(got, want) {
			t.Errorf("SMIError(%q) = %q, want it to mention %q", in, got, want)
		}
	}
}

func FuzzParseProbe(f *testing.F) {
	f.Add("@@ pci\n/sys/bus/pci/devices/0000:00:06.0/vendor:0x10de\n@@ smi_query\n0, a, b, c, 1, 2, 3\n@@rc 0\n")
	f.Fuzz(func(t *testing.T, s string) { ParseProbe(s) })
}

func FuzzParseQueryGPU(f *testing.F) {
	f.Add("0, NVIDIA H200, GPU-9b490ee9, 00000000:00:06.0, 143771, 580.159.04, 9.0\n")
	f.Fuzz(func(t *testing.T, s string) { ParseQueryGPU(s) })
}

// A sandbox (gVisor, some containers) shows no PCI bus in sysfs, but
// nvidia-smi still lists the GPU: that is a GPU too.
func TestPresentWithoutPCISysfs(t *testing.T) {
	f := ParseProbe(probeOf(map[string]string{
		"proc_version": read(t, h200+"/proc-driver-nvidia-version.txt"), "sys_module": "nvidia\n",
		"smi_query": read(t, h200+"/query-gpu.csv"), "smi_q": read(t, h200+"/nvidia-smi-q.txt"),
	}))
	if !f.Present() || f.Count() != 1 || !f.Working() {
		t.Fatalf("%+v", f)
	}
}

func TestRecordedH100(t *testing.T) {
	const dir = "testdata/h100-ubuntu2404-580"
	gpus := ParsePCISysfs(read(t, dir+"/pci-sysfs.txt"), nil)
	if len(gpus) != 1 || gpus[0].DeviceID != "0x2330" {
		t.Fatalf("pci: %+v", gpus)
	}
	f := ParseProbe(read(t, dir+"/probe.txt"))
	if !f.Working() || f.DriverVersion != "580.159.04" || !f.Kernel.Open || f.CUDAVersion != "13.0" ||
		len(f.GPUs) != 1 || f.GPUs[0].Name != "NVIDIA H100 80GB HBM3" || f.GPUs[0].MemoryMiB != 81559 {
		t.Fatalf("%+v", f)
	}
	if v := ParseCUDAVersion(read(t, dir+"/nvidia-smi-q.txt")); v != "13.0" {
		t.Error(v)
	}
	nogpu := ParseProbe(read(t, "testdata/nogpu-debian12/probe.txt"))
	if nogpu.Present() || nogpu.OS["ID"] != "debian" {
		t.Errorf("no-GPU probe: %+v", nogpu)
	}
}
