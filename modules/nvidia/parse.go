// Package nvidia holds gpuctl's NVIDIA host side: GPU facts, the
// nvidia_driver, nvidia_container_toolkit and gpu_check modules. Everything
// is read from files and commands every Ubuntu or Debian host has (sysfs,
// /proc, nvidia-smi when present), so no lspci or NVML is needed on the host.
package nvidia

import (
	"bufio"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// PCIDevice is one NVIDIA function found in sysfs.
type PCIDevice struct {
	Address  string `json:"address"`   // 0000:00:06.0
	Vendor   string `json:"vendor"`    // 0x10de
	DeviceID string `json:"device_id"` // 0x2335
	Class    string `json:"class"`     // 0x030200
	Driver   string `json:"driver,omitempty"`
}

const nvidiaVendor = "0x10de"

// IsGPU reports whether the function is a display controller: VGA (0x0300)
// or 3D controller (0x0302, what data-centre GPUs report). NVIDIA's audio,
// USB and NVSwitch functions share the vendor ID and must not count.
func (d PCIDevice) IsGPU() bool {
	return d.Vendor == nvidiaVendor && strings.HasPrefix(d.Class, "0x03")
}

// ParsePCISysfs reads `grep -H . /sys/bus/pci/devices/*/{vendor,device,class}`
// output ("/sys/bus/pci/devices/ADDR/ATTR:VALUE") and returns the NVIDIA GPUs
// sorted by address. drivers maps address to bound driver name.
func ParsePCISysfs(out string, drivers map[string]string) []PCIDevice {
	byAddr := map[string]*PCIDevice{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		// The address holds colons, so split at the attribute's path first.
		i := strings.LastIndex(line, "/")
		if i < 0 {
			continue
		}
		attr, value, ok := strings.Cut(line[i+1:], ":")
		if !ok {
			continue
		}
		addr := path.Base(line[:i])
		d := byAddr[addr]
		if d == nil {
			d = &PCIDevice{Address: addr}
			byAddr[addr] = d
		}
		value = strings.ToLower(strings.TrimSpace(value))
		switch attr {
		case "vendor":
			d.Vendor = value
		case "device":
			d.DeviceID = value
		case "class":
			d.Class = value
		}
	}
	var gpus []PCIDevice
	for _, d := range byAddr {
		if d.IsGPU() {
			d.Driver = drivers[d.Address]
			gpus = append(gpus, *d)
		}
	}
	sort.Slice(gpus, func(a, b int) bool { return gpus[a].Address < gpus[b].Address })
	return gpus
}

// ParsePCIDrivers reads "ADDRESS DRIVER" lines.
func ParsePCIDrivers(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			m[f[0]] = f[1]
		}
	}
	return m
}

// ParseLoadedModules returns the names of loaded kernel modules from
// /proc/modules text, or from a plain list of names (ls /sys/module), which
// also shows drivers built into the kernel.
func ParseLoadedModules(out string) map[string]bool {
	m := map[string]bool{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			m[f[0]] = true
		}
	}
	return m
}

// KernelDriver is what /proc/driver/nvidia/version says of the loaded module.
type KernelDriver struct {
	Version string // 580.159.04
	Open    bool   // "Open Kernel Module" rather than the proprietary one
}

var nvrmRe = regexp.MustCompile(`NVRM version:\s*NVIDIA UNIX (Open )?(?:\S+ )?Kernel Module(?: for \S+)?\s+(\d+\.\d+(?:\.\d+)?)`)

// ParseProcVersion reads /proc/driver/nvidia/version.
func ParseProcVersion(out string) (KernelDriver, error) {
	m := nvrmRe.FindStringSubmatch(out)
	if m == nil {
		return KernelDriver{}, fmt.Errorf("no NVRM version line in %q", firstLine(out))
	}
	return KernelDriver{Version: m[2], Open: m[1] != ""}, nil
}

// Branch returns the driver branch of a version: "580" for "580.159.04".
func Branch(version string) string {
	b, _, _ := strings.Cut(strings.TrimSpace(version), ".")
	if _, err := strconv.Atoi(b); err != nil {
		return ""
	}
	return b
}

// GPU is one row of nvidia-smi's machine-readable query.
type GPU struct {
	Index         int    `json:"index"`
	Name          string `json:"name"`
	UUID          string `json:"uuid"`
	PCIBusID      string `json:"pci_bus_id"`
	MemoryMiB     int    `json:"memory_mib"`
	DriverVersion string `json:"driver_version"`
	ComputeCap    string `json:"compute_cap"`
}

// QueryFields is the --query-gpu list ParseQueryGPU expects, in order.
const QueryFields = "index,name,uuid,pci.bus_id,memory.total,driver_version,compute_cap"

// ParseQueryGPU reads `nvidia-smi --query-gpu=QueryFields
// --format=csv,noheader,nounits`. Values nvidia-smi cannot read are
// "[N/A]" or "[Not Supported]"; they become zero values.
func ParseQueryGPU(out string) ([]GPU, error) {
	var gpus []GPU
	for n, line := range strings.Split(strings.TrimSpace(out), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := strings.Split(line, ",")
		if len(f) != 7 {
			return nil, fmt.Errorf("nvidia-smi query line %d: want 7 fields, got %d: %q", n+1, len(f), line)
		}
		for i := range f {
			f[i] = strings.TrimSpace(f[i])
			if strings.HasPrefix(f[i], "[") {
				f[i] = ""
			}
		}
		idx, err := strconv.Atoi(f[0])
		if err != nil {
			return nil, fmt.Errorf("nvidia-smi query line %d: index %q: %w", n+1, f[0], err)
		}
		mem, _ := strconv.Atoi(f[4])
		gpus = append(gpus, GPU{Index: idx, Name: f[1], UUID: f[2], PCIBusID: f[3], MemoryMiB: mem, DriverVersion: f[5], ComputeCap: f[6]})
	}
	return gpus, nil
}

var cudaRe = regexp.MustCompile(`(?m)^\s*CUDA Version\s*:\s*(\S+)`)
var cudaBannerRe = regexp.MustCompile(`CUDA Version:\s*(\d+\.\d+)`)

// ParseCUDAVersion finds the CUDA version the driver supports in
// `nvidia-smi -q` output or in the plain `nvidia-smi` banner.
func ParseCUDAVersion(out string) string {
	if m := cudaRe.FindStringSubmatch(out); m != nil {
		return m[1]
	}
	if m := cudaBannerRe.FindStringSubmatch(out); m != nil {
		return m[1]
	}
	return ""
}

var nvccRe = regexp.MustCompile(`release (\d+\.\d+), V(\S+)`)

// ParseNVCC returns the toolkit release and full version from nvcc --version.
func ParseNVCC(out string) (release, version string, ok bool) {
	m := nvccRe.FindStringSubmatch(out)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

// ParseMokutil reads `mokutil --sb-state`: "enabled", "disabled" or "".
func ParseMokutil(out string) string {
	switch {
	case strings.Contains(out, "SecureBoot enabled"):
		return "enabled"
	case strings.Contains(out, "SecureBoot disabled"):
		return "disabled"
	case strings.Contains(out, "EFI variables are not supported"):
		return "not_efi"
	}
	return ""
}

// ParseSecureBootEFIVar reads the SecureBoot EFI variable dumped with
// `od -An -tx1`: four attribute bytes, then the value byte.
func ParseSecureBootEFIVar(out string) string {
	f := strings.Fields(out)
	if len(f) < 5 {
		return ""
	}
	switch f[4] {
	case "01":
		return "enabled"
	case "00":
		return "disabled"
	}
	return ""
}

// ParseOSRelease reads /etc/os-release into its keys, unquoted.
func ParseOSRelease(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		m[k] = strings.Trim(v, `"'`)
	}
	return m
}

// SMIError classifies a failing nvidia-smi so each failure can say what to do.
func SMIError(out string) string {
	switch {
	case strings.Contains(out, "Driver/library version mismatch"):
		return "driver/library version mismatch: the loaded kernel module is older than the installed libraries; reboot (or unload and reload the nvidia modules)"
	case strings.Contains(out, "couldn't communicate with the NVIDIA driver"), strings.Contains(out, "Make sure that the latest NVIDIA driver is installed and running"):
		return "nvidia-smi cannot reach the kernel driver: the nvidia module is not loaded (reboot, or modprobe nvidia)"
	case strings.Contains(out, "not found"), strings.Contains(out, "No such file"):
		return "nvidia-smi is not installed: install the driver's utilities (nvidia_driver module)"
	case strings.Contains(out, "No devices were found"):
		return "nvidia-smi found no GPU: the driver is loaded but sees no device (check the GPU is not bound to vfio-pci or excluded)"
	case strings.Contains(out, "Unknown Error"):
		return "NVML reports Unknown Error: the device nodes are not accessible (in containers: cgroup driver mismatch, use SystemdCgroup = true)"
	}
	return strings.TrimSpace(firstLine(out))
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	if len(l) > 200 {
		l = l[:200]
	}
	return l
}
