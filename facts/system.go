package facts

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// The base facts: what every play gathers. Files are read over SFTP when
// asked one at a time; Gather reads them all with one process.

func trimmed(b []byte) (string, error) { return strings.TrimSpace(string(b)), nil }

var (
	// Nodename is the kernel's host name (uname -n): what kubeadm and the
	// kubelet name the Node after.
	Nodename = &Fact[string]{Name: "nodename", File: "/proc/sys/kernel/hostname", Parse: trimmed}
	// FQDN is the name the resolver gives the host (hostname -f).
	FQDN = &Fact[string]{Name: "fqdn", Cmd: "hostname -f || hostname || cat /proc/sys/kernel/hostname", Parse: trimmed}
	// Kernel is the kernel release (uname -r).
	Kernel = &Fact[string]{Name: "kernel", File: "/proc/sys/kernel/osrelease", Parse: trimmed}
	// KernelVersion is the kernel's build string (uname -v).
	KernelVersion = &Fact[string]{Name: "kernel_version", File: "/proc/sys/kernel/version", Parse: trimmed}
	// Arch is the machine hardware name (uname -m): x86_64, aarch64.
	Arch = &Fact[string]{Name: "architecture", Cmd: "uname -m", Parse: trimmed}
	// DebianVersion is /etc/debian_version, which Ansible prefers to
	// os-release for Debian's point release (12.8).
	DebianVersion = &Fact[string]{Name: "debian_version", File: "/etc/debian_version", Parse: trimmed}
	// MachineID is systemd's /etc/machine-id.
	MachineID = &Fact[string]{Name: "machine_id", File: "/etc/machine-id", Parse: trimmed}
	// Memory is /proc/meminfo.
	Memory = &Fact[Meminfo]{Name: "meminfo", File: "/proc/meminfo", Parse: ParseMeminfo}
	// CPU is /proc/cpuinfo plus the CPUs this process may run on (nproc).
	CPU = &Fact[CPUInfo]{Name: "cpu", Cmd: "nproc; cat /proc/cpuinfo", Parse: ParseCPU}
	// Cgroup is "v2" on the unified hierarchy, else "v1".
	Cgroup = &Fact[string]{Name: "cgroup", Cmd: "stat -fc %T /sys/fs/cgroup", Parse: func(b []byte) (string, error) {
		if strings.TrimSpace(string(b)) == "cgroup2fs" {
			return "v2", nil
		}
		return "v1", nil
	}}
)

// Meminfo holds /proc/meminfo in kB, by key (MemTotal, SwapFree, ...).
type Meminfo map[string]int64

// MB returns a key in MiB, as Ansible's *_mb facts (integer division).
func (m Meminfo) MB(key string) int64 { return m[key] / 1024 }

// ParseMeminfo reads "Key:   123 kB" lines.
func ParseMeminfo(b []byte) (Meminfo, error) {
	m := Meminfo{}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return m, fmt.Errorf("meminfo %s: %w", k, err)
		}
		m[strings.TrimSpace(k)] = n
	}
	if _, ok := m["MemTotal"]; !ok {
		return m, fmt.Errorf("meminfo: no MemTotal")
	}
	return m, nil
}

// CPUInfo is what Ansible reports of the processors.
type CPUInfo struct {
	// Processor is Ansible's flat list: index, vendor, model name, per
	// logical CPU.
	Processor      []string
	Count          int // sockets (distinct physical id)
	Cores          int // cores per socket
	ThreadsPerCore int
	VCPUs          int // logical CPUs
	Nproc          int // CPUs this process may use (nproc)
}

// ParseCPU reads nproc's line then /proc/cpuinfo, as Ansible's linux
// hardware facts do.
func ParseCPU(b []byte) (CPUInfo, error) {
	var c CPUInfo
	s := string(b)
	first, rest, _ := strings.Cut(s, "\n")
	n, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return c, fmt.Errorf("nproc %q: %w", first, err)
	}
	c.Nproc = n
	sockets := map[string]bool{}
	var siblings, cores int
	var idx, vendor string
	for _, line := range strings.Split(rest, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "processor":
			idx, vendor = v, ""
			c.VCPUs++
		case "vendor_id", "CPU implementer":
			vendor = v
		case "model name", "Processor", "cpu model":
			c.Processor = append(c.Processor, idx, vendor, v)
		case "physical id":
			sockets[v] = true
		case "siblings":
			siblings, _ = strconv.Atoi(v)
		case "cpu cores":
			cores, _ = strconv.Atoi(v)
		}
	}
	if c.VCPUs == 0 {
		return c, fmt.Errorf("cpuinfo: no processor entries")
	}
	c.Count = max(len(sockets), 1)
	c.Cores = cores
	if c.Cores == 0 {
		c.Cores = c.VCPUs / c.Count
	}
	c.ThreadsPerCore = 1
	if siblings > 0 && c.Cores > 0 {
		c.ThreadsPerCore = max(siblings/c.Cores, 1)
	}
	return c, nil
}
