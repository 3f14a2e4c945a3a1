package nvidia

import (
	"context"
	"fmt"
	"strings"

	"github.com/gpuctl/gpuctl/conn"
	"github.com/gpuctl/gpuctl/modules"
)

// probeScript gathers every GPU fact in one round trip: over SSH each
// command costs a few milliseconds, and a host with eight GPUs would
// otherwise need dozens. Sections start with "@@ name"; commands that may
// fail end their section with "@@rc N". It only reads.
const probeScript = `export LC_ALL=C PATH="$PATH:/usr/local/nvidia/bin:/usr/sbin:/sbin"
echo '@@ pci'
grep -H . /sys/bus/pci/devices/*/vendor /sys/bus/pci/devices/*/device /sys/bus/pci/devices/*/class 2>/dev/null
echo '@@ pci_drivers'
for v in $(grep -l 0x10de /sys/bus/pci/devices/*/vendor 2>/dev/null); do
  d=${v%/vendor}; [ -L "$d/driver" ] && echo "${d##*/} $(basename "$(readlink "$d/driver")")"
done
echo '@@ proc_modules'
grep -E '^(nvidia|nvidia_uvm|nvidia_drm|nvidia_modeset|nouveau) ' /proc/modules 2>/dev/null
echo '@@ sys_module'
for m in nvidia nvidia_uvm nouveau; do [ -d /sys/module/$m ] && echo $m; done
echo '@@ proc_version'
cat /proc/driver/nvidia/version 2>/dev/null
echo '@@ sys_module_version'
cat /sys/module/nvidia/version 2>/dev/null
echo '@@ kernel'
uname -r
echo '@@ headers'
if [ -e "/lib/modules/$(uname -r)/build/Makefile" ]; then echo present; else echo missing; fi
echo '@@ nouveau_blacklist'
grep -rhsE '^\s*blacklist\s+nouveau' /etc/modprobe.d /lib/modprobe.d /usr/lib/modprobe.d 2>/dev/null | head -1
echo '@@ secureboot_mokutil'
if command -v mokutil >/dev/null 2>&1; then mokutil --sb-state 2>&1; fi
echo '@@ secureboot_efivar'
for f in /sys/firmware/efi/efivars/SecureBoot-*; do [ -r "$f" ] && od -An -tx1 "$f"; done 2>/dev/null
echo '@@ os_release'
cat /etc/os-release 2>/dev/null
if command -v nvidia-smi >/dev/null 2>&1; then
  echo '@@ smi_query'
  nvidia-smi --query-gpu=` + QueryFields + ` --format=csv,noheader,nounits 2>&1; echo "@@rc $?"
  echo '@@ smi_q'
  q=$(nvidia-smi -q -d COMPUTE 2>&1); rc=$?; echo "$q"; echo "@@rc $rc"
  case "$q" in *"CUDA Version"*) ;; *) echo '@@ smi_banner'; nvidia-smi 2>&1 | head -n 4; echo "@@rc 0" ;; esac
fi
exit 0
`

// Facts is the GPU state of one host. ToFacts turns it into the gpu_*
// host facts documented in docs/gpu-facts.md.
type Facts struct {
	PCI []PCIDevice
	// LoadedDriver is "nvidia", "nouveau" or "": the kernel module that
	// drives the GPUs now.
	LoadedDriver  string
	NouveauLoaded bool
	// NouveauBlacklisted is true when a modprobe.d file blacklists nouveau.
	NouveauBlacklisted bool
	Kernel             KernelDriver // from /proc/driver/nvidia/version
	DriverVersion      string
	CUDAVersion        string
	GPUs               []GPU
	SMIPresent         bool
	SMIError           string // set when nvidia-smi exists but fails
	KernelRelease      string
	HeadersInstalled   bool
	SecureBoot         string // enabled, disabled, not_efi or "" (unknown)
	OS                 map[string]string
}

// Present reports an NVIDIA GPU on the PCI bus, whatever the driver state,
// or one that nvidia-smi lists where sysfs shows no PCI bus (containers,
// gVisor sandboxes).
func (f Facts) Present() bool { return len(f.PCI) > 0 || len(f.GPUs) > 0 }

// Count is the number of GPUs, from whichever source sees more.
func (f Facts) Count() int { return max(len(f.PCI), len(f.GPUs)) }

// Working reports a loaded nvidia module that nvidia-smi can talk to.
func (f Facts) Working() bool {
	return f.LoadedDriver == "nvidia" && f.DriverVersion != "" && f.SMIPresent && f.SMIError == ""
}

// GatherGPUFacts reads the GPU facts of the host behind c, with keys
// prefixed gpu_ ready to merge into the host's facts.
func GatherGPUFacts(ctx context.Context, c conn.Conn) (modules.Facts, error) {
	f, err := Gather(ctx, c)
	if err != nil {
		return nil, err
	}
	return f.ToFacts(), nil
}

// Gather runs the probe and parses it.
func Gather(ctx context.Context, c conn.Conn) (Facts, error) {
	r, err := c.Run(ctx, probeScript)
	if err != nil {
		return Facts{}, fmt.Errorf("gather GPU facts: %w", err)
	}
	if !r.OK() {
		return Facts{}, fmt.Errorf("gather GPU facts: probe exited %d: %s", r.ExitCode, firstLine(r.Stderr))
	}
	return ParseProbe(r.Stdout), nil
}

// section is one "@@ name" block of the probe output.
type section struct {
	text string
	rc   int
	seen bool
}

func splitProbe(out string) map[string]section {
	secs := map[string]section{}
	var name string
	var b strings.Builder
	flush := func(rc int) {
		if name != "" {
			secs[name] = section{text: b.String(), rc: rc, seen: true}
		}
		b.Reset()
	}
	for _, line := range strings.SplitAfter(out, "\n") {
		trimmed := strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(trimmed, "@@rc "):
			var rc int
			fmt.Sscanf(trimmed, "@@rc %d", &rc)
			flush(rc)
			name = ""
		case strings.HasPrefix(trimmed, "@@ "):
			flush(0)
			name = strings.TrimPrefix(trimmed, "@@ ")
		default:
			b.WriteString(line)
		}
	}
	flush(0)
	return secs
}

// ParseProbe turns the probe's output into Facts.
func ParseProbe(out string) Facts {
	s := splitProbe(out)
	f := Facts{
		PCI:           ParsePCISysfs(s["pci"].text, ParsePCIDrivers(s["pci_drivers"].text)),
		KernelRelease: strings.TrimSpace(s["kernel"].text),
		OS:            ParseOSRelease(s["os_release"].text),
	}
	f.HeadersInstalled = strings.TrimSpace(s["headers"].text) == "present"
	f.NouveauBlacklisted = strings.TrimSpace(s["nouveau_blacklist"].text) != ""
	mods := ParseLoadedModules(s["proc_modules"].text)
	for m := range ParseLoadedModules(s["sys_module"].text) {
		mods[m] = true
	}
	f.NouveauLoaded = mods["nouveau"]
	switch {
	case mods["nvidia"]:
		f.LoadedDriver = "nvidia"
	case f.NouveauLoaded:
		f.LoadedDriver = "nouveau"
	}
	if kd, err := ParseProcVersion(s["proc_version"].text); err == nil {
		f.Kernel = kd
		f.DriverVersion = kd.Version
	} else if v := strings.TrimSpace(s["sys_module_version"].text); v != "" {
		f.DriverVersion = v
	}
	f.SecureBoot = ParseMokutil(s["secureboot_mokutil"].text)
	if f.SecureBoot == "" {
		f.SecureBoot = ParseSecureBootEFIVar(s["secureboot_efivar"].text)
	}
	if q, ok := s["smi_query"]; ok {
		f.SMIPresent = true
		if q.rc != 0 {
			f.SMIError = SMIError(q.text)
		} else if gpus, err := ParseQueryGPU(q.text); err != nil {
			f.SMIError = err.Error()
		} else {
			f.GPUs = gpus
			if f.DriverVersion == "" && len(gpus) > 0 {
				f.DriverVersion = gpus[0].DriverVersion
			}
		}
		if sq := s["smi_q"]; sq.rc == 0 {
			f.CUDAVersion = ParseCUDAVersion(sq.text)
		}
		if f.CUDAVersion == "" {
			f.CUDAVersion = ParseCUDAVersion(s["smi_banner"].text)
		}
	}
	return f
}

// ToFacts returns the gpu_* facts. Lists hold plain maps and strings so
// templates and `when:` expressions can read them.
func (f Facts) ToFacts() modules.Facts {
	pci := make([]any, 0, len(f.PCI))
	for _, d := range f.PCI {
		pci = append(pci, map[string]any{"address": d.Address, "device_id": d.DeviceID, "class": d.Class, "driver": d.Driver})
	}
	devs := make([]any, 0, len(f.GPUs))
	names := make([]any, 0, len(f.GPUs))
	uuids := make([]any, 0, len(f.GPUs))
	total := 0
	for _, g := range f.GPUs {
		devs = append(devs, map[string]any{"index": g.Index, "name": g.Name, "uuid": g.UUID, "pci_bus_id": g.PCIBusID, "memory_mib": g.MemoryMiB, "compute_cap": g.ComputeCap})
		names = append(names, g.Name)
		uuids = append(uuids, g.UUID)
		total += g.MemoryMiB
	}
	flavor := ""
	if f.Kernel.Version != "" {
		flavor = "proprietary"
		if f.Kernel.Open {
			flavor = "open"
		}
	}
	count := f.Count()
	return modules.Facts{
		"gpu_present":             f.Present(),
		"gpu_count":               count,
		"gpu_pci":                 pci,
		"gpu_driver_loaded":       f.LoadedDriver,
		"gpu_driver_working":      f.Working(),
		"gpu_driver_version":      f.DriverVersion,
		"gpu_driver_branch":       Branch(f.DriverVersion),
		"gpu_kernel_modules":      flavor,
		"gpu_cuda_version":        f.CUDAVersion,
		"gpu_nvidia_smi":          f.SMIPresent,
		"gpu_nvidia_smi_error":    f.SMIError,
		"gpu_devices":             devs,
		"gpu_names":               names,
		"gpu_uuids":               uuids,
		"gpu_memory_total_mib":    total,
		"gpu_nouveau_loaded":      f.NouveauLoaded,
		"gpu_nouveau_blacklisted": f.NouveauBlacklisted,
		"gpu_kernel_release":      f.KernelRelease,
		"gpu_kernel_headers":      f.HeadersInstalled,
		"gpu_secure_boot":         f.SecureBoot,
	}
}
